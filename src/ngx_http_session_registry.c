
/*
 * ngx_http_session_module: the sessions a user can see and end.
 *
 *   session_client_address VALUE;   what is stored as a session's "ip"
 *   session_list;                   GET: the caller's sessions, as JSON
 *   session_revoke;                 POST id=<public id>: end one of them
 *   session_limit max=N [over=evict_oldest|refuse];
 *   session_live_close on|off;      close WebSockets and streams of a
 *                                   session when it ends
 *
 * A module of its own in the same object (after ngx_http_session_module
 * in the module order), so that its configuration and handlers stay out
 * of the core files; the login hand-off calls
 * ngx_http_session_registry_create_args() for the metadata and the limit
 * it passes to SS_SCRIPT_CREATE.  The live connections that
 * session_live_close closes (their list, the revocation callback, the
 * resync) are in ngx_http_session_live.c.
 */


#include "ngx_http_session.h"


#define NGX_HTTP_SESSION_IP_MAX        128
#define NGX_HTTP_SESSION_BODY_MAX      1024


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_session_call_t         call;
    ngx_uint_t                      revoke;
    ngx_str_t                       key;       /* the script's, for PING */
    ngx_http_session_far_t          far;       /* cluster: other slots */
} ngx_http_session_reg_ctx_t;


static void *ngx_http_session_registry_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_session_registry_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_session_registry_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_registry_init_process(ngx_cycle_t *cycle);
static char *ngx_http_session_handler_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_session_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_live_close(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_session_list_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_revoke_handler(ngx_http_request_t *r);
static void ngx_http_session_revoke_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_session_revoke_id(ngx_http_request_t *r,
    u_char *id);
static ngx_int_t ngx_http_session_reg_start(ngx_http_request_t *r,
    u_char *id, ngx_uint_t script, int nkeys, int nargs,
    const char **args, const size_t *argslen);
static void ngx_http_session_reg_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_reg_delivered(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_reg_far_done(ngx_http_session_far_t *far,
    ngx_int_t status);
static size_t ngx_http_session_utf8_cut(u_char *s, size_t len, size_t max);


static ngx_command_t  ngx_http_session_registry_commands[] = {

    { ngx_string("session_client_address"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_registry_loc_conf_t, client_address),
      NULL },

    { ngx_string("session_list"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_session_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_SESSION_REG_LIST,
      NULL },

    { ngx_string("session_revoke"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_session_handler_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      NGX_HTTP_SESSION_REG_REVOKE,
      NULL },

    { ngx_string("session_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_session_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_live_close"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_session_live_close,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_registry_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_session_registry_init,        /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_session_registry_create_loc_conf,
    ngx_http_session_registry_merge_loc_conf
};


ngx_module_t  ngx_http_session_registry_module = {
    NGX_MODULE_V1,
    &ngx_http_session_registry_module_ctx, /* module context */
    ngx_http_session_registry_commands,    /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_session_registry_init_process, /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};



static ngx_str_t  ngx_http_session_via[] = {
    ngx_string("login"),
    ngx_string("telegram")
};


static void *
ngx_http_session_registry_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_session_registry_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool,
                       sizeof(ngx_http_session_registry_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rlcf->handler = NGX_HTTP_SESSION_REG_NONE;
     */

    rlcf->client_address = NGX_CONF_UNSET_PTR;
    rlcf->limit = NGX_CONF_UNSET_UINT;
    rlcf->limit_refuse = NGX_CONF_UNSET_UINT;
    rlcf->live_close = NGX_CONF_UNSET;

    return rlcf;
}


static char *
ngx_http_session_registry_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_session_registry_loc_conf_t *prev = parent;
    ngx_http_session_registry_loc_conf_t *conf = child;

    ngx_http_session_loc_conf_t   *slcf;
    ngx_http_session_main_conf_t  *smcf;

    ngx_conf_merge_ptr_value(conf->client_address, prev->client_address,
                             NULL);
    ngx_conf_merge_uint_value(conf->limit, prev->limit, 0);
    ngx_conf_merge_uint_value(conf->limit_refuse, prev->limit_refuse, 0);
    ngx_conf_merge_value(conf->live_close, prev->live_close, 0);

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    if (conf->handler == NGX_HTTP_SESSION_REG_NONE && !conf->live_close) {
        return NGX_CONF_OK;
    }

    if (smcf->keyring == NULL || smcf->redis == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_list\", \"session_revoke\" and "
                           "\"session_live_close\" need \"session_keys\" "
                           "and \"session_redis\" in the http block");
        return NGX_CONF_ERROR;
    }

    if (conf->handler != NGX_HTTP_SESSION_REG_NONE) {

        /*
         * ngx_http_session_module's locations are merged already (it
         * comes first in the module order): the session is looked up here
         * without a redirect, and the handler answers 401 itself
         */

        slcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_session_module);

        if (slcf->required == NGX_HTTP_SESSION_OFF) {
            slcf->required = NGX_HTTP_SESSION_OPTIONAL;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_session_registry_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_session_main_conf_t  *smcf;

    /*
     * Only where "session_live_close on" appears: a phase handler runs
     * for every request of every location.
     */

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    if (smcf == NULL || !smcf->live_close) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* after the access phase: only requests that passed it are tracked */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_live_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_registry_init_process(ngx_cycle_t *cycle)
{
    return ngx_http_session_live_init_process(cycle);
}


/* session_list; session_revoke; */

static char *
ngx_http_session_handler_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_session_registry_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->handler != NGX_HTTP_SESSION_REG_NONE) {
        return "is duplicate";
    }

    rlcf->handler = cmd->offset;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = (cmd->offset == NGX_HTTP_SESSION_REG_LIST)
                    ? ngx_http_session_list_handler
                    : ngx_http_session_revoke_handler;

    return NGX_CONF_OK;
}


/* session_limit max=N [over=evict_oldest|refuse]; session_limit off; */

static char *
ngx_http_session_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_registry_loc_conf_t *rlcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;
    ngx_uint_t  i;

    if (rlcf->limit != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && value[1].len == 3
        && ngx_strncmp(value[1].data, "off", 3) == 0)
    {
        rlcf->limit = 0;
        rlcf->limit_refuse = 0;
        return NGX_CONF_OK;
    }

    rlcf->limit_refuse = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max=", 4) == 0) {
            if (ngx_http_session_parse_bounded_int(value[i].data + 4,
                                                   value[i].len - 4, 1, 1000,
                                                   &n)
                != NGX_OK)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"session_limit\" value \"%V\" "
                                   "(max=1 to max=1000)", &value[i]);
                return NGX_CONF_ERROR;
            }

            rlcf->limit = n;
            continue;
        }

        if (value[i].len == sizeof("over=evict_oldest") - 1
            && ngx_strncmp(value[i].data, "over=evict_oldest",
                           value[i].len) == 0)
        {
            rlcf->limit_refuse = 0;
            continue;
        }

        if (value[i].len == sizeof("over=refuse") - 1
            && ngx_strncmp(value[i].data, "over=refuse", value[i].len) == 0)
        {
            rlcf->limit_refuse = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"session_limit\" parameter \"%V\" "
                           "(max=N [over=evict_oldest|refuse], or off)",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rlcf->limit == NGX_CONF_UNSET_UINT) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_limit\" needs \"max=N\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* session_live_close on|off; */

static char *
ngx_http_session_live_close(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_registry_loc_conf_t *rlcf = conf;

    ngx_str_t                     *value;
    ngx_http_session_main_conf_t  *smcf;

    if (rlcf->live_close != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        rlcf->live_close = 1;

        /* every worker subscribes to the revocation channel */
        smcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_session_module);
        smcf->live_close = 1;

    } else if (ngx_strcasecmp(value[1].data, (u_char *) "off") == 0) {
        rlcf->live_close = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"session_live_close\" "
                           "(on or off)", &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * ARGV[11..16] of SS_SCRIPT_CREATE for a login: the public id, client
 * address, User-Agent (at most SS_UA_MAX bytes, cut at a character
 * boundary), how it was authenticated, and the limit.  The strings point
 * into m, the request's headers or its pool.
 */

ngx_int_t
ngx_http_session_registry_create_args(ngx_http_request_t *r, u_char *token,
    ngx_uint_t telegram, ngx_http_session_meta_t *m, const char **args,
    size_t *argslen)
{
    ngx_str_t                              ua;
    ngx_http_session_registry_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_session_registry_module);

    sc_public_id(token, (char *) m->pid);
    args[0] = (const char *) m->pid;
    argslen[0] = SC_PUBLIC_ID_LEN;

    if (rlcf->client_address == NULL
        || ngx_http_complex_value(r, rlcf->client_address, &m->ip) != NGX_OK)
    {
        m->ip = r->connection->addr_text;
    }

    args[1] = (const char *) m->ip.data;
    argslen[1] = ngx_http_session_utf8_cut(m->ip.data, m->ip.len,
                                           NGX_HTTP_SESSION_IP_MAX);

    if (r->headers_in.user_agent) {
        ua = r->headers_in.user_agent->value;

    } else {
        ngx_str_set(&ua, "");
    }

    args[2] = (const char *) ua.data;
    argslen[2] = ngx_http_session_utf8_cut(ua.data, ua.len, SS_UA_MAX);

    args[3] = (const char *) ngx_http_session_via[telegram ? 1 : 0].data;
    argslen[3] = ngx_http_session_via[telegram ? 1 : 0].len;

    args[4] = (const char *) m->max;
    argslen[4] = ngx_sprintf(m->max, "%ui", rlcf->limit) - m->max;

    args[5] = rlcf->limit_refuse ? "refuse" : "evict";
    argslen[5] = rlcf->limit_refuse ? 6 : 5;

    return NGX_HTTP_SESSION_REGISTRY_NARGS;
}


/* the login script's reply: 0 refused by the limit, else 1 + evicted */

void
ngx_http_session_registry_created(ngx_http_request_t *r, ngx_int_t reply)
{
    if (reply == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session: login refused by session_limit");
        ngx_http_session_count(limit_refused);
        return;
    }

    if (reply > 1) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session: session_limit ended %i older session(s)",
                      reply - 1);

        if (ngx_http_session_metrics) {
            (void) ngx_atomic_fetch_add(
                               &ngx_http_session_metrics->limit_evicted,
                               (ngx_atomic_int_t) (reply - 1));
        }
    }
}


/*
 * A cut of at most max bytes that does not split a UTF-8 sequence (the
 * bytes themselves are escaped on the way out: JSON, sessionctl).
 */

static size_t
ngx_http_session_utf8_cut(u_char *s, size_t len, size_t max)
{
    size_t  n;

    if (len <= max) {
        return len;
    }

    n = max;

    /* back over continuation bytes to the start of the sequence */

    while (n > 0 && n > max - 4 && (s[n] & 0xc0) == 0x80) {
        n--;
    }

    if ((s[n] & 0xc0) != 0x80) {
        return n;
    }

    return max;
}


/* session_list: GET, the caller's sessions as JSON */

static ngx_int_t
ngx_http_session_list_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    size_t                         argslen[4];
    const char                    *args[4];
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_main_conf_t  *smcf;
    u_char                        *key;
    u_char                         tag[SC_TAG_HEX_LEN];

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_session_find_ctx(r);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK) {
        return ngx_http_session_reg_status(r, NGX_HTTP_UNAUTHORIZED);
    }

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    /* "{<tag>}" on a cluster */
    key = ngx_pnalloc(r->pool, smcf->redis->prefix.len + 8 + ctx->user.len);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[0] = (const char *) key;
    argslen[0] = ngx_http_session_subject_key(key, smcf, &ctx->user) - key;
    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;
    args[2] = (const char *) ctx->current_hash;
    argslen[2] = SC_HASH_HEX_LEN;

    if (smcf->redis->cluster) {
        /* SS_CLUSTER_SCRIPT_LIST: ARGV[3] the subject's tag */
        sc_subject_tag_hex((const char *) ctx->user.data, ctx->user.len,
                           (char *) tag);
        args[3] = (const char *) tag;
        argslen[3] = SC_TAG_HEX_LEN;

        return ngx_http_session_reg_start(r, NULL,
                                          NGX_HTTP_SESSION_SCRIPT_C_LIST,
                                          1, 4, args, argslen);
    }

    return ngx_http_session_reg_start(r, NULL, NGX_HTTP_SESSION_SCRIPT_LIST,
                                      1, 3, args, argslen);
}


/* session_revoke: POST id=<public id> (a form or JSON body) */

static ngx_int_t
ngx_http_session_revoke_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_http_session_ctx_t  *ctx;

    if (r->method != NGX_HTTP_POST) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_http_session_find_ctx(r);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_session_reg_status(r, NGX_HTTP_UNAUTHORIZED);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_SESSION_BODY_MAX) {
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_session_revoke_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_session_revoke_body(ngx_http_request_t *r)
{
    u_char       *p, *last, *v;
    size_t        len;
    ngx_buf_t    *b;
    ngx_uint_t    i;
    ngx_chain_t  *cl;
    u_char        body[NGX_HTTP_SESSION_BODY_MAX];
    u_char        id[SC_PUBLIC_ID_LEN];

    len = 0;

    if (r->request_body == NULL || r->request_body->temp_file) {
        ngx_http_finalize_request(r, NGX_HTTP_BAD_REQUEST);
        return;
    }

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file || (size_t) (b->last - b->pos) > sizeof(body) - len) {
            ngx_http_finalize_request(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
            return;
        }

        len = ngx_cpymem(body + len, b->pos, b->last - b->pos) - body;
    }

    /*
     * The id: "id=<16 hex>" anywhere in a form body, or "id": "<16 hex>"
     * in a JSON object.  Ids are lowercase hex, so no decoding is needed;
     * anything else is not an id of the caller's (404) or malformed (400).
     */

    v = NULL;
    last = body + len;

    for (p = body; p + 2 < last; p++) {

        if (p[0] == 'i' && p[1] == 'd' && p[2] == '='
            && (p == body || p[-1] == '&'))
        {
            v = p + 3;
            break;
        }

        if (p[0] == '"' && p + 4 < last && p[1] == 'i' && p[2] == 'd'
            && p[3] == '"')
        {
            for (p += 4; p < last && (*p == ' ' || *p == '\t'
                                      || *p == '\r' || *p == '\n'); p++)
            { /* void */ }

            if (p >= last || *p++ != ':') {
                break;
            }

            for ( /* void */ ; p < last && (*p == ' ' || *p == '\t'
                                            || *p == '\r' || *p == '\n'); p++)
            { /* void */ }

            if (p < last && *p == '"') {
                v = p + 1;
            }

            break;
        }
    }

    if (v == NULL || last - v < SC_PUBLIC_ID_LEN) {
        ngx_http_finalize_request(r, v ? NGX_HTTP_NOT_FOUND
                                       : NGX_HTTP_BAD_REQUEST);
        return;
    }

    for (i = 0; i < SC_PUBLIC_ID_LEN; i++) {
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) {
            ngx_http_finalize_request(r, NGX_HTTP_NOT_FOUND);
            return;
        }
    }

    if (v + SC_PUBLIC_ID_LEN < last
        && v[SC_PUBLIC_ID_LEN] != '&' && v[SC_PUBLIC_ID_LEN] != '"'
        && v[SC_PUBLIC_ID_LEN] != '\r' && v[SC_PUBLIC_ID_LEN] != '\n')
    {
        ngx_http_finalize_request(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_memcpy(id, v, SC_PUBLIC_ID_LEN);

    ngx_http_finalize_request(r, ngx_http_session_revoke_id(r, id));
}


static ngx_int_t
ngx_http_session_revoke_id(ngx_http_request_t *r, u_char *id)
{
    size_t                         argslen[4];
    const char                    *args[4];
    u_char                         tag[SC_TAG_HEX_LEN];
    ngx_http_session_ctx_t        *ctx;
    ngx_http_session_main_conf_t  *smcf;
    u_char                        *key;

    ctx = ngx_http_session_find_ctx(r);
    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    key = ngx_pnalloc(r->pool, smcf->redis->prefix.len + 8 + ctx->user.len);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    args[0] = (const char *) key;
    argslen[0] = ngx_http_session_subject_key(key, smcf, &ctx->user) - key;
    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;
    args[2] = (const char *) id;
    argslen[2] = SC_PUBLIC_ID_LEN;

    if (smcf->redis->cluster) {
        /* SS_CLUSTER_SCRIPT_REVOKE_ID: prefix, the subject's tag, the id */
        sc_subject_tag_hex((const char *) ctx->user.data, ctx->user.len,
                           (char *) tag);
        args[2] = (const char *) tag;
        argslen[2] = SC_TAG_HEX_LEN;
        args[3] = (const char *) id;
        argslen[3] = SC_PUBLIC_ID_LEN;

        return ngx_http_session_reg_start(r, id,
                                          NGX_HTTP_SESSION_SCRIPT_C_REVOKE_ID,
                                          1, 4, args, argslen);
    }

    /*
     * NGX_DONE: the reply holds a reference of its own; the caller's
     * ngx_http_finalize_request(r, NGX_DONE) releases the body reading's
     */

    return ngx_http_session_reg_start(r, id,
                                      NGX_HTTP_SESSION_SCRIPT_REVOKE_ID,
                                      1, 3, args, argslen);
}


/* id: the public id of session_revoke, NULL for session_list */

static ngx_int_t
ngx_http_session_reg_start(ngx_http_request_t *r, u_char *id,
    ngx_uint_t script, int nkeys, int nargs, const char **args,
    const size_t *argslen)
{
    ngx_http_session_reg_ctx_t  *rctx;

    rctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_reg_ctx_t));
    if (rctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rctx->request = r;
    rctx->revoke = (id != NULL);
    rctx->key.data = (u_char *) args[0];
    rctx->key.len = argslen[0];

    rctx->far.request = r;
    rctx->far.call = &rctx->call;
    rctx->far.done = ngx_http_session_reg_far_done;
    rctx->far.data = rctx;
    rctx->far.index = rctx->key;

    if (id) {
        ngx_memcpy(rctx->far.public_id, id, SC_PUBLIC_ID_LEN);
    }

    if (ngx_http_session_call_script(&rctx->call, r,
                                     ngx_http_session_reg_reply, rctx,
                                     script, nkeys, nargs, args, argslen)
        != NGX_OK)
    {
        if (ngx_http_session_retry_after(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_session_reg_status(r, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    r->main->count++;

    return NGX_DONE;
}


static void
ngx_http_session_reg_reply(ngx_http_session_call_t *call, redisReply *reply)
{
    ngx_http_session_reg_ctx_t *rctx = call->data;

    ngx_int_t                      rc;
    redisReply                    *far;
    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_session_main_conf_t  *smcf;

    r = rctx->request;
    c = r->connection;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {

        if (call->timed_out) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "session: redis did not answer in time");

        } else if (reply) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "session: redis error while %s: %*s",
                          rctx->revoke ? "ending a session"
                                       : "listing sessions",
                          (size_t) reply->len, reply->str);
        }

        rc = ngx_http_session_retry_after(r);
        rc = ngx_http_session_reg_status(r, rc == NGX_OK
                                        ? NGX_HTTP_SERVICE_UNAVAILABLE
                                        : NGX_HTTP_INTERNAL_SERVER_ERROR);

    } else if (rctx->revoke) {

        if (reply->type == REDIS_REPLY_ARRAY && reply->elements
            && reply->element[0]->type == REDIS_REPLY_STRING)
        {
            /*
             * cluster: { hash or '', far ids... }; a hash's far chain
             * hops are ended on their slots; '': the far ones are index
             * members on other slots (migrated records), tried there
             */
            if (reply->element[0]->len == SC_HASH_HEX_LEN) {
                ngx_http_session_revoke_far(r, reply, 1);

            } else if (reply->element[0]->len == 0
                       && reply->elements > 1)
            {
                if (ngx_http_session_far_revoke(&rctx->far, reply)
                    == NGX_OK)
                {
                    /* rctx->far.done finalizes the request */
                    return;
                }

                ngx_http_finalize_request(r,
                                          NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            reply = reply->element[0]->len ? reply->element[0] : NULL;
        }

        if (reply == NULL) {
            rc = ngx_http_session_reg_status(r, NGX_HTTP_NOT_FOUND);

        } else if (reply->type == REDIS_REPLY_STRING
            && reply->len == SC_HASH_HEX_LEN)
        {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "session: a session ended by its user");

            ngx_http_session_count(revoked_user);

            /* this worker at once; the others through the channel */
            ngx_http_session_cache_evict(smcf, (u_char *) reply->str);
            ngx_http_session_live_revoked((u_char *) reply->str,
                                          reply->len);

            /*
             * Answered once Redis has written the revocation's message to
             * every subscriber, as a logout is: the PING barrier on the
             * node that ran the script (ngx_http_session_call_ping()).
             * The caller's next request, on any edge, then finds the
             * message there.
             */

            if (ngx_http_session_call_ping(&rctx->call, r, &rctx->key,
                                           ngx_http_session_reg_delivered,
                                           rctx)
                == NGX_OK)
            {
                return;
            }

            rc = ngx_http_session_reg_status(r, NGX_HTTP_NO_CONTENT);

        } else if (reply->type == REDIS_REPLY_NIL) {
            rc = ngx_http_session_reg_status(r, NGX_HTTP_NOT_FOUND);

        } else {
            ngx_http_session_redis_desync("a wrong reply to the revoke "
                                          "script");
            rc = ngx_http_session_reg_status(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE);
        }

    } else {
        far = NULL;

        if (smcf->redis->cluster) {
            /* cluster: { sessions, far ids }; far: migrated records */

            if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
                || reply->element[1]->type != REDIS_REPLY_ARRAY)
            {
                reply = NULL;

            } else {
                far = reply->element[1];
                reply = reply->element[0];
            }
        }

        rctx->far.rows = ngx_http_session_list_rows(r, reply);

        if (rctx->far.rows == NULL) {
            rc = ngx_http_session_reg_status(r,
                                             NGX_HTTP_SERVICE_UNAVAILABLE);

        } else if (far && far->elements) {
            if (ngx_http_session_far_list(&rctx->far, far) == NGX_OK) {
                /* rctx->far.done finalizes the request */
                return;
            }

            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = ngx_http_session_list_send(r, rctx->far.rows);
        }
    }

    /* the call runs the posted requests afterwards */
    ngx_http_finalize_request(r, rc);
}


/* the session is ended whatever the PING's fate: late or failed, 204 */

static void
ngx_http_session_reg_delivered(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_reg_ctx_t *rctx = call->data;

    ngx_http_request_t  *r;

    r = rctx->request;

    /* the call runs the posted requests afterwards */
    ngx_http_finalize_request(r, ngx_http_session_reg_status(r,
                                                  NGX_HTTP_NO_CONTENT));
}


/* the far ids followed (ngx_http_session_registry_list.c): the answer */

static void
ngx_http_session_reg_far_done(ngx_http_session_far_t *far, ngx_int_t status)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    r = far->request;

    if (status == NGX_HTTP_OK) {
        rc = ngx_http_session_list_send(r, far->rows);

    } else if (status == NGX_HTTP_SERVICE_UNAVAILABLE) {
        rc = ngx_http_session_retry_after(r);
        rc = ngx_http_session_reg_status(r, rc == NGX_OK
                                        ? NGX_HTTP_SERVICE_UNAVAILABLE
                                        : NGX_HTTP_INTERNAL_SERVER_ERROR);

    } else {
        rc = ngx_http_session_reg_status(r, status);
    }

    /* the call runs the posted requests afterwards */
    ngx_http_finalize_request(r, rc);
}
