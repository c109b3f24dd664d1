-- wrk script for scripts/faults and scripts/bench (its status checks and
-- RSS run, never a timed run: a Lua response hook costs wrk time).  It
-- counts the responses by status and prints, from done(),
-- machine-readable lines summed over all threads:
--   STATUS <code> <count>       one per status seen
--   REQUESTS <n>                responses wrk completed
--   LATENCY_MAX_US <us>         the slowest response
--   LATENCY_P99_US <us>         the 99th percentile
--   ERRORS connect=N read=N write=N status=N timeout=N

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

-- a global, so that done() can read it with thread:get()
counts = {}

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for code, c in pairs(t:get("counts")) do
            total[code] = (total[code] or 0) + c
        end
    end
    for code, c in pairs(total) do
        io.write(string.format("STATUS %d %d\n", code, c))
    end
    io.write(string.format("REQUESTS %d\n", summary.requests))
    io.write(string.format("LATENCY_MAX_US %d\n", latency.max))
    io.write(string.format("LATENCY_P99_US %d\n", latency:percentile(99)))
    local e = summary.errors
    io.write(string.format(
        "ERRORS connect=%d read=%d write=%d status=%d timeout=%d\n",
        e.connect, e.read, e.write, e.status, e.timeout))
end
