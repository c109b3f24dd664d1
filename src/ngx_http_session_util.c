
/*
 * ngx_http_session_module: what every phase uses.
 *
 * The request's ctx (get_ctx/find_ctx), the session cookie with the
 * worker's memo of verified cookies, the session's hash and Redis key,
 * response headers (add_header, Retry-After, the session cookie with
 * "Cache-Control: private, no-store").  It calls only down: the store
 * (ngx_http_session_call_cancel() when a request dies), the core
 * (src/session_*) and nginx.  Helpers of configuration time are in
 * ngx_http_session_conf.c.
 */


#include "ngx_http_session.h"


static void ngx_http_session_ctx_cleanup(void *data);
static ngx_int_t ngx_http_session_cookie_header(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, u_char *value, size_t vlen);
static ngx_int_t ngx_http_session_no_store(ngx_http_request_t *r);


/*
 * Cookies whose MAC verified, per worker.  A browser sends the same cookie
 * with every request; a hit skips the cookie's decoding, its MAC and the
 * token hash (two BLAKE2b computations, about 3,000 instructions).  The
 * table is direct-mapped by the first digits of the cookie's MAC, which the
 * client chooses: a client can evict entries but never add one, since an
 * entry is written only after its MAC verified, and a hit needs the whole
 * cookie, compared in constant time.  Whether the session is valid is
 * still asked of Redis (or session_cache) on every request.  The table
 * belongs to the configuration's cycle: a reload, with its new keys,
 * starts an empty one, and the old one is wiped with its pool.
 */

#define NGX_HTTP_SESSION_MEMO_BITS   10
#define NGX_HTTP_SESSION_MEMO_SIZE   (1 << NGX_HTTP_SESSION_MEMO_BITS)

typedef struct {
    size_t                          len;         /* 0: empty */
    size_t                          key_index;
    u_char                          value[SC_COOKIE_MAX];
    u_char                          token[SC_TOKEN_LEN];
    u_char                          hash[SC_HASH_HEX_LEN];
} ngx_http_session_memo_t;


static ngx_http_session_memo_t *ngx_http_session_memo_slot(
    ngx_http_session_main_conf_t *smcf, u_char *val, size_t len);
static void ngx_http_session_memo_cleanup(void *data);


/*
 * The request's ctx, created on first use.  The request is the unit, not
 * the location pass: an internal redirect (error_page, try_files,
 * X-Accel-Redirect) and a named location clear r->ctx, so the ctx is also
 * kept reachable from its pool cleanup entry (the module's own handler,
 * whose data is the ctx) and set again from there.  Subrequests share the
 * main request's pool: an entry counts only for the request it was made
 * for.  A subrequest whose main request was already checked starts from
 * that result (same cookie, no second lookup); one whose main request was
 * not checks for itself.
 */

ngx_http_session_ctx_t *
ngx_http_session_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_session_ctx_t  *ctx, *mctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx) {
        return ctx;
    }

    if (r->internal) {
        /* r->ctx may have been cleared: the search of find_ctx() */

        ctx = ngx_http_session_find_ctx(r);

        if (ctx) {
            return ctx;
        }
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->call.cleanup = 1;

    /*
     * The pool cleanup lives in the context, in the same pool: linked as
     * ngx_pool_cleanup_add() would link it, without allocating one more
     * block per request.  ngx_destroy_pool() runs the cleanups before it
     * frees the pool's memory.
     */

    cln = &ctx->cleanup;
    cln->handler = ngx_http_session_ctx_cleanup;
    cln->data = ctx;
    cln->next = r->pool->cleanup;
    r->pool->cleanup = cln;

    if (r != r->main) {
        mctx = ngx_http_session_find_ctx(r->main);

        if (mctx && mctx->done) {
            ctx->status = mctx->status;
            ctx->user = mctx->user;
            ctx->claims = mctx->claims;
            ctx->expires = mctx->expires;
            ctx->created = mctx->created;
            ctx->key_index = mctx->key_index;
            ngx_memcpy(ctx->hash, mctx->hash, SC_HASH_HEX_LEN);
            ngx_memcpy(ctx->current_hash, mctx->current_hash,
                       SC_HASH_HEX_LEN);
            ctx->have_hash = mctx->have_hash;
            ctx->counted = 1;
            ctx->done = 1;
        }
    }

    ngx_http_set_ctx(r, ctx, ngx_http_session_module);

    return ctx;
}


/* the request's ctx if it has one, also after an internal redirect */

ngx_http_session_ctx_t *
ngx_http_session_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_session_module);

    if (ctx || !r->internal) {
        /* r->internal: a subrequest, or r->ctx may have been cleared */
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler != ngx_http_session_ctx_cleanup) {
            continue;
        }

        ctx = cln->data;

        if (ctx->request == r) {
            ngx_http_set_ctx(r, ctx, ngx_http_session_module);
            return ctx;
        }
    }

    return NULL;
}


/* a cookie's name, a few bytes: compared here rather than by a call */

static ngx_inline ngx_uint_t
ngx_http_session_name_is(u_char *name, u_char *ours, size_t len)
{
    while (len--) {
        if (*name++ != *ours++) {
            return 0;
        }
    }

    return 1;
}


/*
 * Walks every Cookie header line and every cookie of our name in it: the
 * first one whose MAC verifies wins.  A cookie of the same name planted
 * for a parent domain (cookie tossing) therefore cannot shadow the real
 * one; at most NGX_HTTP_SESSION_MAX_CANDIDATES are tried.
 */

ngx_int_t
ngx_http_session_find_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, ngx_http_session_main_conf_t *smcf,
    ngx_http_session_ctx_t *ctx)
{
    u_char                   *p, *last, *name, *val;
    size_t                    name_len, val_len;
    ngx_int_t                 rc;
    ngx_uint_t                tried;
    ngx_table_elt_t          *h;
    ngx_http_session_memo_t  *memo;
#if (nginx_version < 1023000)
    ngx_uint_t                i;
    ngx_table_elt_t         **cookies;
#endif

    tried = 0;
    ctx->status = NGX_HTTP_SESSION_ST_MISSING;

#if (nginx_version < 1023000)
    cookies = r->headers_in.cookies.elts;

    for (i = 0; i < r->headers_in.cookies.nelts; i++) {
        h = cookies[i];
#else
    for (h = r->headers_in.cookie; h; h = h->next) {
#endif

        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {

            while (p < last && (*p == ' ' || *p == '\t' || *p == ';')) {
                p++;
            }

            name = p;

            while (p < last && *p != '=' && *p != ';') {
                p++;
            }

            name_len = p - name;

            while (name_len && (name[name_len - 1] == ' '
                                || name[name_len - 1] == '\t'))
            {
                name_len--;
            }

            if (p == last || *p == ';') {
                continue;
            }

            /* *p == '=' */

            p++;

            while (p < last && (*p == ' ' || *p == '\t')) {
                p++;
            }

            val = p;

            /* the value is most of the header: memchr() scans it fastest */

            p = memchr(p, ';', last - p);

            if (p == NULL) {
                p = last;
            }

            val_len = p - val;

            while (val_len && (val[val_len - 1] == ' '
                               || val[val_len - 1] == '\t'))
            {
                val_len--;
            }

            if (name_len != sscf->name.len
                || !ngx_http_session_name_is(name, sscf->name.data, name_len))
            {
                continue;
            }

            if (tried++ == NGX_HTTP_SESSION_MAX_CANDIDATES) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "session: more than %d \"%V\" cookies, "
                              "the rest are ignored",
                              NGX_HTTP_SESSION_MAX_CANDIDATES, &sscf->name);
                return NGX_DECLINED;
            }

            ctx->status = NGX_HTTP_SESSION_ST_INVALID;

            memo = ngx_http_session_memo_slot(smcf, val, val_len);

            if (memo && memo->len == val_len
                && sc_equal(memo->value, val, val_len))
            {
                ngx_memcpy(ctx->token, memo->token, SC_TOKEN_LEN);
                ngx_memcpy(ctx->hash, memo->hash, SC_HASH_HEX_LEN);
                ctx->key_index = memo->key_index;
                ctx->have_token = 1;
                ctx->have_hash = 1;
                ngx_memcpy(ctx->mac, val + val_len - SC_B64_32_LEN,
                           SC_B64_32_LEN);
                return NGX_OK;
            }

            rc = sc_cookie_decode(smcf->keyring, (char *) val, val_len,
                                  ctx->token, &ctx->key_index);

            if (rc == SC_OK) {
                ctx->have_token = 1;
                ngx_memcpy(ctx->mac, val + val_len - SC_B64_32_LEN,
                           SC_B64_32_LEN);

                if (memo) {
                    ngx_memcpy(memo->value, val, val_len);
                    ngx_memcpy(memo->token, ctx->token, SC_TOKEN_LEN);
                    ngx_memcpy(memo->hash, ngx_http_session_ctx_hash(ctx),
                               SC_HASH_HEX_LEN);
                    memo->key_index = ctx->key_index;
                    memo->len = val_len;
                }

                return NGX_OK;
            }

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "session: cookie rejected: %s",
                           rc == SC_MALFORMED ? "malformed"
                           : rc == SC_UNKNOWN_KID ? "unknown key id"
                           : "bad MAC");
        }
    }

    if (ctx->status == NGX_HTTP_SESSION_ST_INVALID) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session: invalid \"%V\" cookie", &sscf->name);
    }

    return NGX_DECLINED;
}


/*
 * The memo's slot for a cookie value, or NULL (a value of a length no
 * cookie has, or no memory for the table).
 */

static ngx_http_session_memo_t *
ngx_http_session_memo_slot(ngx_http_session_main_conf_t *smcf, u_char *val,
    size_t len)
{
    u_char              *m;
    uint32_t             h;
    ngx_pool_cleanup_t  *cln;

    if (len <= SC_COOKIE_TAIL + 1 || len > SC_COOKIE_MAX) {
        return NULL;
    }

    if (smcf->memo == NULL) {
        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        smcf->memo = ngx_pcalloc(ngx_cycle->pool,
                                 NGX_HTTP_SESSION_MEMO_SIZE
                                 * sizeof(ngx_http_session_memo_t));
        if (smcf->memo == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_session_memo_cleanup;
        cln->data = smcf->memo;
    }

    /* the MAC's first four digits, spread over the table */

    m = val + len - SC_B64_32_LEN;
    h = (uint32_t) m[0] | (uint32_t) m[1] << 8 | (uint32_t) m[2] << 16
        | (uint32_t) m[3] << 24;

    return (ngx_http_session_memo_t *) smcf->memo
           + ((h * 2654435761u) >> (32 - NGX_HTTP_SESSION_MEMO_BITS));
}


static void
ngx_http_session_memo_cleanup(void *data)
{
    ngx_explicit_memzero(data, NGX_HTTP_SESSION_MEMO_SIZE
                               * sizeof(ngx_http_session_memo_t));
}


/*
 * The session's hash, the Redis key of its record, derived on first use:
 * a hit in session_cache brings it along and costs no hashing.
 */

u_char *
ngx_http_session_ctx_hash(ngx_http_session_ctx_t *ctx)
{
    if (!ctx->have_hash) {
        ngx_http_session_token_id(
            ngx_http_get_module_main_conf(ctx->request,
                                          ngx_http_session_module),
            ctx->token, ctx->hash);
        ctx->have_hash = 1;
    }

    return ctx->hash;
}


u_char *
ngx_http_session_key(u_char *p, ngx_http_session_main_conf_t *smcf,
    u_char *hash)
{
    p = ngx_cpymem(p, smcf->session_prefix.data, smcf->session_prefix.len);

    if (smcf->redis->cluster) {
        /* "{<first 4 digits>}": the hash tag of the Cluster layout */
        *p++ = '{';
        p = ngx_cpymem(p, hash, SC_TAG_HEX_LEN);
        *p++ = '}';
    }

    return ngx_cpymem(p, hash, SC_HASH_HEX_LEN);
}


/*
 * The Cluster layout (docs/redis.md, "Redis Cluster") for the rest of the
 * module: a session's id and a subject's index key.
 */

void
ngx_http_session_token_id(ngx_http_session_main_conf_t *smcf,
    const u_char *token, u_char *id)
{
    if (smcf->redis && smcf->redis->cluster) {
        sc_token_cluster_id(token, SC_TOKEN_LEN, (char *) id);

    } else {
        sc_token_hash_hex(token, (char *) id);
    }
}


u_char *
ngx_http_session_subject_key(u_char *p, ngx_http_session_main_conf_t *smcf,
    ngx_str_t *subject)
{
    p = ngx_cpymem(p, smcf->redis->prefix.data, smcf->redis->prefix.len);
    p = ngx_cpymem(p, SS_KEY_SUBJECT, sizeof(SS_KEY_SUBJECT) - 1);

    if (smcf->redis->cluster) {
        *p++ = '{';
        sc_subject_tag_hex((const char *) subject->data, subject->len,
                           (char *) p);
        p += SC_TAG_HEX_LEN;
        *p++ = '}';
    }

    return ngx_cpymem(p, subject->data, subject->len);
}


static void
ngx_http_session_ctx_cleanup(void *data)
{
    ngx_http_session_ctx_t  *ctx = data;

    /* this is the lookup's call's cleanup too (call->cleanup is set) */

    if (ngx_http_session_call_waiting(&ctx->call)) {
        ngx_http_session_call_cancel(&ctx->call);
    }

    ngx_explicit_memzero(ctx->token, SC_TOKEN_LEN);
}


/* adds a response header; key and value must outlive the request */

ngx_table_elt_t *
ngx_http_session_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NULL;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;

    return h;
}


ngx_int_t
ngx_http_session_retry_after(ngx_http_request_t *r)
{
    static ngx_str_t  key = ngx_string("Retry-After");
    static ngx_str_t  value = ngx_string("1");

    return ngx_http_session_add_header(r, &key, &value) ? NGX_OK : NGX_ERROR;
}


/* Set-Cookie for a token, signed with the first key of the ring */

ngx_int_t
ngx_http_session_set_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, u_char *token)
{
    size_t                         vlen;
    ngx_int_t                      rc;
    ngx_http_session_main_conf_t  *smcf;
    u_char                         value[SC_COOKIE_MAX];

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    vlen = sc_cookie_encode(smcf->keyring, token, (char *) value,
                            sizeof(value));
    if (vlen == 0) {
        return NGX_ERROR;
    }

    rc = ngx_http_session_cookie_header(r, sscf, value, vlen);

    ngx_explicit_memzero(value, sizeof(value));

    return rc;
}


/* Set-Cookie that removes the cookie: same name, domain and path */

ngx_int_t
ngx_http_session_expire_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf)
{
    return ngx_http_session_cookie_header(r, sscf, NULL, 0);
}


/* "name=value" with the configured attributes; value NULL: remove it */

static ngx_int_t
ngx_http_session_cookie_header(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, u_char *value, size_t vlen)
{
    u_char           *p;
    size_t            len;
    ngx_str_t         v;

    static ngx_str_t  key = ngx_string("Set-Cookie");
    static ngx_str_t  samesite[] = {
        ngx_string("; SameSite=Lax"),
        ngx_string("; SameSite=Strict"),
        ngx_string("; SameSite=None")
    };
    static ngx_str_t  gone =
        ngx_string("; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");

    len = sscf->name.len + 1 + vlen
          + sizeof("; Path=") - 1 + sscf->path.len
          + sizeof("; Domain=") - 1 + sscf->domain.len
          + gone.len + NGX_TIME_T_LEN
          + sizeof("; Secure; HttpOnly") - 1
          + samesite[sscf->samesite].len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;

    p = ngx_cpymem(p, sscf->name.data, sscf->name.len);
    *p++ = '=';

    /* not memcpy(p, NULL, 0): the compiler may then drop the NULL test */

    if (value) {
        p = ngx_cpymem(p, value, vlen);
    }

    p = ngx_cpymem(p, "; Path=", sizeof("; Path=") - 1);
    p = ngx_cpymem(p, sscf->path.data, sscf->path.len);

    if (sscf->domain.len) {
        p = ngx_cpymem(p, "; Domain=", sizeof("; Domain=") - 1);
        p = ngx_cpymem(p, sscf->domain.data, sscf->domain.len);
    }

    if (value == NULL) {
        p = ngx_cpymem(p, gone.data, gone.len);

    } else if (sscf->max_age != NGX_CONF_UNSET) {
        p = ngx_sprintf(p, "; Max-Age=%T", sscf->max_age);
    }

    if (sscf->secure) {
        p = ngx_cpymem(p, "; Secure", sizeof("; Secure") - 1);
    }

    if (sscf->httponly) {
        p = ngx_cpymem(p, "; HttpOnly", sizeof("; HttpOnly") - 1);
    }

    p = ngx_cpymem(p, samesite[sscf->samesite].data,
                   samesite[sscf->samesite].len);

    v.len = p - v.data;

    if (ngx_http_session_add_header(r, &key, &v) == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_session_no_store(r);
}


/*
 * A response that sets or removes the session cookie must not be stored
 * by any cache: a shared cache in front of nginx would hand the token to
 * the next client.  The upstream's own Cache-Control lines are hidden and
 * "private, no-store" takes their place; it is kept out of
 * headers_out.cache_control, so that a later "expires" adds its own line
 * rather than rewriting this one (a cache obeys the strictest).
 */

static ngx_int_t
ngx_http_session_no_store(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    static ngx_str_t  key = ngx_string("Cache-Control");
    static ngx_str_t  value = ngx_string("private, no-store");

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

        if (h[i].hash == 0 || h[i].key.len != key.len
            || ngx_strncasecmp(h[i].key.data, key.data, key.len) != 0)
        {
            continue;
        }

        if (h[i].value.data == value.data) {
            /* ours already: a second Set-Cookie of this response */
            return NGX_OK;
        }

        h[i].hash = 0;
    }

#if (nginx_version >= 1023000)
    r->headers_out.cache_control = NULL;
#else
    r->headers_out.cache_control.nelts = 0;
#endif

    return ngx_http_session_add_header(r, &key, &value) ? NGX_OK : NGX_ERROR;
}


/*
 * JSON strings from bytes that came from a client (User-Agent, an address
 * header) or Redis: valid UTF-8 is kept, '"', '\', control characters
 * (C0, DEL, C1) and the characters that reorder or break lines (bidi
 * controls, U+2028, U+2029) are escaped as sessionctl escapes them, any
 * byte that is not part of a valid sequence becomes U+FFFD.  At most 6
 * output bytes per input byte, plus the quotes.
 */

size_t
ngx_http_session_json_len(u_char *s, size_t len)
{
    return 2 + 6 * len;
}


u_char *
ngx_http_session_json_str(u_char *p, u_char *s, size_t len)
{
    size_t       n, k;
    uint32_t     cp;
    u_char      *last;

    static u_char  hex[] = "0123456789abcdef";

    last = s + len;
    *p++ = '"';

    while (s < last) {

        if (*s < 0x80) {

            if (*s == '"' || *s == '\\') {
                *p++ = '\\';
                *p++ = *s++;

            } else if (*s < 0x20 || *s == 0x7f) {
                p = ngx_cpymem(p, "\\u00", 4);
                *p++ = hex[*s >> 4];
                *p++ = hex[*s & 0xf];
                s++;

            } else {
                *p++ = *s++;
            }

            continue;
        }

        /* a multi-byte sequence: its length from the lead byte */

        if ((*s & 0xe0) == 0xc0) {
            n = 2;
            cp = *s & 0x1f;

        } else if ((*s & 0xf0) == 0xe0) {
            n = 3;
            cp = *s & 0x0f;

        } else if ((*s & 0xf8) == 0xf0) {
            n = 4;
            cp = *s & 0x07;

        } else {
            n = 0;
            cp = 0;
        }

        if (n == 0 || (size_t) (last - s) < n) {
            goto invalid;
        }

        for (k = 1; k < n; k++) {
            if ((s[k] & 0xc0) != 0x80) {
                goto invalid;
            }

            cp = (cp << 6) | (s[k] & 0x3f);
        }

        /* overlong forms, surrogates, beyond U+10FFFF */

        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
            || (n == 4 && cp < 0x10000) || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff))
        {
            goto invalid;
        }

        if ((cp >= 0x80 && cp <= 0x9f)
            || cp == 0x200e || cp == 0x200f
            || (cp >= 0x2028 && cp <= 0x202e)
            || (cp >= 0x2066 && cp <= 0x2069))
        {
            /* C1 controls, bidi controls, line breaks: as sessionctl */
            p = ngx_sprintf(p, "\\u%04xD", cp);
            s += n;
            continue;
        }

        p = ngx_cpymem(p, s, n);
        s += n;
        continue;

    invalid:

        p = ngx_cpymem(p, "\\ufffd", 6);
        s++;
    }

    *p++ = '"';

    return p;
}
