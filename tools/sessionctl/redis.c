
/*
 * sessionctl: the Redis connection and its helpers (synchronous hiredis).
 */


#include "sessionctl.h"


int
sctl_redis_check(sctl_ctx_t *ctx, redisReply *r)
{
    if (r == NULL) {
        sctl_error("redis %s: %s", ctx->redis_addr,
                   ctx->cluster ? sctl_cluster_error(ctx->cluster)
                   : ctx->redis->errstr[0] ? ctx->redis->errstr
                                           : "no reply");
        return SCTL_RUNTIME;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        sctl_error("redis %s: %.*s", ctx->redis_addr, (int) r->len, r->str);
        freeReplyObject(r);
        return SCTL_RUNTIME;
    }

    return SCTL_OK;
}


redisReply *
sctl_redis_command(sctl_ctx_t *ctx, int argc, const char **argv,
    const size_t *argvlen)
{
    redisReply  *r;

    if (ctx->cluster) {
        r = sctl_cluster_command(ctx->cluster, argc, argv, argvlen);

    } else {
        r = redisCommandArgv(ctx->redis, argc, argv, argvlen);
    }

    if (sctl_redis_check(ctx, r) != SCTL_OK) {
        return NULL;
    }

    return r;
}


int
sctl_read_password(sctl_ctx_t *ctx, char *pw, size_t size, size_t *len)
{
    int     rc;
    char   *nl;
    size_t  n;
    char    buf[SCTL_PASSWORD_MAX + 2];

    rc = sctl_read_file(ctx->password_file, buf, sizeof(buf), &n);

    if (rc != SCTL_OK) {
        sodium_memzero(buf, sizeof(buf));
        return rc;
    }

    nl = memchr(buf, '\n', n);

    if (nl) {
        n = (size_t) (nl - buf);
    }

    if (n && buf[n - 1] == '\r') {
        n--;
    }

    if (n == 0 || n > size) {
        sodium_memzero(buf, sizeof(buf));
        sctl_error("%s: the first line must be a password of 1..%zu bytes",
                   ctx->password_file, size);
        return SCTL_RUNTIME;
    }

    memcpy(pw, buf, n);
    *len = n;

    sodium_memzero(buf, sizeof(buf));

    return SCTL_OK;
}


static redisContext *
sctl_cluster_connect(void *data, const char *host, int port)
{
    int            rc;
    sctl_ctx_t    *ctx = data;
    redisContext  *c;

    if (strlen(host) >= sizeof(ctx->host)) {
        return NULL;
    }

    strcpy(ctx->host, host);
    ctx->port = port;
    ctx->redis = NULL;

    sctl_quiet = 1;
    rc = sctl_redis_connect_one(ctx);
    sctl_quiet = 0;

    c = ctx->redis;
    ctx->redis = NULL;

    if (rc != SCTL_OK) {
        if (c) {
            redisFree(c);
        }

        return NULL;
    }

    return c;
}


int
sctl_redis_connect(sctl_ctx_t *ctx)
{
    redisReply  *r;
    const char  *argv[1];
    size_t       argvlen[1];

    if (ctx->cluster_seeds == NULL) {
        return sctl_redis_connect_one(ctx);
    }

    ctx->cluster = sctl_cluster_create(ctx->cluster_seeds,
                                       sctl_cluster_connect, ctx);
    if (ctx->cluster == NULL) {
        sctl_error("redis %s: out of memory", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    /* reach the cluster now: a wrong address fails before anything */

    argv[0] = "PING";
    argvlen[0] = 4;

    r = sctl_redis_command(ctx, 1, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    freeReplyObject(r);

    return SCTL_OK;
}


int
sctl_redis_connect_one(sctl_ctx_t *ctx)
{
    int              rc, argc;
    char             pw[SCTL_PASSWORD_MAX], db[24];
    size_t           pwlen, argvlen[3];
    const char      *argv[3];
    redisReply      *r;
    struct timeval   tv;

    tv.tv_sec = SCTL_TIMEOUT_SEC;
    tv.tv_usec = 0;

    if (ctx->unix_path) {
        ctx->redis = redisConnectUnixWithTimeout(ctx->unix_path, tv);

    } else {
        ctx->redis = redisConnectWithTimeout(ctx->host, ctx->port, tv);
    }

    if (ctx->redis == NULL) {
        sctl_error("redis %s: out of memory", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    if (ctx->redis->err) {
        sctl_error("redis %s: %s", ctx->redis_addr, ctx->redis->errstr);
        return SCTL_RUNTIME;
    }

    if (redisSetTimeout(ctx->redis, tv) != REDIS_OK) {
        sctl_error("redis %s: cannot set the timeout", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    if (ctx->password_file) {
        rc = sctl_read_password(ctx, pw, sizeof(pw), &pwlen);
        if (rc != SCTL_OK) {
            return rc;
        }

        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (ctx->user) {
            argv[argc] = ctx->user;
            argvlen[argc++] = strlen(ctx->user);
        }

        argv[argc] = pw;
        argvlen[argc++] = pwlen;

        r = redisCommandArgv(ctx->redis, argc, argv, argvlen);

        sodium_memzero(pw, sizeof(pw));

        if (sctl_redis_check(ctx, r) != SCTL_OK) {
            return SCTL_RUNTIME;
        }

        freeReplyObject(r);
    }

    /* a cluster has database 0 only (--db of migrate is --from's) */

    if ((ctx->given & SCTL_OPT_DB) && ctx->cluster_seeds == NULL) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = (size_t) snprintf(db, sizeof(db), "%ld", ctx->db);

        r = sctl_redis_command(ctx, 2, argv, argvlen);
        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        freeReplyObject(r);
    }

    return SCTL_OK;
}


size_t
sctl_key(sctl_ctx_t *ctx, char *buf, const char *type, const char *id,
    size_t len)
{
    size_t  n, tlen;

    if (ctx->cluster_seeds) {
        /* the Cluster layout: hash tags (session_store.h) */

        if (strcmp(type, SS_KEY_SESSION) == 0) {
            return sc_cluster_session_key(ctx->prefix, ctx->prefix_len, id,
                                          buf, SCTL_KEY_MAX);
        }

        return sc_cluster_subject_key(ctx->prefix, ctx->prefix_len, id, len,
                                      buf, SCTL_KEY_MAX);
    }

    tlen = strlen(type);
    n = ctx->prefix_len;

    memcpy(buf, ctx->prefix, n);
    memcpy(buf + n, type, tlen);
    n += tlen;
    memcpy(buf + n, id, len);
    n += len;
    buf[n] = '\0';

    return n;
}


int
sctl_reply_number(redisReply *r, long long *out)
{
    char  *end, buf[32];

    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }

    if (r->type != REDIS_REPLY_STRING || r->len == 0
        || r->len >= sizeof(buf))
    {
        *out = 0;
        return -1;
    }

    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';

    errno = 0;
    *out = strtoll(buf, &end, 10);

    if (*end != '\0' || errno) {
        *out = 0;
        return -1;
    }

    return 0;
}


/*
 * After a revocation script that ended something: a PING with the
 * script's key, so on the node that ran it.  Redis writes the script's
 * PUBLISH messages to every subscriber in the same pass of its event loop
 * as the script's reply and answers the PING in a later one: once the
 * PING is answered, the messages are in every edge's subscriber sockets,
 * and a request sent after sessionctl exits finds them there (the logout
 * of session_logout waits the same way).  Its failure changes nothing:
 * the revocation is done.
 */

void
sctl_redis_delivered(sctl_ctx_t *ctx, const char *key, size_t keylen)
{
    size_t       argvlen[2];
    const char  *argv[2];
    redisReply  *r;

    argv[0] = "PING";
    argvlen[0] = 4;
    argv[1] = key;
    argvlen[1] = keylen;

    if (ctx->cluster) {
        r = sctl_cluster_command(ctx->cluster, 2, argv, argvlen);

    } else {
        r = redisCommandArgv(ctx->redis, 2, argv, argvlen);
    }

    if (r) {
        freeReplyObject(r);
    }
}


/* revokes one record by hash: 1 revoked, 0 not found, -1 error */

int
sctl_cluster_revoke_hash(sctl_ctx_t *ctx, const char *hash)
{
    int          rc, hops, more;
    char         skey[SCTL_KEY_MAX], next[SC_HASH_HEX_LEN + 1];
    size_t       i, argvlen[7];
    const char  *argv[7];
    redisReply  *r, *e;

    /*
     * SS_CLUSTER_SCRIPT_REVOKE on the record's slot; a renewal chain that
     * leaves the slot (a migrated record) is followed by one more script
     * on the next slot.
     */

    rc = 0;
    memcpy(next, hash, SC_HASH_HEX_LEN);
    next[SC_HASH_HEX_LEN] = '\0';

    for (hops = 0; hops < SS_CHAIN_HOPS; hops++) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = SS_CLUSTER_SCRIPT_REVOKE;
        argvlen[1] = sizeof(SS_CLUSTER_SCRIPT_REVOKE) - 1;
        argv[2] = "1";
        argvlen[2] = 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, next,
                              SC_HASH_HEX_LEN);
        argv[4] = ctx->prefix;
        argvlen[4] = ctx->prefix_len;
        argv[5] = next;
        argvlen[5] = SC_TAG_HEX_LEN;
        argv[6] = next;
        argvlen[6] = SC_HASH_HEX_LEN;

        r = sctl_redis_command(ctx, 7, argv, argvlen);
        if (r == NULL) {
            return -1;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
            || r->element[0]->type != REDIS_REPLY_INTEGER)
        {
            sctl_error("redis %s: unexpected reply to the revoke script",
                       ctx->redis_addr);
            freeReplyObject(r);
            return -1;
        }

        if (r->element[0]->integer == 1) {
            rc = 1;
            sctl_redis_delivered(ctx, skey, argvlen[3]);
        }

        more = 0;

        for (i = 1; i < r->elements; i++) {
            e = r->element[i];

            if (e->type == REDIS_REPLY_STRING
                && e->len == SC_HASH_HEX_LEN)
            {
                memcpy(next, e->str, SC_HASH_HEX_LEN);
                more = 1;
            }
        }

        freeReplyObject(r);

        if (!more) {
            break;
        }
    }

    return rc;
}


int
sctl_revoke_hash(sctl_ctx_t *ctx, const char *hash)
{
    int          rc;
    char         skey[SCTL_KEY_MAX];
    size_t       argvlen[6];
    const char  *argv[6];
    redisReply  *r;

    if (ctx->cluster_seeds) {
        return sctl_cluster_revoke_hash(ctx, hash);
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_REVOKE;
    argvlen[1] = sizeof(SS_SCRIPT_REVOKE) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = skey;
    argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, hash, SC_HASH_HEX_LEN);
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = hash;
    argvlen[5] = SC_HASH_HEX_LEN;

    r = sctl_redis_command(ctx, 6, argv, argvlen);
    if (r == NULL) {
        return -1;
    }

    if (r->type != REDIS_REPLY_INTEGER) {
        sctl_error("redis %s: unexpected reply to the revoke script",
                   ctx->redis_addr);
        freeReplyObject(r);
        return -1;
    }

    rc = r->integer == 1;

    freeReplyObject(r);

    if (rc) {
        sctl_redis_delivered(ctx, skey, argvlen[3]);
    }

    return rc;
}


/* claims */
