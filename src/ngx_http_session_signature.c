
/*
 * ngx_http_session_module: signed requests (MiniApp callbacks, webhooks).
 *
 * session_signature SCHEME secret_file=FILE [tolerance=TIME]
 *     [replay=on|off] [inflight=TIME] [max_body=SIZE] [header=NAME]
 *     [timestamp_header=NAME];
 *
 * In the access phase: the signature headers are parsed, the timestamp
 * checked, the body read without blocking (as the mirror module does) and
 * MACed with every secret (HMAC-SHA256, OpenSSL) over the exact bytes
 * received, from memory or from nginx's temporary file; the body is kept
 * for the upstream.  Then, with replay protection, the delivery's replay
 * key (a SHA-256 of the signed content, see session_sig.h) is reserved in
 * Redis with an "in flight" token; a second delivery meanwhile, or after
 * the first one succeeded, is a 409.  When the main request's final
 * response goes out (a header filter, so after any internal redirect; the
 * pool cleanup if none is ever sent), the key is confirmed for the
 * acceptance window if the delivery succeeded, or released if it did not
 * (5xx, no response, 408/425/429, client gone), so that the sender's
 * retry passes.  The body is hashed in slices, between which the worker
 * serves other connections; bodies over max_body are a 413.
 */


#include "ngx_http_session.h"


#define NGX_HTTP_SESSION_SIG_NONE      0
#define NGX_HTTP_SESSION_SIG_OK        1
#define NGX_HTTP_SESSION_SIG_MISSING   2
#define NGX_HTTP_SESSION_SIG_INVALID   3
#define NGX_HTTP_SESSION_SIG_STALE     4
#define NGX_HTTP_SESSION_SIG_REPLAYED  5
#define NGX_HTTP_SESSION_SIG_ERROR     6


/* "<prefix>r:<scheme>:<sha-256 hex>"; the prefix is at most 128 bytes */
#define NGX_HTTP_SESSION_SIG_KEY_MAX   (SS_PREFIX_MAX + 16 + SC_SIG_REPLAY_MAX)
#define NGX_HTTP_SESSION_SIG_TOKEN_MAX  64

/* MAC work per slice of body hashing: about a millisecond */
#define NGX_HTTP_SESSION_SIG_SLICE     (512 * 1024)


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_session_call_t         call;        /* the reservation */
    ngx_int_t                       rc;          /* for the phase engine */
    ngx_uint_t                      status;      /* $session_signature_status */
    time_t                          window;      /* replay key TTL when done */
    sc_sig_req_t                    req;
    sc_sig_ctx_t                    mac;
    ngx_http_session_sig_conf_t    *conf;        /* where it was checked */
    size_t                          key_len;
    size_t                          token_len;
    u_char                          key[NGX_HTTP_SESSION_SIG_KEY_MAX];
    u_char                          token[NGX_HTTP_SESSION_SIG_TOKEN_MAX];
    ngx_event_t                     slice;       /* hashing, posted */
    ngx_chain_t                    *cl;          /* hashing: next buffer */
    off_t                           off;         /* ... and offset in it */
    unsigned                        hashing:1;
    unsigned                        reserved:1;  /* the key holds our token */
} ngx_http_session_sig_ctx_t;


static ngx_int_t ngx_http_session_sig_header(ngx_http_request_t *r,
    ngx_str_t *name, const char **value, size_t *len);
static void ngx_http_session_sig_body(ngx_http_request_t *r);
static void ngx_http_session_sig_slice(ngx_event_t *ev);
static ngx_int_t ngx_http_session_sig_verify(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf);
static ngx_int_t ngx_http_session_sig_replay(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf);
static void ngx_http_session_sig_replay_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_sig_cleanup(void *data);
static ngx_int_t ngx_http_session_sig_end(ngx_http_session_sig_ctx_t *ctx,
    ngx_uint_t confirm);
static ngx_uint_t ngx_http_session_sig_delivered(ngx_http_request_t *r);
static ngx_uint_t ngx_http_session_sig_final_status(ngx_http_request_t *r);
static void ngx_http_session_sig_settle(ngx_http_session_sig_ctx_t *ctx);
static ngx_int_t ngx_http_session_sig_done(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_session_sig_carried(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf);
static ngx_uint_t ngx_http_session_sig_same(ngx_http_session_sig_conf_t *a,
    ngx_http_session_sig_conf_t *b);
static ngx_int_t ngx_http_session_sig_too_large(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf);


static ngx_int_t ngx_http_session_sig_header_filter(ngx_http_request_t *r);
static ngx_http_session_sig_ctx_t *ngx_http_session_sig_find(
    ngx_http_request_t *r);


static ngx_http_output_header_filter_pt  ngx_http_session_sig_next_header;


static ngx_str_t  ngx_http_session_sig_status_names[] = {
    ngx_null_string,
    ngx_string("ok"),
    ngx_string("missing"),
    ngx_string("invalid"),
    ngx_string("stale"),
    ngx_string("replayed"),
    ngx_string("error")
};


ngx_int_t
ngx_http_session_signature_handler(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_pool_cleanup_t           *cln;
    ngx_http_session_ctx_t       *sctx;
    ngx_http_session_sig_ctx_t   *ctx;
    ngx_http_session_sig_conf_t  *scf;
    ngx_http_session_loc_conf_t  *slcf;
    sc_sig_headers_t              h;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);
    scf = slcf->sig;

    if (scf == NULL) {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        /*
         * A subrequest cannot read the body again: it passes if the main
         * request's own signature verified under the same scheme and
         * secrets, and is refused otherwise.
         */

        ctx = ngx_http_session_sig_find(r->main);

        if (ctx && ctx->status == NGX_HTTP_SESSION_SIG_OK
            && ngx_http_session_sig_same(ctx->conf, scf))
        {
            return NGX_OK;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: a subrequest to a signed "
                      "location is refused unless the main request's "
                      "signature verified under the same secrets");

        return NGX_HTTP_UNAUTHORIZED;
    }

    sctx = ngx_http_session_get_ctx(r);
    if (sctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = sctx->sig;

    if (ctx == NULL && r->internal) {
        /* an internal redirect cleared the context: one check a request */
        ctx = ngx_http_session_sig_find(r);
        sctx->sig = ctx;
    }

    if (ctx) {
        /* this pass, or an earlier one before an internal redirect */
        return ngx_http_session_sig_carried(r, ctx, scf);
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_session_sig_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->rc = NGX_DONE;
    ctx->conf = scf;
    sctx->sig = ctx;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_session_sig_cleanup;
    cln->data = ctx;

    ngx_memzero(&h, sizeof(sc_sig_headers_t));

    if (ngx_http_session_sig_header(r, &scf->header, &h.signature,
                                    &h.signature_len) != NGX_OK
        || ngx_http_session_sig_header(r, &scf->ts_header, &h.timestamp,
                                       &h.timestamp_len) != NGX_OK
        || ngx_http_session_sig_header(r, &scf->id_header, &h.id,
                                       &h.id_len) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: a signature header is repeated");
        return ngx_http_session_sig_done(r, ctx,
                                         NGX_HTTP_SESSION_SIG_INVALID);
    }

    rc = sc_sig_parse(&ctx->req, scf->scheme, &h);

    if (rc != SC_SIG_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: %s: %s", sc_sig_status_str(rc),
                      ctx->req.reason ? ctx->req.reason : "");
        return ngx_http_session_sig_done(r, ctx,
                                         rc == SC_SIG_MISSING
                                         ? NGX_HTTP_SESSION_SIG_MISSING
                                         : NGX_HTTP_SESSION_SIG_INVALID);
    }

    if (sc_sig_check_time(&ctx->req, (int64_t) ngx_time(),
                          (int64_t) scf->tolerance)
        != SC_SIG_OK)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: timestamp outside the tolerance");
        return ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_STALE);
    }

    if (r->headers_in.content_length_n > scf->max_body) {
        return ngx_http_session_sig_too_large(r, ctx, scf);
    }

    if (sc_sig_init(&ctx->mac, scf->secrets, &ctx->req) != SC_SIG_OK) {
        return ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_ERROR);
    }

    /* the body, as the mirror module reads it: kept for the upstream */

    rc = ngx_http_read_client_request_body(r, ngx_http_session_sig_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


/* one header by name; NGX_ERROR if it is repeated */

static ngx_int_t
ngx_http_session_sig_header(ngx_http_request_t *r, ngx_str_t *name,
    const char **value, size_t *len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    *value = NULL;
    *len = 0;

    if (name->len == 0) {
        return NGX_OK;
    }

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

        if (h[i].key.len != name->len
            || ngx_strncasecmp(h[i].key.data, name->data, name->len) != 0)
        {
            continue;
        }

        if (*value) {
            return NGX_ERROR;
        }

        *value = (const char *) h[i].value.data;
        *len = h[i].value.len;
    }

    return NGX_OK;
}


static void
ngx_http_session_sig_body(ngx_http_request_t *r)
{
    ngx_http_session_ctx_t       *sctx;
    ngx_http_session_sig_ctx_t   *ctx;
    ngx_http_session_loc_conf_t  *slcf;

    sctx = ngx_http_get_module_ctx(r, ngx_http_session_module);
    ctx = sctx->sig;
    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    r->preserve_body = 1;
    r->write_event_handler = ngx_http_core_run_phases;

    if (ngx_http_session_sig_verify(r, ctx, slcf->sig) == NGX_AGAIN) {
        /* hashing in slices, or waiting for Redis: they run the phases */
        return;
    }

    ngx_http_core_run_phases(r);
}


/*
 * Hashes the body in slices of at most NGX_HTTP_SESSION_SIG_SLICE bytes
 * of MAC work (a body byte costs one HMAC per secret and the SHA-256 of
 * the replay id), posting an event between slices so that the worker
 * serves its other connections meanwhile: a large body costs the others
 * no more than one slice (about a millisecond) at a time.  NGX_AGAIN: a
 * slice is posted, or Redis is asked; the phases run again from there.
 */

static void
ngx_http_session_sig_slice(ngx_event_t *ev)
{
    ngx_http_session_sig_ctx_t  *ctx = ev->data;

    ngx_connection_t             *c;
    ngx_http_request_t           *r;
    ngx_http_session_loc_conf_t  *slcf;

    r = ctx->request;
    c = r->connection;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    if (ngx_http_session_sig_verify(r, ctx, slcf->sig) == NGX_AGAIN) {
        return;
    }

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_session_sig_verify(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf)
{
    off_t         total, pos;
    size_t        size, budget;
    ssize_t       n;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;
    u_char        buf[16384];

    if (!ctx->hashing) {
        ctx->hashing = 1;
        ctx->cl = r->request_body ? r->request_body->bufs : NULL;
        ctx->off = 0;

        /* a chunked body has no Content-Length to check beforehand */

        total = 0;

        for (cl = ctx->cl; cl; cl = cl->next) {
            total += ngx_buf_size(cl->buf);
        }

        if (total > scf->max_body) {
            (void) ngx_http_session_sig_too_large(r, ctx, scf);
            return NGX_OK;
        }
    }

    budget = NGX_HTTP_SESSION_SIG_SLICE / (ctx->mac.nmac + 1);

    while (ctx->cl) {
        b = ctx->cl->buf;

        if (budget == 0) {
            ctx->rc = NGX_AGAIN;

            ctx->slice.handler = ngx_http_session_sig_slice;
            ctx->slice.data = ctx;
            ctx->slice.log = r->connection->log;

            /* after the events of the next iteration, not in this one */
            ngx_post_event(&ctx->slice, &ngx_posted_next_events);

            return NGX_AGAIN;
        }

        if (!b->in_file) {
            size = ngx_min((size_t) (b->last - b->pos) - (size_t) ctx->off,
                           budget);

            if (sc_sig_update(&ctx->mac, b->pos + ctx->off, size)
                != SC_SIG_OK)
            {
                goto error;
            }

            ctx->off += size;
            budget -= size;

            if (b->pos + ctx->off >= b->last) {
                ctx->cl = ctx->cl->next;
                ctx->off = 0;
            }

            continue;
        }

        /* spooled to nginx's temporary file: read it back in pieces */

        pos = b->file_pos + ctx->off;

        if (pos >= b->file_last) {
            ctx->cl = ctx->cl->next;
            ctx->off = 0;
            continue;
        }

        size = (size_t) ngx_min(b->file_last - pos, (off_t) sizeof(buf));
        size = ngx_min(size, budget);

        n = ngx_read_file(b->file, buf, size, pos);

        if (n == NGX_ERROR || n == 0) {
            goto error;
        }

        if (sc_sig_update(&ctx->mac, buf, n) != SC_SIG_OK) {
            goto error;
        }

        ctx->off += n;
        budget -= ngx_min((size_t) n, budget);
    }

    rc = sc_sig_final(&ctx->mac, &ctx->req);

    if (rc == SC_SIG_BAD) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: no signature matches");
        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_INVALID);
        return NGX_OK;
    }

    if (rc != SC_SIG_OK) {
        goto error;
    }

    if (ctx->req.nskipped) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: %uz malformed signature "
                      "entr%s skipped", ctx->req.nskipped,
                      ctx->req.nskipped == 1 ? "y" : "ies");
    }

    if (scf->replay && ctx->req.replay_id_len) {
        return ngx_http_session_sig_replay(r, ctx, scf);
    }

    ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_OK);
    return NGX_OK;

error:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "session signature: the body could not be verified");
    ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_ERROR);
    return NGX_OK;
}


/*
 * Reserves the delivery's replay key with this request's token, for
 * "inflight" seconds (at most the window); the outcome of the request
 * decides later whether it is kept or released (ngx_http_session_sig_end).
 *
 * The window: a request is accepted while |now - timestamp| <= tolerance,
 * for up to 2 * tolerance + 1 s of nginx's one-second clock; one more
 * second covers nginx's cached clock lagging behind.  github signs no
 * timestamp: a delivery is remembered for tolerance.
 */

static ngx_int_t
ngx_http_session_sig_replay(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf)
{
    u_char                        *p;
    time_t                         ttl;
    size_t                         argslen[4];
    const char                    *args[4];
    ngx_http_session_main_conf_t  *smcf;
    u_char                         ttl_text[NGX_TIME_T_LEN];

    static ngx_uint_t              seq;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    p = ngx_cpymem(ctx->key, smcf->redis->prefix.data,
                   ngx_min(smcf->redis->prefix.len, SS_PREFIX_MAX));
    p = ngx_sprintf(p, "r:%s:", ngx_http_session_scheme_label[scf->scheme]);
    p = ngx_cpymem(p, ctx->req.replay_id, ctx->req.replay_id_len);
    ctx->key_len = p - ctx->key;

    /* unique among the requests of every worker; not a secret */

    p = ngx_snprintf(ctx->token, NGX_HTTP_SESSION_SIG_TOKEN_MAX,
                     "f:%P:%M:%ui", ngx_pid, ngx_current_msec, ++seq);
    ctx->token_len = p - ctx->token;

    if (scf->scheme == SC_SIG_GITHUB) {
        ctx->window = scf->tolerance;

    } else {
        ctx->window = 2 * scf->tolerance + 2;
    }

    ttl = ngx_min(scf->inflight, ctx->window);

    args[0] = (const char *) ctx->key;
    argslen[0] = ctx->key_len;
    args[1] = "reserve";
    argslen[1] = sizeof("reserve") - 1;
    args[2] = (const char *) ctx->token;
    argslen[2] = ctx->token_len;
    args[3] = (const char *) ttl_text;
    argslen[3] = ngx_sprintf(ttl_text, "%T", ttl) - ttl_text;

    if (ngx_http_session_call_script(&ctx->call, r,
                                     ngx_http_session_sig_replay_reply, ctx,
                                     NGX_HTTP_SESSION_SCRIPT_REPLAY, 1, 4,
                                     args, argslen)
        != NGX_OK)
    {
        /* fail closed */
        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_ERROR);
        return NGX_OK;
    }

    ctx->rc = NGX_AGAIN;

    return NGX_AGAIN;
}


static void
ngx_http_session_sig_replay_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_sig_ctx_t  *ctx = call->data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ctx->request;
    c = r->connection;

    if (call->timed_out) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "session signature: redis did not answer in time");

        /* the reservation may still be carried out: undo it behind it */
        (void) ngx_http_session_sig_end(ctx, 0);

        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_ERROR);

    } else if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_ERROR);

    } else if (reply->integer == 1) {
        ctx->reserved = 1;
        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_OK);

    } else {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "session signature: replayed request%s",
                      reply->integer == 2
                      ? " (the same delivery is in flight)" : "");
        ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_REPLAYED);
    }

    /* the call runs the posted requests afterwards */
    ngx_http_core_run_phases(r);
}


void
ngx_http_session_signature_filter_init(ngx_conf_t *cf)
{
    ngx_http_session_sig_next_header = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_session_sig_header_filter;
}


/*
 * The main request's response goes out: its status says whether the
 * delivery succeeded; settle the replay key now, before the sender can
 * retry (the request itself may linger on, e.g. in a lingering close).
 * A response that never comes is settled by the pool cleanup below.
 */

static ngx_int_t
ngx_http_session_sig_header_filter(ngx_http_request_t *r)
{
    ngx_http_session_sig_ctx_t  *ctx;

    if (r == r->main) {
        ctx = ngx_http_session_sig_find(r);

        if (ctx && ctx->reserved) {
            ngx_http_session_sig_settle(ctx);
        }
    }

    return ngx_http_session_sig_next_header(r);
}


/*
 * The request's signature state.  nginx clears the module contexts on an
 * internal redirect (error_page, try_files, named locations,
 * X-Accel-Redirect), but the state's pool cleanup stays with the request:
 * after a redirect (r->internal), look it up there, so that the request,
 * not the location pass, is the unit (one verification, one replay key)
 * and the final response still settles the key.
 */

static ngx_http_session_sig_ctx_t *
ngx_http_session_sig_find(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t      *cln;
    ngx_http_session_ctx_t  *sctx;

    sctx = ngx_http_session_find_ctx(r);

    if (sctx && sctx->sig) {
        return sctx->sig;
    }

    if (!r->internal) {
        return NULL;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_session_sig_cleanup) {
            return cln->data;
        }
    }

    return NULL;
}


/*
 * The request is over: its final status (the main request's, after any
 * internal redirect) says whether the delivery reached a backend that
 * took it.  Confirm or release the replay key, without waiting for the
 * answer: nothing is left to resume.
 */

static void
ngx_http_session_sig_cleanup(void *data)
{
    ngx_http_session_sig_ctx_t  *ctx = data;

    /* the call's own cleanup, added after this one, has run already */

    ngx_http_session_call_cancel(&ctx->call);

    if (ctx->call.state == NGX_HTTP_SESSION_CALL_CANCELLED) {
        /* gone while reserving: the reservation may still land */
        (void) ngx_http_session_sig_end(ctx, 0);

    } else if (ctx->reserved) {
        ngx_http_session_sig_settle(ctx);
    }

    if (ctx->slice.posted) {
        ngx_delete_posted_event(&ctx->slice);
    }

    sc_sig_cleanup(&ctx->mac);
}


static void
ngx_http_session_sig_settle(ngx_http_session_sig_ctx_t *ctx)
{
    ngx_uint_t           delivered;
    ngx_http_request_t  *r;

    r = ctx->request;

    delivered = ngx_http_session_sig_delivered(r);

    if (!delivered) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "session signature: the delivery did not succeed "
                      "(status %ui), a retry will be accepted",
                      ngx_http_session_sig_final_status(r));
    }

    if (ngx_http_session_sig_end(ctx, delivered) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "session signature: redis unavailable, the delivery's "
                      "replay key was not %s; its in-flight mark expires by "
                      "itself", delivered ? "confirmed" : "released");
    }
}


static ngx_uint_t
ngx_http_session_sig_final_status(ngx_http_request_t *r)
{
    return r->err_status ? r->err_status : r->headers_out.status;
}


/*
 * A delivery succeeded when the final response is a 2xx, 3xx or 4xx but
 * 408, 425, 429 (the backend asks for a retry) and 444, 499 (no answer
 * reached the sender).  No response at all, or a 5xx (nginx's 502/504
 * for an upstream down or slow included), is a failed delivery.
 */

static ngx_uint_t
ngx_http_session_sig_delivered(ngx_http_request_t *r)
{
    ngx_uint_t  status;

    status = ngx_http_session_sig_final_status(r);

    if (status < NGX_HTTP_OK || status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        return 0;
    }

    switch (status) {
    case NGX_HTTP_REQUEST_TIME_OUT:
    case 425:
    case NGX_HTTP_TOO_MANY_REQUESTS:
    case NGX_HTTP_CLOSE:
    case NGX_HTTP_CLIENT_CLOSED_REQUEST:
        return 0;
    }

    return 1;
}


/* confirm (keep for the window) or release the key; fire and forget */

static ngx_int_t
ngx_http_session_sig_end(ngx_http_session_sig_ctx_t *ctx, ngx_uint_t confirm)
{
    size_t                  argslen[4];
    const char             *args[4];
    ngx_http_session_op_t  *op;
    u_char                  ttl[NGX_TIME_T_LEN];

    if (ctx->key_len == 0) {
        return NGX_OK;
    }

    ctx->reserved = 0;

    args[0] = (const char *) ctx->key;
    argslen[0] = ctx->key_len;

    if (confirm) {
        args[1] = "confirm";
        argslen[1] = sizeof("confirm") - 1;

    } else {
        args[1] = "release";
        argslen[1] = sizeof("release") - 1;
    }

    args[2] = (const char *) ctx->token;
    argslen[2] = ctx->token_len;
    args[3] = (const char *) ttl;
    argslen[3] = ngx_sprintf(ttl, "%T", ctx->window) - ttl;

    op = ngx_http_session_redis_script(NGX_HTTP_SESSION_SCRIPT_REPLAY, NULL,
                                       NULL, 1, 4, args, argslen);

    return op ? NGX_OK : NGX_ERROR;
}


/*
 * The request is the unit: a signature checked before an internal
 * redirect (error_page 502 = /fallback, try_files, X-Accel-Redirect) is
 * not checked again, which would read a consumed body and meet the replay
 * key the first pass reserved.  The outcome carries to a location with
 * the same scheme and secrets; another location's signature cannot be
 * checked any more, and the request is refused.
 */

static ngx_int_t
ngx_http_session_sig_carried(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf)
{
    if (ngx_http_session_call_waiting(&ctx->call) || ctx->rc == NGX_DONE
        || ngx_http_session_sig_same(ctx->conf, scf))
    {
        return ctx->rc;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "session signature: an internal redirect reached a "
                  "location with other signature secrets; refused");

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_uint_t
ngx_http_session_sig_same(ngx_http_session_sig_conf_t *a,
    ngx_http_session_sig_conf_t *b)
{
    ngx_uint_t  i;

    if (a == b) {
        return 1;
    }

    if (a == NULL || b == NULL || a->scheme != b->scheme
        || a->secrets->nsecrets != b->secrets->nsecrets)
    {
        return 0;
    }

    for (i = 0; i < a->secrets->nsecrets; i++) {
        if (a->secrets->secrets[i].len != b->secrets->secrets[i].len
            || !sc_equal(a->secrets->secrets[i].key,
                         b->secrets->secrets[i].key,
                         a->secrets->secrets[i].len))
        {
            return 0;
        }
    }

    return 1;
}


/* records the outcome: the status for the variable, the code for nginx */

static ngx_int_t
ngx_http_session_sig_done(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_session_loc_conf_t  *slcf;

    slcf = ngx_http_get_module_loc_conf(r, ngx_http_session_module);

    ctx->status = status;
    sc_sig_cleanup(&ctx->mac);

    ngx_http_session_count(signatures[slcf->sig->scheme][status - 1]);

    switch (status) {

    case NGX_HTTP_SESSION_SIG_OK:
        ctx->rc = NGX_OK;
        break;

    case NGX_HTTP_SESSION_SIG_REPLAYED:
        ctx->rc = NGX_HTTP_CONFLICT;
        break;

    case NGX_HTTP_SESSION_SIG_ERROR:
        ctx->rc = NGX_HTTP_SERVICE_UNAVAILABLE;
        (void) ngx_http_session_retry_after(r);
        break;

    default:
        ctx->rc = NGX_HTTP_UNAUTHORIZED;
        break;
    }

    return ctx->rc;
}


/* over max_body: 413, counted and shown as "invalid" */

static ngx_int_t
ngx_http_session_sig_too_large(ngx_http_request_t *r,
    ngx_http_session_sig_ctx_t *ctx, ngx_http_session_sig_conf_t *scf)
{
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "session signature: body larger than max_body=%O",
                  scf->max_body);

    (void) ngx_http_session_sig_done(r, ctx, NGX_HTTP_SESSION_SIG_INVALID);

    ctx->rc = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;

    return ctx->rc;
}


ngx_int_t
ngx_http_session_signature_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                   *s;
    ngx_http_session_sig_ctx_t  *ctx;

    ctx = ngx_http_session_sig_find(r->main);

    if (ctx == NULL
        || ctx->status == NGX_HTTP_SESSION_SIG_NONE)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    s = &ngx_http_session_sig_status_names[ctx->status];

    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s->data;

    return NGX_OK;
}


static void
ngx_http_session_secrets_cleanup(void *data)
{
    sc_sig_secrets_wipe(data);
}


char *
ngx_http_session_signature(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_loc_conf_t *slcf = conf;

    ngx_int_t                      n, rc;
    ngx_str_t                     *value, s, file, content;
    ngx_uint_t                     i;
    sc_error_t                     err;
    sc_sig_scheme_t                scheme;
    ngx_pool_cleanup_t            *cln;
    const sc_sig_scheme_info_t    *info;
    ngx_http_session_sig_conf_t   *scf;

    if (slcf->sig) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (sc_sig_scheme_by_name((char *) value[1].data, value[1].len, &scheme)
        != SC_SIG_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown \"session_signature\" scheme \"%V\" "
                           "(miniapp, github, slack, stripe, standard)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_sig_conf_t));
    if (scf == NULL) {
        return NGX_CONF_ERROR;
    }

    info = sc_sig_scheme_info(scheme);

    scf->scheme = scheme;
    scf->tolerance = 300;
    scf->inflight = 60;
    scf->max_body = 25 * 1024 * 1024;
    scf->replay = NGX_CONF_UNSET;

    scf->header.data = (u_char *) info->signature;
    scf->header.len = ngx_strlen(info->signature);

    if (info->timestamp) {
        scf->ts_header.data = (u_char *) info->timestamp;
        scf->ts_header.len = ngx_strlen(info->timestamp);
    }

    if (info->id) {
        scf->id_header.data = (u_char *) info->id;
        scf->id_header.len = ngx_strlen(info->id);
    }

    file.len = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "secret_file=", 12) == 0) {
            file.data = value[i].data + 12;
            file.len = value[i].len - 12;
            continue;
        }

        rc = ngx_http_session_conf_time(cf, &value[i], "tolerance", 1,
                                        NGX_HTTP_SESSION_AGE_MAX,
                                        "1s to 50y", &scf->tolerance);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "inflight=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (ngx_http_session_parse_bounded_time(&s, 1, 1, 7 * 24 * 3600,
                                                    &n)
                != NGX_OK)
            {
                goto invalid;
            }

            scf->inflight = (time_t) n;

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_body=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            scf->max_body = ngx_parse_offset(&s);
            if (scf->max_body == NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "replay=on") == 0) {
            scf->replay = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "replay=off") == 0) {
            scf->replay = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "header=", 7) == 0
            && value[i].len > 7)
        {
            scf->header.data = value[i].data + 7;
            scf->header.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timestamp_header=", 17) == 0
            && value[i].len > 17 && info->timestamp)
        {
            scf->ts_header.data = value[i].data + 17;
            scf->ts_header.len = value[i].len - 17;
            continue;
        }

        goto invalid;
    }

    if (file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_signature\" needs "
                           "\"secret_file=FILE\"");
        return NGX_CONF_ERROR;
    }

    if (ngx_http_session_read_file(cf, &file, "session_signature", "",
                                   &content)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    scf->secrets = ngx_pcalloc(cf->pool, sizeof(sc_sig_secrets_t));
    if (scf->secrets == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_session_secrets_cleanup;
    cln->data = scf->secrets;

    ngx_memzero(&err, sizeof(sc_error_t));

    if (sc_sig_secrets_parse(scf->secrets, scheme, (char *) content.data,
                             content.len, &err)
        != SC_SIG_OK)
    {
        ngx_explicit_memzero(content.data, content.len);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_signature\" file \"%V\"%s%s",
                           &file, err.line ? " " : ": ", err.msg);
        return NGX_CONF_ERROR;
    }

    ngx_explicit_memzero(content.data, content.len);

    /* replay protection by default: every scheme has a timestamp or id */

    if (scf->replay == NGX_CONF_UNSET) {
        scf->replay = 1;
    }

    slcf->sig = scf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_signature\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}
