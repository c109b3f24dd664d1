
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
 *       pid    the public id ($session_id, sc_public_id() of the token: it
 *              does not lead to <hash>), for session_list / session_revoke
 *       ip     the client address at login (session_client_address)
 *       ua     the User-Agent at login, at most SS_UA_MAX bytes
 *       via    how it was authenticated: login, telegram or sessionctl
 *       (pid ip ua via: absent in records written before they existed)
 *     TTL = min(idle, abs - now), renewed on touch; once renewed, the grace
 *     period
 *
 *   <prefix>u:<subject> SET  the <hash> of every session of the subject;
 *                            TTL = the longest absolute timeout added
 *
 *   <prefix>revoked    pub/sub channel; the <hash> of each revoked session
 *
 *   <prefix>r:<scheme>:<id>  STRING  a signed request: its token while
 *                            in flight ("inflight" TTL), then "1" for the
 *                            acceptance window (2 x tolerance + 2 s;
 *                            tolerance for github); SS_SCRIPT_REPLAY
 */

#ifndef _SESSION_STORE_H_INCLUDED_
#define _SESSION_STORE_H_INCLUDED_


#define SS_KEY_SESSION        "s:"
#define SS_KEY_SUBJECT        "u:"
#define SS_CHANNEL_REVOKED    "revoked"

/* the longest subject (user id) and key prefix, in bytes */
#define SS_SUBJECT_MAX        256
#define SS_PREFIX_MAX         128


/*
 * Lookup, one round trip: a plain HGET of the record's packed copy "lk"
 * (a script costs Redis four times as much per call, an HMGET of the six
 * fields three times as much), the timeouts checked by nginx on the reply.
 *   HGET <prefix>s:<hash> lk
 * A record without "lk" (written by an earlier version of the module, by
 * hand, or copied from such a Redis) answers nil and is read field by
 * field, a second round trip for such records only:
 *   HMGET <prefix>s:<hash> sub abs last cl nx nt cre
 * A record renewed by a later login carries "nx" (the new session's hash)
 * and "nt" (the new token, sealed under the old one; sc_grace_open) until
 * its grace period ends: nginx then looks the new session up, answers for
 * it, and sets its cookie.  "cre" is the session's auth_time in the
 * identity assertion (session_assertion), asked for only when
 * session_assertion_keys is configured (a field less to parse otherwise).
 */
#define SS_LOOKUP_FIELDS      7     /* sub abs last cl nx nt cre */

/* the most bytes of a User-Agent stored with a session */
#define SS_UA_MAX             256


/*
 * The lookup's copy of the record, "lk" (sc_record_unpack()): rewritten
 * from the fields by every script that writes sub abs last cl nx nt or
 * cre, as netstrings: the record's id (the first 16 hex digits of its
 * hash, which ends its key k), then the fields in that order ("0:," for a
 * field the record does not have).  ss_lk(k) does nothing for a key
 * without "sub" (no record).
 */
#define SS_LUA_LK_FN                                                          \
    "local function ss_lk(k)\n"                                               \
    "  local f = redis.call('HMGET', k, 'sub', 'abs', 'last', 'cl', 'nx',\n"  \
    "                       'nt', 'cre')\n"                                   \
    "  if not f[1] then return end\n"                                         \
    "  local v = {'16:' .. string.sub(k, -64, -49) .. ','}\n"                 \
    "  for i = 1, 7 do\n"                                                     \
    "    local s = f[i] or ''\n"                                              \
    "    v[i + 1] = #s .. ':' .. s .. ','\n"                                  \
    "  end\n"                                                                 \
    "  redis.call('HSET', k, 'lk', table.concat(v))\n"                        \
    "end\n"


/*
 * Touch: slides the idle timeout, at most once per "touch" interval per
 * session, sent by nginx without waiting for the reply.  A record deleted
 * meanwhile (a logout) is not recreated, and one renewed meanwhile by a
 * later login (it has "nx") keeps its grace period: a touch sent by a
 * lookup that ran just before the renewal must not give it back "idle".
 *   KEYS[1] session key; ARGV[1] now, ARGV[2] TTL = min(idle, abs - now)
 */
#define SS_SCRIPT_TOUCH                                                       \
    SS_LUA_LK_FN                                                              \
    "if redis.call('EXISTS', KEYS[1]) == 1\n"                                 \
    "   and redis.call('HEXISTS', KEYS[1], 'nx') == 0 then\n"                 \
    "  redis.call('HSET', KEYS[1], 'last', ARGV[1])\n"                        \
    "  ss_lk(KEYS[1])\n"                                                      \
    "  redis.call('EXPIRE', KEYS[1], ARGV[2])\n"                              \
    "end\n"                                                                   \
    "return 1\n"


/*
 * Pieces of the create scripts (single Redis and Cluster), the same text
 * in both.  SS_LUA_OLDEST_FIRST sorts the subject's live sessions
 * {hash, last, cre} oldest first (last use, then creation, then hash), the
 * order session_limit evicts in.  SS_LUA_WRITE_RECORD writes the new
 * record KEYS[1] (subject, times, claims, the registry's metadata when
 * ARGV[11] is set) with its idle TTL capped by the absolute end, and adds
 * it to the subject's index KEYS[2], whose TTL covers its longest member.
 */

#define SS_LUA_OLDEST_FIRST                                                   \
    "    table.sort(live, function(a, b)\n"                                   \
    "      if a[2] ~= b[2] then return a[2] < b[2] end\n"                     \
    "      if a[3] ~= b[3] then return a[3] < b[3] end\n"                     \
    "      return a[1] < b[1]\n"                                              \
    "    end)\n"

#define SS_LUA_WRITE_RECORD                                                   \
    SS_LUA_LK_FN                                                              \
    "local f = {'sub', ARGV[1], 'cre', now, 'abs', abs, 'last', now,\n"     \
    "           'cl', ARGV[5]}\n"                                             \
    "if ARGV[11] and ARGV[11] ~= '' then\n"                                   \
    "  for _, v in ipairs({'pid', ARGV[11], 'ip', ARGV[12] or '',\n"          \
    "                      'ua', ARGV[13] or '', 'via', ARGV[14] or ''})\n"   \
    "  do\n"                                                                  \
    "    f[#f + 1] = v\n"                                                     \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "redis.call('HSET', KEYS[1], unpack(f))\n"                                \
    "ss_lk(KEYS[1])\n"                                                        \
    "redis.call('EXPIRE', KEYS[1], math.min(tonumber(ARGV[4]), abs - now))\n" \
    "redis.call('SADD', KEYS[2], ARGV[6])\n"                                  \
    "if redis.call('TTL', KEYS[2]) < abs - now then\n"                        \
    "  redis.call('EXPIRE', KEYS[2], abs - now)\n"                            \
    "end\n"


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
 *   metadata (optional): ARGV[11] public id, ARGV[12] client address,
 *   ARGV[13] User-Agent, ARGV[14] "login", "telegram" or "sessionctl"
 *   limit (optional, session_limit): ARGV[15] the most live sessions of
 *   the subject (0: no limit), ARGV[16] "refuse" or "evict".  Counted
 *   over the subject index without the session this login renews; index
 *   entries whose record is gone are removed on the way.  Over the limit
 *   "refuse" writes nothing; "evict" ends the least recently seen
 *   sessions (chain(), so they are published as revoked) until this one
 *   fits.  One script: concurrent logins on any number of workers and
 *   edges cannot pass the limit together.
 *   reply: integer 0 refused by the limit, else 1 + the number evicted
 */
#define SS_SCRIPT_CREATE                                                      \
    "local p = ARGV[7] or ''\n"                                               \
    SS_LUA_CHAIN_FN                                                           \
    "local now = tonumber(ARGV[2])\n"                                         \
    "local abs = tonumber(ARGV[3])\n"                                         \
    "local max = tonumber(ARGV[15] or '0') or 0\n"                            \
    "local ended = 0\n"                                                       \
    "if max > 0 then\n"                                                       \
    "  local old = ARGV[8] or ''\n"                                           \
    "  local live = {}\n"                                                     \
    "  for _, h in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"              \
    "    local f = redis.call('HMGET', p .. 's:' .. h, 'last', 'cre', 'nx')\n"\
    "    if not f[1] and not f[2] then\n"                                     \
    "      redis.call('SREM', KEYS[2], h)\n"                                  \
    "    elseif h ~= old and h ~= ARGV[6] and not f[3] then\n"                \
    "      live[#live + 1] = {h, tonumber(f[1]) or 0, tonumber(f[2]) or 0}\n" \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "  if #live >= max then\n"                                                \
    "    if ARGV[16] == 'refuse' then return 0 end\n"                         \
    SS_LUA_OLDEST_FIRST                                                       \
    "    for i = 1, #live - max + 1 do\n"                                     \
    "      chain(live[i][1])\n"                                               \
    "      ended = ended + 1\n"                                               \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    SS_LUA_WRITE_RECORD                                                       \
    "if ARGV[8] and ARGV[8] ~= '' and ARGV[8] ~= ARGV[6] then\n"              \
    "  local ok = p .. 's:' .. ARGV[8]\n"                                     \
    "  local osub = redis.call('HGET', ok, 'sub')\n"                          \
    "  if osub == ARGV[1] then\n"                                             \
    "    local g = tonumber(ARGV[10])\n"                                      \
    "    redis.call('HSET', ok, 'nx', ARGV[6], 'nt', ARGV[9])\n"              \
    "    ss_lk(ok)\n"                                                         \
    "    local t = redis.call('PTTL', ok)\n"                                  \
    "    if t < 0 or t > g * 1000 then redis.call('EXPIRE', ok, g) end\n"     \
    "    redis.call('SREM', p .. 'u:' .. osub, ARGV[8])\n"                    \
    "    redis.call('PUBLISH', p .. 'revoked', ARGV[8])\n"                    \
    "  elseif osub then\n"                                                    \
    "    redis.call('DEL', ok)\n"                                             \
    "    redis.call('SREM', p .. 'u:' .. osub, ARGV[8])\n"                    \
    "    redis.call('PUBLISH', p .. 'revoked', ARGV[8])\n"                    \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return 1 + ended\n"


/*
 * The end of both list scripts (single Redis and Cluster): the rows
 * {cre, last, pid, ip, ua, via, current, hash} of "out", newest first
 * (then by hash), flattened into "r" with cre as a string.
 */

#define SS_LUA_LIST_ROWS                                                      \
    "table.sort(out, function(a, b)\n"                                        \
    "  if a[1] ~= b[1] then return a[1] > b[1] end\n"                         \
    "  return a[8] < b[8]\n"                                                  \
    "end)\n"                                                                  \
    "local r = {}\n"                                                          \
    "for _, s in ipairs(out) do\n"                                            \
    "  s[1] = tostring(s[1])\n"                                               \
    "  for _, v in ipairs(s) do r[#r + 1] = v end\n"                          \
    "end\n"


/*
 * The sessions of a subject (session_list, sessionctl list): the live
 * ones in its index, newest first; index entries whose record is gone are
 * removed.
 *   KEYS[1] subject index key; ARGV[1] prefix, ARGV[2] the caller's live
 *   hash or ''
 *   reply: 8 strings per session: cre last pid ip ua via current(0|1) hash
 */
#define SS_SCRIPT_LIST                                                        \
    "local p = ARGV[1]\n"                                                     \
    "local out = {}\n"                                                        \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  local f = redis.call('HMGET', p .. 's:' .. h, 'cre', 'last', 'pid',\n" \
    "                       'ip', 'ua', 'via', 'nx')\n"                       \
    "  if not f[1] then\n"                                                    \
    "    redis.call('SREM', KEYS[1], h)\n"                                    \
    "  elseif not f[7] then\n"                                                \
    "    out[#out + 1] = {tonumber(f[1]) or 0, f[2] or f[1], f[3] or '',\n"  \
    "                     f[4] or '', f[5] or '', f[6] or '',\n"             \
    "                     h == ARGV[2] and '1' or '0', h}\n"                  \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    SS_LUA_LIST_ROWS                                                          \
    "return r\n"

#define SS_LIST_FIELDS        8


/*
 * A renewal chain: a browser that logged in three times within the grace
 * period left A (nx = B), B (nx = C) and C, the live session; only C is in
 * the subject index.  A lookup follows nx to the end of the chain (at most
 * SS_CHAIN_HOPS hops) and answers for the live session only, so ending
 * the live session ends every cookie of its chain at once.  Revocations
 * still delete every record they can reach: chain(h) deletes h and every
 * record after it, publishes each hash (session_cache evicts them on every
 * worker), removes the live one from its subject's index and returns the
 * live session's subject (false if there was none).
 */
#define SS_CHAIN_HOPS         8

#define SS_LUA_CHAIN                                                          \
    "local p = ARGV[1]\n"                                                     \
    SS_LUA_CHAIN_FN

#define SS_LUA_CHAIN_FN                                                       \
    "local function chain(h)\n"                                               \
    "  for _ = 1, 32 do\n"                                                    \
    "    local k = p .. 's:' .. h\n"                                          \
    "    local f = redis.call('HMGET', k, 'sub', 'nx')\n"                     \
    "    redis.call('DEL', k)\n"                                              \
    "    redis.call('PUBLISH', p .. 'revoked', h)\n"                          \
    "    if not f[2] then\n"                                                  \
    "      if f[1] then redis.call('SREM', p .. 'u:' .. f[1], h) end\n"       \
    "      return f[1]\n"                                                     \
    "    end\n"                                                               \
    "    h = f[2]\n"                                                          \
    "  end\n"                                                                 \
    "  return false\n"                                                        \
    "end\n"


/*
 * Revoke one session (a logout, sessionctl revoke), with the rest of its
 * renewal chain.
 *   KEYS[1] session key; ARGV[1] prefix, ARGV[2] hash
 *   reply: integer 1 if a live session was ended, 0 if not
 */
#define SS_SCRIPT_REVOKE                                                      \
    SS_LUA_CHAIN                                                              \
    "if chain(ARGV[2]) then return 1 end\n"                                   \
    "return 0\n"


/*
 * Revoke one session of a subject by its public id (session_revoke,
 * sessionctl revoke --id), with its renewal chain.  Only the subject's
 * own index is searched: an id of another subject's session is not
 * found.
 *   KEYS[1] subject index key; ARGV[1] prefix, ARGV[2] public id
 *   reply: the hash of the session ended, or nil if there was none
 */
#define SS_SCRIPT_REVOKE_ID                                                   \
    SS_LUA_CHAIN                                                              \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  local f = redis.call('HMGET', p .. 's:' .. h, 'pid', 'nx')\n"          \
    "  if f[1] == ARGV[2] and not f[2] then\n"                                \
    "    chain(h)\n"                                                          \
    "    return h\n"                                                          \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "return false\n"


/*
 * Revoke every session of a subject (logout "all"): the subject named by
 * ARGV[3] (X-Session-Subject of the response) or, when it is empty, the
 * subject of the request's session.  The request's own session (ARGV[2],
 * empty if the request had none) is ended in either case, with its
 * chain; so is every session in the subject's index, with theirs.
 *   KEYS[1] the request's session key, or the subject index key when the
 *   request had no session; ARGV[1] prefix, ARGV[2] hash or '',
 *   ARGV[3] subject or ''
 *   reply: the number of live sessions ended
 */
#define SS_SCRIPT_REVOKE_ALL                                                  \
    SS_LUA_CHAIN                                                              \
    "local n, sub = 0, ARGV[3]\n"                                             \
    "if ARGV[2] ~= '' then\n"                                                 \
    "  local s = chain(ARGV[2])\n"                                            \
    "  if s then n = 1 end\n"                                                 \
    "  if sub == '' and s then sub = s end\n"                                 \
    "end\n"                                                                   \
    "if sub == '' then return n end\n"                                        \
    "local idx = p .. 'u:' .. sub\n"                                          \
    "for _, h in ipairs(redis.call('SMEMBERS', idx)) do\n"                    \
    "  if chain(h) then n = n + 1 end\n"                                      \
    "end\n"                                                                   \
    "redis.call('DEL', idx)\n"                                                \
    "return n\n"


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


/*
 * Redis Cluster layout (session_redis cluster=..., sessionctl --redis
 * cluster=...; session_slot.h, docs/redis.md "Redis Cluster").  The single
 * Redis and Sentinel layout above is unchanged; a deployment uses one or
 * the other.
 *
 *   <prefix>s:{<t>}<id>      HASH  one session, fields as above; <id> is
 *                            sc_token_cluster_id() of the cookie token:
 *                            <t> (4 hex digits, the token's first two
 *                            bytes) then the record hash from its 5th
 *                            digit on.  Found from the cookie alone, one
 *                            HMGET, as on a single Redis.
 *   <prefix>u:{<t>}<subject> SET   the subject's index; <t> is
 *                            sc_subject_tag_hex(subject).  A token created
 *                            for the Cluster layout starts with its
 *                            subject's tag (30 random bytes remain), so
 *                            every session of a subject, its renewal chain
 *                            and its index are on ONE slot: create,
 *                            renewal, revoke and revoke-all stay single
 *                            scripts on one slot, atomic as on one Redis.
 *   <prefix>s:{<h[0..3]>}<h> a session migrated from a single Redis
 *                            (sessionctl migrate): <h> is its old record
 *                            hash, the same formula with the hash's own
 *                            first digits as tag, so a lookup that misses
 *                            the first key tries this one (two round trips
 *                            for those cookies only, until they expire).
 *                            Such a record may sit on another slot than
 *                            its subject's index: scripts never build a
 *                            key outside the slot they run on (a record
 *                            "far" from it is left to the caller, which
 *                            sends one more single-slot script for it).
 *   <prefix>revoked          PUBLISH is cluster-wide (the cluster bus
 *                            carries it to every node's subscribers).
 *   <prefix>r:<scheme>:<id>  one key per script: no change.
 *
 * A tag is compared as a string: records of the same tag are on the same
 * slot; any other is treated as far (even if it happened to hash to the
 * same slot), so no CROSSSLOT error can come from a script.
 */

#define SS_CLUSTER_LUA_KEYS                                                   \
    "local function sk(p, h)\n"                                               \
    "  return p .. 's:{' .. string.sub(h, 1, 4) .. '}' .. h\n"                \
    "end\n"


/*
 * Cluster chain: as SS_LUA_CHAIN, on the slot of tag ARGV[2] only; a hop
 * to another tag is not followed: it is added to "far" and the chain
 * stops there (the caller revokes it with one more script on its slot).
 * The subject index is "u:{<tag>}<subject>" on the same slot; for a
 * migrated record whose subject's tag differs, the index entry is left,
 * stale and harmless (list prunes it, a revocation of it finds nothing).
 */
#define SS_CLUSTER_LUA_CHAIN                                                  \
    SS_CLUSTER_LUA_KEYS                                                       \
    SS_CLUSTER_LUA_CHAIN_FN                                                   \
    "local p, tg = ARGV[1], ARGV[2]\n"                                        \
    "local far = {}\n"                                                        \
    "local function chain(h) return ss_chain(p, tg, h, far) end\n"

/* ss_chain(prefix, tag, hash, far): the chain function of any script */
#define SS_CLUSTER_LUA_CHAIN_FN                                               \
    "local function ss_chain(p, tg, h, far)\n"                                \
    "  for _ = 1, 32 do\n"                                                    \
    "    if string.sub(h, 1, 4) ~= tg then\n"                                 \
    "      far[#far + 1] = h\n"                                               \
    "      return false\n"                                                    \
    "    end\n"                                                               \
    "    local k = sk(p, h)\n"                                                \
    "    local f = redis.call('HMGET', k, 'sub', 'nx')\n"                     \
    "    redis.call('DEL', k)\n"                                              \
    "    redis.call('PUBLISH', p .. 'revoked', h)\n"                          \
    "    if not f[2] then\n"                                                  \
    "      if f[1] then\n"                                                    \
    "        redis.call('SREM', p .. 'u:{' .. tg .. '}' .. f[1], h)\n"        \
    "      end\n"                                                             \
    "      return f[1]\n"                                                     \
    "    end\n"                                                               \
    "    h = f[2]\n"                                                          \
    "  end\n"                                                                 \
    "  return false\n"                                                        \
    "end\n"


/*
 * Cluster revoke: KEYS[1] the session key; ARGV[1] prefix, ARGV[2] the
 * id's tag (its first 4 digits), ARGV[3] id; ARGV[4] (optional) a public
 * id: then the session is ended only if it is live (no "nx") and has
 * that public id (the far members of SS_CLUSTER_SCRIPT_REVOKE_ID).
 *   reply: { 1 if a live session was ended else 0, far ids... }
 */
#define SS_CLUSTER_SCRIPT_REVOKE                                              \
    SS_CLUSTER_LUA_CHAIN                                                      \
    "if ARGV[4] and ARGV[4] ~= '' then\n"                                     \
    "  local f = redis.call('HMGET', KEYS[1], 'pid', 'nx')\n"                 \
    "  if f[1] ~= ARGV[4] or f[2] then return { 0 } end\n"                    \
    "end\n"                                                                   \
    "local n = 0\n"                                                           \
    "if chain(ARGV[3]) then n = 1 end\n"                                      \
    "local out = { n }\n"                                                     \
    "for _, h in ipairs(far) do out[#out + 1] = h end\n"                      \
    "return out\n"


/*
 * Cluster revoke by public id (session_revoke, sessionctl revoke --id):
 * KEYS[1] the subject's index; ARGV[1] prefix, ARGV[2] the subject's tag,
 * ARGV[3] the public id.  The members on this slot are searched as
 * SS_SCRIPT_REVOKE_ID does.
 *   reply: { hash, far ids... }: hash is the session ended, with the far
 *   hops of its chain (the caller ends each with SS_CLUSTER_SCRIPT_REVOKE
 *   on its slot); or '' when no member of this slot has the id: then
 *   far ids are the index members of another tag (migrated records),
 *   which the caller tries one by one with SS_CLUSTER_SCRIPT_REVOKE and
 *   the public id as ARGV[4] until one answers 1
 */
#define SS_CLUSTER_SCRIPT_REVOKE_ID                                           \
    SS_CLUSTER_LUA_CHAIN                                                      \
    "local other = {}\n"                                                      \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  if string.sub(h, 1, 4) ~= tg then\n"                                   \
    "    other[#other + 1] = h\n"                                             \
    "  else\n"                                                                \
    "    local f = redis.call('HMGET', sk(p, h), 'pid', 'nx')\n"              \
    "    if f[1] == ARGV[3] and not f[2] then\n"                              \
    "      chain(h)\n"                                                        \
    "      local out = { h }\n"                                               \
    "      for _, x in ipairs(far) do out[#out + 1] = x end\n"                \
    "      return out\n"                                                      \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "local out = { '' }\n"                                                    \
    "for _, x in ipairs(other) do out[#out + 1] = x end\n"                    \
    "return out\n"


/*
 * Cluster list (session_list): SS_SCRIPT_LIST on the subject's slot.
 * KEYS[1] the subject's index; ARGV[1] prefix, ARGV[2] the caller's live
 * hash or '', ARGV[3] the subject's tag.
 *   reply: { { SS_LIST_FIELDS strings per session, as SS_SCRIPT_LIST },
 *            { far ids... } }: the far ids are index members of another
 *   tag (migrated records), not read here; the caller reads each on its
 *   slot (HMGET <key> cre last pid ip ua via nx sub: listed if "sub" is
 *   the subject and there is no "nx"; SREM from the index if the record
 *   is gone) and merges them, newest first
 */
#define SS_CLUSTER_SCRIPT_LIST                                                \
    SS_CLUSTER_LUA_KEYS                                                       \
    "local p, tg = ARGV[1], ARGV[3]\n"                                        \
    "local out, far = {}, {}\n"                                               \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  if string.sub(h, 1, 4) ~= tg then\n"                                   \
    "    far[#far + 1] = h\n"                                                 \
    "  else\n"                                                                \
    "    local f = redis.call('HMGET', sk(p, h), 'cre', 'last', 'pid',\n"    \
    "                         'ip', 'ua', 'via', 'nx')\n"                     \
    "    if not f[1] then\n"                                                  \
    "      redis.call('SREM', KEYS[1], h)\n"                                  \
    "    elseif not f[7] then\n"                                              \
    "      out[#out + 1] = {tonumber(f[1]) or 0, f[2] or f[1], f[3] or '',\n"\
    "                       f[4] or '', f[5] or '', f[6] or '',\n"           \
    "                       h == ARGV[2] and '1' or '0', h}\n"                \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    SS_LUA_LIST_ROWS                                                          \
    "return { r, far }\n"


/*
 * Cluster revoke all of a subject: KEYS[1] the subject's index key;
 * ARGV[1] prefix, ARGV[2] the subject's tag, ARGV[3] subject.  Every
 * member on this slot is ended with its chain and removed; far members
 * (migrated records) stay in the index until the caller has revoked them
 * one by one and removes them (SREM), so a failure halfway leaves them
 * findable by the next attempt; a login racing the script adds a member
 * after it, which is not touched.
 *   reply: { the number of live sessions ended, far ids... }
 */
#define SS_CLUSTER_SCRIPT_REVOKE_ALL                                          \
    SS_CLUSTER_LUA_CHAIN                                                      \
    "local n = 0\n"                                                           \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  local before = #far\n"                                                 \
    "  if chain(h) then n = n + 1 end\n"                                      \
    "  if #far == before or far[#far] ~= h then\n"                            \
    "    redis.call('SREM', KEYS[1], h)\n"                                    \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "local out = { n }\n"                                                     \
    "for _, h in ipairs(far) do out[#out + 1] = h end\n"                      \
    "return out\n"


/*
 * Cluster create: SS_SCRIPT_CREATE's arguments, all of them (KEYS[1]
 * session key and KEYS[2] the subject's index, one slot by construction;
 * the metadata ARGV[11..14] and the limit ARGV[15..16] as there).  The
 * replaced session (ARGV[8]) is handled here when it carries the same
 * tag; one of another tag (another subject, or a migrated record) is not
 * touched and "retire" is 1: the caller then sends
 * SS_CLUSTER_SCRIPT_RETIRE to its slot BEFORE it hands out the new
 * cookie, so a planted cookie is dead before the login answers.  The new
 * record exists before the old one is retired: for that instant both are
 * valid, as before a login.
 *   session_limit: counted over the index as SS_SCRIPT_CREATE does, on
 *   this slot.  A member of another tag (a session migrated from a single
 *   Redis, sessionctl migrate) cannot be read here: it counts as live and
 *   as the oldest (it was created before the migration, so before any
 *   session of the cluster), so "evict" removes it from the index first
 *   and returns it in "far" for the caller to end with
 *   SS_CLUSTER_SCRIPT_REVOKE on its slot.  When "refuse" refuses, "far"
 *   lists the far members that were counted: a caller may check them
 *   (EXISTS on their slot), SREM from KEYS[2] those whose record is gone,
 *   and try once more.
 *   reply: { r, retire, far ids... }: r 0 refused by the limit (nothing
 *   written), else 1 + the number evicted (far ones included); retire 1
 *   if ARGV[8] must be retired separately, else 0
 */
#define SS_CLUSTER_SCRIPT_CREATE                                              \
    SS_CLUSTER_LUA_KEYS                                                       \
    SS_CLUSTER_LUA_CHAIN_FN                                                   \
    "local p = ARGV[7] or ''\n"                                               \
    "local now = tonumber(ARGV[2])\n"                                         \
    "local abs = tonumber(ARGV[3])\n"                                         \
    "local tg = string.sub(ARGV[6], 1, 4)\n"                                  \
    "local old = ARGV[8] or ''\n"                                             \
    "local max = tonumber(ARGV[15] or '0') or 0\n"                            \
    "local ended, far = 0, {}\n"                                              \
    "if max > 0 then\n"                                                       \
    "  local live = {}\n"                                                     \
    "  for _, h in ipairs(redis.call('SMEMBERS', KEYS[2])) do\n"              \
    "    if h == old or h == ARGV[6] then\n"                                  \
    "    elseif string.sub(h, 1, 4) ~= tg then\n"                             \
    "      live[#live + 1] = {h, -1, -1, true}\n"                             \
    "    else\n"                                                              \
    "      local f = redis.call('HMGET', sk(p, h), 'last', 'cre', 'nx')\n"    \
    "      if not f[1] and not f[2] then\n"                                   \
    "        redis.call('SREM', KEYS[2], h)\n"                                \
    "      elseif not f[3] then\n"                                            \
    "        live[#live + 1] = {h, tonumber(f[1]) or 0, tonumber(f[2]) or 0}\n"\
    "      end\n"                                                             \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "  if #live >= max then\n"                                                \
    "    if ARGV[16] == 'refuse' then\n"                                      \
    "      local out = { 0, 0 }\n"                                            \
    "      for _, s in ipairs(live) do\n"                                     \
    "        if s[4] then out[#out + 1] = s[1] end\n"                         \
    "      end\n"                                                             \
    "      return out\n"                                                      \
    "    end\n"                                                               \
    SS_LUA_OLDEST_FIRST                                                       \
    "    for i = 1, #live - max + 1 do\n"                                     \
    "      local h = live[i][1]\n"                                            \
    "      if live[i][4] then\n"                                              \
    "        redis.call('SREM', KEYS[2], h)\n"                                \
    "        far[#far + 1] = h\n"                                             \
    "      else\n"                                                            \
    "        ss_chain(p, tg, h, far)\n"                                       \
    "      end\n"                                                             \
    "      ended = ended + 1\n"                                               \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    SS_LUA_WRITE_RECORD                                                       \
    "local retire = 0\n"                                                      \
    "if old ~= '' and old ~= ARGV[6] then\n"                                  \
    "  if string.sub(old, 1, 4) ~= tg then\n"                                 \
    "    retire = 1\n"                                                        \
    "  else\n"                                                                \
    "    local ok = sk(p, old)\n"                                             \
    "    local osub = redis.call('HGET', ok, 'sub')\n"                        \
    "    if osub == ARGV[1] then\n"                                           \
    "      local g = tonumber(ARGV[10])\n"                                    \
    "      redis.call('HSET', ok, 'nx', ARGV[6], 'nt', ARGV[9])\n"            \
    "      ss_lk(ok)\n"                                                       \
    "      local t = redis.call('PTTL', ok)\n"                                \
    "      if t < 0 or t > g * 1000 then redis.call('EXPIRE', ok, g) end\n"   \
    "      redis.call('SREM', KEYS[2], old)\n"                                \
    "      redis.call('PUBLISH', p .. 'revoked', old)\n"                      \
    "    elseif osub then\n"                                                  \
    "      redis.call('DEL', ok)\n"                                           \
    "      redis.call('SREM', p .. 'u:{' .. tg .. '}' .. osub, old)\n"        \
    "      redis.call('PUBLISH', p .. 'revoked', old)\n"                      \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "local out = { 1 + ended, retire }\n"                                     \
    "for _, h in ipairs(far) do out[#out + 1] = h end\n"                      \
    "return out\n"


/*
 * Cluster retire: the replaced session on its own slot.
 *   KEYS[1] its key; ARGV[1] prefix, ARGV[2] its id, ARGV[3] the new
 *   session's subject, ARGV[4] the new id, ARGV[5] the new token sealed
 *   under the old one, ARGV[6] grace seconds
 *   reply: 1 given the grace period (same subject), the old subject if
 *   it was deleted (another subject), 0 if there was no record.  The
 *   caller then removes ARGV[2] from the old subject's index (SREM on
 *   that index's slot; left stale if that fails, which is harmless).
 */
#define SS_CLUSTER_SCRIPT_RETIRE                                              \
    SS_LUA_LK_FN                                                              \
    "local osub = redis.call('HGET', KEYS[1], 'sub')\n"                       \
    "if not osub then return 0 end\n"                                         \
    "redis.call('PUBLISH', ARGV[1] .. 'revoked', ARGV[2])\n"                  \
    "if osub == ARGV[3] then\n"                                               \
    "  local g = tonumber(ARGV[6])\n"                                         \
    "  redis.call('HSET', KEYS[1], 'nx', ARGV[4], 'nt', ARGV[5])\n"           \
    "  ss_lk(KEYS[1])\n"                                                      \
    "  local t = redis.call('PTTL', KEYS[1])\n"                               \
    "  if t < 0 or t > g * 1000 then redis.call('EXPIRE', KEYS[1], g) end\n"  \
    "  return 1\n"                                                            \
    "end\n"                                                                   \
    "redis.call('DEL', KEYS[1])\n"                                            \
    "return osub\n"


#endif /* _SESSION_STORE_H_INCLUDED_ */
