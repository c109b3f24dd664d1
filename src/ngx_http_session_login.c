
/*
 * ngx_http_session_module: minting sessions (the login hand-off).
 *
 * The login hand-off: in a "session_issue on" location, an upstream
 * response carrying "X-Session-Subject" (and "X-Session-Claims") makes
 * nginx create the session in Redis and add the cookie.  The response is
 * held (headers and body) until Redis has confirmed the write, so the very
 * next request, on any worker, finds the session; if Redis fails the
 * client gets 503 and no cookie.  "X-Session-Logout: current | all" ends
 * sessions the same way.  Elsewhere those headers are removed and ignored.
 *
 * This file also re-issues the cookie of a request signed with an older
 * key (rotation) or renewed by a later login (grace period).  Ending
 * sessions in Redis and "session_logout" are in ngx_http_session_logout.c.
 *
 * The filters live in a module of their own, ngx_http_session_filter_module,
 * built into the same shared object, so that they sit after the copy filter
 * and see the body in memory.
 */


#include "ngx_http_session.h"


#define NGX_HTTP_SESSION_BUFFERED     0x08

#define NGX_HTTP_SESSION_F_PASS       0
#define NGX_HTTP_SESSION_F_HOLD       1
#define NGX_HTTP_SESSION_F_FAILED     2


typedef struct {
    ngx_http_request_t              *request;
    ngx_http_session_call_t          call;
    ngx_chain_t                     *held;
    ngx_uint_t                       state;

    ngx_str_t                        subject;
    ngx_str_t                        claims;
    ngx_uint_t                       logout;     /* before the create */

    u_char                           token[SC_TOKEN_LEN];
    unsigned                         create:1;
    unsigned                         cleared:1;
    unsigned                         telegram:1;   /* minted via initData */
    unsigned                         refused:1;    /* by session_limit */
    unsigned                         retiring:1;   /* cluster: old record */
    unsigned                         evicted:1;    /* by session_limit */
} ngx_http_session_filter_ctx_t;


static ngx_int_t ngx_http_session_filter_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_table_elt_t *ngx_http_session_take_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_uint_t *dup);
static ngx_int_t ngx_http_session_start(ngx_http_request_t *r,
    ngx_http_session_filter_ctx_t *fctx);
static ngx_int_t ngx_http_session_send_retire(
    ngx_http_session_filter_ctx_t *fctx);
static void ngx_http_session_retired(ngx_http_session_filter_ctx_t *fctx,
    redisReply *reply);
static ngx_int_t ngx_http_session_send_create(
    ngx_http_session_filter_ctx_t *fctx);
static void ngx_http_session_filter_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_filter_cleanup(void *data);
static void ngx_http_session_release(ngx_http_session_filter_ctx_t *fctx,
    ngx_uint_t ok);
static void ngx_http_session_release_delivered(
    ngx_http_session_filter_ctx_t *fctx);
static void ngx_http_session_evictions_delivered(
    ngx_http_session_call_t *call, redisReply *reply);
static ngx_int_t ngx_http_session_fail(ngx_http_request_t *r,
    ngx_http_session_filter_ctx_t *fctx);
static ngx_int_t ngx_http_session_valid_subject(ngx_str_t *s);
static void ngx_http_session_drop_upstream_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf);


static ngx_str_t  ngx_http_session_h_subject = ngx_string("X-Session-Subject");
static ngx_str_t  ngx_http_session_h_claims = ngx_string("X-Session-Claims");
static ngx_str_t  ngx_http_session_h_logout = ngx_string("X-Session-Logout");


static ngx_http_module_t  ngx_http_session_filter_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_session_filter_init,          /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_session_filter_module = {
    NGX_MODULE_V1,
    &ngx_http_session_filter_module_ctx,   /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* session_issue on | off [grace=TIME]; */

char *
ngx_http_session_issue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_int_t   t;
    ngx_str_t  *value, s;

    if (slcf->issue != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_session_parse_flag(&value[1], &slcf->issue) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"session_issue\", "
                           "it must be \"on\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* for the error of ngx_http_session_check_cache(), at merge time */
    slcf->issue_file = cf->conf_file->file.name;
    slcf->issue_line = cf->conf_file->line;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "grace=", 6) != 0) {
            goto invalid;
        }

        s.data = value[2].data + 6;
        s.len = value[2].len - 6;

        if (ngx_http_session_parse_bounded_time(&s, 1, 1, 300, &t) != NGX_OK) {
            goto invalid;
        }

        slcf->grace = (time_t) t;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_issue\" parameter \"%V\" "
                       "(grace=TIME, 1s to 5m)", &value[2]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_session_filter_init(ngx_conf_t *cf)
{
    /* first, so that it sees the status the filters below settle on */
    ngx_http_session_signature_filter_init(cf);

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_session_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_session_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_str_t                       tg_subject;
    ngx_uint_t                      dup;
    ngx_table_elt_t                *subject, *claims, *logout;
    ngx_http_session_ctx_t         *ctx;
    ngx_http_session_loc_conf_t    *slcf;
    ngx_http_session_srv_conf_t    *sscf;
    ngx_http_session_filter_ctx_t  *fctx;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    fctx = ngx_http_get_module_ctx(r, ngx_http_session_filter_module);
    if (fctx) {
        /* our own 503 or a re-sent header */
        return ngx_http_next_header_filter(r);
    }

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);
    ctx = ngx_http_session_find_ctx(r);

    subject = NULL;
    claims = NULL;
    logout = NULL;
    dup = 0;

    /* only an upstream can send these; static responses skip the scan */

    if (r->upstream) {
        subject = ngx_http_session_take_header(r, &ngx_http_session_h_subject,
                                               &dup);
        claims = ngx_http_session_take_header(r, &ngx_http_session_h_claims,
                                              &dup);
        logout = ngx_http_session_take_header(r, &ngx_http_session_h_logout,
                                              &dup);

        /* only nginx sets the session cookie: no upstream can plant one */
        ngx_http_session_drop_upstream_cookie(r, sscf);
    }

    tg_subject.len = 0;

    if (subject == NULL && slcf->issue
        && ngx_http_session_telegram_subject(r, &tg_subject) == NGX_OK)
    {
        /* session_telegram login=on: the initData names the user */
        claims = NULL;
    }

    if ((subject || claims || logout) && !slcf->issue) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "session: the upstream sent X-Session-* headers in a "
                      "location without \"session_issue on\"; removed and "
                      "ignored");
        subject = NULL;
        claims = NULL;
        logout = NULL;
    }

    if (subject || logout || tg_subject.len) {

        if (r->http_version < NGX_HTTP_VERSION_10) {
            /* HTTP/0.9 has no headers: a cookie could never be delivered */
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session: no session minted for an HTTP/0.9 "
                          "request");
            return ngx_http_next_header_filter(r);
        }

        if (r->headers_out.status >= NGX_HTTP_BAD_REQUEST) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session: X-Session-* ignored on a %ui response",
                          r->headers_out.status);
            return ngx_http_next_header_filter(r);
        }

        fctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_filter_ctx_t));
        if (fctx == NULL) {
            return NGX_ERROR;
        }

        fctx->request = r;
        ngx_http_set_ctx(r, fctx, ngx_http_session_filter_module);

        if (dup) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "session: the upstream sent an invalid response: "
                          "an X-Session-* header twice");
            return ngx_http_filter_finalize_request(r,
                                                &ngx_http_session_filter_module,
                                                NGX_HTTP_BAD_GATEWAY);
        }

        if (logout) {
            if (logout->value.len == 3
                && ngx_strncasecmp(logout->value.data, (u_char *) "all", 3)
                   == 0)
            {
                fctx->logout = NGX_HTTP_SESSION_LOGOUT_ALL;

            } else if (logout->value.len == 7
                       && ngx_strncasecmp(logout->value.data,
                                          (u_char *) "current", 7) == 0)
            {
                fctx->logout = NGX_HTTP_SESSION_LOGOUT_CURRENT;

            } else {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "session: the upstream sent an invalid "
                              "X-Session-Logout \"%V\"", &logout->value);
                return ngx_http_filter_finalize_request(r,
                                                &ngx_http_session_filter_module,
                                                NGX_HTTP_BAD_GATEWAY);
            }
        }

        if (subject || tg_subject.len) {
            fctx->create = 1;
            fctx->telegram = subject ? 0 : 1;
            fctx->subject = subject ? subject->value : tg_subject;

            if (ngx_http_session_valid_subject(&fctx->subject) != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "session: the upstream sent an invalid "
                              "X-Session-Subject (1..%d bytes, no control "
                              "characters)", SS_SUBJECT_MAX);
                return ngx_http_filter_finalize_request(r,
                                                &ngx_http_session_filter_module,
                                                NGX_HTTP_BAD_GATEWAY);
            }

            if (claims) {
                sc_claim_t  parsed[SC_CLAIMS_MAX];

                fctx->claims = claims->value;

                if (claims->value.len > SC_CLAIMS_BYTES
                    || sc_claims_parse((char *) claims->value.data,
                                       claims->value.len, parsed,
                                       SC_CLAIMS_MAX) < 0)
                {
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "session: the upstream sent an invalid "
                                  "X-Session-Claims (at most %d claims, "
                                  "%d bytes, \"name=value; ...\" with "
                                  "percent-encoded values)",
                                  SC_CLAIMS_MAX, SC_CLAIMS_BYTES);
                    return ngx_http_filter_finalize_request(r,
                                                &ngx_http_session_filter_module,
                                                NGX_HTTP_BAD_GATEWAY);
                }
            }
        }

        rc = ngx_http_session_start(r, fctx);

        if (rc == NGX_OK) {
            /* held until Redis answers */
            return NGX_OK;
        }

        if (rc == NGX_DECLINED) {
            /* nothing to wait for: a logout without a session */
            fctx->state = NGX_HTTP_SESSION_F_PASS;

            if (ngx_http_session_expire_cookie(r, sscf) != NGX_OK) {
                return NGX_ERROR;
            }

            return ngx_http_next_header_filter(r);
        }

        return ngx_http_session_fail(r, fctx);
    }

    /* the cookie of an older key, or of a renewed session: set it anew */

    if (ctx && ctx->status == NGX_HTTP_SESSION_ST_OK && !ctx->ended
        && (ctx->key_index > 0 || ctx->renewed))
    {
        if (ctx->renewed) {
            ngx_http_session_count(reissued_renewal);

        } else {
            ngx_http_session_count(reissued_rotation);
        }

        if (ngx_http_session_set_cookie(r, sscf,
                                        ctx->renewed ? ctx->renew_token
                                                     : ctx->token)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_session_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                    *cl;
    ngx_http_session_filter_ctx_t  *fctx;

    fctx = ngx_http_get_module_ctx(r, ngx_http_session_filter_module);

    if (fctx == NULL || fctx->state == NGX_HTTP_SESSION_F_PASS) {
        return ngx_http_next_body_filter(r, in);
    }

    if (fctx->state == NGX_HTTP_SESSION_F_HOLD) {
        if (ngx_chain_add_copy(r->pool, &fctx->held, in) != NGX_OK) {
            return NGX_ERROR;
        }

        r->buffered |= NGX_HTTP_SESSION_BUFFERED;
        return NGX_OK;
    }

    /* F_FAILED: the upstream's body is dropped, a 503 went out instead */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    return NGX_OK;
}


/* finds a response header by name and removes every copy of it */

static ngx_table_elt_t *
ngx_http_session_take_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_uint_t *dup)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    found = NULL;
    part = &r->headers_out.headers.part;
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

        if (h[i].hash == 0
            || h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        h[i].hash = 0;

        if (found == NULL) {
            found = &h[i];

        } else {
            *dup = 1;
        }
    }

    return found;
}


static void
ngx_http_session_drop_upstream_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf)
{
    u_char           *p, *last;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_out.headers.part;
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

        if (h[i].hash == 0
            || h[i].key.len != sizeof("Set-Cookie") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Set-Cookie",
                               sizeof("Set-Cookie") - 1) != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if ((size_t) (last - p) <= sscf->name.len
            || ngx_strncmp(p, sscf->name.data, sscf->name.len) != 0)
        {
            continue;
        }

        /* browsers drop blanks around a cookie name (RFC 6265, 5.2) */

        for (p += sscf->name.len;
             p < last && (*p == ' ' || *p == '\t');
             p++)
        {
            /* void */
        }

        if (p < last && *p == '=') {
            h[i].hash = 0;

            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "session: the upstream tried to set the session "
                          "cookie \"%V\"; removed", &sscf->name);
        }
    }
}


static ngx_int_t
ngx_http_session_valid_subject(ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0 || s->len > SS_SUBJECT_MAX) {
        return NGX_ERROR;
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Sends the Redis command(s) and holds the response.  NGX_OK: held;
 * NGX_DECLINED: nothing to do in Redis; NGX_ERROR: Redis unavailable.
 */

static ngx_int_t
ngx_http_session_start(ngx_http_request_t *r,
    ngx_http_session_filter_ctx_t *fctx)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx && fctx->logout) {
        /* no session cookie on this response but a new login's */
        ctx->ended = 1;
    }

    /*
     * What the logout ends: the request's session (any cookie whose MAC
     * verified, whatever its lookup said: the lookup may have failed) and,
     * for "all", every session of the subject named in the response, or
     * of the request's session when the response names none.  A browser
     * without a cookie that gets "all" with a subject (a password reset
     * after "forgot password") still ends that subject's sessions.
     */

    if (fctx->logout
        && (ctx == NULL || !ctx->have_token)
        && !(fctx->logout == NGX_HTTP_SESSION_LOGOUT_ALL && fctx->create))
    {
        /* nothing to end: only the cookie goes */
        fctx->logout = NGX_HTTP_SESSION_LOGOUT_NONE;

        if (!fctx->create) {
            return NGX_DECLINED;
        }

        fctx->cleared = 1;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_session_filter_cleanup;
    cln->data = fctx;

    if (fctx->logout) {
        if (ngx_http_session_send_revoke(r,
                                 fctx->logout == NGX_HTTP_SESSION_LOGOUT_ALL,
                                 ctx, fctx->create ? &fctx->subject : NULL,
                                 &fctx->call, fctx,
                                 ngx_http_session_filter_reply)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

    } else if (ngx_http_session_send_create(fctx) != NGX_OK) {
        return NGX_ERROR;
    }

    fctx->state = NGX_HTTP_SESSION_F_HOLD;
    r->buffered |= NGX_HTTP_SESSION_BUFFERED;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_send_create(ngx_http_session_filter_ctx_t *fctx)
{
    u_char                        *p;
    size_t                         argslen[12
                                           + NGX_HTTP_SESSION_REGISTRY_NARGS];
    ngx_int_t                      n;
    ngx_http_request_t            *r;
    const char                    *args[12
                                        + NGX_HTTP_SESSION_REGISTRY_NARGS];
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_meta_t        meta;
    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_srv_conf_t   *sscf;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         hash[SC_HASH_HEX_LEN];
    u_char                         sealed[SC_GRACE_LEN];
    u_char                         now[NGX_TIME_T_LEN], abs[NGX_TIME_T_LEN];
    u_char                         grace[NGX_TIME_T_LEN];
    u_char                         skey[SS_PREFIX_MAX + 2
                                        + SC_HASH_HEX_LEN];
    u_char                         ukey[SS_PREFIX_MAX + 8
                                        + SS_SUBJECT_MAX];

    r = fctx->request;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    sc_random(fctx->token, SC_TOKEN_LEN);

    if (smcf->redis->cluster) {
        /* its subject's slot (docs/redis.md, "Redis Cluster") */
        sc_subject_tag((const char *) fctx->subject.data,
                       fctx->subject.len, fctx->token);
    }

    ngx_http_session_token_id(smcf, fctx->token, hash);

    p = ngx_http_session_subject_key(ukey, smcf, &fctx->subject);

    /* KEYS */
    args[0] = (const char *) skey;
    argslen[0] = ngx_http_session_key(skey, smcf, hash) - skey;
    args[1] = (const char *) ukey;
    argslen[1] = p - ukey;

    /* ARGV, see SS_SCRIPT_CREATE */
    args[2] = (const char *) fctx->subject.data;
    argslen[2] = fctx->subject.len;
    args[3] = (const char *) now;
    argslen[3] = ngx_sprintf(now, "%T", ngx_time()) - now;
    args[4] = (const char *) abs;
    argslen[4] = ngx_sprintf(abs, "%T", ngx_time() + sscf->absolute) - abs;
    args[5] = (const char *) sscf->idle_text.data;
    argslen[5] = sscf->idle_text.len;
    args[6] = fctx->claims.len ? (const char *) fctx->claims.data : "";
    argslen[6] = fctx->claims.len;
    args[7] = (const char *) hash;
    argslen[7] = SC_HASH_HEX_LEN;
    args[8] = (const char *) smcf->redis->prefix.data;
    argslen[8] = smcf->redis->prefix.len;

    if (ctx && ctx->status == NGX_HTTP_SESSION_ST_OK && !fctx->cleared) {

        /* a login over a live session replaces it, with a grace period */

        sc_grace_seal(ctx->renewed ? ctx->renew_token : ctx->token,
                      fctx->token, (char *) sealed, sizeof(sealed));

        args[9] = (const char *) ctx->current_hash;
        argslen[9] = SC_HASH_HEX_LEN;
        args[10] = (const char *) sealed;
        argslen[10] = SC_GRACE_LEN;

    } else {
        args[9] = "";
        argslen[9] = 0;
        args[10] = "";
        argslen[10] = 0;
    }

    args[11] = (const char *) grace;
    argslen[11] = ngx_sprintf(grace, "%T", slcf->grace) - grace;

    /* the metadata and session_limit (ngx_http_session_registry.c) */
    n = ngx_http_session_registry_create_args(r, fctx->token, fctx->telegram,
                                              &meta, &args[12],
                                              &argslen[12]);

    /* after a logout in the same response: the logout's deadline holds */

    return ngx_http_session_call_script(&fctx->call, r,
                                        ngx_http_session_filter_reply, fctx,
                                        smcf->redis->cluster
                                        ? NGX_HTTP_SESSION_SCRIPT_C_CREATE
                                        : NGX_HTTP_SESSION_SCRIPT_CREATE, 2,
                                        12 + n, args, argslen);
}


/*
 * Cluster: the session this login replaces is on another slot (another
 * subject's cookie, or a migrated record); SS_CLUSTER_SCRIPT_RETIRE ends
 * it there before the new cookie goes out.
 */

static ngx_int_t
ngx_http_session_send_retire(ngx_http_session_filter_ctx_t *fctx)
{
    size_t                         argslen[7];
    const char                    *args[7];
    ngx_http_request_t            *r;
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         hash[SC_HASH_HEX_LEN];
    u_char                         sealed[SC_GRACE_LEN];
    u_char                         grace[NGX_TIME_T_LEN];
    u_char                         key[SS_PREFIX_MAX + 8 + SC_HASH_HEX_LEN];

    r = fctx->request;
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK) {
        return NGX_ERROR;
    }

    ngx_http_session_token_id(smcf, fctx->token, hash);

    sc_grace_seal(ctx->renewed ? ctx->renew_token : ctx->token,
                  fctx->token, (char *) sealed, sizeof(sealed));

    args[0] = (const char *) key;
    argslen[0] = ngx_http_session_key(key, smcf, ctx->current_hash) - key;
    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;
    args[2] = (const char *) ctx->current_hash;
    argslen[2] = SC_HASH_HEX_LEN;
    args[3] = (const char *) fctx->subject.data;
    argslen[3] = fctx->subject.len;
    args[4] = (const char *) hash;
    argslen[4] = SC_HASH_HEX_LEN;
    args[5] = (const char *) sealed;
    argslen[5] = SC_GRACE_LEN;
    args[6] = (const char *) grace;
    argslen[6] = ngx_sprintf(grace, "%T", slcf->grace) - grace;

    fctx->retiring = 1;

    return ngx_http_session_call_script(&fctx->call, r,
                                        ngx_http_session_filter_reply, fctx,
                                        NGX_HTTP_SESSION_SCRIPT_C_RETIRE, 1,
                                        7, args, argslen);
}


/* the old subject's index forgets the retired session (not waited for) */

static void
ngx_http_session_retired(ngx_http_session_filter_ctx_t *fctx,
    redisReply *reply)
{
    size_t                         argvlen[3];
    ngx_str_t                      osub;
    const char                    *argv[3];
    ngx_http_request_t            *r;
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         ukey[SS_PREFIX_MAX + 8 + SS_SUBJECT_MAX];

    if (reply->type != REDIS_REPLY_STRING || reply->len == 0
        || reply->len > SS_SUBJECT_MAX)
    {
        return;
    }

    r = fctx->request;
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    osub.data = (u_char *) reply->str;
    osub.len = reply->len;

    argv[0] = "SREM";
    argvlen[0] = 4;
    argv[1] = (const char *) ukey;
    argvlen[1] = ngx_http_session_subject_key(ukey, smcf, &osub) - ukey;
    argv[2] = (const char *) ctx->current_hash;
    argvlen[2] = SC_HASH_HEX_LEN;

    (void) ngx_http_session_redis_command(NULL, NULL, 3, argv, argvlen);
}


static void
ngx_http_session_filter_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_filter_ctx_t  *fctx = call->data;

    ngx_int_t                      n, created, retire;
    ngx_uint_t                     cluster;
    ngx_http_request_t            *r;
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_main_conf_t  *smcf;

    r = fctx->request;

    if (fctx->retiring && reply
        && (reply->type == REDIS_REPLY_INTEGER
            || reply->type == REDIS_REPLY_STRING))
    {
        /* the replaced session on its own slot is done: the cookie goes */
        ngx_http_session_retired(fctx, reply);
        ngx_http_session_release_delivered(fctx);
        return;
    }

    /*
     * a single Redis answers an integer; on a cluster the revoke scripts
     * { ended, far ids... } and the create { r, retire, far ids... }
     */

    created = 0;
    retire = 0;

    if (reply && reply->type == REDIS_REPLY_INTEGER) {
        created = reply->integer;

    } else if (reply && reply->type == REDIS_REPLY_ARRAY
               && reply->elements >= 2
               && reply->element[0]->type == REDIS_REPLY_INTEGER
               && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        created = reply->element[0]->integer;
        retire = reply->element[1]->integer;

    } else if (!(fctx->logout && reply && reply->type == REDIS_REPLY_ARRAY))
    {

        if (call->timed_out) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session: redis did not confirm in time");
        }

        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "session: redis error while %s: %*s",
                          fctx->logout ? "ending a session"
                                       : "creating a session",
                          (size_t) reply->len, reply->str);
        }

        ngx_http_session_release(fctx, 0);
        return;
    }

    if (fctx->logout) {
        /* a cluster's revoke answers { ended, far ids... } */
        (void) ngx_http_session_revoke_result(r, reply, &n);
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    cluster = smcf->redis->cluster;

    if (!fctx->logout) {
        ngx_http_session_registry_created(r, created);

        /* 1 + the number of older sessions session_limit ended */
        fctx->evicted = (created > 1);

        if (created == 0) {
            /* session_limit over=refuse: 409, no cookie */
            fctx->refused = 1;
            ngx_http_session_release(fctx, 0);
            return;
        }

        if (cluster && reply->type == REDIS_REPLY_ARRAY) {
            /* sessions evicted on other slots (migrated ones): ended there */
            (void) ngx_http_session_revoke_result(r, reply, &n);
        }

        if (retire && cluster) {
            /* cluster: the replaced session is on another slot */
            if (ngx_http_session_send_retire(fctx) != NGX_OK) {
                ngx_http_session_release(fctx, 0);
            }

            return;
        }
    }

    if (fctx->logout) {
        /* the logout is done; a login in the same response comes next */

        ngx_http_session_count(logouts);

        ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);
        if (ctx && ctx->have_token) {
            /* this worker at once; the others through the channel */
            ngx_http_session_cache_evict(
                ngx_http_get_module_main_conf(r, ngx_http_session_module),
                ctx->current_hash[0] ? ctx->current_hash : ctx->hash);
        }

        fctx->logout = NGX_HTTP_SESSION_LOGOUT_NONE;
        fctx->cleared = 1;

        if (fctx->create) {
            if (ngx_http_session_send_create(fctx) != NGX_OK) {
                ngx_http_session_release(fctx, 0);
            }

            return;
        }
    }

    ngx_http_session_release_delivered(fctx);
}


/*
 * session_limit ended older sessions of the subject: the new cookie goes
 * out once Redis has written their revocation messages to every
 * subscriber, as a logout's answer does: the PING barrier on the node
 * that ran the script, the subject's slot (ngx_http_session_call_ping()).
 * An ended session's next request, on any edge, then finds the message.
 * The login is done whatever the PING's fate.
 */

static void
ngx_http_session_release_delivered(ngx_http_session_filter_ctx_t *fctx)
{
    u_char                        *p;
    ngx_str_t                      key;
    ngx_http_request_t            *r;
    ngx_http_session_main_conf_t  *smcf;

    if (!fctx->evicted) {
        ngx_http_session_release(fctx, 1);
        return;
    }

    fctx->evicted = 0;

    r = fctx->request;
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    key.data = ngx_pnalloc(r->pool,
                           smcf->redis->prefix.len + 8 + fctx->subject.len);
    if (key.data == NULL) {
        ngx_http_session_release(fctx, 1);
        return;
    }

    p = ngx_http_session_subject_key(key.data, smcf, &fctx->subject);
    key.len = p - key.data;

    if (ngx_http_session_call_ping(&fctx->call, r, &key,
                                   ngx_http_session_evictions_delivered,
                                   fctx)
        != NGX_OK)
    {
        ngx_http_session_release(fctx, 1);
    }
}


static void
ngx_http_session_evictions_delivered(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_filter_ctx_t  *fctx = call->data;

    ngx_http_session_release(fctx, 1);
}


static void
ngx_http_session_filter_cleanup(void *data)
{
    ngx_http_session_filter_ctx_t  *fctx = data;

    /* the call has a cleanup of its own */

    ngx_explicit_memzero(fctx->token, SC_TOKEN_LEN);
}


/*
 * Lets the held response go: with the cookie when Redis confirmed, or as a
 * 503 without any cookie when it did not.  Then the request carries on
 * from its write handler, which finalizes it if the upstream is done.
 */

static void
ngx_http_session_release(ngx_http_session_filter_ctx_t *fctx, ngx_uint_t ok)
{
    ngx_int_t                     rc;
    ngx_chain_t                  *cl;
    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_session_srv_conf_t  *sscf;

    r = fctx->request;
    c = r->connection;

    r->buffered &= ~NGX_HTTP_SESSION_BUFFERED;

    sscf = ngx_http_get_module_srv_conf(r, ngx_http_session_module);

    if (fctx->create) {
        if (ok) {
            ngx_http_session_count(logins_ok);

        } else if (!fctx->refused) {
            ngx_http_session_count(logins_error);
        }
    }

    if (ok) {
        fctx->state = NGX_HTTP_SESSION_F_PASS;

        if (fctx->create) {
            rc = ngx_http_session_set_cookie(r, sscf, fctx->token);

        } else {
            rc = ngx_http_session_expire_cookie(r, sscf);
        }

        ngx_explicit_memzero(fctx->token, SC_TOKEN_LEN);

        if (rc != NGX_OK) {
            goto failed;
        }

        rc = ngx_http_next_header_filter(r);

        if (rc != NGX_ERROR && fctx->held) {
            cl = fctx->held;
            fctx->held = NULL;
            rc = ngx_http_next_body_filter(r, cl);
        }

        if (rc == NGX_ERROR) {
            c->error = 1;
        }

        goto resume;
    }

failed:

    rc = ngx_http_session_fail(r, fctx);

    if (rc == NGX_ERROR) {
        c->error = 1;
    }

resume:

    /* continue outside hiredis's callback, from the request's handler */

    ngx_post_event(c->write, &ngx_posted_events);
}


/*
 * 503, no cookie: the held headers become a bare error response with
 * Retry-After, and the upstream's body is dropped as it comes.
 */

static ngx_int_t
ngx_http_session_fail(ngx_http_request_t *r,
    ngx_http_session_filter_ctx_t *fctx)
{
    ngx_uint_t        i;
    ngx_chain_t      *cl;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    fctx->state = NGX_HTTP_SESSION_F_FAILED;
    r->buffered &= ~NGX_HTTP_SESSION_BUFFERED;
    ngx_explicit_memzero(fctx->token, SC_TOKEN_LEN);

    for (cl = fctx->held; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    fctx->held = NULL;

    part = &r->headers_out.headers.part;
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

        h[i].hash = 0;
    }

    r->headers_out.status = fctx->refused ? NGX_HTTP_CONFLICT
                                          : NGX_HTTP_SERVICE_UNAVAILABLE;
    r->headers_out.status_line.len = 0;
    r->headers_out.location = NULL;
    r->headers_out.last_modified_time = -1;
    r->headers_out.last_modified = NULL;
    r->headers_out.content_encoding = NULL;
    r->headers_out.content_type.len = 0;
    r->headers_out.content_type.data = NULL;
    r->headers_out.content_length = NULL;
    r->headers_out.content_length_n = 0;
    r->headers_out.etag = NULL;
    r->header_only = 1;

    if (!fctx->refused) {
        (void) ngx_http_session_retry_after(r);
    }

    return ngx_http_next_header_filter(r);
}
