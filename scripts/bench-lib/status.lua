-- wrk script for scripts/bench: counts the responses by HTTP status.
--
-- Used for the status checks and the RSS run, never for the timed runs
-- (a Lua response hook costs wrk time and would lower the ceiling).
-- wrk has no request-count option: scripts/bench stops a run early with
-- SIGINT, after which wrk still calls done().
--
-- done() prints one "STATUS <code> <count>" line per status seen, summed
-- over all threads, and "RESPONSES <n>".

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
    local total, n = {}, 0
    for _, t in ipairs(threads) do
        for code, c in pairs(t:get("counts")) do
            total[code] = (total[code] or 0) + c
            n = n + c
        end
    end
    for code, c in pairs(total) do
        io.write(string.format("STATUS %d %d\n", code, c))
    end
    io.write(string.format("RESPONSES %d\n", n))
end
