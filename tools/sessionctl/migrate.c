
/*
 * sessionctl migrate: copies the sessions of a single Redis into a Redis
 * Cluster (docs/redis.md, "Moving from a single Redis").
 *
 * SCAN over <prefix>* of the source, a batch at a time; per session key,
 * DUMP, PTTL and HMGET sub last abs nx, pipelined; on the cluster, the
 * record is restored as <prefix>s:{<hash[0..3]>}<hash> with its remaining
 * TTL (SCTL_MIGRATE_SCRIPT_RECORD, one slot) and its hash added to its
 * subject's index (SCTL_MIGRATE_SCRIPT_INDEX, the index's slot); a replay
 * key keeps its name.  Nothing is ever printed of a record but counts:
 * the payloads carry the sealed renewal tokens ("nt").
 */


#include "sessionctl.h"


#define SCTL_SCAN_COUNT       "500"


/*
 * KEYS[1] the cluster key of a record; ARGV[1] DUMP payload, ARGV[2] TTL
 * in ms (0: none), ARGV[3] the source's "last".  A record already on the
 * cluster is replaced only if the source was seen later (it was touched
 * there after an earlier run); one revoked or expired on the cluster is
 * gone and copied again: run the last pass right after the edges moved.
 *   reply: 1 copied, 2 replaced (newer at the source), 0 already there
 */
#define SCTL_MIGRATE_SCRIPT_RECORD                                            \
    "if redis.call('EXISTS', KEYS[1]) == 1 then\n"                            \
    "  local l = tonumber(redis.call('HGET', KEYS[1], 'last') or '') or 0\n"  \
    "  if (tonumber(ARGV[3]) or 0) <= l then return 0 end\n"                  \
    "  redis.call('RESTORE', KEYS[1], ARGV[2], ARGV[1], 'REPLACE')\n"         \
    "  return 2\n"                                                            \
    "end\n"                                                                   \
    "redis.call('RESTORE', KEYS[1], ARGV[2], ARGV[1])\n"                      \
    "return 1\n"

/*
 * KEYS[1] the subject's index; ARGV[1] hash, ARGV[2] seconds it must
 * live at least (the record's absolute expiry).  reply: SADD's
 */
#define SCTL_MIGRATE_SCRIPT_INDEX                                             \
    "local n = redis.call('SADD', KEYS[1], ARGV[1])\n"                        \
    "local t = tonumber(ARGV[2])\n"                                           \
    "if t > 0 and redis.call('TTL', KEYS[1]) < t - 2 then\n"                  \
    "  redis.call('EXPIRE', KEYS[1], t)\n"                                    \
    "end\n"                                                                   \
    "return n\n"

/* KEYS[1] a replay key; ARGV as above.  reply: 1 copied, 0 there */
#define SCTL_MIGRATE_SCRIPT_PLAIN                                             \
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"               \
    "redis.call('RESTORE', KEYS[1], ARGV[2], ARGV[1])\n"                      \
    "return 1\n"


typedef struct {
    long long           scanned;
    long long           copied;
    long long           replaced;
    long long           present;
    long long           indexed;
    long long           renewed;            /* copied, not indexed: "nx" */
    long long           replay;
    long long           replay_present;
    long long           skipped;            /* gone meanwhile, no subject */
} sctl_migrate_stats_t;


static int sctl_migrate_batch(sctl_ctx_t *ctx, sctl_ctx_t *src,
    redisReply *keys, sctl_migrate_stats_t *st);
static int sctl_migrate_one(sctl_ctx_t *ctx, const char *key, size_t klen,
    int session, redisReply *dump, redisReply *pttl, redisReply *f,
    sctl_migrate_stats_t *st);
static int sctl_migrate_kind(const redisReply *e, size_t pl);
static int sctl_is_hash(const char *p, size_t len);
static int sctl_subject_ok(const redisReply *e);


int
sctl_cmd_migrate(sctl_ctx_t *ctx)
{
    int                    rc;
    char                   cursor[32], prev[32];
    char                   pattern[2 * SCTL_PREFIX_MAX + 2];
    size_t                 i, n;
    sctl_json_t            j;
    redisReply            *r;
    sctl_ctx_t             src;
    const char            *argv[6];
    size_t                 argvlen[6];
    sctl_migrate_stats_t   st;

    memset(&st, 0, sizeof(sctl_migrate_stats_t));
    prev[0] = '\0';

    /* the source: the same credentials, prefix and --db */

    src = *ctx;
    src.redis_addr = ctx->from;
    src.cluster_seeds = NULL;
    src.cluster = NULL;
    src.redis = NULL;
    src.given &= ~SCTL_OPT_TO;

    rc = sctl_check_redis_addr(&src);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(&src);
    if (rc != SCTL_OK) {
        goto done;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        goto done;
    }

    /* a Redis without cluster support answers an error: said at once */

    argv[0] = "CLUSTER";
    argvlen[0] = 7;
    argv[1] = "INFO";
    argvlen[1] = 4;

    r = sctl_redis_command(ctx, 2, argv, argvlen);
    if (r == NULL) {
        rc = SCTL_RUNTIME;
        goto done;
    }

    freeReplyObject(r);

    /* the prefix with SCAN's glob characters escaped, then "*" */

    for (i = 0, n = 0; i < ctx->prefix_len; i++) {
        if (strchr("*?[]\\", ctx->prefix[i])) {
            pattern[n++] = '\\';
        }

        pattern[n++] = ctx->prefix[i];
    }

    pattern[n++] = '*';
    pattern[n] = '\0';

    strcpy(cursor, ctx->cursor ? ctx->cursor : "0");

    do {
        strcpy(prev, cursor);

        argv[0] = "SCAN";
        argvlen[0] = 4;
        argv[1] = cursor;
        argvlen[1] = strlen(cursor);
        argv[2] = "MATCH";
        argvlen[2] = 5;
        argv[3] = pattern;
        argvlen[3] = n;
        argv[4] = "COUNT";
        argvlen[4] = 5;
        argv[5] = SCTL_SCAN_COUNT;
        argvlen[5] = sizeof(SCTL_SCAN_COUNT) - 1;

        r = sctl_redis_command(&src, 6, argv, argvlen);
        if (r == NULL) {
            rc = SCTL_RUNTIME;
            goto done;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[0]->len >= sizeof(cursor)
            || r->element[1]->type != REDIS_REPLY_ARRAY)
        {
            sctl_error("redis %s: unexpected reply to SCAN", src.redis_addr);
            freeReplyObject(r);
            rc = SCTL_RUNTIME;
            goto done;
        }

        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';

        rc = sctl_migrate_batch(ctx, &src, r->element[1], &st);

        freeReplyObject(r);

        if (rc != SCTL_OK) {
            goto done;
        }

    } while (strcmp(cursor, "0") != 0);

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_bool(&j, "dry_run", (ctx->given & SCTL_OPT_DRY_RUN) != 0);
        sctl_json_int(&j, "sessions", st.scanned);
        sctl_json_int(&j, "copied", st.copied);
        sctl_json_int(&j, "replaced", st.replaced);
        sctl_json_int(&j, "present", st.present);
        sctl_json_int(&j, "indexed", st.indexed);
        sctl_json_int(&j, "renewed", st.renewed);
        sctl_json_int(&j, "replay_copied", st.replay);
        sctl_json_int(&j, "replay_present", st.replay_present);
        sctl_json_int(&j, "skipped", st.skipped);
        sctl_json_close(&j, '}');

    } else {
        printf("%s%lld sessions: %lld copied, %lld replaced (newer at the "
               "source), %lld already there, %lld index entries added, "
               "%lld renewed (not indexed), %lld skipped\n"
               "%lld replay keys copied, %lld already there\n",
               (ctx->given & SCTL_OPT_DRY_RUN) ? "dry run: " : "",
               st.scanned, st.copied, st.replaced, st.present, st.indexed,
               st.renewed, st.skipped, st.replay, st.replay_present);
    }

    rc = SCTL_OK;

done:

    if (rc != SCTL_OK && prev[0]) {
        /* what was copied stays; a new run skips it */
        sctl_error("migrate stopped at SCAN cursor %s: run it again with "
                   "--cursor %s to go on", prev, prev);
    }

    if (src.redis) {
        redisFree(src.redis);
    }

    return rc;
}


static int
sctl_migrate_batch(sctl_ctx_t *ctx, sctl_ctx_t *src, redisReply *keys,
    sctl_migrate_stats_t *st)
{
    int           rc, session;
    size_t        i, k, pl, argvlen[6];
    const char   *argv[6];
    redisReply   *e, *rep[3];

    pl = ctx->prefix_len;

    /* pipelined: DUMP, PTTL and (sessions) HMGET of every key */

    for (i = 0; i < keys->elements; i++) {
        e = keys->element[i];

        session = sctl_migrate_kind(e, pl);
        if (session < 0) {
            continue;
        }

        argv[1] = e->str;
        argvlen[1] = e->len;

        argv[0] = "DUMP";
        argvlen[0] = 4;
        redisAppendCommandArgv(src->redis, 2, argv, argvlen);
        argv[0] = "PTTL";
        redisAppendCommandArgv(src->redis, 2, argv, argvlen);

        if (session) {
            argv[0] = "HMGET";
            argvlen[0] = 5;
            argv[2] = "sub";
            argvlen[2] = 3;
            argv[3] = "last";
            argvlen[3] = 4;
            argv[4] = "abs";
            argvlen[4] = 3;
            argv[5] = "nx";
            argvlen[5] = 2;
            redisAppendCommandArgv(src->redis, 6, argv, argvlen);
        }
    }

    rc = SCTL_OK;

    for (i = 0; i < keys->elements; i++) {
        e = keys->element[i];

        session = sctl_migrate_kind(e, pl);
        if (session < 0) {
            continue;
        }

        rep[2] = NULL;

        for (k = 0; k < (size_t) (session ? 3 : 2); k++) {
            rep[k] = NULL;

            if (redisGetReply(src->redis, (void **) &rep[k]) != REDIS_OK
                || sctl_redis_check(src, rep[k]) != SCTL_OK)
            {
                while (k-- > 0) {
                    freeReplyObject(rep[k]);
                }

                /* the connection is out of step: stop */
                return SCTL_RUNTIME;
            }
        }

        if (rc == SCTL_OK) {
            rc = sctl_migrate_one(ctx, e->str, e->len, session, rep[0],
                                  rep[1], rep[2], st);
        }

        for (k = 0; k < (size_t) (session ? 3 : 2); k++) {
            freeReplyObject(rep[k]);
        }
    }

    return rc;
}


static int
sctl_migrate_one(sctl_ctx_t *ctx, const char *key, size_t klen, int session,
    redisReply *dump, redisReply *pttl, redisReply *f,
    sctl_migrate_stats_t *st)
{
    int           dry;
    char          dkey[SCTL_KEY_MAX], ukey[SCTL_KEY_MAX], ttl[24], secs[24];
    long long     last, abs, dlast;
    size_t        argvlen[7], slen;
    const char   *argv[7], *hash;
    redisReply   *r;
    time_t        now;

    dry = (ctx->given & SCTL_OPT_DRY_RUN) != 0;

    if (session) {
        st->scanned++;
    }

    /* gone between SCAN and DUMP, or not a record of ours */

    if (dump->type != REDIS_REPLY_STRING || pttl->type != REDIS_REPLY_INTEGER
        || pttl->integer == -2
        || (session && (f->type != REDIS_REPLY_ARRAY || f->elements != 4
                        || f->element[0]->type != REDIS_REPLY_STRING
                        || !sctl_subject_ok(f->element[0]))))
    {
        st->skipped += session;
        return SCTL_OK;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[4] = dump->str;
    argvlen[4] = dump->len;
    argv[5] = ttl;
    argvlen[5] = (size_t) snprintf(ttl, sizeof(ttl), "%lld",
                                   pttl->integer > 0 ? pttl->integer : 0);

    if (!session) {
        /* a replay key: same name on the cluster, its own slot */

        if (dry) {
            argv[0] = "EXISTS";
            argvlen[0] = 6;
            argv[1] = key;
            argvlen[1] = klen;
            r = sctl_redis_command(ctx, 2, argv, argvlen);

        } else {
            argv[1] = SCTL_MIGRATE_SCRIPT_PLAIN;
            argvlen[1] = sizeof(SCTL_MIGRATE_SCRIPT_PLAIN) - 1;
            argv[3] = key;
            argvlen[3] = klen;
            r = sctl_redis_command(ctx, 6, argv, argvlen);
        }

        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        if (r->type == REDIS_REPLY_INTEGER && r->integer == (dry ? 0 : 1)) {
            st->replay++;

        } else {
            st->replay_present++;
        }

        freeReplyObject(r);
        return SCTL_OK;
    }

    hash = key + ctx->prefix_len + 2;
    last = 0;
    abs = 0;

    if (f->element[1]->type == REDIS_REPLY_STRING) {
        sctl_reply_number(f->element[1], &last);
    }

    if (f->element[2]->type == REDIS_REPLY_STRING) {
        sctl_reply_number(f->element[2], &abs);
    }

    sctl_key(ctx, dkey, SS_KEY_SESSION, hash, SC_HASH_HEX_LEN);

    if (dry) {
        argv[0] = "HGET";
        argvlen[0] = 4;
        argv[1] = dkey;
        argvlen[1] = strlen(dkey);
        argv[2] = "last";
        argvlen[2] = 4;

        r = sctl_redis_command(ctx, 3, argv, argvlen);
        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        if (r->type == REDIS_REPLY_NIL) {
            st->copied++;

        } else {
            sctl_reply_number(r, &dlast);

            if (last > dlast) {
                st->replaced++;

            } else {
                st->present++;
            }
        }

        freeReplyObject(r);

    } else {
        argv[1] = SCTL_MIGRATE_SCRIPT_RECORD;
        argvlen[1] = sizeof(SCTL_MIGRATE_SCRIPT_RECORD) - 1;
        argv[3] = dkey;
        argvlen[3] = strlen(dkey);
        argv[6] = secs;
        argvlen[6] = (size_t) snprintf(secs, sizeof(secs), "%lld", last);

        r = sctl_redis_command(ctx, 7, argv, argvlen);
        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        if (r->type != REDIS_REPLY_INTEGER) {
            sctl_error("redis %s: unexpected reply to the migrate script",
                       ctx->redis_addr);
            freeReplyObject(r);
            return SCTL_RUNTIME;
        }

        switch (r->integer) {
        case 1:
            st->copied++;
            break;
        case 2:
            st->replaced++;
            break;
        default:
            st->present++;
        }

        freeReplyObject(r);
    }

    /* a renewed record ("nx") is no longer in its subject's index */

    if (f->element[3]->type == REDIS_REPLY_STRING) {
        st->renewed++;
        return SCTL_OK;
    }

    slen = f->element[0]->len;
    sctl_key(ctx, ukey, SS_KEY_SUBJECT, f->element[0]->str, slen);

    if (dry) {
        argv[0] = "SISMEMBER";
        argvlen[0] = 9;
        argv[1] = ukey;
        argvlen[1] = strlen(ukey);
        argv[2] = hash;
        argvlen[2] = SC_HASH_HEX_LEN;

        r = sctl_redis_command(ctx, 3, argv, argvlen);
        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        st->indexed += r->type == REDIS_REPLY_INTEGER && r->integer == 0;
        freeReplyObject(r);

        return SCTL_OK;
    }

    now = time(NULL);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SCTL_MIGRATE_SCRIPT_INDEX;
    argvlen[1] = sizeof(SCTL_MIGRATE_SCRIPT_INDEX) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = strlen(ukey);
    argv[4] = hash;
    argvlen[4] = SC_HASH_HEX_LEN;
    argv[5] = secs;
    argvlen[5] = (size_t) snprintf(secs, sizeof(secs), "%lld",
                                   abs > now ? abs - (long long) now
                                   : (pttl->integer + 999) / 1000);

    r = sctl_redis_command(ctx, 6, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    st->indexed += r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);

    return SCTL_OK;
}


/*
 * What SCAN found under the prefix (pl bytes): 1 a session record
 * "s:<hash>", 0 a replay key "r:...", -1 anything else (not copied).
 */

static int
sctl_migrate_kind(const redisReply *e, size_t pl)
{
    const char  *name;

    if (e->type != REDIS_REPLY_STRING || e->len <= pl + 2) {
        return -1;
    }

    name = e->str + pl;

    if (e->len == pl + 2 + SC_HASH_HEX_LEN
        && memcmp(name, SS_KEY_SESSION, 2) == 0
        && sctl_is_hash(name + 2, SC_HASH_HEX_LEN))
    {
        return 1;
    }

    return memcmp(name, "r:", 2) == 0 ? 0 : -1;
}


static int
sctl_is_hash(const char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/* as sctl_check_subject(), silently: such a record is skipped */

static int
sctl_subject_ok(const redisReply *e)
{
    size_t  i;

    if (e->len == 0 || e->len > SCTL_SUBJECT_MAX) {
        return 0;
    }

    for (i = 0; i < e->len; i++) {
        if ((unsigned char) e->str[i] < 0x20 || e->str[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}
