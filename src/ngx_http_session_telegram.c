
/*
 * ngx_http_session_module: Telegram Mini App initData.
 *
 * session_telegram [bot_token_file=FILE] [bot_id=N public_key=production|test]
 *     [max_age=TIME] [login=on|off];
 *
 * Reads "Authorization: tma <initData>" in the access phase and checks it
 * with the bot token (first party, HMAC-SHA256) and/or Telegram's Ed25519
 * public key (third party), then auth_date against max_age.  Invalid or
 * missing: 401.  With login=on in a "session_issue on" location, a valid
 * initData is exchanged for an edge session of subject "tg:<user id>".
 */


#include "ngx_http_session.h"


#define NGX_HTTP_SESSION_TG_SKEW  60


typedef struct {
    ngx_uint_t                      status;      /* NGX_HTTP_SESSION_SIG_* */
    ngx_int_t                       rc;
    int64_t                         user_id;
    int64_t                         auth_date;
    ngx_str_t                       user;
    ngx_str_t                       start_param;
} ngx_http_session_tg_ctx_t;


/* the same values and labels as the signature statuses */
#define NGX_HTTP_SESSION_TG_OK         1
#define NGX_HTTP_SESSION_TG_MISSING    2
#define NGX_HTTP_SESSION_TG_INVALID    3
#define NGX_HTTP_SESSION_TG_STALE      4
#define NGX_HTTP_SESSION_TG_ERROR      6


static ngx_str_t  ngx_http_session_tg_status_names[] = {
    ngx_null_string,
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("stale"),
    ngx_string("replayed"),
    ngx_string("error")
};


static ngx_int_t
ngx_http_session_tg_done(ngx_http_session_tg_ctx_t *ctx, ngx_uint_t status)
{
    ctx->status = status;
    ctx->rc = (status == NGX_HTTP_SESSION_TG_OK) ? NGX_OK
              : (status == NGX_HTTP_SESSION_TG_ERROR)
                ? NGX_HTTP_INTERNAL_SERVER_ERROR
                : NGX_HTTP_UNAUTHORIZED;

    ngx_http_session_count(telegram[status - 1]);

    return ctx->rc;
}


ngx_int_t
ngx_http_session_telegram_handler(ngx_http_request_t *r)
{
    int                          rc;
    size_t                       len, data_len;
    u_char                      *buf;
    sc_tg_t                     *tg;
    const char                  *data;
    ngx_http_session_ctx_t      *sctx;
    ngx_http_session_tg_ctx_t   *ctx;
    ngx_http_session_tg_conf_t  *tcf;
    ngx_http_session_loc_conf_t *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    tcf = slcf->tg;

    if (tcf == NULL) {
        return NGX_DECLINED;
    }

    /* a subrequest checks the main request's Authorization for itself */

    sctx = ngx_http_session_get_ctx(r);
    if (sctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (sctx->tg) {
        return ((ngx_http_session_tg_ctx_t *) sctx->tg)->rc;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_tg_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sctx->tg = ctx;

    if (r->headers_in.authorization == NULL) {
        return ngx_http_session_tg_done(ctx, NGX_HTTP_SESSION_TG_MISSING);
    }

#if (nginx_version >= 1023000)
    if (r->headers_in.authorization->next) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session telegram: Authorization is repeated");
        return ngx_http_session_tg_done(ctx, NGX_HTTP_SESSION_TG_INVALID);
    }
#endif

    rc = sc_tg_authorization((char *) r->headers_in.authorization->value.data,
                             r->headers_in.authorization->value.len,
                             &data, &data_len);
    if (rc != SC_TG_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session telegram: no \"tma\" Authorization");
        return ngx_http_session_tg_done(ctx,
                                        rc == SC_TG_MISSING
                                        ? NGX_HTTP_SESSION_TG_MISSING
                                        : NGX_HTTP_SESSION_TG_INVALID);
    }

    tg = ngx_palloc(r->pool, sizeof(sc_tg_t));
    if (tg == NULL) {
        return ngx_http_session_tg_done(ctx, NGX_HTTP_SESSION_TG_ERROR);
    }

    rc = sc_tg_parse(tg, data, data_len);

    if (rc == SC_TG_OK && tcf->bot_token.len) {
        rc = sc_tg_verify(tg, (char *) tcf->bot_token.data,
                          tcf->bot_token.len);
    }

    if (rc == SC_TG_OK && tcf->env >= 0) {
        rc = sc_tg_verify_third_party(tg, tcf->bot_id,
                                      (sc_tg_env_t) tcf->env);
    }

    if (rc == SC_TG_OK) {
        rc = sc_tg_check_auth_date(tg, (int64_t) ngx_time(),
                                   (int64_t) tcf->max_age,
                                   NGX_HTTP_SESSION_TG_SKEW);
    }

    if (rc == SC_TG_OK) {
        rc = sc_tg_user_id(tg, &ctx->user_id);

        if (rc == SC_TG_MISSING) {
            /* a valid initData need not carry a user (a chat-only launch) */
            ctx->user_id = 0;
            rc = SC_TG_OK;
        }
    }

    if (rc != SC_TG_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session telegram: initData %s%s%s",
                      rc == SC_TG_STALE ? "is too old" : "is invalid",
                      tg->reason ? ": " : "", tg->reason ? tg->reason : "");
        return ngx_http_session_tg_done(ctx,
                                        rc == SC_TG_STALE
                                        ? NGX_HTTP_SESSION_TG_STALE
                                        : NGX_HTTP_SESSION_TG_INVALID);
    }

    ctx->auth_date = sc_tg_auth_date(tg);

    buf = ngx_pnalloc(r->pool, SC_TG_INIT_DATA_MAX);
    if (buf == NULL) {
        return ngx_http_session_tg_done(ctx, NGX_HTTP_SESSION_TG_ERROR);
    }

    len = sc_tg_user(tg, (char *) buf, SC_TG_INIT_DATA_MAX);

    if (len != (size_t) -1) {
        ctx->user.data = buf;
        ctx->user.len = len;
        buf += len;
    }

    len = sc_tg_start_param(tg, (char *) buf,
                            SC_TG_INIT_DATA_MAX - ctx->user.len);

    if (len != (size_t) -1) {
        ctx->start_param.data = buf;
        ctx->start_param.len = len;
    }

    return ngx_http_session_tg_done(ctx, NGX_HTTP_SESSION_TG_OK);
}


/*
 * "tg:<user id>" when the request carried valid initData and the location
 * has session_telegram login=on; NGX_DECLINED otherwise.
 */

ngx_int_t
ngx_http_session_telegram_subject(ngx_http_request_t *r, ngx_str_t *subject)
{
    ngx_http_session_ctx_t       *sctx;
    ngx_http_session_tg_ctx_t    *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    sctx = ngx_http_session_find_ctx(r);

    if (slcf->tg == NULL || !slcf->tg->login || sctx == NULL
        || sctx->tg == NULL)
    {
        return NGX_DECLINED;
    }

    ctx = sctx->tg;

    if (ctx->status != NGX_HTTP_SESSION_TG_OK || ctx->user_id <= 0) {
        return NGX_DECLINED;
    }

    subject->data = ngx_pnalloc(r->pool, sizeof("tg:") - 1 + NGX_INT64_LEN);
    if (subject->data == NULL) {
        return NGX_ERROR;
    }

    subject->len = ngx_sprintf(subject->data, "tg:%L", ctx->user_id)
                   - subject->data;

    return NGX_OK;
}


/* $session_telegram_status, _user_id, _auth_date, _start_param, _user */

ngx_int_t
ngx_http_session_telegram_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                     *p;
    ngx_str_t                  *s;
    ngx_http_session_ctx_t     *sctx;
    ngx_http_session_tg_ctx_t  *ctx;

    sctx = ngx_http_session_find_ctx(r);
    ctx = sctx ? sctx->tg : NULL;

    if (ctx == NULL && r != r->main) {
        sctx = ngx_http_session_find_ctx(r->main);
        ctx = sctx ? sctx->tg : NULL;
    }

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    if (data == 0) {
        s = &ngx_http_session_tg_status_names[ctx->status];
        v->data = s->data;
        v->len = s->len;
        return NGX_OK;
    }

    if (ctx->status != NGX_HTTP_SESSION_TG_OK) {
        v->len = 0;
        v->data = (u_char *) "";
        return NGX_OK;
    }

    switch (data) {

    case 1:
    case 2:
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (data == 1 && ctx->user_id == 0) {
            v->len = 0;

        } else {
            v->len = ngx_sprintf(p, "%L", data == 1 ? ctx->user_id
                                                    : ctx->auth_date)
                     - p;
        }

        v->data = p;
        break;

    case 3:
        v->data = ctx->start_param.data;
        v->len = ctx->start_param.len;
        break;

    default:
        v->data = ctx->user.data;
        v->len = ctx->user.len;
        break;
    }

    if (v->data == NULL) {
        v->data = (u_char *) "";
    }

    return NGX_OK;
}


static void
ngx_http_session_tg_cleanup(void *data)
{
    ngx_str_t  *token = data;

    ngx_explicit_memzero(token->data, token->len);
}


char *
ngx_http_session_telegram(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    u_char                      *p;
    uint64_t                     token_bot_id;
    ngx_str_t                   *value, file, content;
    ngx_int_t                    n, rc;
    ngx_uint_t                   i;
    ngx_pool_cleanup_t          *cln;
    ngx_http_session_tg_conf_t  *tcf;

    if (slcf->tg) {
        return "is duplicate";
    }

    tcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_tg_conf_t));
    if (tcf == NULL) {
        return NGX_CONF_ERROR;
    }

    tcf->env = -1;
    tcf->max_age = 3600;

    value = cf->args->elts;
    file.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "bot_token_file=", 15) == 0
            && value[i].len > 15)
        {
            file.data = value[i].data + 15;
            file.len = value[i].len - 15;
            continue;
        }

        if (ngx_strncmp(value[i].data, "bot_id=", 7) == 0) {
            if (ngx_http_session_parse_bounded_int(value[i].data + 7,
                                                   value[i].len - 7, 1,
                                                   NGX_MAX_INT_T_VALUE, &n)
                != NGX_OK)
            {
                goto invalid;
            }

            tcf->bot_id = (uint64_t) n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "public_key=production") == 0) {
            tcf->env = SC_TG_PRODUCTION;
            continue;
        }

        if (ngx_strcmp(value[i].data, "public_key=test") == 0) {
            tcf->env = SC_TG_TEST;
            continue;
        }

        rc = ngx_http_session_conf_time(cf, &value[i], "max_age", 1,
                                        NGX_HTTP_SESSION_AGE_MAX,
                                        "1s to 50y", &tcf->max_age);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_strcmp(value[i].data, "login=on") == 0) {
            tcf->login = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "login=off") == 0) {
            tcf->login = 0;
            continue;
        }

        goto invalid;
    }

    if (file.len) {
        if (ngx_http_session_read_file(cf, &file, "session_telegram", "",
                                       &content)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* the first line */

        for (p = content.data;
             p < content.data + content.len && *p != CR && *p != LF;
             p++)
        {
            /* void */
        }

        tcf->bot_token.len = p - content.data;
        tcf->bot_token.data = ngx_pnalloc(cf->pool, tcf->bot_token.len + 1);
        if (tcf->bot_token.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(tcf->bot_token.data, content.data, tcf->bot_token.len);
        tcf->bot_token.data[tcf->bot_token.len] = '\0';
        ngx_explicit_memzero(content.data, content.len);

        if (tcf->bot_token.len == 0
            || sc_tg_bot_id((char *) tcf->bot_token.data, tcf->bot_token.len,
                            &token_bot_id)
               != SC_TG_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_telegram\" file \"%V\" does not "
                               "hold a bot token \"<bot id>:<secret>\"",
                               &file);
            return NGX_CONF_ERROR;
        }

        if (tcf->bot_id == 0) {
            tcf->bot_id = token_bot_id;
        }

        cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t));
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        *(ngx_str_t *) cln->data = tcf->bot_token;
        cln->handler = ngx_http_session_tg_cleanup;
    }

    if (tcf->env >= 0 && tcf->bot_id == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_telegram\": \"public_key=\" needs "
                           "\"bot_id=N\" (or a bot token)");
        return NGX_CONF_ERROR;
    }

    if (tcf->bot_token.len == 0 && tcf->env < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_telegram\" needs \"bot_token_file=\" "
                           "or \"bot_id=N public_key=production|test\"");
        return NGX_CONF_ERROR;
    }

    slcf->tg = tcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_telegram\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}
