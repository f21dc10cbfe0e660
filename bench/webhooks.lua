-- wrk script of bench/webhooks.py: send each pre-signed request of a file exactly once, check
-- every answer, stop as soon as the last one is in, and print the figures as one JSON line.
--
--   wrk -t1 -c50 -d60s --latency -s bench/webhooks.lua http://127.0.0.1:PORT -- REQUESTS_FILE [PACE_MS]
--
-- REQUESTS_FILE, written by bench/wrk.py, one item a line, fields separated by tabs:
--   reject <text>                      an answer containing <text> is a failure (the apology)
--   post   <path> <signature> <body>   a request: POST <path>, X-Twilio-Signature, url-encoded form
--
-- PACE_MS (default 0): each connection waits this long before each of its requests, so that
-- C connections send about C / (PACE_MS + latency) requests a second (bench/hold_queue.py's
-- paced phase); 0 sends at full speed.
--
-- An answer counts as good when its status is 200, it contains "<Response>" and no reject text.
-- Run with one thread (-t1): the counts below are the thread's own.
--
-- How the count is kept exact: wrk asks delay() before each request, and request() for its
-- body. delay() hands out one slot per request of the file and parks a connection for a day
-- once all are handed out; request() only advances for a slot delay() handed out, because wrk
-- also calls request() once at start-up to check the script, and that one is never sent. When
-- every request is answered the thread stops and says so on stdout; wrk itself then still
-- sleeps out its -d duration unless it gets SIGINT, which bench/wrk.py sends on that line.

local ALL_ANSWERED = "ringflow-bench: all answered"
local PARK_MS = 24 * 3600 * 1000

local threads = {}
local requests = {}
local rejects = {}
local pace_ms = 0

-- Globals, so that done() can read them from the thread with thread:get().
cpu_ready = 0 -- wrk's CPU seconds (os.clock: the whole process) once the file is read
reserved = 0
sent = 0
answered = 0
bad = 0
first_bad = ""

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   local path = args[1]
   if path == nil then
      error("usage: wrk ... -s webhooks.lua URL -- REQUESTS_FILE [PACE_MS]")
   end
   pace_ms = tonumber(args[2] or "0") or error("PACE_MS must be a number of milliseconds")
   for line in io.lines(path) do
      local kind, rest = line:match("^(%a+)\t(.*)$")
      if kind == "reject" then
         table.insert(rejects, rest)
      elseif kind == "post" then
         local target, signature, body = rest:match("^([^\t]*)\t([^\t]*)\t(.*)$")
         if target == nil then
            error(path .. ": bad request line: " .. line:sub(1, 80))
         end
         local headers = {
            ["Content-Type"] = "application/x-www-form-urlencoded",
            ["X-Twilio-Signature"] = signature,
         }
         table.insert(requests, wrk.format("POST", target, headers, body))
      elseif line ~= "" then
         error(path .. ": unknown line: " .. line:sub(1, 80))
      end
   end
   if #requests == 0 then
      error(path .. ": no requests")
   end
   cpu_ready = os.clock()
end

function delay()
   if reserved < #requests then
      reserved = reserved + 1
      return pace_ms
   end
   return PARK_MS
end

function request()
   if sent >= reserved then
      return requests[1] -- wrk's start-up check of the script: parsed, never sent
   end
   sent = sent + 1
   return requests[sent]
end

local function is_good(status, body)
   if status ~= 200 or not body:find("<Response>", 1, true) then
      return false
   end
   for _, text in ipairs(rejects) do
      if body:find(text, 1, true) then
         return false
      end
   end
   return true
end

function response(status, headers, body)
   answered = answered + 1
   if not is_good(status, body) then
      bad = bad + 1
      if first_bad == "" then
         first_bad = status .. " " .. body:sub(1, 200)
      end
   end
   if answered == #requests then
      io.write(ALL_ANSWERED, "\n")
      io.stdout:flush()
      wrk.thread:stop()
   end
end

local function json_string(text)
   local escaped = text:gsub('[%c"\\]', function(char)
      return string.format("\\u%04x", char:byte())
   end)
   return '"' .. escaped .. '"'
end

function done(summary, latency, _requests)
   local totals = { sent = 0, answered = 0, bad = 0 }
   local example = ""
   local cpu_ready_at = os.clock()
   for _, thread in ipairs(threads) do
      cpu_ready_at = math.min(cpu_ready_at, thread:get("cpu_ready"))
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + thread:get(name)
      end
      if example == "" then
         example = thread:get("first_bad")
      end
   end
   local histogram = {}
   for i = 1, #latency do
      local value, count = latency(i)
      histogram[i] = string.format("[%d,%d]", value, count)
   end
   local errors = summary.errors
   io.write(string.format(
      'ringflow-bench: result {"duration_us":%d,"completed":%d,"sent":%d,"answered":%d,'
         .. '"bad":%d,"first_bad":%s,"socket_errors":%d,"timeouts":%d,"status_errors":%d,'
         .. '"p50_us":%d,"p99_us":%d,"max_us":%d,"wrk_cpu_s":%.6f,"latency_us":[%s]}\n',
      summary.duration, summary.requests, totals.sent, totals.answered, totals.bad,
      json_string(example), errors.connect + errors.read + errors.write, errors.timeout,
      errors.status, latency:percentile(50), latency:percentile(99), latency.max,
      os.clock() - cpu_ready_at, table.concat(histogram, ",")
   ))
   io.stdout:flush()
end
