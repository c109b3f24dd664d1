
/*
 * ngx_http_session_module: ending sessions.
 *
 * The REVOKE scripts for the request's session (with its renewal chain)
 * or every session of a subject, used by "session_logout" (a content
 * handler, here) and by an upstream's "X-Session-Logout" on a
 * session_issue response (the login filter).
 */


#include "ngx_http_session.h"


typedef struct {
    ngx_http_session_call_pt         handler;
    void                            *data;
    ngx_http_session_ctx_t          *ctx;
    u_char                           legacy[SC_HASH_HEX_LEN];
} ngx_http_session_cluster_all_t;


typedef struct {
    ngx_http_request_t              *request;
    ngx_http_session_call_t          call;
    ngx_uint_t                       done;
} ngx_http_session_logout_ctx_t;


/*
 * a revocation's caller, and the script's answer kept for after the PING;
 * on a cluster the script's key, which sends the PING to the same node
 */
typedef struct {
    ngx_http_session_call_pt         handler;
    void                            *data;
    redisReply                       reply;
    ngx_str_t                        key;
} ngx_http_session_revoke_t;


static void ngx_http_session_logout_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_revoke_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_revoke_delivered(ngx_http_session_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_http_session_logout_respond(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_send_cluster_revoke(ngx_http_request_t *r,
    ngx_uint_t all, ngx_http_session_ctx_t *ctx, ngx_str_t *subject,
    ngx_http_session_call_t *call, void *data,
    ngx_http_session_call_pt handler);
static void ngx_http_session_cluster_all_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_cluster_legacy_reply(
    ngx_http_session_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_session_logout_respond_error(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_cluster_script(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    ngx_uint_t script, const char **args, size_t *argslen);


/*
 * REVOKE or REVOKE_ALL (SS_SCRIPT_REVOKE_ALL): the request's session, if
 * it had a cookie that verified, with its renewal chain; with "all" also
 * every session of the subject (NULL or empty: the request's session's).
 */

ngx_int_t
ngx_http_session_send_revoke(ngx_http_request_t *r, ngx_uint_t all,
    ngx_http_session_ctx_t *ctx, ngx_str_t *subject,
    ngx_http_session_call_t *call, void *data,
    ngx_http_session_call_pt handler)
{
    u_char                        *p;
    size_t                         argslen[4];
    const char                    *args[4];
    ngx_http_session_revoke_t     *rv;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         key[SS_PREFIX_MAX + 8 + SC_HASH_HEX_LEN
                                       + SS_SUBJECT_MAX];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (smcf->redis->cluster) {
        return ngx_http_session_send_cluster_revoke(r, all, ctx, subject,
                                                    call, data, handler);
    }

    rv = ngx_palloc(r->pool, sizeof(ngx_http_session_revoke_t));
    if (rv == NULL) {
        return NGX_ERROR;
    }

    rv->handler = handler;
    rv->data = data;
    rv->key.len = 0;

    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;

    if (ctx && ctx->have_token) {
        args[0] = (const char *) key;
        argslen[0] = ngx_http_session_key(key, smcf,
                                          ngx_http_session_ctx_hash(ctx))
                     - key;
        args[2] = (const char *) ctx->hash;
        argslen[2] = SC_HASH_HEX_LEN;

    } else {
        if (!all || subject == NULL || subject->len == 0) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(key, smcf->redis->prefix.data,
                       smcf->redis->prefix.len);
        p = ngx_cpymem(p, SS_KEY_SUBJECT, sizeof(SS_KEY_SUBJECT) - 1);
        p = ngx_cpymem(p, subject->data, subject->len);

        args[0] = (const char *) key;
        argslen[0] = p - key;
        args[2] = "";
        argslen[2] = 0;
    }

    if (!all) {
        return ngx_http_session_call_script(call, r,
                                            ngx_http_session_revoke_reply, rv,
                                            NGX_HTTP_SESSION_SCRIPT_REVOKE,
                                            1, 3, args, argslen);
    }

    if (subject && subject->len) {
        args[3] = (const char *) subject->data;
        argslen[3] = subject->len;

    } else {
        args[3] = "";
        argslen[3] = 0;
    }

    return ngx_http_session_call_script(call, r,
                                        ngx_http_session_revoke_reply, rv,
                                        NGX_HTTP_SESSION_SCRIPT_REVOKE_ALL,
                                        1, 4, args, argslen);
}


/*
 * The REVOKE script has answered: the PING barrier follows before the
 * caller hears of it (ngx_http_session_call_ping()).  So the browser hears
 * of the logout (session_logout's answer, or the response with
 * X-Session-Logout) only after the revocation's message is in every
 * subscriber's socket, and its next request, on any edge, finds it there
 * (the cache reads it before serving a hit: ngx_http_session_cache_get()).
 * The revocation is done whatever the PING's fate: a PING that cannot be
 * sent or is not answered in time only delays the answer, which is the
 * script's all the same.
 */

static void
ngx_http_session_revoke_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_revoke_t *rv = call->data;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements
        && reply->element[0]->type == REDIS_REPLY_INTEGER)
    {
        /*
         * a cluster's { ended, far ids... }: the far ids now (not waited
         * for), the count kept; the reply object does not outlive this
         */
        ngx_http_session_revoke_far(call->request, reply, 1);
        reply = reply->element[0];
    }

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        ngx_memzero(&rv->reply, sizeof(redisReply));
        rv->reply.type = REDIS_REPLY_INTEGER;
        rv->reply.integer = reply->integer;

        /* the script's key, if any: its slot's node, the one that published */

        if (ngx_http_session_call_ping(call, call->request, &rv->key,
                                       ngx_http_session_revoke_delivered, rv)
            == NGX_OK)
        {
            return;
        }

        reply = &rv->reply;
    }

    call->data = rv->data;
    rv->handler(call, reply);
}


static void
ngx_http_session_revoke_delivered(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_revoke_t *rv = call->data;

    /* the revocation was confirmed: only the PING may have been late */
    call->timed_out = 0;

    call->data = rv->data;
    rv->handler(call, &rv->reply);
}


/*
 * The same on a cluster (SS_CLUSTER_SCRIPT_REVOKE, _REVOKE_ALL): "all"
 * ends the subject's index on its slot, found from the subject named or,
 * without one, from the request's session, whose id starts with its
 * subject's tag (the session itself is in that index).  A session whose
 * subject is not known here (a migrated record) is revoked alone.
 */

static ngx_int_t
ngx_http_session_send_cluster_revoke(ngx_http_request_t *r, ngx_uint_t all,
    ngx_http_session_ctx_t *ctx, ngx_str_t *subject,
    ngx_http_session_call_t *call, void *data,
    ngx_http_session_call_pt handler)
{
    u_char                        *hash;
    size_t                         argslen[4], argvlen[3];
    ngx_str_t                      sub;
    const char                    *args[4], *argv[3];
    ngx_http_session_cluster_all_t  *st;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         tag[SC_TAG_HEX_LEN];
    u_char                         key[SS_PREFIX_MAX + 8 + SC_HASH_HEX_LEN
                                       + SS_SUBJECT_MAX];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;

    sub.len = 0;

    if (all) {
        if (subject && subject->len) {
            sub = *subject;

        } else if (ctx && ctx->have_token && ctx->user.len) {
            sub = ctx->user;
        }
    }

    if (sub.len) {
        sc_subject_tag_hex((const char *) sub.data, sub.len, (char *) tag);

        args[0] = (const char *) key;
        argslen[0] = ngx_http_session_subject_key(key, smcf, &sub) - key;
        args[2] = (const char *) tag;
        argslen[2] = SC_TAG_HEX_LEN;
        args[3] = (const char *) sub.data;
        argslen[3] = sub.len;

        if (ngx_http_session_cluster_script(call, r, handler, data,
                                      NGX_HTTP_SESSION_SCRIPT_C_REVOKE_ALL,
                                      args, argslen)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx == NULL || !ctx->have_token) {
            return NGX_OK;
        }

        /*
         * and the request's session with its chain, not waited for: on
         * its own slot (the subject named may be another one)
         */

        hash = ngx_http_session_ctx_hash(ctx);

        args[0] = (const char *) key;
        argslen[0] = ngx_http_session_key(key, smcf, hash) - key;
        args[2] = (const char *) hash;
        argslen[2] = SC_TAG_HEX_LEN;
        args[3] = (const char *) hash;
        argslen[3] = SC_HASH_HEX_LEN;

        (void) ngx_http_session_redis_script(NGX_HTTP_SESSION_SCRIPT_C_REVOKE,
                                             NULL, NULL, 1, 4, args,
                                             argslen);
        return NGX_OK;
    }

    if (ctx == NULL || !ctx->have_token) {
        return NGX_ERROR;
    }

    hash = ngx_http_session_ctx_hash(ctx);

    if (all) {
        /* the subject first, from the record: its index is on its slot */

        st = ngx_palloc(r->pool, sizeof(ngx_http_session_cluster_all_t));
        if (st == NULL) {
            return NGX_ERROR;
        }

        st->handler = handler;
        st->data = data;
        st->ctx = ctx;

        argv[0] = "HGET";
        argvlen[0] = 4;
        argv[1] = (const char *) key;
        argvlen[1] = ngx_http_session_key(key, smcf, hash) - key;
        argv[2] = "sub";
        argvlen[2] = 3;

        return ngx_http_session_call_command(call, r,
                                       ngx_http_session_cluster_all_reply,
                                       st, 3, argv, argvlen);
    }

    if (smcf->redis->legacy && !ctx->legacy) {
        /*
         * cluster=...,legacy and no lookup said which: the record may be
         * a migrated one, keyed by the single Redis's hash; that one is
         * ended first, then the Cluster layout's
         */

        st = ngx_palloc(r->pool, sizeof(ngx_http_session_cluster_all_t));
        if (st == NULL) {
            return NGX_ERROR;
        }

        st->handler = handler;
        st->data = data;
        st->ctx = ctx;

        sc_token_hash_hex(ctx->token, (char *) st->legacy);
        hash = st->legacy;
        handler = ngx_http_session_cluster_legacy_reply;
        data = st;
    }

    args[0] = (const char *) key;
    argslen[0] = ngx_http_session_key(key, smcf, hash) - key;
    args[2] = (const char *) hash;
    argslen[2] = SC_TAG_HEX_LEN;
    args[3] = (const char *) hash;
    argslen[3] = SC_HASH_HEX_LEN;

    return ngx_http_session_cluster_script(call, r, handler, data,
                                           NGX_HTTP_SESSION_SCRIPT_C_REVOKE,
                                           args, argslen);
}


/*
 * A cluster revoke script (one key, four arguments) that is waited for:
 * its answer, then the PING barrier on the same node (args[0]'s slot), as
 * on a single Redis (ngx_http_session_call_ping()).  Each worker of each
 * edge has a subscriber link to every master (ngx_http_session_cluster.c),
 * so to the node that ran the script and published: the PING's answer
 * proves the message is in those links' sockets.
 */

static ngx_int_t
ngx_http_session_cluster_script(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    ngx_uint_t script, const char **args, size_t *argslen)
{
    ngx_http_session_revoke_t  *rv;

    rv = ngx_palloc(r->pool, sizeof(ngx_http_session_revoke_t));
    if (rv == NULL) {
        return NGX_ERROR;
    }

    rv->key.data = ngx_pnalloc(r->pool, argslen[0]);
    if (rv->key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(rv->key.data, args[0], argslen[0]);
    rv->key.len = argslen[0];

    rv->handler = handler;
    rv->data = data;

    return ngx_http_session_call_script(call, r,
                                        ngx_http_session_revoke_reply, rv,
                                        script, 1, 4, args, argslen);
}


/* the migrated record is done with: now the Cluster layout's */

static void
ngx_http_session_cluster_legacy_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_cluster_all_t  *st = call->data;

    call->data = st->data;

    /* done with: the next revoke is the Cluster layout's id */
    st->ctx->legacy = 1;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR
        || ngx_http_session_send_cluster_revoke(call->request, 0, st->ctx,
                                                NULL, call, st->data,
                                                st->handler)
           != NGX_OK)
    {
        st->handler(call, NULL);
    }
}


/*
 * Cluster, "all" without a subject: the request's session's subject came
 * back (HGET); every session of it ends on its slot, and the request's
 * session too.  No record: the session alone, with its chain.
 */

static void
ngx_http_session_cluster_all_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_cluster_all_t  *st = call->data;

    ngx_str_t            sub;
    ngx_http_request_t  *r;

    r = call->request;
    call->data = st->data;

    if (reply && reply->type == REDIS_REPLY_STRING && reply->len
        && reply->len <= SS_SUBJECT_MAX)
    {
        sub.data = (u_char *) reply->str;
        sub.len = reply->len;

        if (ngx_http_session_send_cluster_revoke(r, 1, st->ctx, &sub, call,
                                                 st->data, st->handler)
            != NGX_OK)
        {
            st->handler(call, NULL);
            return;
        }

        return;
    }

    if (reply && reply->type == REDIS_REPLY_NIL
        && ngx_http_session_send_cluster_revoke(r, 0, st->ctx, NULL, call,
                                                st->data, st->handler)
           == NGX_OK)
    {
        return;
    }

    st->handler(call, NULL);
}


/* session_logout [all] [redirect=URL]; */

char *
ngx_http_session_logout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (slcf->logout) {
        return "is duplicate";
    }

    value = cf->args->elts;
    slcf->logout = NGX_HTTP_SESSION_LOGOUT_CURRENT;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "all", 3) == 0) {
            slcf->logout = NGX_HTTP_SESSION_LOGOUT_ALL;
            continue;
        }

        if (ngx_strncmp(value[i].data, "redirect=", 9) == 0
            && value[i].len > 9)
        {
            slcf->logout_redirect.data = value[i].data + 9;
            slcf->logout_redirect.len = value[i].len - 9;

            /* a local path or an absolute http(s) URL, nothing else */

            if (slcf->logout_redirect.data[0] == '/'
                && (slcf->logout_redirect.len == 1
                    || (slcf->logout_redirect.data[1] != '/'
                        && slcf->logout_redirect.data[1] != '\\')))
            {
                continue;
            }

            if (ngx_strncasecmp(slcf->logout_redirect.data,
                                (u_char *) "http://", 7) == 0
                || ngx_strncasecmp(slcf->logout_redirect.data,
                                   (u_char *) "https://", 8) == 0)
            {
                continue;
            }
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"session_logout\" parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_session_logout_handler;

    return NGX_CONF_OK;
}


/*
 * session_logout [all] [redirect=URL]: a content handler.  Ends the
 * request's session (with "all", every session of its subject), removes
 * the cookie and answers 303 to the redirect or 204.  Without a valid
 * cookie only the cookie is removed.  Redis unavailable: 503.
 */

ngx_int_t
ngx_http_session_logout_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_session_ctx_t         *ctx;
    ngx_http_session_loc_conf_t    *slcf;
    ngx_http_session_srv_conf_t    *sscf;
    ngx_http_session_main_conf_t   *smcf;
    ngx_http_session_logout_ctx_t  *lctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    ctx = ngx_http_session_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* session_csrf: a logout is a state change too */

    rc = ngx_http_session_csrf_check(r, ctx, slcf);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* no session cookie on this response, whatever it is (204, 303, 503) */
    ctx->ended = 1;

    if (!ctx->have_token
        && ngx_http_session_find_cookie(r, sscf, smcf, ctx) != NGX_OK)
    {
        return ngx_http_session_logout_respond(r);
    }

    lctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_logout_ctx_t));
    if (lctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    lctx->request = r;

    if (ngx_http_session_send_revoke(r,
                                 slcf->logout == NGX_HTTP_SESSION_LOGOUT_ALL,
                                 ctx, NULL, &lctx->call, lctx,
                                 ngx_http_session_logout_reply)
        != NGX_OK)
    {
        return ngx_http_session_logout_respond_error(r);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_session_logout_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_logout_ctx_t  *lctx = call->data;

    ngx_int_t                rc, n;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_session_ctx_t  *ctx;

    r = lctx->request;
    c = r->connection;

    if (ngx_http_session_revoke_result(r, reply, &n) != NGX_OK) {
        if (call->timed_out) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "session: redis did not confirm the logout in "
                          "time");
        }

        rc = ngx_http_session_logout_respond_error(r);

    } else {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "session: logout ended %i session(s)", n);

        ngx_http_session_count(logouts);

        ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);
        if (ctx) {
            ngx_http_session_cache_evict(
                ngx_http_get_module_main_conf(r, ngx_http_session_module),
                ctx->current_hash[0] ? ctx->current_hash : ctx->hash);
        }

        rc = ngx_http_session_logout_respond(r);
    }

    /* the call runs the posted requests afterwards */
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_session_logout_respond_error(ngx_http_request_t *r)
{
    if (ngx_http_session_retry_after(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


static ngx_int_t
ngx_http_session_logout_respond(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_table_elt_t              *h;
    ngx_http_session_loc_conf_t  *slcf;
    ngx_http_session_srv_conf_t  *sscf;

    static ngx_str_t  location = ngx_string("Location");

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);

    /* with "Cache-Control: private, no-store" */

    if (ngx_http_session_expire_cookie(r, sscf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (slcf->logout_redirect.len) {
        h = ngx_http_session_add_header(r, &location,
                                        &slcf->logout_redirect);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.location = h;
        r->headers_out.status = NGX_HTTP_SEE_OTHER;

    } else {
        r->headers_out.status = NGX_HTTP_NO_CONTENT;
    }

    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


/*
 * The reply of a revoke script: an integer on a single Redis; on a
 * cluster { ended, far ids... }, each far id (a record on another slot)
 * revoked by one more single-slot script, not waited for.
 */

ngx_int_t
ngx_http_session_revoke_result(ngx_http_request_t *r, redisReply *reply,
    ngx_int_t *ended)
{
    if (reply == NULL) {
        return NGX_ERROR;
    }

    if (reply->type == REDIS_REPLY_INTEGER) {
        *ended = reply->integer;
        return NGX_OK;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return NGX_ERROR;
    }

    *ended = reply->element[0]->integer;

    ngx_http_session_revoke_far(r, reply, 1);

    return NGX_OK;
}


/* each far id of a cluster script's reply, from element "from" on */

void
ngx_http_session_revoke_far(ngx_http_request_t *r, redisReply *reply,
    size_t from)
{
    size_t                         argslen[4], i;
    redisReply                    *e;
    const char                    *args[4];
    ngx_http_session_main_conf_t  *smcf;
    u_char                         key[SS_PREFIX_MAX + 8 + SC_HASH_HEX_LEN];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    for (i = from; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len != SC_HASH_HEX_LEN) {
            continue;
        }

        /* SS_CLUSTER_SCRIPT_REVOKE: key; prefix, the id's tag, the id */

        args[0] = (const char *) key;
        argslen[0] = ngx_http_session_key(key, smcf, (u_char *) e->str)
                     - key;
        args[1] = (const char *) smcf->redis->prefix.data;
        argslen[1] = smcf->redis->prefix.len;
        args[2] = e->str;
        argslen[2] = SC_TAG_HEX_LEN;
        args[3] = e->str;
        argslen[3] = SC_HASH_HEX_LEN;

        (void) ngx_http_session_redis_script(NGX_HTTP_SESSION_SCRIPT_C_REVOKE,
                                             NULL, NULL, 1, 4, args,
                                             argslen);
    }
}
