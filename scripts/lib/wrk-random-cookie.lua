-- wrk script for scripts/bench-scale: every request carries a cookie
-- picked uniformly at random from the file named after "--" (one cookie
-- a line), so neither the per-worker memo nor session_cache keeps up and
-- nearly every request is a Redis lookup.  The same script drives the
-- bare and auth_request cases, so each pays the same client-side cost.

local cookies = {}
local threads = 0

function setup(thread)
    threads = threads + 1
    thread:set("seed", threads)
end

function init(args)
    for line in io.lines(args[1]) do
        cookies[#cookies + 1] = "sid=" .. line
    end
    math.randomseed(os.time() * 131 + (seed or 0))
end

function request()
    return wrk.format(nil, nil, { ["Cookie"] = cookies[math.random(#cookies)] })
end
