-- SPDX-License-Identifier: Apache-2.0
-- Copyright 2026 the mod_protime authors

-- wrk script of bench/run: POSTs the pre-signed deliveries of
-- bench/make-deliveries.pl ("signature<TAB>body" lines), never the same one
-- twice in a run. The run sends the lines from BENCH_FIRST_LINE (counted
-- from 0; default 0) up to, not including, BENCH_END_LINE (default: to the
-- end of the file); thread k of n takes the k-th line of that range, then
-- every n-th after it, so that no two threads send the same id. Counts the answers per thread and prints,
-- besides wrk's own report, one line for bench/run to read:
--
--   BENCH requests=.. duration_us=.. rps=.. p50_us=.. p99_us=..
--         p50co_us=.. p99co_us=.. sent=.. s204=.. s2xx_other=.. non2xx=..
--         exhausted=.. errors=..
--
-- p50_us and p99_us are the latencies wrk measured; p50co_us and p99co_us
-- are wrk's own percentiles, which it corrects for coordinated omission
-- first (see bench/latency.lua).
--
-- Environment: BENCH_DELIVERIES (the file), BENCH_THREADS (wrk's -t),
-- BENCH_CONNECTIONS (wrk's -c), BENCH_FIRST_LINE and BENCH_END_LINE.
-- The same requests go to whatever URL wrk is given (/floor or /hook).

-- bench/latency.lua, from the directory of this script.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
               .. "?.lua;" .. package.path
local latency_of = require("latency")

local threads = {}
local next_tid = 0

-- Main state: runs once per thread before the thread's init().
function setup(thread)
   thread:set("tid", next_tid)
   next_tid = next_tid + 1
   table.insert(threads, thread)
end

-- Thread state.
local sigs, bodies, count, pos = {}, {}, 0, 0
sent, exhausted = 0, 0

function init(args)
   local file = os.getenv("BENCH_DELIVERIES")
   local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
   local first = tonumber(os.getenv("BENCH_FIRST_LINE") or "0")
   local stop = tonumber(os.getenv("BENCH_END_LINE") or "") or math.huge
   assert(file, "BENCH_DELIVERIES is not set")
   local line_no = 0
   for line in io.lines(file) do
      if line_no >= stop then
         break
      end
      if line_no >= first and (line_no - first) % nthreads == tid then
         local tab = string.find(line, "\t", 1, true)
         count = count + 1
         sigs[count] = string.sub(line, 1, tab - 1)
         bodies[count] = string.sub(line, tab + 1)
      end
      line_no = line_no + 1
   end
   assert(count > 0, "no deliveries for thread " .. tid .. " in " .. file)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   pos = pos + 1
   if pos > count then
      -- Out of distinct deliveries: bench/run fails the run on this.
      exhausted = exhausted + 1
      pos = 1
   end
   sent = sent + 1
   return wrk.format(nil, nil, { ["X-Protime-Signature"] = sigs[pos] },
                     bodies[pos])
end

-- Main state again.
function done(summary, latency, requests)
   -- No response() callback: with one, wrk parses every answer into Lua
   -- tables, which costs it more CPU than httpd spends on the floor. wrk
   -- counts answers of 400 and above in errors.status by itself; 202s
   -- (quarantined) show up as missing rows in bench/run's check.
   local t = { sent = 0, exhausted = 0 }
   for _, thread in ipairs(threads) do
      for k in pairs(t) do
         t[k] = t[k] + thread:get(k)
      end
   end
   local e = summary.errors
   local errors = e.connect + e.read + e.write + e.timeout
   local non2xx = e.status
   t.s204 = summary.requests - non2xx
   t.s2xx_other = 0
   t.non2xx = non2xx
   local connections = tonumber(os.getenv("BENCH_CONNECTIONS") or "")
   assert(connections, "BENCH_CONNECTIONS is not set")
   local buckets, why = latency_of.measured(latency, summary, connections)
   if not buckets then
      io.write("BENCH cannot undo wrk's latency correction: ", why, "\n")
   end
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d "
      .. "p50co_us=%d p99co_us=%d sent=%d s204=%d s2xx_other=%d "
      .. "non2xx=%d exhausted=%d errors=%d\n",
      summary.requests, summary.duration,
      summary.requests / (summary.duration / 1e6),
      buckets and latency_of.percentile(buckets, 50) or -1,
      buckets and latency_of.percentile(buckets, 99) or -1,
      latency:percentile(50), latency:percentile(99),
      t.sent, t.s204, t.s2xx_other, t.non2xx, t.exhausted, errors))
end
