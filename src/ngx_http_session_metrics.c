
/*
 * ngx_http_session_module: metrics.
 *
 * session_metrics; (location) answers in the Prometheus text exposition
 * format.  The counters live in a small shared-memory zone, created when
 * the directive is used, so they add up across workers and survive
 * reloads; every update is one atomic add.
 */


#include "ngx_http_session.h"

#include <time.h>


#define NGX_HTTP_SESSION_METRICS_SIZE  (64 * 1024)


ngx_http_session_metrics_t  *ngx_http_session_metrics;


static double  ngx_http_session_buckets[NGX_HTTP_SESSION_NBUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0
};

static const char  *ngx_http_session_status_label[] = {
    "", "ok", "missing", "invalid", "expired", "unknown", "error"
};

const char  *ngx_http_session_scheme_label[NGX_HTTP_SESSION_NSCHEMES] = {
    "miniapp", "github", "slack", "stripe", "standard"
};

const char  *ngx_http_session_sig_label[NGX_HTTP_SESSION_NSIGST] = {
    "ok", "missing", "invalid", "stale", "replayed", "error"
};


static ngx_int_t ngx_http_session_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_session_metrics_handler(ngx_http_request_t *r);


char *
ngx_http_session_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                      name;
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_session_module);

    if (smcf->metrics_zone == NULL) {
        ngx_str_set(&name, "ngx_http_session_metrics");

        smcf->metrics_zone = ngx_shared_memory_add(cf, &name,
                                                NGX_HTTP_SESSION_METRICS_SIZE,
                                                &ngx_http_session_module);
        if (smcf->metrics_zone == NULL) {
            return NGX_CONF_ERROR;
        }

        smcf->metrics_zone->init = ngx_http_session_metrics_init_zone;
        smcf->metrics_zone->data = smcf;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_session_metrics_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_session_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    /*
     * The global ngx_http_session_metrics is not set here: this runs
     * before the new configuration is committed, and a reload that fails
     * after it frees the zone again.  ngx_http_session_metrics_attach()
     * sets it once the cycle is committed.
     */

    if (data || shm_zone->shm.exists) {
        /* a reload (or Windows): the counters go on */
        return shpool->data ? NGX_OK : NGX_ERROR;
    }

    shpool->data = ngx_slab_calloc(shpool,
                                   sizeof(ngx_http_session_metrics_t));
    if (shpool->data == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Points ngx_http_session_metrics at the counters of the cycle's zone, or
 * NULL when the cycle has no session_metrics.  Called from init_module,
 * once a (re)loaded configuration is committed, in the master (and in a
 * single process), so that every worker forked afterwards inherits a
 * pointer into a zone that is mapped, and again from init_process.  A
 * reload that drops the directive therefore leaves NULL behind, never the
 * address of the unmapped zone (issue 11 item 1).
 */

void
ngx_http_session_metrics_attach(ngx_cycle_t *cycle)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_session_main_conf_t  *smcf;

    ngx_http_session_metrics = NULL;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf == NULL || smcf->metrics_zone == NULL
        || smcf->metrics_zone->shm.addr == NULL)
    {
        return;
    }

    shpool = (ngx_slab_pool_t *) smcf->metrics_zone->shm.addr;
    ngx_http_session_metrics = shpool->data;
}


uint64_t
ngx_http_session_now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


void
ngx_http_session_metrics_latency(uint64_t start_us)
{
    uint64_t     us;
    ngx_uint_t   i;
    double       s;

    if (ngx_http_session_metrics == NULL || start_us == 0) {
        return;
    }

    us = ngx_http_session_now_us() - start_us;
    s = (double) us / 1e6;

    for (i = 0; i < NGX_HTTP_SESSION_NBUCKETS; i++) {
        if (s <= ngx_http_session_buckets[i]) {
            break;
        }
    }

    /* buckets are stored non-cumulative and summed on output */

    (void) ngx_atomic_fetch_add(&ngx_http_session_metrics->latency[i], 1);
    (void) ngx_atomic_fetch_add(&ngx_http_session_metrics->latency_sum_us,
                                (ngx_atomic_int_t) us);
}


#define ngx_http_session_metric(m)  ((unsigned long) (m))

static ngx_int_t
ngx_http_session_metrics_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_uint_t                   i, j;
    ngx_chain_t                  out;
    ngx_atomic_uint_t            cum;
    ngx_http_session_metrics_t  *m;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_http_session_metrics;
    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    size = 16384;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_sprintf(p,
            "# HELP nginx_session_validations_total Session checks in the "
            "access phase, by result.\n"
            "# TYPE nginx_session_validations_total counter\n");

    for (i = NGX_HTTP_SESSION_ST_OK; i <= NGX_HTTP_SESSION_ST_ERROR; i++) {
        p = ngx_sprintf(p,
                "nginx_session_validations_total{status=\"%s\"} %uA\n",
                ngx_http_session_status_label[i], m->validations[i]);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_session_cache_hits_total Lookups served by the "
            "shared-memory cache.\n"
            "# TYPE nginx_session_cache_hits_total counter\n"
            "nginx_session_cache_hits_total %uA\n"
            "# HELP nginx_session_cache_misses_total Lookups that went to "
            "Redis with the cache on.\n"
            "# TYPE nginx_session_cache_misses_total counter\n"
            "nginx_session_cache_misses_total %uA\n"
            "# HELP nginx_session_cache_evictions_total Entries evicted "
            "to make room in a full cache zone.\n"
            "# TYPE nginx_session_cache_evictions_total counter\n"
            "nginx_session_cache_evictions_total %uA\n"
            "# HELP nginx_session_cache_store_failures_total Lookups not "
            "cached: the zone stayed full after evicting.\n"
            "# TYPE nginx_session_cache_store_failures_total counter\n"
            "nginx_session_cache_store_failures_total %uA\n",
            m->cache_hits, m->cache_misses, m->cache_evictions,
            m->cache_store_failures);

    p = ngx_sprintf(p,
            "# HELP nginx_session_logins_total Sessions minted by the login "
            "hand-off, by result.\n"
            "# TYPE nginx_session_logins_total counter\n"
            "nginx_session_logins_total{result=\"ok\"} %uA\n"
            "nginx_session_logins_total{result=\"error\"} %uA\n"
            "# HELP nginx_session_logouts_total Logouts (session_logout and "
            "X-Session-Logout).\n"
            "# TYPE nginx_session_logouts_total counter\n"
            "nginx_session_logouts_total %uA\n"
            "# HELP nginx_session_reissued_total Cookies set again, by "
            "reason.\n"
            "# TYPE nginx_session_reissued_total counter\n"
            "nginx_session_reissued_total{reason=\"rotation\"} %uA\n"
            "nginx_session_reissued_total{reason=\"renewal\"} %uA\n",
            m->logins_ok, m->logins_error, m->logouts, m->reissued_rotation,
            m->reissued_renewal);

    p = ngx_sprintf(p,
            "# HELP nginx_session_redis_command_duration_seconds Redis "
            "command latency as seen by the worker.\n"
            "# TYPE nginx_session_redis_command_duration_seconds "
            "histogram\n");

    cum = 0;

    for (i = 0; i < NGX_HTTP_SESSION_NBUCKETS; i++) {
        cum += m->latency[i];
        p = ngx_sprintf(p,
                "nginx_session_redis_command_duration_seconds_bucket"
                "{le=\"%.4f\"} %uA\n",
                ngx_http_session_buckets[i], cum);
    }

    cum += m->latency[NGX_HTTP_SESSION_NBUCKETS];

    p = ngx_sprintf(p,
            "nginx_session_redis_command_duration_seconds_bucket"
            "{le=\"+Inf\"} %uA\n"
            "nginx_session_redis_command_duration_seconds_sum %uA.%06uA\n"
            "nginx_session_redis_command_duration_seconds_count %uA\n",
            cum, m->latency_sum_us / 1000000, m->latency_sum_us % 1000000,
            cum);

    p = ngx_sprintf(p,
            "# HELP nginx_session_redis_errors_total Failed Redis commands "
            "(errors, timeouts, lost connections).\n"
            "# TYPE nginx_session_redis_errors_total counter\n"
            "nginx_session_redis_errors_total %uA\n"
            "# HELP nginx_session_redis_reconnects_total Redis connections "
            "opened after the first.\n"
            "# TYPE nginx_session_redis_reconnects_total counter\n"
            "nginx_session_redis_reconnects_total %uA\n"
            "# HELP nginx_session_redis_connections Redis connections open "
            "now, all workers.\n"
            "# TYPE nginx_session_redis_connections gauge\n"
            "nginx_session_redis_connections %A\n",
            m->redis_errors, m->redis_reconnects,
            (ngx_atomic_int_t) m->redis_connections);

    p = ngx_sprintf(p,
            "# HELP nginx_session_signatures_total Signed requests, by "
            "scheme and result.\n"
            "# TYPE nginx_session_signatures_total counter\n");

    for (i = 0; i < NGX_HTTP_SESSION_NSCHEMES; i++) {
        for (j = 0; j < NGX_HTTP_SESSION_NSIGST; j++) {
            p = ngx_sprintf(p,
                    "nginx_session_signatures_total{scheme=\"%s\","
                    "status=\"%s\"} %uA\n",
                    ngx_http_session_scheme_label[i],
                    ngx_http_session_sig_label[j], m->signatures[i][j]);
        }
    }

    p = ngx_sprintf(p,
            "# HELP nginx_session_telegram_total Telegram initData checks, "
            "by result.\n"
            "# TYPE nginx_session_telegram_total counter\n");

    for (j = 0; j < NGX_HTTP_SESSION_NSIGST; j++) {
        p = ngx_sprintf(p,
                "nginx_session_telegram_total{status=\"%s\"} %uA\n",
                ngx_http_session_sig_label[j], m->telegram[j]);
    }

    p = ngx_sprintf(p,
            "# HELP nginx_session_limit_total Logins over session_limit, "
            "by what was done.\n"
            "# TYPE nginx_session_limit_total counter\n"
            "nginx_session_limit_total{action=\"evicted\"} %uA\n"
            "nginx_session_limit_total{action=\"refused\"} %uA\n"
            "# HELP nginx_session_revoked_total Sessions ended by their "
            "user (session_revoke).\n"
            "# TYPE nginx_session_revoked_total counter\n"
            "nginx_session_revoked_total %uA\n"
            "# HELP nginx_session_live_closed_total Connections (WebSocket, "
            "stream) closed because their session ended.\n"
            "# TYPE nginx_session_live_closed_total counter\n"
            "nginx_session_live_closed_total %uA\n",
            m->limit_evicted, m->limit_refused, m->revoked_user,
            m->live_closed);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
