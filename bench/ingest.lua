-- wrk script of the ingest benchmark (bench/loadgen.py runs it).
--
-- Each wrk thread holds one connection (wrk -tN -cN), so the response wrk hands
-- to `response` answers the request this thread built last: the script knows
-- exactly which events were acknowledged. Thread i POSTs the pre-signed
-- requests of "$BENCH_WRK_REQUESTS.i" (lines "event_id<TAB>signature<TAB>body"),
-- each once, and stops when its file is used up. (wrk calls thread 0's
-- `request` once before the run to check it; that request is never sent.) `done` writes
-- "$BENCH_WRK_OUT": latency percentiles (microseconds), counts, and the ids of
-- acknowledged (2xx) events.
--
-- wrk's Lua API: https://github.com/wg/wrk/blob/master/SCRIPTING

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("BENCH_WRK_REQUESTS") .. "." .. index
  target = os.getenv("BENCH_WRK_PATH")
  header = os.getenv("BENCH_WRK_SIGNATURE_HEADER")
  ids, signatures, bodies = {}, {}, {}
  for line in io.lines(path) do
    local id, signature, body = line:match("^([^\t]+)\t([^\t]+)\t(.*)$")
    table.insert(ids, id)
    table.insert(signatures, signature)
    table.insert(bodies, body)
  end
  position = 0
  current = nil
  acked = {}
  non_2xx = 0
  exhausted = 0
end

function request()
  if position >= #ids then
    -- Never send an event twice: stop this thread; the request returned here
    -- is not written.
    exhausted = 1
    wrk.thread:stop()
    position = #ids
  else
    position = position + 1
  end
  current = ids[position]
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers[header] = signatures[position]
  return wrk.format("POST", target, headers, bodies[position])
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    table.insert(acked, current)
  else
    non_2xx = non_2xx + 1
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
  local errors = summary.errors
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "socket_errors": %d, "timeouts": %d, ',
    summary.duration, summary.requests, latency:percentile(50),
    latency:percentile(99), latency.max,
    errors.connect + errors.read + errors.write, errors.timeout))
  local non_2xx_total, exhausted_threads, ids_out = 0, 0, {}
  for _, thread in ipairs(threads) do
    non_2xx_total = non_2xx_total + thread:get("non_2xx")
    exhausted_threads = exhausted_threads + thread:get("exhausted")
    for _, id in ipairs(thread:get("acked")) do
      table.insert(ids_out, '"' .. id .. '"')
    end
  end
  out:write(string.format(
    '"non_2xx": %d, "exhausted_threads": %d, "acked": [%s]}',
    non_2xx_total, exhausted_threads, table.concat(ids_out, ",")))
  out:close()
end
