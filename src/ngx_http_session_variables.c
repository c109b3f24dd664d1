
/*
 * ngx_http_session_module: variables.
 *
 * $session_status, $session_user, $session_id, $session_expires,
 * $session_return_to and $session_claim_NAME.  They are empty where the
 * access phase did not look at a session (session_required off).
 */


#include "ngx_http_session.h"


static ngx_int_t ngx_http_session_variable_status(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_variable_user(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_variable_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_variable_expires(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_variable_return_to(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_session_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_session_vars[] = {

    { ngx_string("session_status"), NULL,
      ngx_http_session_variable_status, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_user"), NULL,
      ngx_http_session_variable_user, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_id"), NULL,
      ngx_http_session_variable_id, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_expires"), NULL,
      ngx_http_session_variable_expires, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_return_to"), NULL,
      ngx_http_session_variable_return_to, 0, 0, 0 },

    { ngx_string("session_signature_status"), NULL,
      ngx_http_session_signature_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_telegram_status"), NULL,
      ngx_http_session_telegram_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_telegram_user_id"), NULL,
      ngx_http_session_telegram_variable, 1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_telegram_auth_date"), NULL,
      ngx_http_session_telegram_variable, 2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_telegram_start_param"), NULL,
      ngx_http_session_telegram_variable, 3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_telegram_user"), NULL,
      ngx_http_session_telegram_variable, 4, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_assertion"), NULL,
      ngx_http_session_assertion_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_csrf_status"), NULL,
      ngx_http_session_csrf_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("session_claim_"), NULL,
      ngx_http_session_variable_claim, 0,
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_session_status_names[] = {
    ngx_string(""),
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("expired"),
    ngx_string("unknown"),
    ngx_string("error")
};


ngx_int_t
ngx_http_session_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_session_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_http_session_ctx_t *
ngx_http_session_var_ctx(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t  *ctx;

    /* a subrequest that was checked has its own; else the main request's */

    ctx = ngx_http_session_find_ctx(r);

    if ((ctx == NULL || !ctx->done) && r != r->main) {
        ctx = ngx_http_session_find_ctx(r->main);
    }

    return ctx;
}


static void
ngx_http_session_set_value(ngx_http_variable_value_t *v, u_char *data,
    size_t len)
{
    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = data;
}


static ngx_int_t
ngx_http_session_variable_status(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               *s;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_var_ctx(r);

    if (ctx == NULL || ctx->status == NGX_HTTP_SESSION_ST_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = &ngx_http_session_status_names[ctx->status];
    ngx_http_session_set_value(v, s->data, s->len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_variable_user(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_var_ctx(r);

    /* empty, never absent: proxy_set_header then removes a client's header */

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK) {
        ngx_http_session_set_value(v, (u_char *) "", 0);
        return NGX_OK;
    }

    ngx_http_session_set_value(v, ctx->user.data, ctx->user.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_variable_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_var_ctx(r);

    if (ctx == NULL || !ctx->have_token) {
        ngx_http_session_set_value(v, (u_char *) "", 0);
        return NGX_OK;
    }

    /* derived on first use: most requests never log it */

    if (!ctx->have_public_id) {
        sc_public_id(ctx->token, (char *) ctx->public_id);
        ctx->have_public_id = 1;
    }

    ngx_http_session_set_value(v, ctx->public_id, SC_PUBLIC_ID_LEN);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_variable_expires(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                  *p;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_var_ctx(r);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK) {
        ngx_http_session_set_value(v, (u_char *) "", 0);
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_http_session_set_value(v, p, ngx_sprintf(p, "%T", ctx->expires) - p);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_variable_return_to(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char     *p;
    size_t      len;
    uintptr_t   escape;

    escape = ngx_escape_uri(NULL, r->main->unparsed_uri.data,
                            r->main->unparsed_uri.len,
                            NGX_ESCAPE_URI_COMPONENT);

    len = r->main->unparsed_uri.len + 2 * escape;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_escape_uri(p, r->main->unparsed_uri.data, r->main->unparsed_uri.len,
                   NGX_ESCAPE_URI_COMPONENT);

    ngx_http_session_set_value(v, p, len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_variable_claim(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    u_char                  *p;
    size_t                   len, prefix;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_var_ctx(r);

    ngx_http_session_set_value(v, (u_char *) "", 0);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK
        || ctx->claims.len == 0)
    {
        return NGX_OK;
    }

    prefix = sizeof("session_claim_") - 1;

    p = ngx_pnalloc(r->pool, ctx->claims.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    len = sc_claims_get((char *) ctx->claims.data, ctx->claims.len,
                        (char *) name->data + prefix, name->len - prefix,
                        (char *) p, ctx->claims.len);

    if (len == (size_t) -1) {
        return NGX_OK;
    }

    ngx_http_session_set_value(v, p, len);

    return NGX_OK;
}
