-- SPDX-License-Identifier: Apache-2.0
-- Copyright 2026 the mod_protime authors

-- What wrk measured, from what it reports to done(): used by
-- bench/deliveries.lua, tested by test/bench-latency.lua.
local M = {}

-- wrk 4 changes its latency histogram before done() sees it (stats_correct
-- in wrk.c): with e the mean time between two requests of one connection,
-- every sample n of at least 2e adds made-up samples at n - e, n - 2e, ...
-- down to e. That estimates what clients sending at a fixed rate would have
-- seen behind a stall; ours send the next request when the answer comes, and
-- a single 20 ms stall across 16 connections then adds more made-up samples
-- than there are real ones above p99. This takes them out again: they only
-- ever go to lower buckets, so from the top down each bucket holds its
-- measured count once those the buckets above it added are subtracted.
-- Returns the measured {value, count} buckets in ascending order, or nil
-- (with the reason) when the result does not add up to the requests wrk
-- recorded.
function M.measured(latency, summary, connections)
   local per_connection = math.floor(summary.requests / connections)
   local count, top, recorded = {}, 0, 0
   for i = 1, #latency do
      local value, n = latency(i)
      count[value] = n
      if value > top then top = value end
   end
   if per_connection > 0 then
      local e = math.floor(summary.duration / per_connection)
      for n = top, 2 * e, -1 do
         local made_up = count[n]
         if made_up and made_up > 0 then
            local m = n - e
            while m > e do
               count[m] = (count[m] or 0) - made_up
               m = m - e
            end
         end
      end
   end
   local buckets = {}
   for value, n in pairs(count) do
      if n < 0 then
         return nil, "negative count at " .. value .. " us"
      end
      if n > 0 then
         table.insert(buckets, { value, n })
         recorded = recorded + n
      end
   end
   -- wrk records every answer but those slower than its timeout.
   if recorded ~= summary.requests - summary.errors.timeout then
      return nil, recorded .. " samples for " .. summary.requests
                  .. " requests"
   end
   table.sort(buckets, function(a, b) return a[1] < b[1] end)
   return buckets
end

-- The percentile as wrk computes it (stats_percentile in stats.c).
function M.percentile(buckets, p)
   local total = 0
   for _, b in ipairs(buckets) do total = total + b[2] end
   local rank = math.floor(p / 100 * total + 0.5 + 0.5)
   local seen = 0
   for _, b in ipairs(buckets) do
      seen = seen + b[2]
      if seen >= rank then return b[1] end
   end
   return 0
end

return M
