
/*
 * ngx_http_session_module: the access phase.
 *
 * The cookie's MAC is checked in constant time before any Redis I/O, so a
 * forged cookie costs no round trip.  A cookie that verifies is looked up
 * with one HGET of the record's packed copy "lk" (session_record.c); the
 * request waits without blocking the worker and is resumed from the reply.
 * The idle timeout is slid by a touch sent without waiting, at most once
 * per "touch" interval.
 */


#include "ngx_http_session.h"


static ngx_int_t ngx_http_session_lookup(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_main_conf_t *smcf,
    ngx_http_session_srv_conf_t *sscf);
static ngx_int_t ngx_http_session_lookup_command(ngx_conf_t *cf,
    ngx_http_session_main_conf_t *smcf, ngx_uint_t argc, const char **argv,
    size_t *argvlen, ngx_str_t *cmd, size_t *hash);
static ngx_int_t ngx_http_session_lookup_send(ngx_http_session_ctx_t *ctx,
    ngx_http_session_main_conf_t *smcf, u_char *hash);
static void ngx_http_session_maintain(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, u_char *hash, time_t ttl);
static void ngx_http_session_lookup_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_http_session_valid_record(ngx_http_session_ctx_t *ctx);
static ngx_int_t ngx_http_session_decide(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_loc_conf_t *slcf);
static ngx_int_t ngx_http_session_reject(ngx_http_request_t *r,
    ngx_http_session_loc_conf_t *slcf);
static ngx_int_t ngx_http_session_check_claims(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_loc_conf_t *slcf);
static ngx_uint_t ngx_http_session_is_navigation(ngx_http_request_t *r);
static ngx_inline time_t ngx_http_session_atotm(u_char *p, size_t n);
static ngx_int_t ngx_http_session_accel_login(ngx_http_request_t *r);


static ngx_str_t  ngx_http_session_location = ngx_string("Location");


ngx_int_t
ngx_http_session_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_srv_conf_t   *sscf;
    ngx_http_session_main_conf_t  *smcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (slcf->required == NGX_HTTP_SESSION_OFF) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_session_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->login_pass = slcf->issue ? 1 : 0;

    if (ngx_http_session_call_waiting(&ctx->call)) {
        return NGX_AGAIN;
    }

    if (ctx->done) {
        return ngx_http_session_decide(r, ctx, slcf);
    }

    /* session_csrf: refused before any cookie work */

    if (slcf->csrf) {
        rc = ngx_http_session_csrf_check(r, ctx, slcf);
        if (rc != NGX_DECLINED) {
            ctx->done = 1;
            return rc;
        }
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);

    rc = ngx_http_session_find_cookie(r, sscf, smcf, ctx);

    if (rc != NGX_OK) {
        /* ctx->status says missing or invalid */
        ctx->done = 1;
        return ngx_http_session_decide(r, ctx, slcf);
    }

    if (smcf->cache_zone) {
        if (ngx_http_session_cache_get(r, ctx, sscf->touch) == NGX_OK) {
            ngx_http_session_count(cache_hits);
            ctx->done = 1;
            return ngx_http_session_decide(r, ctx, slcf);
        }

        ngx_http_session_count(cache_misses);

        /* before the lookup is sent: see ngx_http_session_cache_put() */
        ctx->cache_generation = ngx_http_session_cache_generation(smcf);
    }

    if (ngx_http_session_lookup(r, ctx, smcf, sscf) != NGX_OK) {
        ctx->status = NGX_HTTP_SESSION_ST_ERROR;
        ctx->done = 1;
        return ngx_http_session_decide(r, ctx, slcf);
    }

    return NGX_AGAIN;
}


/*
 * Subrequests (auth_request, SSI include virtual, mirror, and the like)
 * skip nginx's access phase altogether: the core access checker moves a
 * subrequest past every access handler.  A protected location reached as
 * a subrequest would serve everyone, so the same checks run for
 * subrequests in the preaccess phase, in the access phase's order
 * (session_telegram, session_signature, session_required).  The cookie
 * and headers are the main request's (subrequests share headers_in); a
 * rejected subrequest is answered 401 or 403, which auth_request turns
 * into a denial.
 */

ngx_int_t
ngx_http_session_preaccess_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r == r->main) {

        if (r->internal && r->upstream
            && r->upstream->headers_in.x_accel_redirect
            && !(r->upstream->conf->ignore_headers
                 & NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT))
        {
            return ngx_http_session_accel_login(r);
        }

        return NGX_DECLINED;
    }

    rc = ngx_http_session_telegram_handler(r);

    if (rc == NGX_OK || rc == NGX_DECLINED) {
        rc = ngx_http_session_signature_handler(r);
    }

    if (rc == NGX_OK || rc == NGX_DECLINED) {
        rc = ngx_http_session_access_handler(r);
    }

    /* NGX_OK would skip the rest of the preaccess phase (limit_req) */

    return (rc == NGX_OK) ? NGX_DECLINED : rc;
}


/*
 * X-Accel-Redirect from a session_issue location: nginx redirects before
 * any header filter sees the response, so X-Session-Subject, -Claims and
 * -Logout would be dropped without a trace (no cookie, no record, no log).
 * Such a login or logout is refused loudly instead: logged, and answered
 * 502, as an upstream response nginx cannot honour.
 */

static ngx_int_t
ngx_http_session_accel_login(ngx_http_request_t *r)
{
    ngx_uint_t               i;
    ngx_list_part_t         *part;
    ngx_table_elt_t         *h;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_find_ctx(r);

    if (ctx == NULL || !ctx->login_pass) {
        return NGX_DECLINED;
    }

    ctx->login_pass = 0;

    part = &r->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len > sizeof("X-Session-") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Session-",
                               sizeof("X-Session-") - 1)
               == 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "session: the login response carries "
                          "X-Accel-Redirect and \"%V\": a login or logout "
                          "cannot pass an internal redirect; refused with "
                          "502 (answer the login directly)", &h[i].key);

            return NGX_HTTP_BAD_GATEWAY;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_session_lookup(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_http_session_main_conf_t *smcf, ngx_http_session_srv_conf_t *sscf)
{
    ctx->full = 0;

    return ngx_http_session_lookup_send(ctx, smcf,
                                        ngx_http_session_ctx_hash(ctx));
}


/*
 * The lookup, "HGET <prefix>s:<hash> lk", and for a record without "lk"
 * "HMGET <prefix>s:<hash> sub abs last cl nx nt cre", are written in
 * Redis's protocol once, at configuration time; a request copies one and
 * writes its hash in (docs/benchmarks.md).  "cre" (the login time) is
 * read by session_assertion alone (auth_time): without
 * session_assertion_keys the HMGET does not ask for it, and "lk"'s is not
 * converted.
 */

/*
 * ngx_atotm() for the record's times, with the same result: a field
 * short enough that it cannot overflow time_t (NGX_TIME_T_LEN - 2 digits:
 * 18 with a 64-bit time_t) skips ngx_atotm()'s overflow check per digit
 * and is read two digits a step: about 100 instructions less per
 * validated request, whose "abs" and "last" have 10 digits each
 * (callgrind, docs/benchmarks.md); a longer field, or an empty one, goes
 * to ngx_atotm().  t/185-record-times.t.
 */

static ngx_inline time_t
ngx_http_session_atotm(u_char *p, size_t n)
{
    time_t       v;
    u_char      *end;
    ngx_uint_t   d, e;

    if (n == 0 || n > NGX_TIME_T_LEN - 2) {
        return ngx_atotm(p, n);
    }

    /* (ngx_uint_t) c - '0' is above 9 for any byte but a digit */

    v = 0;
    end = p + n;

    if (n & 1) {
        d = (ngx_uint_t) *p++ - '0';

        if (d > 9) {
            return NGX_ERROR;
        }

        v = (time_t) d;
    }

    while (p < end) {
        d = (ngx_uint_t) p[0] - '0';
        e = (ngx_uint_t) p[1] - '0';

        if (d > 9 || e > 9) {
            return NGX_ERROR;
        }

        v = v * 100 + (time_t) (d * 10 + e);
        p += 2;
    }

    return v;
}

ngx_int_t
ngx_http_session_lookup_init(ngx_conf_t *cf,
    ngx_http_session_main_conf_t *smcf)
{
    u_char      *p, *key;
    size_t       argvlen[2 + SS_LOOKUP_FIELDS], id;
    ngx_uint_t   i;
    const char  *argv[2 + SS_LOOKUP_FIELDS];

    static const char  *fields[] = { "sub", "abs", "last", "cl", "nx", "nt",
                                     "cre" };

    /* on a cluster "{<tag>}<id>" (ngx_http_session_key()), else "<id>" */

    id = SC_HASH_HEX_LEN + (smcf->redis->cluster ? SC_TAG_HEX_LEN + 2 : 0);
    smcf->lookup_id = id;

    key = ngx_pnalloc(cf->pool, smcf->session_prefix.len + id);
    if (key == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, smcf->session_prefix.data, smcf->session_prefix.len);
    ngx_memset(p, '0', id);

    smcf->lookup_fields = smcf->assertion_keys ? SS_LOOKUP_FIELDS
                                               : SS_LOOKUP_FIELDS - 1;

    argv[1] = (const char *) key;
    argvlen[1] = smcf->session_prefix.len + id;

    argv[0] = "HGET";
    argvlen[0] = 4;
    argv[2] = "lk";
    argvlen[2] = 2;

    if (ngx_http_session_lookup_command(cf, smcf, 3, argv, argvlen,
                                        &smcf->lookup, &smcf->lookup_hash)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    argv[0] = "HMGET";
    argvlen[0] = 5;

    for (i = 0; i < smcf->lookup_fields; i++) {
        argv[2 + i] = fields[i];
        argvlen[2 + i] = ngx_strlen(fields[i]);
    }

    return ngx_http_session_lookup_command(cf, smcf, 2 + smcf->lookup_fields,
                                           argv, argvlen, &smcf->lookup_full,
                                           &smcf->lookup_full_hash);
}


/*
 * One of the two lookup commands in RESP, and the offset of the hash in
 * its key (after "*<n>\r\n$<len>\r\n<command>\r\n$<len>\r\n<prefix>s:"),
 * checked against the key it was written from.
 */

static ngx_int_t
ngx_http_session_lookup_command(ngx_conf_t *cf,
    ngx_http_session_main_conf_t *smcf, ngx_uint_t argc, const char **argv,
    size_t *argvlen, ngx_str_t *cmd, size_t *hash)
{
    u_char      *p, *q, tmp[3 * (NGX_SIZE_T_LEN + 4)];
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < argc; i++) {
        len += NGX_SIZE_T_LEN + 4 + argvlen[i];
    }

    p = ngx_pnalloc(cf->pool, NGX_SIZE_T_LEN + 4 + len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cmd->data = p;
    cmd->len = ngx_http_session_redis_format(p, (int) argc, argv, argvlen)
               - p;

    q = ngx_sprintf(tmp, "*%ui\r\n$%uz\r\n%s\r\n$%uz\r\n",
                    argc, argvlen[0], (u_char *) argv[0], argvlen[1]);
    *hash = (q - tmp) + smcf->session_prefix.len;

    if (cmd->len > NGX_HTTP_SESSION_LOOKUP_MAX
        || *hash + smcf->lookup_id + 2 > cmd->len
        || ngx_memcmp(cmd->data, tmp, q - tmp) != 0
        || ngx_memcmp(cmd->data + (q - tmp), argv[1], argvlen[1]) != 0
        || cmd->data[*hash + smcf->lookup_id] != CR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The lookup of the session "hash": "HGET <prefix>s:<hash> lk", or the
 * record's fields with "HMGET" (ctx->full) when its "lk" was missing.
 */

static ngx_int_t
ngx_http_session_lookup_send(ngx_http_session_ctx_t *ctx,
    ngx_http_session_main_conf_t *smcf, u_char *hash)
{
    u_char     *p, buf[NGX_HTTP_SESSION_LOOKUP_MAX];
    ngx_str_t  *cmd;

    cmd = ctx->full ? &smcf->lookup_full : &smcf->lookup;

    ngx_memcpy(buf, cmd->data, cmd->len);
    p = buf + (ctx->full ? smcf->lookup_full_hash : smcf->lookup_hash);

    if (smcf->lookup_id != SC_HASH_HEX_LEN) {
        /* the Cluster layout's "{<tag>}" */
        *p++ = '{';
        p = ngx_cpymem(p, hash, SC_TAG_HEX_LEN);
        *p++ = '}';
    }

    ngx_memcpy(p, hash, SC_HASH_HEX_LEN);

    /* a renewal hop is sent from the reply: the first deadline holds */

    return ngx_http_session_call_send(&ctx->call, ctx->request,
                                      ngx_http_session_lookup_reply, ctx,
                                      buf, cmd->len);
}


/*
 * Fire and forget: the touch that slides the idle timeout, or the removal
 * of a record found past its timeouts.
 */

static void
ngx_http_session_maintain(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    u_char *hash, time_t ttl)
{
    size_t                         argslen[3], argvlen[2];
    const char                    *args[3], *argv[2];
    ngx_http_session_main_conf_t  *smcf;
    u_char                         now[NGX_TIME_T_LEN];
    u_char                         ttl_text[NGX_TIME_T_LEN];
    u_char                         key[SS_PREFIX_MAX + sizeof(SS_KEY_SESSION)
                                       + SC_HASH_HEX_LEN];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (ttl <= 0) {
        argv[0] = "DEL";
        argvlen[0] = 3;
        argv[1] = (const char *) key;
        argvlen[1] = ngx_http_session_key(key, smcf, hash) - key;

        (void) ngx_http_session_redis_command(NULL, NULL, 2, argv, argvlen);
        return;
    }

    args[0] = (const char *) key;
    argslen[0] = ngx_http_session_key(key, smcf, hash) - key;
    args[1] = (const char *) now;
    argslen[1] = ngx_sprintf(now, "%T", ngx_time()) - now;
    args[2] = (const char *) ttl_text;
    argslen[2] = ngx_sprintf(ttl_text, "%T", ttl) - ttl_text;

    (void) ngx_http_session_redis_script(NGX_HTTP_SESSION_SCRIPT_TOUCH, NULL,
                                         NULL, 1, 3, args, argslen);
}


static void
ngx_http_session_lookup_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_ctx_t  *ctx = call->data;

    time_t                         now, last;
    u_char                        *hash;
    ngx_int_t                      rc;
    ngx_str_t                     *s;
    ngx_uint_t                     i;
    sc_field_t                     f[SC_RECORD_FIELDS];
    redisReply                   **e;
    ngx_http_request_t            *r;
    ngx_http_session_srv_conf_t   *sscf;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         next[SC_TOKEN_LEN];
    u_char                         next_hash[SC_HASH_HEX_LEN];

    r = ctx->request;
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (reply == NULL) {
        if (call->timed_out) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session: redis did not answer in time");
        }

        ctx->status = NGX_HTTP_SESSION_ST_ERROR;
        goto done;
    }

    hash = ctx->hop ? ctx->current_hash : ctx->hash;

    if (reply->type == REDIS_REPLY_NIL && !ctx->full) {

        /* no record, or one without "lk" (SS_LUA_LK_FN): its fields */

        ctx->full = 1;

        if (ngx_http_session_lookup_send(ctx, smcf, hash) != NGX_OK) {
            ctx->status = NGX_HTTP_SESSION_ST_ERROR;
            goto done;
        }

        return;
    }

    if (reply->type == REDIS_REPLY_STRING && !ctx->full) {

        if (!ctx->hop) {
            ngx_memcpy(ctx->current_hash, ctx->hash, SC_HASH_HEX_LEN);
        }

        rc = sc_record_unpack(reply->str, reply->len, (char *) hash, f,
                              SC_RECORD_FIELDS);

        if (rc == SC_RECORD_OTHER) {
            /*
             * Not this record's "lk": the reply of another command or of
             * another session's lookup, on a link out of step.  Never
             * read as a record: the link is dropped, 503.
             */
            ngx_http_session_redis_desync("redis answered the session "
                                          "lookup with the reply of "
                                          "another command or record");
            ctx->status = NGX_HTTP_SESSION_ST_ERROR;
            goto done;
        }

        if (rc != SC_OK || f[0].data == NULL) {
            goto malformed;
        }

    } else if (reply->type == REDIS_REPLY_ARRAY && ctx->full
               && reply->elements == smcf->lookup_fields)
    {
        e = reply->element;

        for (i = 0; i < SC_RECORD_FIELDS; i++) {
            if (i >= smcf->lookup_fields
                || e[i]->type == REDIS_REPLY_NIL)
            {
                f[i].data = NULL;
                f[i].len = 0;
                continue;
            }

            if (e[i]->type != REDIS_REPLY_STRING) {
                goto bad_reply;
            }

            f[i].data = e[i]->str;
            f[i].len = e[i]->len;
        }

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session: redis error: %*s",
                      (size_t) reply->len, reply->str);
        ctx->status = NGX_HTTP_SESSION_ST_ERROR;
        goto done;

    } else {
        goto bad_reply;
    }

    if (f[4].data) {

        /*
         * The cookie was replaced by a later login and is in its grace
         * period: open the new token, look the new session up (a
         * second round trip, for the grace period only) and hand out
         * its cookie.  The new session may have been replaced too
         * (several logins within the grace period): the chain is
         * followed to its live end, so a cookie answers only for the
         * chain's live session, and ending that one ends them all.
         */

        if (ctx->hop >= SS_CHAIN_HOPS
            || f[4].len != SC_HASH_HEX_LEN
            || f[5].data == NULL
            || sc_grace_open(ctx->hop ? ctx->renew_token : ctx->token,
                             f[5].data, f[5].len, next)
               != SC_OK)
        {
            ngx_explicit_memzero(next, SC_TOKEN_LEN);
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session: renewed session does not open");
            ctx->status = NGX_HTTP_SESSION_ST_UNKNOWN;
            goto done;
        }

        /* "nx" must name the session whose token was sealed */

        ngx_http_session_token_id(
            ngx_http_get_module_main_conf(r, ngx_http_session_module),
            next, next_hash);

        if (!sc_equal(next_hash, f[4].data, SC_HASH_HEX_LEN)) {
            ngx_explicit_memzero(next, SC_TOKEN_LEN);
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "session: the record of session %*s in redis "
                          "names a renewal that its sealed token does "
                          "not match; refused",
                          (size_t) 16,
                          ctx->hop ? ctx->current_hash : ctx->hash);
            ctx->status = NGX_HTTP_SESSION_ST_UNKNOWN;
            goto done;
        }

        ngx_memcpy(ctx->renew_token, next, SC_TOKEN_LEN);
        ngx_explicit_memzero(next, SC_TOKEN_LEN);

        ctx->renewed = 1;
        ctx->hop++;
        ctx->full = 0;
        ngx_memcpy(ctx->current_hash, next_hash, SC_HASH_HEX_LEN);

        if (ngx_http_session_lookup_send(ctx, smcf, ctx->current_hash)
            != NGX_OK)
        {
            ctx->status = NGX_HTTP_SESSION_ST_ERROR;
            goto done;
        }

        /* the call's deadline still runs */
        return;
    }

    if (f[0].data == NULL && !ctx->hop && !ctx->legacy
        && smcf->redis->legacy)
    {
        /*
         * cluster=...,legacy: a record migrated from a single Redis
         * is keyed by the single Redis's hash (docs/redis.md, "Moving
         * from a single Redis"); from here on it is the session's id
         */
        ctx->legacy = 1;
        ctx->full = 0;
        sc_token_hash_hex(ctx->token, (char *) ctx->hash);

        if (ngx_http_session_lookup_send(ctx, smcf, ctx->hash) != NGX_OK) {
            ctx->status = NGX_HTTP_SESSION_ST_ERROR;
            goto done;
        }

        return;
    }

    if (!ctx->hop) {
        ngx_memcpy(ctx->current_hash, ctx->hash, SC_HASH_HEX_LEN);
    }

    if (f[0].data == NULL) {
        ctx->status = NGX_HTTP_SESSION_ST_UNKNOWN;
        goto done;
    }

    if (f[1].data == NULL || f[2].data == NULL) {
        goto malformed;
    }

    now = ngx_time();
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);

    ctx->expires = ngx_http_session_atotm((u_char *) f[1].data,
                                          f[1].len);
    last = ngx_http_session_atotm((u_char *) f[2].data, f[2].len);
    ctx->created = (smcf->lookup_fields > 6 && f[6].data)
                   ? ngx_http_session_atotm((u_char *) f[6].data,
                                            f[6].len)
                   : NGX_ERROR;

    if (ctx->expires == NGX_ERROR || last == NGX_ERROR) {
        goto malformed;
    }

    /*
     * Several edges share the store and their clocks differ: "last"
     * may be ahead of this node's clock, or behind it by seconds.
     * Idleness is Redis's to judge, by the TTL each touch sets (a
     * duration, no clock); a record found here has not idled out.
     * The node's own check only catches a record that lost its TTL,
     * with a margin for skew.  "abs" is an instant, checked as is.
     */

    if (ctx->expires <= now
        || (last < now
            && now - last >= sscf->idle + NGX_HTTP_SESSION_CLOCK_SKEW))
    {
        if (!ctx->full) {
            /*
             * Confirmed from the fields before the record is removed:
             * an edge of an earlier version touches "last" and not
             * "lk" (a rolling upgrade), so "lk" may be behind.
             */

            ctx->full = 1;

            if (ngx_http_session_lookup_send(ctx, smcf, ctx->current_hash)
                != NGX_OK)
            {
                ctx->status = NGX_HTTP_SESSION_ST_ERROR;
                goto done;
            }

            return;
        }

        /* Redis keeps it until its TTL: remove it now */
        ngx_http_session_maintain(r, ctx, ctx->current_hash, 0);
        ctx->status = NGX_HTTP_SESSION_ST_EXPIRED;
        goto done;
    }

    s = &ctx->user;

    for (i = 0; i < 4; i += 3) {
        if (f[i].data) {
            s->len = f[i].len;
            s->data = ngx_pnalloc(r->pool, s->len + 1);
            if (s->data == NULL) {
                ctx->status = NGX_HTTP_SESSION_ST_ERROR;
                goto done;
            }

            ngx_memcpy(s->data, f[i].data, s->len);
            s->data[s->len] = '\0';
        }

        s = &ctx->claims;
    }

    /*
     * The record is checked as strictly as a login is: whoever can
     * write to Redis must not get a header of their choice into
     * proxy_set_header or add_header through the subject or claims.
     */

    if (ngx_http_session_valid_record(ctx) != NGX_OK) {
        goto malformed;
    }

    ctx->status = NGX_HTTP_SESSION_ST_OK;

    /*
     * A "last" ahead of this clock (another edge runs ahead, or this
     * one stepped back) is touched at once: waiting for this clock to
     * catch up would let Redis's TTL run out under a busy session.
     */

    if (now - last >= sscf->touch || last > now) {
        ngx_http_session_maintain(r, ctx, ctx->current_hash,
                                  ngx_min(sscf->idle,
                                          ctx->expires - now));
    }

done:

    ctx->done = 1;

    if (ctx->status == NGX_HTTP_SESSION_ST_OK) {
        ngx_http_session_cache_put(r, ctx);
    }

    /* the call runs the posted requests afterwards */
    ngx_http_core_run_phases(r);
    return;

malformed:

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "session: the record of session %*s in redis is malformed "
                  "(subject, claims or times); refused",
                  (size_t) 16, ctx->current_hash);
    ctx->status = NGX_HTTP_SESSION_ST_UNKNOWN;
    goto done;

bad_reply:

    /*
     * Not the shape of an HMGET reply: a misbehaving server, or a link
     * out of step with its commands, which would hand the next request
     * the reply meant for another.  The link is dropped (one line at
     * "error" per outage) and reconnects; this request answers 503.
     */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "session: unexpected reply from redis (type %d)",
                  reply->type);

    ngx_http_session_redis_desync("redis answered the session lookup with "
                                  "a reply of the wrong type");

    ctx->status = NGX_HTTP_SESSION_ST_ERROR;
    goto done;
}


static ngx_int_t
ngx_http_session_valid_record(ngx_http_session_ctx_t *ctx)
{
    u_char      *p;
    sc_claim_t   claims[SC_CLAIMS_MAX];

    if (ctx->user.len == 0 || ctx->user.len > SS_SUBJECT_MAX
        || ctx->expires <= 0)
    {
        return NGX_ERROR;
    }

    for (p = ctx->user.data; p < ctx->user.data + ctx->user.len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    if (ctx->claims.len
        && sc_claims_parse((char *) ctx->claims.data, ctx->claims.len,
                           claims, SC_CLAIMS_MAX) < 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The access handler's answer.  Only a valid session in a location where
 * it is required is a positive authentication (NGX_OK, which also
 * satisfies "satisfy any"); wherever the session is optional
 * ("session_required optional", "session_issue on") the handler grants
 * nothing and answers NGX_DECLINED, so that the other access handlers
 * (allow/deny, auth_basic, auth_request, session_signature,
 * session_telegram) decide.  Under "satisfy all" NGX_OK and NGX_DECLINED
 * are the same; under "satisfy any" an NGX_OK for "no session" would
 * skip every other check.  docs/directives.md has the table.
 */

static ngx_int_t
ngx_http_session_decide(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    ngx_http_session_loc_conf_t *slcf)
{
    ngx_int_t  rc;

    if (!ctx->counted) {
        ctx->counted = 1;
        ngx_http_session_count(validations[ctx->status]);
    }

    switch (ctx->status) {

    case NGX_HTTP_SESSION_ST_OK:
        rc = ngx_http_session_check_claims(r, ctx, slcf);

        if (rc == NGX_OK && slcf->required == NGX_HTTP_SESSION_OPTIONAL) {
            return NGX_DECLINED;
        }

        return rc;

    case NGX_HTTP_SESSION_ST_ERROR:

        if (slcf->required == NGX_HTTP_SESSION_OPTIONAL) {
            return NGX_DECLINED;
        }

        if (ngx_http_session_retry_after(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_SERVICE_UNAVAILABLE;

    default:

        if (slcf->required == NGX_HTTP_SESSION_OPTIONAL) {
            return NGX_DECLINED;
        }

        return ngx_http_session_reject(r, slcf);
    }
}


static ngx_int_t
ngx_http_session_reject(ngx_http_request_t *r,
    ngx_http_session_loc_conf_t *slcf)
{
    ngx_str_t                  url;
    ngx_table_elt_t           *h;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /*
     * A subrequest (auth_request, SSI) is answered 401, never redirected.
     * Under "satisfy any" a redirect would end the access phase before
     * allow/deny or auth_basic could grant the request: 401 lets them
     * decide (error_page 401 can still send browsers to the login page).
     */

    if (slcf->login_url == NULL || r != r->main
        || !ngx_http_session_is_navigation(r)
        || clcf->satisfy == NGX_HTTP_SATISFY_ANY)
    {
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_complex_value(r, slcf->login_url, &url) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_clear_location(r);

    h = ngx_http_session_add_header(r, &ngx_http_session_location, &url);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.location = h;

    return NGX_HTTP_MOVED_TEMPORARILY;
}


/* session_require_claim: every requirement must hold, else 403 */

static ngx_int_t
ngx_http_session_check_claims(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_loc_conf_t *slcf)
{
    u_char                        *buf;
    size_t                         len;
    ngx_str_t                     *v;
    ngx_uint_t                     i, j;
    ngx_http_session_claim_req_t  *req;

    if (slcf->require_claims == NULL) {
        return NGX_OK;
    }

    buf = ngx_pnalloc(r->pool, ctx->claims.len + 1);
    if (buf == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req = slcf->require_claims->elts;

    for (i = 0; i < slcf->require_claims->nelts; i++) {

        len = sc_claims_get((char *) ctx->claims.data, ctx->claims.len,
                            (char *) req[i].name.data, req[i].name.len,
                            (char *) buf, ctx->claims.len + 1);

        if (len == (size_t) -1) {
            goto forbidden;
        }

        v = req[i].values->elts;

        for (j = 0; j < req[i].values->nelts; j++) {
            if (v[j].len == len && ngx_strncmp(v[j].data, buf, len) == 0) {
                break;
            }
        }

        if (j == req[i].values->nelts) {
            goto forbidden;
        }
    }

    return NGX_OK;

forbidden:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "session: \"%V\" lacks the claim \"%V\" required here",
                  &ctx->user, &req[i].name);

    return NGX_HTTP_FORBIDDEN;
}


/* a top-level browser navigation: GET or HEAD that accepts text/html */

static ngx_uint_t
ngx_http_session_is_navigation(ngx_http_request_t *r)
{
    ngx_table_elt_t  *accept;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return 0;
    }

#if (NGX_HTTP_HEADERS)
    accept = r->headers_in.accept;
#else
    accept = NULL;
#endif

    if (accept == NULL) {
        return 0;
    }

    return ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/html", 9 - 1)
           != NULL;
}
