
/*
 * ngx_http_session_module: Redis commands and their replies.
 *
 * A command's privdata is an ngx_http_session_op_t, owned by this file and
 * recycled through a free list: a request that goes away clears op->data,
 * and the late reply then finds no request and does nothing.  Commands
 * are handed to hiredis already in Redis's protocol.  A request's wait,
 * with its deadline, is ngx_http_session_call.c's.
 */


#include "ngx_http_session_redis.h"


static void ngx_http_session_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static u_char *ngx_http_session_redis_header(u_char *p, u_char type,
    size_t n);


ngx_http_session_op_t *
ngx_http_session_redis_op_get(void)
{
    ngx_http_session_op_t            *op;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    op = w->free_ops;

    if (op) {
        w->free_ops = op->next;
        return op;
    }

    /* grows to the peak number of commands in flight, then is reused */

    op = ngx_alloc(sizeof(ngx_http_session_op_t), w->log);

    if (op) {
        op->cmd = NULL;
        op->size = 0;
    }

    return op;
}


void
ngx_http_session_redis_op_put(ngx_http_session_op_t *op)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    op->data = NULL;
    op->handler = NULL;
    op->next = w->free_ops;
    w->free_ops = op;
}


/*
 * "*<n>\r\n" or "$<n>\r\n": nine of them per lookup, so not through
 * ngx_sprintf(), which was a tenth of the module's instructions per
 * validated request (docs/benchmarks.md)
 */

static u_char *
ngx_http_session_redis_header(u_char *p, u_char type, size_t n)
{
    u_char  *q, digits[NGX_SIZE_T_LEN];

    q = digits + NGX_SIZE_T_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    *p++ = type;
    p = ngx_cpymem(p, q, digits + NGX_SIZE_T_LEN - q);
    *p++ = CR;
    *p++ = LF;

    return p;
}


/* RESP for argv, at p, which has room (see ngx_http_session_redis_command) */

u_char *
ngx_http_session_redis_format(u_char *p, int argc, const char **argv,
    const size_t *argvlen)
{
    int  i;

    p = ngx_http_session_redis_header(p, '*', argc);

    for (i = 0; i < argc; i++) {
        p = ngx_http_session_redis_header(p, '$', argvlen[i]);
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = CR;
        *p++ = LF;
    }

    return p;
}


ngx_http_session_op_t *
ngx_http_session_redis_command(ngx_http_session_op_handler_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    int      i;
    u_char  *p;
    size_t   len;
    u_char   buf[8192];

    /*
     * The command is written in Redis's protocol here and handed over
     * formatted: hiredis's generic argv formatting was a sixth of the
     * module's instructions per request (docs/benchmarks.md).
     */

    len = 1 + NGX_INT_T_LEN + 2;

    for (i = 0; i < argc; i++) {
        len += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    if (len > sizeof(buf)) {
        return NULL;
    }

    p = ngx_http_session_redis_format(buf, argc, argv, argvlen);

    return ngx_http_session_redis_send(handler, data, buf, p - buf);
}


/* a command already in Redis's protocol; hiredis copies it */

ngx_http_session_op_t *
ngx_http_session_redis_send(ngx_http_session_op_handler_pt handler,
    void *data, u_char *cmd, size_t len)
{
    ngx_http_session_op_t            *op;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (!ngx_http_session_redis_available()) {
        return NULL;
    }

    op = ngx_http_session_redis_op_get();
    if (op == NULL) {
        return NULL;
    }

    op->handler = handler;
    op->data = data;
    op->next = NULL;
    op->start = ngx_http_session_metrics ? ngx_http_session_now_us() : 0;

    if (w->router) {
        /* routed by its key's slot */

        if (w->router->send(op, cmd, len) != NGX_OK) {
            ngx_http_session_redis_op_put(op);
            return NULL;
        }

        return op;
    }

    if (redisAsyncFormattedCommand(w->cmd.ac, ngx_http_session_redis_reply,
                                   op, (const char *) cmd, len)
        != REDIS_OK)
    {
        ngx_http_session_redis_op_put(op);
        return NULL;
    }

    if (w->cmd.inflight++ == 0) {
        w->cmd.last_activity = ngx_current_msec;
    }

    /* Redis has nothing else of ours to work on: get it started */

    if (++w->cmd.unflushed >= NGX_HTTP_SESSION_REDIS_BATCH
        && w->cmd.unflushed == w->cmd.inflight)
    {
        ngx_http_session_link_flush(&w->cmd);
    }

    return op;
}


/* session_redis timeout=: how long a request waits for a reply */

ngx_msec_t
ngx_http_session_redis_timeout(void)
{
    return ngx_http_session_redis_worker.smcf->redis->timeout;
}


/* the reply, when it comes, finds no one and is dropped */

void
ngx_http_session_redis_cancel(ngx_http_session_op_t **op)
{
    if (*op) {
        (*op)->data = NULL;
        *op = NULL;
    }
}


/*
 * EVALSHA of one of ngx_http_session_scripts[]: args holds the nkeys keys
 * then the other arguments, nargs in all.
 */

ngx_http_session_op_t *
ngx_http_session_redis_script(ngx_uint_t script,
    ngx_http_session_op_handler_pt handler, void *data, int nkeys, int nargs,
    const char **args, const size_t *argslen)
{
    int          i;
    u_char       nk[NGX_INT_T_LEN];
    size_t       argvlen[24];
    const char  *argv[24];

    if (nargs > 21) {
        return NULL;
    }

    argv[0] = "EVALSHA";
    argvlen[0] = 7;
    argv[1] = (const char *) ngx_http_session_scripts[script].sha;
    argvlen[1] = 40;
    argv[2] = (const char *) nk;
    argvlen[2] = ngx_sprintf(nk, "%d", nkeys) - nk;

    for (i = 0; i < nargs; i++) {
        argv[3 + i] = args[i];
        argvlen[3 + i] = argslen[i];
    }

    return ngx_http_session_redis_command(handler, data, 3 + nargs, argv,
                                          argvlen);
}


/*
 * A request's command timed out.  That alone is a slow Redis, not a dead
 * one: the request answers 503 and the reply, when it comes, is dropped.
 * But if nothing at all has come back for connect_timeout while commands
 * were outstanding, the connection is taken as dead (a host that vanished
 * sends no RST): drop it, which fails every pending command at once, and
 * reconnect.
 */

void
ngx_http_session_redis_timed_out(void)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ngx_http_session_count(redis_errors);

    if (w->router) {
        w->router->timed_out();
        return;
    }

    if (w->cmd.ac == NULL || w->cmd.inflight == 0) {
        return;
    }

    if (ngx_current_msec - w->cmd.last_activity
        < w->smcf->redis->connect_timeout)
    {
        return;
    }

    ngx_http_session_link_outage(&w->cmd, "no reply within connect_timeout");

    redisAsyncFree(w->cmd.ac);
}


static void
ngx_http_session_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_session_op_t            *op = privdata;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    void                            *data;
    redisReply                      *rr;
    ngx_http_session_op_handler_pt   handler;

    if (w->cmd.inflight) {
        w->cmd.inflight--;
    }

    w->cmd.last_activity = ngx_current_msec;

    data = op->data;
    handler = op->handler;

    rr = reply;

    if (rr == NULL || rr->type == REDIS_REPLY_ERROR) {
        ngx_http_session_count(redis_errors);

    } else {
        ngx_http_session_metrics_latency(op->start);
    }

    ngx_http_session_redis_op_put(op);

    if (rr && rr->type == REDIS_REPLY_ERROR
        && !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        if (rr->len > 8 && ngx_strncmp(rr->str, "NOSCRIPT", 8) == 0
            && w->cmd.scripts_reloaded != ngx_time())
        {
            /* SCRIPT FLUSH on the server: this command fails, the next work */

            w->cmd.scripts_reloaded = ngx_time();

            ngx_log_error(NGX_LOG_WARN, w->log, 0,
                          "session %s %V: scripts were flushed, loading "
                          "them again", w->cmd.name,
                          &w->smcf->redis->addr_text);

            ngx_http_session_load_scripts(ac);

        } else if ((rr->len > 8 && ngx_strncmp(rr->str, "READONLY", 8) == 0)
                   || (rr->len > 10
                       && ngx_strncmp(rr->str, "MASTERDOWN", 10) == 0))
        {
            /* a replica now (failover): reconnect, via Sentinel if any */

            ngx_http_session_link_outage(&w->cmd, rr->str);

            /* deferred by hiredis until this callback returns */
            redisAsyncFree(ac);
        }
    }

    if (data && handler) {
        handler(data, reply);
    }

    /* a proper reply after an outage: the link is back (see link_ready) */

    if (w->cmd.outage && w->cmd.ac == ac
        && w->cmd.state == NGX_HTTP_SESSION_LINK_READY
        && rr && rr->type != REDIS_REPLY_ERROR
        && !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        ngx_http_session_link_restored(&w->cmd.restored);
    }
}
