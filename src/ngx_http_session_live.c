/*
 * ngx_http_session_module: live connections (session_live_close).
 *
 * The per-worker list of the requests to close when their session ends,
 * the precontent handler that lists them (registered by the registry
 * module, whose location configuration says where session_live_close is
 * on), the closing of a session's requests (also called by
 * session_revoke), the revocation callback the Redis layer calls for
 * every hash published, and the resync after a resubscription.
 */


#include "ngx_http_session.h"


/* a request of a live_close location with a session, while it runs */

typedef struct {
    ngx_queue_t                     queue;
    ngx_http_request_t             *request;
    ngx_http_session_op_t          *op;          /* a resync's EXISTS */
    u_char                          hash[SC_HASH_HEX_LEN];
} ngx_http_session_live_t;


static void ngx_http_session_live_cleanup(void *data);
static void ngx_http_session_live_end(ngx_http_session_live_t *live);
static void ngx_http_session_live_on_revoked(
    ngx_http_session_main_conf_t *smcf, u_char *hash);
static void ngx_http_session_live_resync(ngx_http_session_main_conf_t *smcf);
static void ngx_http_session_live_resync_reply(void *data,
    redisReply *reply);


/* per worker: the requests to close when their session ends */
static ngx_queue_t  ngx_http_session_live;
static ngx_uint_t   ngx_http_session_live_used;


ngx_int_t
ngx_http_session_live_init_process(ngx_cycle_t *cycle)
{
    ngx_http_session_main_conf_t  *smcf;

    ngx_queue_init(&ngx_http_session_live);
    ngx_http_session_live_used = 1;

    smcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_session_module);

    if (smcf && smcf->live_close) {
        ngx_http_session_redis_on_revoked(ngx_http_session_live_on_revoked);
    }

    return NGX_OK;
}


/* revocation messages, from the Redis layer (hash NULL: resubscribed) */

static void
ngx_http_session_live_on_revoked(ngx_http_session_main_conf_t *smcf,
    u_char *hash)
{
    if (hash) {
        ngx_http_session_live_revoked(hash, SC_HASH_HEX_LEN);

    } else {
        /* live connections whose revocation may have been missed */
        ngx_http_session_live_resync(smcf);
    }
}


/*
 * Live connections.  A request of a "session_live_close on" location
 * that passed the access phase with a valid session is listed, by the
 * session's live hash, until its pool is destroyed.  A hash published on
 * the revocation channel (logout, logout everywhere, session_revoke,
 * session_limit's eviction, sessionctl; from any worker or edge), or
 * ended by this worker, terminates each of its requests: a WebSocket
 * (upgraded) or a stream still open is closed.
 */

ngx_int_t
ngx_http_session_live_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t                    *cln;
    ngx_http_session_ctx_t                *ctx;
    ngx_http_session_live_t               *live;
    ngx_http_session_registry_loc_conf_t  *rlcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_session_registry_module);

    if (!rlcf->live_close || !ngx_http_session_live_used
        || rlcf->handler != NGX_HTTP_SESSION_REG_NONE)
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_session_find_ctx(r);

    if (ctx == NULL || ctx->status != NGX_HTTP_SESSION_ST_OK || ctx->ended
        || ngx_http_get_module_ctx(r, ngx_http_session_registry_module))
    {
        return NGX_DECLINED;
    }

    live = ngx_pcalloc(r->pool, sizeof(ngx_http_session_live_t));
    if (live == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    live->request = r;
    ngx_memcpy(live->hash, ctx->current_hash, SC_HASH_HEX_LEN);

    ngx_queue_insert_tail(&ngx_http_session_live, &live->queue);

    cln->handler = ngx_http_session_live_cleanup;
    cln->data = live;

    /* once per request, whatever internal redirects follow */
    ngx_http_set_ctx(r, live, ngx_http_session_registry_module);

    return NGX_DECLINED;
}


static void
ngx_http_session_live_cleanup(void *data)
{
    ngx_http_session_live_t *live = data;

    ngx_http_session_redis_cancel(&live->op);

    if (live->request) {
        ngx_queue_remove(&live->queue);
        live->request = NULL;
    }
}


void
ngx_http_session_live_revoked(u_char *hash, size_t len)
{
    ngx_queue_t              *q, *next;
    ngx_http_session_live_t  *live;

    if (!ngx_http_session_live_used || len != SC_HASH_HEX_LEN) {
        return;
    }

    q = ngx_queue_head(&ngx_http_session_live);

    while (q != ngx_queue_sentinel(&ngx_http_session_live)) {
        next = ngx_queue_next(q);
        live = ngx_queue_data(q, ngx_http_session_live_t, queue);

        if (ngx_memcmp(live->hash, hash, SC_HASH_HEX_LEN) != 0) {
            q = next;
            continue;
        }

        ngx_http_session_live_end(live);

        /* a terminated request may have ended others: start over */
        q = ngx_queue_head(&ngx_http_session_live);
    }
}


static void
ngx_http_session_live_end(ngx_http_session_live_t *live)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    ngx_http_session_redis_cancel(&live->op);

    /* listed once: the request's cleanup has nothing more to do */

    ngx_queue_remove(&live->queue);
    r = live->request;
    live->request = NULL;
    c = r->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "session: closing a connection of an ended session");

    ngx_http_session_count(live_closed);

    /*
     * nginx's own way to close a request from outside (a graceful
     * shutdown's c->close in ngx_http_request_handler()): with a
     * reference of our own, ngx_http_terminate_request() runs the
     * request's cleanups (the upstream's, which closes the backend
     * connection and finalizes with NGX_DONE: without the extra
     * reference that would free the request, or keep the client
     * connection alive, under terminate's feet), then posts the
     * terminal handler, which closes the client connection
     */

    r->main->count++;
    r->keepalive = 0;
    ngx_http_finalize_request(r, NGX_ERROR);
    ngx_http_run_posted_requests(c);
}


/*
 * The subscription is (re)confirmed: revocations published while it was
 * down were missed, so every listed request's session is checked again
 * (one EXISTS each, on the command link), and those whose record is gone
 * are closed.  Best effort: with the command link down too, nothing is
 * checked until the next resubscription.
 */

static void
ngx_http_session_live_resync(ngx_http_session_main_conf_t *smcf)
{
    u_char                   *p;
    size_t                    argvlen[2];
    ngx_queue_t              *q;
    const char               *argv[2];
    ngx_http_session_live_t  *live;
    u_char                    key[128 + 2 + SC_HASH_HEX_LEN];

    if (!ngx_http_session_live_used) {
        return;
    }

    argv[0] = "EXISTS";
    argvlen[0] = 6;

    for (q = ngx_queue_head(&ngx_http_session_live);
         q != ngx_queue_sentinel(&ngx_http_session_live);
         q = ngx_queue_next(q))
    {
        live = ngx_queue_data(q, ngx_http_session_live_t, queue);

        if (live->op) {
            continue;
        }

        p = ngx_http_session_key(key, smcf, live->hash);

        argv[1] = (const char *) key;
        argvlen[1] = p - key;

        live->op = ngx_http_session_redis_command(
                                        ngx_http_session_live_resync_reply,
                                        live, 2, argv, argvlen);
        if (live->op == NULL) {
            return;
        }
    }
}


static void
ngx_http_session_live_resync_reply(void *data, redisReply *reply)
{
    ngx_http_session_live_t *live = data;

    live->op = NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER
        || reply->integer != 0 || live->request == NULL)
    {
        return;
    }

    ngx_http_session_live_end(live);
}
