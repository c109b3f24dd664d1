
/*
 * ngx_http_session_module: cross-origin protection of state-changing
 * requests, without tokens.
 *
 * session_csrf on | off [origins=URL ...];
 *
 * Checked in the access phase, where the module reads the session, before
 * the cookie is looked at.  For a method other than GET, HEAD, OPTIONS
 * and TRACE:
 *
 *   Sec-Fetch-Site: same-origin or none        passes ("same-origin")
 *   Origin listed in origins=                  passes ("listed")
 *   any other Sec-Fetch-Site                   403    ("cross-origin")
 *   no Sec-Fetch-Site, Origin equal to the request's own
 *       scheme://host[:port]                   passes ("same-origin")
 *   no Sec-Fetch-Site, another Origin          403    ("cross-origin")
 *   neither header (not a browser)             passes ("no-browser")
 *
 * "same-site" (another port or subdomain of the site) is cross-origin
 * unless listed.  The verdict is $session_csrf_status.
 */


#include "ngx_http_session.h"


typedef struct {
    ngx_flag_t                      enabled;
    ngx_array_t                    *origins;     /* ngx_str_t, lowercase */
} ngx_http_session_csrf_conf_t;


#define NGX_HTTP_SESSION_CSRF_SAFE       1
#define NGX_HTTP_SESSION_CSRF_SAME       2
#define NGX_HTTP_SESSION_CSRF_LISTED     3
#define NGX_HTTP_SESSION_CSRF_NOBROWSER  4
#define NGX_HTTP_SESSION_CSRF_CROSS      5


static ngx_str_t  ngx_http_session_csrf_names[] = {
    ngx_string(""),
    ngx_string("safe"),
    ngx_string("same-origin"),
    ngx_string("listed"),
    ngx_string("no-browser"),
    ngx_string("cross-origin")
};


static ngx_int_t
ngx_http_session_csrf_origin(ngx_conf_t *cf,
    ngx_http_session_csrf_conf_t *ccf, u_char *data, size_t len)
{
    u_char     *p, *host;
    ngx_str_t  *o;

    /* scheme://host[:port], an optional "/" dropped */

    if (len && data[len - 1] == '/') {
        len--;
    }

    if (len > 8 && ngx_strncasecmp(data, (u_char *) "https://", 8) == 0) {
        host = data + 8;

    } else if (len > 7
               && ngx_strncasecmp(data, (u_char *) "http://", 7) == 0)
    {
        host = data + 7;

    } else {
        return NGX_ERROR;
    }

    for (p = host; p < data + len; p++) {
        if (!(isalnum(*p) || *p == '.' || *p == '-' || *p == ':'
              || *p == '[' || *p == ']'))
        {
            return NGX_ERROR;
        }
    }

    o = ngx_array_push(ccf->origins);
    if (o == NULL) {
        return NGX_ERROR;
    }

    o->len = len;
    o->data = ngx_pnalloc(cf->pool, len);
    if (o->data == NULL) {
        return NGX_ERROR;
    }

    ngx_strlow(o->data, data, len);

    return NGX_OK;
}


/* session_csrf on | off [origins=URL[,URL] [URL ...]]; */

char *
ngx_http_session_csrf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    u_char                        *p, *start, *end;
    ngx_str_t                     *value;
    ngx_uint_t                     i, in_origins;
    ngx_http_session_csrf_conf_t  *ccf;

    if (slcf->csrf) {
        return "is duplicate";
    }

    ccf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_csrf_conf_t));
    if (ccf == NULL) {
        return NGX_CONF_ERROR;
    }

    slcf->csrf = ccf;
    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        ccf->enabled = 1;

    } else if (ngx_strcmp(value[1].data, "off") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"session_csrf\", it "
                           "must be \"on\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    ccf->origins = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (ccf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    in_origins = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        start = value[i].data;
        end = start + value[i].len;

        if (ngx_strncmp(start, "origins=", 8) == 0) {
            start += 8;
            in_origins = 1;

        } else if (!in_origins) {
            goto invalid;
        }

        while (start < end) {
            p = ngx_strlchr(start, end, ',');
            if (p == NULL) {
                p = end;
            }

            if (ngx_http_session_csrf_origin(cf, ccf, start, p - start)
                != NGX_OK)
            {
                goto invalid;
            }

            start = p + 1;
        }
    }

    if (in_origins && ccf->origins->nelts == 0) {
        i = 2;
        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_csrf\" parameter \"%V\" "
                       "(origins=scheme://host[:port] ...)", &value[i]);
    return NGX_CONF_ERROR;
}


char *
ngx_http_session_csrf_merge(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *prev, ngx_http_session_loc_conf_t *conf)
{
    if (conf->csrf == NULL) {
        conf->csrf = prev->csrf;
    }

    return NGX_CONF_OK;
}


static ngx_table_elt_t *
ngx_http_session_csrf_header(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* the request's own origin: scheme "://" Host */

static ngx_uint_t
ngx_http_session_csrf_own(ngx_http_request_t *r, ngx_str_t *origin)
{
    size_t      slen;
    ngx_str_t  *host;

#if (NGX_HTTP_SSL)
    if (r->connection->ssl) {
        slen = sizeof("https://") - 1;
        if (origin->len <= slen
            || ngx_strncasecmp(origin->data, (u_char *) "https://", slen)
               != 0)
        {
            return 0;
        }

    } else
#endif
    {
        slen = sizeof("http://") - 1;
        if (origin->len <= slen
            || ngx_strncasecmp(origin->data, (u_char *) "http://", slen)
               != 0)
        {
            return 0;
        }
    }

    if (r->headers_in.host == NULL) {
        return 0;
    }

    host = &r->headers_in.host->value;

    return origin->len - slen == host->len
           && ngx_strncasecmp(origin->data + slen, host->data, host->len)
              == 0;
}


ngx_int_t
ngx_http_session_csrf_check(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_loc_conf_t *slcf)
{
    ngx_str_t                     *o;
    ngx_uint_t                     i;
    ngx_table_elt_t               *site, *origin;
    ngx_http_session_csrf_conf_t  *ccf;

    ccf = slcf->csrf;

    if (ccf == NULL || !ccf->enabled) {
        return NGX_DECLINED;
    }

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_OPTIONS
                     |NGX_HTTP_TRACE))
    {
        ctx->csrf = NGX_HTTP_SESSION_CSRF_SAFE;
        return NGX_DECLINED;
    }

    site = ngx_http_session_csrf_header(r, "Sec-Fetch-Site",
                                        sizeof("Sec-Fetch-Site") - 1);

    if (site
        && ((site->value.len == 11
             && ngx_strncasecmp(site->value.data, (u_char *) "same-origin",
                                11) == 0)
            || (site->value.len == 4
                && ngx_strncasecmp(site->value.data, (u_char *) "none", 4)
                   == 0)))
    {
        ctx->csrf = NGX_HTTP_SESSION_CSRF_SAME;
        return NGX_DECLINED;
    }

    origin = ngx_http_session_csrf_header(r, "Origin", sizeof("Origin") - 1);

    if (origin) {
        o = ccf->origins->elts;

        for (i = 0; i < ccf->origins->nelts; i++) {
            if (o[i].len == origin->value.len
                && ngx_strncasecmp(o[i].data, origin->value.data, o[i].len)
                   == 0)
            {
                ctx->csrf = NGX_HTTP_SESSION_CSRF_LISTED;
                return NGX_DECLINED;
            }
        }

        if (site == NULL
            && ngx_http_session_csrf_own(r, &origin->value))
        {
            ctx->csrf = NGX_HTTP_SESSION_CSRF_SAME;
            return NGX_DECLINED;
        }

    } else if (site == NULL) {
        ctx->csrf = NGX_HTTP_SESSION_CSRF_NOBROWSER;
        return NGX_DECLINED;
    }

    ctx->csrf = NGX_HTTP_SESSION_CSRF_CROSS;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "session: cross-origin \"%V\" refused (Sec-Fetch-Site: "
                  "\"%V\", Origin: \"%V\")", &r->method_name,
                  site ? &site->value : &ngx_http_session_csrf_names[0],
                  origin ? &origin->value : &ngx_http_session_csrf_names[0]);

    return NGX_HTTP_FORBIDDEN;
}


ngx_int_t
ngx_http_session_csrf_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_find_ctx(r);

    if (ctx == NULL && r != r->main) {
        ctx = ngx_http_session_find_ctx(r->main);
    }

    if (ctx == NULL || ctx->csrf == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_http_session_csrf_names[ctx->csrf].len;
    v->data = ngx_http_session_csrf_names[ctx->csrf].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
