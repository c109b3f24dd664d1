
/*
 * ngx_http_session_module: directives, configuration and the module.
 */


#include "ngx_http_session.h"


static ngx_int_t ngx_http_session_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_check_order(ngx_conf_t *cf);
static ngx_int_t ngx_http_session_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_session_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_session_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_session_create_srv_conf(ngx_conf_t *cf);
static char *ngx_http_session_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static void *ngx_http_session_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_session_check_cache(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *slcf);
static ngx_int_t ngx_http_session_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_session_init_process(ngx_cycle_t *cycle);
static void ngx_http_session_exit_process(ngx_cycle_t *cycle);

static char *ngx_http_session_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_session_require_claim(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static void ngx_http_session_keyring_cleanup(void *data);


static ngx_conf_enum_t  ngx_http_session_required[] = {
    { ngx_string("off"), NGX_HTTP_SESSION_OFF },
    { ngx_string("on"), NGX_HTTP_SESSION_ON },
    { ngx_string("optional"), NGX_HTTP_SESSION_OPTIONAL },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_session_commands[] = {

    { ngx_string("session_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_keys,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_session_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_session_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_cookie"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_session_cookie,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_CONF_1MORE,
      ngx_http_session_timeout,
      NGX_HTTP_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, required),
      &ngx_http_session_required },

    { ngx_string("session_login_url"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_session_loc_conf_t, login_url),
      NULL },

    { ngx_string("session_issue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_session_issue,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_logout"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE12,
      ngx_http_session_logout,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_signature"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_session_signature,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_telegram"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_telegram,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_session_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_assertion_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_session_assertion_keys,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_assertion"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_http_session_assertion,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_jwks"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_session_jwks,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_csrf"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_session_csrf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("session_require_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_session_require_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_session_module_ctx = {
    ngx_http_session_preconfiguration,     /* preconfiguration */
    ngx_http_session_postconfiguration,    /* postconfiguration */

    ngx_http_session_create_main_conf,     /* create main configuration */
    ngx_http_session_init_main_conf,       /* init main configuration */

    ngx_http_session_create_srv_conf,      /* create server configuration */
    ngx_http_session_merge_srv_conf,       /* merge server configuration */

    ngx_http_session_create_loc_conf,      /* create location configuration */
    ngx_http_session_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_session_module = {
    NGX_MODULE_V1,
    &ngx_http_session_module_ctx,          /* module context */
    ngx_http_session_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_session_init_module,          /* init module */
    ngx_http_session_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_session_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_session_preconfiguration(ngx_conf_t *cf)
{
    if (sc_init() != SC_OK) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "session: libsodium initialisation failed");
        return NGX_ERROR;
    }

    if (ngx_http_session_check_order(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_add_variables(cf);
}


/*
 * The module order, as "config" sets it (ngx_module_order of the dynamic
 * module; a static build's HTTP_FILTER modules land in the same place):
 *
 *   stock HTTP modules      access, auth_basic, auth_request, proxy ...
 *   ngx_http_session_module
 *                           its access handlers are pushed after the
 *                           stock ones, so they run first in the access
 *                           phase; its merge sees the response cache
 *                           settings of proxy, fastcgi ... final
 *   ngx_http_session_filter_module
 *                           before the copy filter in the module list, so
 *                           its body filter is called after the copy
 *                           filter and sees the login body in memory
 *   ngx_http_session_registry_module
 *                           after ngx_http_session_module: its merge reads
 *                           that module's merged location configuration
 *   ngx_http_copy_filter_module
 *
 * A build that changes it (another config, a packager's patch) fails here,
 * at nginx -t, instead of misbehaving.  Positions in cycle->modules count,
 * not module->index, which is only a unique number.
 */

static ngx_int_t
ngx_http_session_check_order(ngx_conf_t *cf)
{
    ngx_uint_t     i, n, pos[4];
    ngx_module_t  *m;

    static char   *order[] = {
        "ngx_http_session_module",
        "ngx_http_session_filter_module",
        "ngx_http_session_registry_module",
        "ngx_http_copy_filter_module"
    };

    for (n = 0; n < 4; n++) {
        pos[n] = NGX_CONF_UNSET_UINT;
    }

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        for (n = 0; n < 4; n++) {
            if (ngx_strcmp(m->name, order[n]) == 0) {
                pos[n] = i;
            }
        }
    }

    for (n = 1; n < 4; n++) {
        if (pos[n - 1] == NGX_CONF_UNSET_UINT || pos[n] == NGX_CONF_UNSET_UINT
            || pos[n - 1] > pos[n])
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "session: this build has the module order "
                               "wrong: \"%s\" must come after \"%s\" "
                               "(see the module's \"config\")",
                               order[n], order[n - 1]);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_session_main_conf_t  *smcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_signature_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_telegram_handler;

    /*
     * session_assertion: the identity header, after every access check.
     * Only where it can be configured (it needs session_assertion_keys):
     * a phase handler runs for every request of every location.
     */

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    if (smcf->assertion_keys) {
        h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = ngx_http_session_assertion_handler;
    }

    /* subrequests and X-Accel-Redirect from a login: see access.c */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_session_preaccess_handler;

    return NGX_OK;
}


static void *
ngx_http_session_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_main_conf_t));
    if (smcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     smcf->keyring = NULL;
     *     smcf->keys_file = { 0, NULL };
     *     smcf->redis = NULL;
     */

    return smcf;
}


static char *
ngx_http_session_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_session_main_conf_t  *smcf = conf;

    u_char  *p;

    ngx_http_session_scripts_init();

    if (smcf->redis) {
        /* names: resolved now, or by http{}'s resolver in the worker */

        if (ngx_http_session_redis_init_conf(cf, smcf->redis) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        smcf->session_prefix.len = smcf->redis->prefix.len
                                   + sizeof(SS_KEY_SESSION) - 1;
        p = ngx_pnalloc(cf->pool, smcf->session_prefix.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        smcf->session_prefix.data = p;
        p = ngx_cpymem(p, smcf->redis->prefix.data, smcf->redis->prefix.len);
        ngx_memcpy(p, SS_KEY_SESSION, sizeof(SS_KEY_SESSION) - 1);

        if (ngx_http_session_lookup_init(cf, smcf) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        smcf->channel.len = smcf->redis->prefix.len
                            + sizeof(SS_CHANNEL_REVOKED) - 1;
        p = ngx_pnalloc(cf->pool, smcf->channel.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        smcf->channel.data = p;
        p = ngx_cpymem(p, smcf->redis->prefix.data, smcf->redis->prefix.len);
        ngx_memcpy(p, SS_CHANNEL_REVOKED, sizeof(SS_CHANNEL_REVOKED) - 1);
    }

    if (smcf->cache_zone && smcf->redis == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"session_cache\" needs \"session_redis\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_session_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_session_srv_conf_t  *sscf;

    sscf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_srv_conf_t));
    if (sscf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     sscf->name = { 0, NULL };
     *     sscf->domain = { 0, NULL };
     *     sscf->path = { 0, NULL };
     *     sscf->idle_text = { 0, NULL };
     *     sscf->touch_text = { 0, NULL };
     */

    sscf->samesite = NGX_CONF_UNSET_UINT;
    sscf->secure = NGX_CONF_UNSET;
    sscf->httponly = NGX_CONF_UNSET;
    sscf->max_age = NGX_CONF_UNSET;
    sscf->idle = NGX_CONF_UNSET;
    sscf->absolute = NGX_CONF_UNSET;
    sscf->touch = NGX_CONF_UNSET;

    return sscf;
}


static char *
ngx_http_session_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_srv_conf_t *prev = parent;
    ngx_http_session_srv_conf_t *conf = child;

    if (conf->name.data == NULL) {
        conf->name = prev->name;
        conf->domain = prev->domain;
        conf->path = prev->path;
        conf->samesite = prev->samesite;
        conf->secure = prev->secure;
        conf->httponly = prev->httponly;
        conf->max_age = prev->max_age;
    }

    if (conf->name.data == NULL) {
        ngx_str_set(&conf->name, "session");
    }

    if (conf->path.data == NULL) {
        ngx_str_set(&conf->path, "/");
    }

    ngx_conf_init_uint_value(conf->samesite, NGX_HTTP_SESSION_SAMESITE_LAX);
    ngx_conf_init_value(conf->secure, 1);
    ngx_conf_init_value(conf->httponly, 1);

    if (conf->idle == NGX_CONF_UNSET) {
        conf->idle = prev->idle;
        conf->absolute = prev->absolute;
        conf->touch = prev->touch;
    }

    ngx_conf_init_value(conf->idle, 30 * 60);
    ngx_conf_init_value(conf->absolute, 12 * 60 * 60);
    ngx_conf_init_value(conf->touch, 60);

    if (conf->touch >= conf->idle) {
        conf->touch = conf->idle / 2;
    }

    conf->idle_text.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN);
    conf->touch_text.data = ngx_pnalloc(cf->pool, NGX_TIME_T_LEN);
    if (conf->idle_text.data == NULL || conf->touch_text.data == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->idle_text.len = ngx_sprintf(conf->idle_text.data, "%T", conf->idle)
                          - conf->idle_text.data;
    conf->touch_text.len = ngx_sprintf(conf->touch_text.data, "%T",
                                       conf->touch)
                           - conf->touch_text.data;

    return NGX_CONF_OK;
}


static void *
ngx_http_session_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_loc_conf_t));
    if (slcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     slcf->logout = NGX_HTTP_SESSION_LOGOUT_NONE;
     *     slcf->logout_redirect = { 0, NULL };
     */

    slcf->required = NGX_CONF_UNSET_UINT;
    slcf->login_url = NGX_CONF_UNSET_PTR;
    slcf->require_claims = NGX_CONF_UNSET_PTR;
    slcf->issue = NGX_CONF_UNSET;
    slcf->grace = NGX_CONF_UNSET;

    return slcf;
}


static char *
ngx_http_session_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_session_loc_conf_t *prev = parent;
    ngx_http_session_loc_conf_t *conf = child;

    ngx_http_session_main_conf_t  *smcf;

    ngx_conf_merge_uint_value(conf->required, prev->required,
                              NGX_HTTP_SESSION_OFF);
    ngx_conf_merge_ptr_value(conf->login_url, prev->login_url, NULL);
    ngx_conf_merge_ptr_value(conf->require_claims, prev->require_claims,
                             NULL);
    if (conf->issue == NGX_CONF_UNSET) {
        conf->issue_file = prev->issue_file;
        conf->issue_line = prev->issue_line;
    }

    ngx_conf_merge_value(conf->issue, prev->issue, 0);

    if (conf->issue && ngx_http_session_check_cache(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->sig == NULL) {
        conf->sig = prev->sig;
    }

    if (conf->tg == NULL) {
        conf->tg = prev->tg;
    }

    if (ngx_http_session_assertion_merge(cf, prev, conf) != NGX_CONF_OK
        || ngx_http_session_csrf_merge(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->sig && conf->sig->replay) {
        smcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_session_module);

        if (smcf->redis == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_signature\" with replay "
                               "protection needs \"session_redis\" in the "
                               "http block (or \"replay=off\")");
            return NGX_CONF_ERROR;
        }
    }
    ngx_conf_merge_value(conf->grace, prev->grace, 10);

    if (conf->issue && conf->required == NGX_HTTP_SESSION_OFF) {
        /* a login replaces the session the request carried, if any */
        conf->required = NGX_HTTP_SESSION_OPTIONAL;
    }

    if (conf->required != NGX_HTTP_SESSION_OFF || conf->issue
        || conf->logout)
    {
        smcf = ngx_http_conf_get_module_main_conf(cf,
                                                  ngx_http_session_module);

        if (smcf->keyring == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_required\", \"session_issue\" and "
                               "\"session_logout\" need \"session_keys\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }

        if (smcf->redis == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_required\", \"session_issue\" and "
                               "\"session_logout\" need \"session_redis\" "
                               "in the http block");
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * session_issue and a response cache (proxy_cache, fastcgi_cache,
 * uwsgi_cache, scgi_cache) in the same location: a cached login response
 * keeps its X-Session-Subject, and every later hit would mint a session
 * of that subject for whoever asks.  Refused at configuration time.
 * These four modules keep their ngx_http_upstream_conf_t first in their
 * location configuration, and they are merged before this module (they
 * come first in the module order, a dynamic module last), so "cache" is
 * final here.  The modules are looked up by name: any of them may be
 * left out of the nginx build.
 */

static ngx_int_t
ngx_http_session_check_cache(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *slcf)
{
#if (NGX_HTTP_CACHE)
    ngx_uint_t                 i, j;
    ngx_module_t              *m;
    ngx_http_upstream_conf_t  *ucf;

    static const char  *caches[][2] = {
        { "ngx_http_proxy_module", "proxy_cache" },
        { "ngx_http_fastcgi_module", "fastcgi_cache" },
        { "ngx_http_uwsgi_module", "uwsgi_cache" },
        { "ngx_http_scgi_module", "scgi_cache" }
    };

    for (i = 0; cf->cycle->modules[i]; i++) {
        m = cf->cycle->modules[i];

        if (m->type != NGX_HTTP_MODULE) {
            continue;
        }

        for (j = 0; j < sizeof(caches) / sizeof(caches[0]); j++) {
            if (ngx_strcmp(m->name, caches[j][0]) != 0) {
                continue;
            }

            ucf = ngx_http_conf_get_module_loc_conf(cf, (*m));

            if (ucf == NULL || ucf->cache <= 0) {
                continue;
            }

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"session_issue\" cannot be used together with "
                          "\"%s\": a cached login response would mint a "
                          "session of its subject for everyone (set "
                          "\"session_issue off\" or \"%s off\" in that "
                          "location) in %V:%ui",
                          caches[j][1], caches[j][1], &slcf->issue_file,
                          slcf->issue_line);

            return NGX_ERROR;
        }
    }
#endif

    return NGX_OK;
}


/*
 * Runs once a configuration is committed (nginx start, each reload that
 * succeeds), in the master or the single process: the process-wide
 * pointers into shared zones are (re)derived from the new cycle here, so
 * that workers forked afterwards never inherit a pointer into a zone
 * that the reload unmapped (docs/security.md, "Global pointers").
 */

static ngx_int_t
ngx_http_session_init_module(ngx_cycle_t *cycle)
{
    ngx_http_session_metrics_attach(cycle);

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_init_process(ngx_cycle_t *cycle)
{
    ngx_http_session_main_conf_t  *smcf;

    /* the same cycle as init_module's; said again for the worker */
    ngx_http_session_metrics_attach(cycle);

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf == NULL || smcf->redis == NULL) {
        return NGX_OK;
    }

    if (ngx_process == NGX_PROCESS_HELPER) {
        /* the cache manager and loader serve no request: no Redis links */
        return NGX_OK;
    }

    /*
     * The cached clock is still the one the master read when it began to
     * read the configuration: a large one (big maps, many certificates)
     * or a worker started under valgrind leaves it seconds behind, and
     * the connect timers armed below would then fire on the worker's
     * first event loop pass, before Redis could answer ("connect timed
     * out" on a healthy Redis, 503 until the backoff ends).
     */

    ngx_time_update();

    ngx_http_session_cache_init_process(smcf);

    if (ngx_http_session_redis_init_process(cycle, smcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* session_redis cluster=: the slot map and a link per master */

    return smcf->redis->cluster ? ngx_http_session_cluster_init(cycle)
                                : NGX_OK;
}


static void
ngx_http_session_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf == NULL || smcf->redis == NULL
        || ngx_process == NGX_PROCESS_HELPER)
    {
        return;
    }

    ngx_http_session_cluster_exit();
    ngx_http_session_redis_exit_process(cycle);
}


/* session_keys FILE; */

static char *
ngx_http_session_keys(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    ngx_str_t           *value, content;
    sc_error_t           err;
    ngx_pool_cleanup_t  *cln;

    if (smcf->keyring) {
        return "is duplicate";
    }

    value = cf->args->elts;
    smcf->keys_file = value[1];

    if (ngx_http_session_read_file(cf, &smcf->keys_file, "session_keys", "",
                                   &content)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    smcf->keyring = ngx_pcalloc(cf->pool, sizeof(sc_keyring_t));
    if (smcf->keyring == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_session_keyring_cleanup;
    cln->data = smcf->keyring;

    ngx_memzero(&err, sizeof(sc_error_t));

    if (sc_keyring_parse(smcf->keyring, (char *) content.data, content.len,
                         &err)
        != SC_OK)
    {
        ngx_explicit_memzero(content.data, content.len);

        /* err.msg starts with "line N: " when a line is at fault */

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_keys\" file \"%V\"%s%s",
                           &smcf->keys_file, err.line ? " " : ": ", err.msg);

        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(content.data, content.len);

    return NGX_CONF_OK;
}


static void
ngx_http_session_keyring_cleanup(void *data)
{
    sc_keyring_wipe(data);
}


static ngx_uint_t
ngx_http_session_token_char(u_char ch)
{
    /* RFC 6265 cookie-name: an RFC 7230 token */

    if (ch <= 0x20 || ch >= 0x7f) {
        return 0;
    }

    return ngx_strchr("()<>@,;:\\\"/[]?={}", ch) == NULL;
}


/*
 * session_cookie NAME [domain=D] [path=/] [samesite=lax|strict|none]
 *     [secure=on|off] [httponly=on|off] [max_age=TIME];
 */

static char *
ngx_http_session_cookie(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_srv_conf_t *sscf = conf;

    u_char      *p;
    ngx_int_t    rc;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (sscf->name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > 64) {
        goto bad_name;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!ngx_http_session_token_char(value[1].data[i])) {
            goto bad_name;
        }
    }

    sscf->name = value[1];

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "domain=", 7) == 0) {
            sscf->domain.data = value[i].data + 7;
            sscf->domain.len = value[i].len - 7;

            if (sscf->domain.len == 0) {
                goto invalid;
            }

            for (p = sscf->domain.data;
                 p < sscf->domain.data + sscf->domain.len;
                 p++)
            {
                if (!(isalnum(*p) || *p == '.' || *p == '-')) {
                    goto invalid;
                }
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "path=", 5) == 0) {
            sscf->path.data = value[i].data + 5;
            sscf->path.len = value[i].len - 5;

            if (sscf->path.len == 0 || sscf->path.data[0] != '/') {
                goto invalid;
            }

            for (p = sscf->path.data;
                 p < sscf->path.data + sscf->path.len;
                 p++)
            {
                if (*p <= 0x20 || *p >= 0x7f || *p == ';') {
                    goto invalid;
                }
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "samesite=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (s.len == 3 && ngx_strncasecmp(s.data, (u_char *) "lax", 3)
                              == 0)
            {
                sscf->samesite = NGX_HTTP_SESSION_SAMESITE_LAX;

            } else if (s.len == 6
                       && ngx_strncasecmp(s.data, (u_char *) "strict", 6)
                          == 0)
            {
                sscf->samesite = NGX_HTTP_SESSION_SAMESITE_STRICT;

            } else if (s.len == 4
                       && ngx_strncasecmp(s.data, (u_char *) "none", 4) == 0)
            {
                sscf->samesite = NGX_HTTP_SESSION_SAMESITE_NONE;

            } else {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "secure=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            if (ngx_http_session_parse_flag(&s, &sscf->secure) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "httponly=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (ngx_http_session_parse_flag(&s, &sscf->httponly) != NGX_OK) {
                goto invalid;
            }

            continue;
        }

        rc = ngx_http_session_conf_time(cf, &value[i], "max_age", 0,
                                        NGX_HTTP_SESSION_LIFETIME_MAX,
                                        "0s to 10y", &sscf->max_age);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        goto invalid;
    }

    if (sscf->samesite == NGX_HTTP_SESSION_SAMESITE_NONE
        && sscf->secure == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_cookie\": \"samesite=none\" requires "
                           "\"secure=on\"");
        return NGX_CONF_ERROR;
    }

    if (sscf->name.len >= 7
        && ngx_strncmp(sscf->name.data, "__Host-", 7) == 0)
    {
        if (sscf->domain.len
            || (sscf->path.len && !(sscf->path.len == 1)))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_cookie\": a \"__Host-\" cookie "
                               "cannot have \"domain=\" and its path must "
                               "be \"/\"");
            return NGX_CONF_ERROR;
        }

        if (sscf->secure == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"session_cookie\": a \"__Host-\" cookie "
                               "requires \"secure=on\"");
            return NGX_CONF_ERROR;
        }
    }

    if (sscf->name.len >= 9
        && ngx_strncmp(sscf->name.data, "__Secure-", 9) == 0
        && sscf->secure == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_cookie\": a \"__Secure-\" cookie "
                           "requires \"secure=on\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

bad_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_cookie\" name \"%V\"", &value[1]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_cookie\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* session_timeout idle=TIME absolute=TIME [touch=TIME]; */

static char *
ngx_http_session_timeout(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_srv_conf_t *sscf = conf;

    time_t      *t;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (sscf->idle != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    sscf->idle = 30 * 60;
    sscf->absolute = 12 * 60 * 60;
    sscf->touch = NGX_CONF_UNSET;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "idle=", 5) == 0) {
            t = &sscf->idle;
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

        } else if (ngx_strncmp(value[i].data, "absolute=", 9) == 0) {
            t = &sscf->absolute;
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

        } else if (ngx_strncmp(value[i].data, "touch=", 6) == 0) {
            t = &sscf->touch;
            s.data = value[i].data + 6;
            s.len = value[i].len - 6;

        } else {
            goto invalid;
        }

        if (ngx_http_session_parse_bounded_time(&s, 1, 1,
                                                NGX_HTTP_SESSION_LIFETIME_MAX,
                                                &n)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"session_timeout\" parameter "
                               "\"%V\" (TIME from 1s to 10y)", &value[i]);
            return NGX_CONF_ERROR;
        }

        *t = (time_t) n;
    }

    if (sscf->touch == NGX_CONF_UNSET) {
        sscf->touch = ngx_min(60, sscf->idle / 2);
    }

    if (sscf->idle > sscf->absolute) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_timeout\": \"idle\" is longer than "
                           "\"absolute\"");
        return NGX_CONF_ERROR;
    }

    if (sscf->touch >= sscf->idle) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_timeout\": \"touch\" must be shorter "
                           "than \"idle\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_timeout\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/* session_require_claim NAME VALUE [VALUE ...]; */

static char *
ngx_http_session_require_claim(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_str_t                     *value, *v;
    ngx_uint_t                     i;
    ngx_http_session_claim_req_t  *req;

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].len > SC_CLAIM_NAME_MAX) {
        goto bad_name;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!(isalnum(value[1].data[i]) || value[1].data[i] == '_')) {
            goto bad_name;
        }
    }

    if (slcf->require_claims == NGX_CONF_UNSET_PTR) {
        slcf->require_claims = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_session_claim_req_t));
        if (slcf->require_claims == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(slcf->require_claims);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->name = value[1];
    req->values = ngx_array_create(cf->pool, cf->args->nelts - 2,
                                   sizeof(ngx_str_t));
    if (req->values == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        v = ngx_array_push(req->values);
        if (v == NULL) {
            return NGX_CONF_ERROR;
        }

        *v = value[i];
    }

    return NGX_CONF_OK;

bad_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid claim name \"%V\" in \"session_require_claim\" "
                       "(1..32 of A-Z a-z 0-9 _)", &value[1]);
    return NGX_CONF_ERROR;
}
