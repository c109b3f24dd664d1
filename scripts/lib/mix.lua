-- wrk script for scripts/soak: cycles through the cookies given after
-- "--" (a "-" sends no cookie) and counts the responses by status.

local threads = {}
local cookies = {}
local n = 0

counts = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    for i, a in ipairs(args) do
        cookies[i] = a
    end
end

function request()
    n = n + 1
    local c = cookies[(n % #cookies) + 1]
    if c == "-" then
        return wrk.format("GET", "/p/")
    end
    return wrk.format("GET", "/p/", { ["Cookie"] = "sid=" .. c })
end

function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
    local total, all = {}, 0
    for _, t in ipairs(threads) do
        for code, c in pairs(t:get("counts")) do
            total[code] = (total[code] or 0) + c
            all = all + c
        end
    end
    for code, c in pairs(total) do
        io.write(string.format("STATUS %d %d\n", code, c))
    end
    io.write(string.format("RESPONSES %d\n", all))
end
