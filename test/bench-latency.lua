-- SPDX-License-Identifier: Apache-2.0
-- Copyright 2026 the mod_protime authors

-- Tests bench/latency.lua, which takes wrk's coordinated-omission
-- correction back out of the latencies it hands to done(). Runs inside wrk's
-- own LuaJIT, where bench/deliveries.lua runs, and exits before wrk sends
-- anything:
--
--   wrk -s test/bench-latency.lua http://127.0.0.1:9/
--
-- Prints "ok"/"not ok" lines and "N passed, M failed"; exits 1 on a failure.

package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./")
               .. "../bench/?.lua;" .. package.path
local latency_of = require("latency")

local passed, failed = 0, 0
local function ok(cond, name)
   if cond then
      passed = passed + 1
      print("ok - " .. name)
   else
      failed = failed + 1
      print("not ok - " .. name)
   end
end

-- A histogram as a Lua table: microseconds -> count.
local function copy(h)
   local c = {}
   for v, n in pairs(h) do c[v] = n end
   return c
end

-- What wrk 4.1.0 does to its histogram before done() (stats_correct in
-- src/stats.c, called from main() with this interval).
local function wrk_correct(h, duration, requests, connections)
   local c, top = copy(h), 0
   for v in pairs(c) do if v > top then top = v end end
   local e = math.floor(duration / math.floor(requests / connections))
   for n = 2 * e, top do
      local count = c[n] or 0
      local m = n - e
      while count > 0 and m > e do
         c[m] = (c[m] or 0) + count
         m = m - e
      end
   end
   return c
end

-- The object wrk hands to done(): #latency is the number of non-empty
-- buckets, latency(i) the value and count of the i-th, lowest first.
local function wrk_stats(h)
   local values = {}
   for v, n in pairs(h) do if n > 0 then table.insert(values, v) end end
   table.sort(values)
   local stats = newproxy(true)
   local mt = getmetatable(stats)
   mt.__len = function() return #values end
   mt.__call = function(_, i) return values[i], h[values[i]] end
   return stats
end

local function to_buckets(h)
   local buckets = {}
   for v, n in pairs(h) do table.insert(buckets, { v, n }) end
   table.sort(buckets, function(a, b) return a[1] < b[1] end)
   return buckets
end

local function same(buckets, h)
   local n = 0
   for _, b in ipairs(buckets) do
      if h[b[1]] ~= b[2] then return false end
      n = n + 1
   end
   for _, c in pairs(h) do if c > 0 then n = n - 1 end end
   return n == 0
end

-- 16 connections, one request each per ms on average: e = 1000 us. Most
-- answers take 300-900 us; two stalls hold up all 16 connections.
local connections, e = 16, 1000
local measured = {}
for v = 300, 900, 50 do measured[v] = 300 end
for i = 0, 15 do
   measured[25000 + i * 40] = 1
   measured[41000 + i * 13] = 1
end
measured[2500] = 7
local requests = 0
for _, n in pairs(measured) do requests = requests + n end
local per_connection = math.floor(requests / connections)
local summary = { requests = requests, duration = e * per_connection,
                  errors = { timeout = 0 } }
local corrected = wrk_correct(measured, summary.duration, requests,
                              connections)

local buckets, why = latency_of.measured(wrk_stats(corrected), summary,
                                         connections)
ok(buckets and same(buckets, measured),
   "the measured histogram comes back" .. (why and ": " .. why or ""))
ok(buckets and latency_of.percentile(buckets, 99) == 900,
   "measured p99 is the slowest normal answer")
-- The case must exercise the correction: wrk's own p99 lies in the stalls'
-- made-up samples.
local wrk_p99 = latency_of.percentile(to_buckets(corrected), 99)
ok(wrk_p99 > 900, "the stalls move wrk's p99 up (to " .. wrk_p99 .. " us)")

-- Answers slower than wrk's timeout are counted, not recorded.
local with_timeouts = { requests = requests + 5, duration = summary.duration,
                        errors = { timeout = 5 } }
corrected = wrk_correct(measured, with_timeouts.duration,
                        with_timeouts.requests, connections)
buckets, why = latency_of.measured(wrk_stats(corrected), with_timeouts,
                                   connections)
ok(buckets and same(buckets, measured),
   "timeouts are left out of the count" .. (why and ": " .. why or ""))

-- Without the correction (another wrk), taking it out again cannot add up.
buckets, why = latency_of.measured(wrk_stats(measured), summary, connections)
ok(buckets == nil and why ~= nil,
   "an uncorrected histogram is refused" .. (why and ": " .. why or ""))

-- wrk's rank: round(p / 100 * count + 0.5), the first value reaching it.
local hundred = {}
for v = 1, 100 do hundred[v] = 1 end
buckets = latency_of.measured(wrk_stats(hundred),
                              { requests = 100, duration = 1e9,
                                errors = { timeout = 0 } }, 1)
ok(buckets and latency_of.percentile(buckets, 50) == 51
   and latency_of.percentile(buckets, 99) == 100,
   "percentiles as wrk computes them")

print(passed .. " passed, " .. failed .. " failed")
os.exit(failed == 0 and 0 or 1)
