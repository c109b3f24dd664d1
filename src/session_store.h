
/*
 * ngx_http_session_module: the Redis record layout, shared by the nginx
 * module and tools/sessionctl.  No nginx headers.  docs/redis.md describes
 * the same layout for operators; keep the two in step.
 *
 *   <prefix>s:<hash>   HASH  one session; <hash> is sc_token_hash_hex() of
 *                            the cookie token, never the token itself
 *       sub    subject (user id)
 *       cre    created, unix seconds
 *       abs    absolute expiry, unix seconds
 *       last   last touch, unix seconds (written at most once per "touch")
 *       cl     claims, "name=value; ..." percent-encoded values
 *       nx     only once renewed by a later login: the new session's hash
 *       nt     ... and the new token sealed under this one's (sc_grace_seal)
 *     TTL = min(idle, abs - now), renewed on touch; once renewed, the grace
 *     period
 *
 *   <prefix>u:<subject> SET  the <hash> of every session of the subject;
 *                            TTL = the longest absolute timeout added
 *
 *   <prefix>revoked    pub/sub channel; the <hash> of each revoked session
 *
 *   <prefix>r:<scheme>:<id>  STRING  a signed request already seen; TTL =
 *                            the scheme's tolerance
 */

#ifndef _SESSION_STORE_H_INCLUDED_
#define _SESSION_STORE_H_INCLUDED_


#define SS_KEY_SESSION        "s:"
#define SS_KEY_SUBJECT        "u:"
#define SS_CHANNEL_REVOKED    "revoked"


/*
 * Lookup, one round trip: a plain HMGET (a script costs Redis four times
 * as much per call), the timeouts checked by nginx on the reply.
 *   HMGET <prefix>s:<hash> sub abs last cl nx nt
 * A record renewed by a later login carries "nx" (the new session's hash)
 * and "nt" (the new token, sealed under the old one; sc_grace_open) until
 * its grace period ends: nginx then looks the new session up, answers for
 * it, and sets its cookie.
 */
#define SS_LOOKUP_FIELDS      6     /* sub abs last cl nx nt */


/*
 * Touch: slides the idle timeout, at most once per "touch" interval per
 * session, sent by nginx without waiting for the reply.  A record deleted
 * meanwhile (a logout) is not recreated.
 *   KEYS[1] session key; ARGV[1] now, ARGV[2] TTL = min(idle, abs - now)
 */
#define SS_SCRIPT_TOUCH                                                       \
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"                            \
    "  redis.call('HSET', KEYS[1], 'last', ARGV[1])\n"                        \
    "  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"                              \
    "end\n"                                                                   \
    "return 1\n"


/*
 * Create (a login, or sessionctl create).
 *   KEYS[1] session key, KEYS[2] subject index key
 *   ARGV[1] subject, ARGV[2] now, ARGV[3] abs, ARGV[4] idle,
 *   ARGV[5] claims, ARGV[6] hash
 *   renewal (optional): ARGV[7] prefix, ARGV[8] hash of the session this
 *   login replaces, ARGV[9] the new token sealed under the old one,
 *   ARGV[10] grace seconds.  Only a session of the same subject gets the
 *   grace period; one of another subject (a planted cookie, a shared
 *   browser) is revoked, so a fixated cookie never leads to the new
 *   session.
 *   reply: integer 1
 */
#define SS_SCRIPT_CREATE                                                      \
    "local now = tonumber(ARGV[2])\n"                                         \
    "local abs = tonumber(ARGV[3])\n"                                         \
    "redis.call('HSET', KEYS[1], 'sub', ARGV[1], 'cre', now, 'abs', abs,\n"  \
    "           'last', now, 'cl', ARGV[5])\n"                                \
    "redis.call('EXPIRE', KEYS[1], math.min(tonumber(ARGV[4]), abs - now))\n" \
    "redis.call('SADD', KEYS[2], ARGV[6])\n"                                  \
    "if redis.call('TTL', KEYS[2]) < abs - now then\n"                        \
    "  redis.call('EXPIRE', KEYS[2], abs - now)\n"                            \
    "end\n"                                                                   \
    "if ARGV[8] and ARGV[8] ~= '' and ARGV[8] ~= ARGV[6] then\n"              \
    "  local ok = ARGV[7] .. 's:' .. ARGV[8]\n"                               \
    "  local osub = redis.call('HGET', ok, 'sub')\n"                          \
    "  if osub == ARGV[1] then\n"                                             \
    "    local g = tonumber(ARGV[10])\n"                                      \
    "    redis.call('HSET', ok, 'nx', ARGV[6], 'nt', ARGV[9])\n"              \
    "    local t = redis.call('PTTL', ok)\n"                                  \
    "    if t < 0 or t > g * 1000 then redis.call('EXPIRE', ok, g) end\n"     \
    "    redis.call('SREM', ARGV[7] .. 'u:' .. osub, ARGV[8])\n"              \
    "    redis.call('PUBLISH', ARGV[7] .. 'revoked', ARGV[8])\n"              \
    "  elseif osub then\n"                                                    \
    "    redis.call('DEL', ok)\n"                                             \
    "    redis.call('SREM', ARGV[7] .. 'u:' .. osub, ARGV[8])\n"              \
    "    redis.call('PUBLISH', ARGV[7] .. 'revoked', ARGV[8])\n"              \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return 1\n"


/*
 * Revoke one session (a logout, sessionctl revoke).  A renewed record
 * (in its grace period) revokes the session it points to as well.
 *   KEYS[1] session key; ARGV[1] prefix, ARGV[2] hash
 *   reply: integer 1 if a session existed, 0 if not; publishes each hash
 */
#define SS_SCRIPT_REVOKE                                                      \
    "local k, h = KEYS[1], ARGV[2]\n"                                         \
    "local nx = redis.call('HGET', k, 'nx')\n"                                \
    "if nx then\n"                                                            \
    "  redis.call('DEL', k)\n"                                                \
    "  redis.call('PUBLISH', ARGV[1] .. 'revoked', h)\n"                      \
    "  k, h = ARGV[1] .. 's:' .. nx, nx\n"                                    \
    "end\n"                                                                   \
    "local sub = redis.call('HGET', k, 'sub')\n"                              \
    "redis.call('DEL', k)\n"                                                  \
    "redis.call('PUBLISH', ARGV[1] .. 'revoked', h)\n"                        \
    "if not sub then return 0 end\n"                                          \
    "redis.call('SREM', ARGV[1] .. 'u:' .. sub, h)\n"                         \
    "return 1\n"


/*
 * Revoke every session of the subject of a session (logout "all").
 *   KEYS[1] session key; ARGV[1] prefix, ARGV[2] hash
 *   reply: the number of sessions revoked
 */
#define SS_SCRIPT_REVOKE_ALL                                                  \
    "local k = KEYS[1]\n"                                                     \
    "local nx = redis.call('HGET', k, 'nx')\n"                                \
    "if nx then\n"                                                            \
    "  redis.call('DEL', k)\n"                                                \
    "  k = ARGV[1] .. 's:' .. nx\n"                                           \
    "end\n"                                                                   \
    "local sub = redis.call('HGET', k, 'sub')\n"                              \
    "redis.call('DEL', k)\n"                                                  \
    "redis.call('PUBLISH', ARGV[1] .. 'revoked', ARGV[2])\n"                  \
    "if not sub then return 0 end\n"                                          \
    "local idx = ARGV[1] .. 'u:' .. sub\n"                                    \
    "local m = redis.call('SMEMBERS', idx)\n"                                 \
    "for _, h in ipairs(m) do\n"                                              \
    "  redis.call('DEL', ARGV[1] .. 's:' .. h)\n"                             \
    "  redis.call('PUBLISH', ARGV[1] .. 'revoked', h)\n"                      \
    "end\n"                                                                   \
    "redis.call('DEL', idx)\n"                                                \
    "return #m\n"


/*
 * The replay key of a signed request, "<prefix>r:<scheme>:<replay id>":
 * reserved while the delivery is in flight, then kept for the acceptance
 * window if it succeeded or removed if it did not (so the sender's retry
 * passes).  KEYS[1] the key; ARGV[1] "reserve", "confirm" or "release";
 * ARGV[2] the request's token; ARGV[3] TTL seconds.
 *   reserve: 1 the key was free and now holds the token for ARGV[3];
 *            0 a delivery of it succeeded (the key holds "1");
 *            2 another delivery of it is in flight (holds a token)
 *   confirm: the key becomes "1" for ARGV[3] if it still holds this
 *            token or has expired meanwhile; reply 1
 *   release: the key is deleted if it still holds this token; reply 1
 */
#define SS_SCRIPT_REPLAY                                                      \
    "local v = redis.call('GET', KEYS[1])\n"                                  \
    "if ARGV[1] == 'reserve' then\n"                                          \
    "  if v then\n"                                                           \
    "    if v == '1' then return 0 end\n"                                     \
    "    return 2\n"                                                          \
    "  end\n"                                                                 \
    "  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"                  \
    "  return 1\n"                                                            \
    "end\n"                                                                   \
    "if ARGV[1] == 'confirm' then\n"                                          \
    "  if not v or v == ARGV[2] then\n"                                       \
    "    redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])\n"                    \
    "  end\n"                                                                 \
    "  return 1\n"                                                            \
    "end\n"                                                                   \
    "if v == ARGV[2] then redis.call('DEL', KEYS[1]) end\n"                   \
    "return 1\n"


#endif /* _SESSION_STORE_H_INCLUDED_ */
