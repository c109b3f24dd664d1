
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
 *     TTL = min(idle, abs - now), renewed on touch
 *
 *   <prefix>u:<subject> SET  the <hash> of every session of the subject;
 *                            TTL = the longest absolute timeout added
 *
 *   <prefix>revoked    pub/sub channel; the <hash> of each revoked session
 */

#ifndef _SESSION_STORE_H_INCLUDED_
#define _SESSION_STORE_H_INCLUDED_


#define SS_KEY_SESSION        "s:"
#define SS_KEY_SUBJECT        "u:"
#define SS_CHANNEL_REVOKED    "revoked"


/*
 * Lookup, one round trip, idle-timeout sliding folded in.
 *   KEYS[1] session key; ARGV[1] now, ARGV[2] idle, ARGV[3] touch (seconds)
 *   replies: integer 0 unknown, integer 1 expired,
 *            array { sub, abs, claims } valid
 */
#define SS_SCRIPT_LOOKUP                                                      \
    "local r = redis.call('HMGET', KEYS[1], 'sub', 'abs', 'last', 'cl')\n"   \
    "if not r[1] then return 0 end\n"                                         \
    "local now = tonumber(ARGV[1])\n"                                         \
    "local idle = tonumber(ARGV[2])\n"                                        \
    "local abs = tonumber(r[2]) or 0\n"                                       \
    "local last = tonumber(r[3]) or 0\n"                                      \
    "if abs <= now or last + idle <= now then\n"                              \
    "  redis.call('DEL', KEYS[1])\n"                                          \
    "  return 1\n"                                                            \
    "end\n"                                                                   \
    "if now - last >= tonumber(ARGV[3]) then\n"                               \
    "  redis.call('HSET', KEYS[1], 'last', now)\n"                            \
    "  redis.call('EXPIRE', KEYS[1], math.min(idle, abs - now))\n"            \
    "end\n"                                                                   \
    "return {r[1], r[2], r[4] or ''}\n"


/*
 * Create.
 *   KEYS[1] session key, KEYS[2] subject index key
 *   ARGV[1] subject, ARGV[2] now, ARGV[3] abs, ARGV[4] idle,
 *   ARGV[5] claims, ARGV[6] hash
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
    "return 1\n"


/*
 * Revoke one session.
 *   KEYS[1] session key; ARGV[1] prefix, ARGV[2] hash
 *   reply: integer 1 if it existed, 0 if not; publishes the hash
 */
#define SS_SCRIPT_REVOKE                                                      \
    "local sub = redis.call('HGET', KEYS[1], 'sub')\n"                        \
    "redis.call('DEL', KEYS[1])\n"                                            \
    "redis.call('PUBLISH', ARGV[1] .. 'revoked', ARGV[2])\n"                  \
    "if not sub then return 0 end\n"                                          \
    "redis.call('SREM', ARGV[1] .. 'u:' .. sub, ARGV[2])\n"                   \
    "return 1\n"


#endif /* _SESSION_STORE_H_INCLUDED_ */
