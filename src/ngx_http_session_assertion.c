
/*
 * ngx_http_session_module: the signed identity assertion and its JWKS.
 *
 * session_assertion_keys FILE;
 * session_assertion [header=NAME] [audience=STRING] [issuer=STRING]
 *     [ttl=TIME] | off;
 * session_jwks;
 *
 * Every request of a session_assertion location is sent to its upstream
 * with one header NAME: the client's own copies are dropped from
 * r->headers_in, with or without a session, and a request with a valid
 * session gets a compact JWS signed with the first key of the file
 * (src/session_jws.c).  The header list is the one proxy_pass,
 * fastcgi_pass, grpc_pass, uwsgi_pass and scgi_pass all read.  It runs in
 * the precontent phase, after every access check, so that the token is
 * never made for a request that is refused.
 *
 * Signing is kept off the hot path: a token is made once per cookie and
 * location configuration and reused, per worker, until half its lifetime
 * has passed, so that every token sent has at least ttl/2 to live.  The
 * table is direct-mapped by the session hash and the configuration.
 */


#include "ngx_http_session.h"


typedef struct {
    ngx_flag_t                      enabled;
    ngx_str_t                       header;
    ngx_str_t                       lowcase;
    ngx_uint_t                      hash;
    ngx_str_t                       audience;
    ngx_str_t                       issuer;
    time_t                          ttl;
} ngx_http_session_assertion_conf_t;


#define NGX_HTTP_SESSION_ASSERT_TTL_MAX  300
#define NGX_HTTP_SESSION_ASSERT_SLOTS    512         /* a power of two */
#define NGX_HTTP_SESSION_ASSERT_BYTES    1536

typedef struct {
    void                           *conf;        /* NULL: empty */
    ngx_uint_t                      generation;
    time_t                          renew;
    size_t                          len;
    u_char                          hash[SC_HASH_HEX_LEN];
    u_char                          token[NGX_HTTP_SESSION_ASSERT_BYTES];
} ngx_http_session_assert_slot_t;


static ngx_int_t ngx_http_session_assertion_token(ngx_http_request_t *r,
    ngx_http_session_assertion_conf_t *acf, ngx_str_t *token);
static ngx_int_t ngx_http_session_assertion_header(ngx_http_request_t *r,
    ngx_http_session_assertion_conf_t *acf, ngx_str_t *token);
static ngx_int_t ngx_http_session_jwks_handler(ngx_http_request_t *r);
static void ngx_http_session_assertion_keys_cleanup(void *data);


/*
 * Per worker, allocated on first use from the cycle's pool and forgotten
 * with it; a configuration's keys have their own generation.
 */
static ngx_http_session_assert_slot_t  *ngx_http_session_assert_cache;
static ngx_uint_t                        ngx_http_session_assert_generation;


static void
ngx_http_session_assert_cache_cleanup(void *data)
{
    ngx_http_session_assert_cache = NULL;
}


/* session_assertion_keys FILE; */

char *
ngx_http_session_assertion_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    ngx_str_t           *value, name, content;
    sc_error_t           err;
    ngx_pool_cleanup_t  *cln;

    if (smcf->assertion_keys) {
        return "is duplicate";
    }

    value = cf->args->elts;
    name = value[1];

    if (ngx_http_session_read_file(cf, &name, "session_assertion_keys", "",
                                   &content)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (content.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_assertion_keys\" file \"%V\" is empty",
                           &name);
        return NGX_CONF_ERROR;
    }

    smcf->assertion_keys = ngx_pcalloc(cf->pool, sizeof(sc_jws_keys_t));
    if (smcf->assertion_keys == NULL) {
        ngx_explicit_memzero(content.data, content.len);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_explicit_memzero(content.data, content.len);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_session_assertion_keys_cleanup;
    cln->data = smcf->assertion_keys;

    ngx_memzero(&err, sizeof(sc_error_t));

    if (sc_jws_keys_parse(smcf->assertion_keys, (char *) content.data,
                          content.len, &err)
        != SC_OK)
    {
        ngx_explicit_memzero(content.data, content.len);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_assertion_keys\" file \"%V\"%s%s",
                           &name, err.line ? " " : ": ", err.msg);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(content.data, content.len);

    ngx_http_session_assert_generation++;

    return NGX_CONF_OK;
}


static void
ngx_http_session_assertion_keys_cleanup(void *data)
{
    sc_jws_keys_wipe(data);
}


static ngx_uint_t
ngx_http_session_assertion_token_char(u_char ch)
{
    if (ch <= 0x20 || ch >= 0x7f) {
        return 0;
    }

    return ngx_strchr("()<>@,;:\\\"/[]?={}", ch) == NULL;
}


/* session_assertion [header=NAME] [audience=S] [issuer=S] [ttl=T] | off; */

char *
ngx_http_session_assertion(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_int_t                           rc;
    ngx_str_t                          *value;
    ngx_uint_t                          i, j;
    ngx_http_session_assertion_conf_t  *acf;

    if (slcf->assertion) {
        return "is duplicate";
    }

    acf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_assertion_conf_t));
    if (acf == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->assertion = acf;
    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    acf->enabled = 1;
    ngx_str_set(&acf->header, "X-Session-Assertion");
    ngx_str_set(&acf->audience, "backend");
    ngx_str_set(&acf->issuer, "ngx_http_session");
    acf->ttl = 60;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "header=", 7) == 0) {
            acf->header.data = value[i].data + 7;
            acf->header.len = value[i].len - 7;

            if (acf->header.len == 0 || acf->header.len > 64) {
                goto invalid;
            }

            for (j = 0; j < acf->header.len; j++) {
                if (!ngx_http_session_assertion_token_char(
                                                     acf->header.data[j]))
                {
                    goto invalid;
                }
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "audience=", 9) == 0
            && value[i].len > 9 && value[i].len <= 9 + 256)
        {
            acf->audience.data = value[i].data + 9;
            acf->audience.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "issuer=", 7) == 0
            && value[i].len > 7 && value[i].len <= 7 + 256)
        {
            acf->issuer.data = value[i].data + 7;
            acf->issuer.len = value[i].len - 7;
            continue;
        }

        rc = ngx_http_session_conf_time(cf, &value[i], "ttl", 1,
                                        NGX_HTTP_SESSION_ASSERT_TTL_MAX,
                                        "1s to 5m", &acf->ttl);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        goto invalid;
    }

    acf->lowcase.len = acf->header.len;
    acf->lowcase.data = ngx_pnalloc(cf->pool, acf->header.len);
    if (acf->lowcase.data == NULL) {
        return NGX_CONF_ERROR;
    }

    acf->hash = ngx_hash_strlow(acf->lowcase.data, acf->header.data,
                                acf->header.len);

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_assertion\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* session_jwks; */

char *
ngx_http_session_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    if (smcf->assertion_keys == NULL) {
        return "needs \"session_assertion_keys\" earlier in the http block";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_session_jwks_handler;

    return NGX_CONF_OK;
}


char *
ngx_http_session_assertion_merge(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *prev, ngx_http_session_loc_conf_t *conf)
{
    ngx_http_session_main_conf_t       *smcf;
    ngx_http_session_assertion_conf_t  *acf;

    if (conf->assertion == NULL) {
        conf->assertion = prev->assertion;
    }

    acf = conf->assertion;

    if (acf && acf->enabled) {
        smcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_session_module);

        if (smcf->assertion_keys == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_assertion\" needs "
                               "\"session_assertion_keys\" in the http "
                               "block");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_session_assertion_handler(ngx_http_request_t *r)
{
    ngx_str_t                           token;
    ngx_http_session_loc_conf_t        *slcf;
    ngx_http_session_assertion_conf_t  *acf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    acf = slcf->assertion;

    if (acf == NULL || !acf->enabled) {
        return NGX_DECLINED;
    }

    if (ngx_http_session_assertion_token(r, acf, &token) != NGX_OK
        || ngx_http_session_assertion_header(r, acf, &token) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_http_session_assertion_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                           token;
    ngx_http_session_loc_conf_t        *slcf;
    ngx_http_session_assertion_conf_t  *acf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    acf = slcf->assertion;

    token.len = 0;
    token.data = (u_char *) "";

    if (acf && acf->enabled
        && ngx_http_session_assertion_token(r, acf, &token) != NGX_OK)
    {
        return NGX_ERROR;
    }

    v->len = token.len;
    v->data = token.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The request's token, or an empty one when it has no valid session.
 * token->data is the request's own copy: the slot may be reused by the
 * next request while this one is still being sent.
 */

static ngx_int_t
ngx_http_session_assertion_token(ngx_http_request_t *r,
    ngx_http_session_assertion_conf_t *acf, ngx_str_t *token)
{
    u_char                          *p, *payload, *hash;
    size_t                           plen, max;
    time_t                           now;
    ngx_uint_t                       n;
    sc_assertion_t                   a;
    const sc_jws_key_t              *key;
    ngx_http_session_ctx_t          *ctx;
    ngx_http_session_main_conf_t    *smcf;
    ngx_pool_cleanup_t              *cln;
    ngx_http_session_assert_slot_t  *slot;

    token->len = 0;
    token->data = (u_char *) "";

    ctx = ngx_http_session_find_ctx(r);

    if ((ctx == NULL || !ctx->done) && r != r->main) {
        ctx = ngx_http_session_find_ctx(r->main);
    }

    if (ctx == NULL || !ctx->done
        || ctx->status != NGX_HTTP_SESSION_ST_OK || !ctx->have_token)
    {
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);
    now = ngx_time();
    hash = ngx_http_session_ctx_hash(ctx);

    if (ngx_http_session_assert_cache == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);

        if (cln) {
            ngx_http_session_assert_cache = ngx_pcalloc(ngx_cycle->pool,
                       NGX_HTTP_SESSION_ASSERT_SLOTS
                       * sizeof(ngx_http_session_assert_slot_t));
            cln->handler = ngx_http_session_assert_cache_cleanup;
        }
    }

    slot = NULL;

    if (ngx_http_session_assert_cache) {
        /* the session and the configuration: a page and an API of two
           audiences do not evict each other */

        n = (ngx_uint_t) ngx_hextoi(hash, 4) ^ ((uintptr_t) acf >> 4);
        slot = &ngx_http_session_assert_cache[n
                                   & (NGX_HTTP_SESSION_ASSERT_SLOTS - 1)];

        if (slot->conf == acf
            && slot->generation == ngx_http_session_assert_generation
            && now < slot->renew && now >= slot->renew - acf->ttl
            && ngx_memcmp(slot->hash, hash, SC_HASH_HEX_LEN) == 0)
        {
            token->data = ngx_pnalloc(r->pool, slot->len);
            if (token->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(token->data, slot->token, slot->len);
            token->len = slot->len;
            return NGX_OK;
        }
    }

    /* sign */

    if (!ctx->have_public_id) {
        sc_public_id(ctx->token, (char *) ctx->public_id);
        ctx->have_public_id = 1;
    }

    ngx_memzero(&a, sizeof(sc_assertion_t));

    a.iss = (char *) acf->issuer.data;
    a.iss_len = acf->issuer.len;
    a.sub = (char *) ctx->user.data;
    a.sub_len = ctx->user.len;
    a.aud = (char *) acf->audience.data;
    a.aud_len = acf->audience.len;
    a.sid = (char *) ctx->public_id;
    a.sid_len = SC_PUBLIC_ID_LEN;

    /* session_telegram login=on names its sessions "tg:<user id>" */

    if (ctx->user.len > 3 && ngx_strncmp(ctx->user.data, "tg:", 3) == 0) {
        a.amr = "telegram";
        a.amr_len = 8;

    } else {
        a.amr = "cookie";
        a.amr_len = 6;
    }

    a.iat = now;
    a.exp = ngx_min(now + acf->ttl, ctx->expires);
    a.auth_time = (ctx->created > 0) ? ctx->created : -1;
    a.claims = (char *) ctx->claims.data;
    a.claims_len = ctx->claims.len;

    key = &smcf->assertion_keys->keys[0];

    max = sc_jws_payload_max(&a);

    payload = ngx_pnalloc(r->pool, max);
    if (payload == NULL) {
        return NGX_ERROR;
    }

    plen = sc_jws_payload(&a, (char *) payload, max);
    if (plen == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "session assertion: the session's claims cannot be "
                      "encoded");
        return NGX_ERROR;
    }

    max = sc_jws_token_max(key, plen);

    p = ngx_pnalloc(r->pool, max);
    if (p == NULL) {
        return NGX_ERROR;
    }

    token->len = sc_jws_sign(key, (char *) payload, plen, (char *) p, max);
    token->data = p;

    if (token->len == 0) {
        return NGX_ERROR;
    }

    if (slot && token->len <= NGX_HTTP_SESSION_ASSERT_BYTES) {
        slot->conf = acf;
        slot->generation = ngx_http_session_assert_generation;
        slot->renew = ngx_min(now + acf->ttl / 2, (time_t) a.exp);
        slot->len = token->len;
        ngx_memcpy(slot->hash, hash, SC_HASH_HEX_LEN);
        ngx_memcpy(slot->token, token->data, token->len);
    }

    return NGX_OK;
}


/*
 * Drops every client copy of the header from r->headers_in and adds the
 * token, if any.  The list is rebuilt rather than edited: the known-header
 * pointers (r->headers_in.host and the like) keep pointing at the old
 * entries, which live as long as the request.  A subrequest shares its
 * parent's list memory, so it always gets a list of its own.
 */

static ngx_int_t
ngx_http_session_assertion_header(ngx_http_request_t *r,
    ngx_http_session_assertion_conf_t *acf, ngx_str_t *token)
{
    ngx_uint_t        i, n, found;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    n = 0;
    found = 0;
    part = &r->headers_in.headers.part;
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

        n++;

        if (h[i].key.len == acf->header.len
            && ngx_strncasecmp(h[i].key.data, acf->header.data,
                               acf->header.len) == 0)
        {
            found++;
        }
    }

    if (found || r != r->main) {

        if (found) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "session assertion: the client's \"%V\" header "
                          "dropped", &acf->header);
        }

        old = r->headers_in.headers;

        if (ngx_list_init(&r->headers_in.headers, r->pool, n + 1,
                          sizeof(ngx_table_elt_t))
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        part = &old.part;
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

            if (h[i].key.len == acf->header.len
                && ngx_strncasecmp(h[i].key.data, acf->header.data,
                                   acf->header.len) == 0)
            {
                continue;
            }

            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }

            *nh = h[i];
        }
    }

    if (token->len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = acf->hash;
    h->key = acf->header;
    h->lowcase_key = acf->lowcase.data;
    h->value = *token;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/*
 * The public keys, every key of the file: tokens signed before a rotation
 * keep verifying.  Cacheable for five minutes (docs/assertion.md).
 */

static ngx_int_t
ngx_http_session_jwks_handler(ngx_http_request_t *r)
{
    size_t                         len;
    ngx_int_t                      rc;
    ngx_buf_t                     *b;
    ngx_chain_t                    out;
    ngx_http_session_main_conf_t  *smcf;

    static ngx_str_t  cc_key = ngx_string("Cache-Control");
    static ngx_str_t  cc_value = ngx_string("public, max-age=300");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    b = ngx_create_temp_buf(r->pool, SC_JWS_JWKS_MAX);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sc_jws_jwks(smcf->assertion_keys, (char *) b->pos,
                      SC_JWS_JWKS_MAX);
    if (len == 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = b->pos + len;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_session_add_header(r, &cc_key, &cc_value) == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
