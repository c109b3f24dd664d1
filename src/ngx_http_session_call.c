
/*
 * ngx_http_session_module: one Redis call of a request, with its deadline.
 *
 * The only place where a request waits for Redis: the session lookup, the
 * login filter, logout, the registry and the signature replay check all
 * go through here, and so does the PING that follows a revocation (see
 * ngx_http_session_call_t in ngx_http_session.h).  The command itself is
 * an ngx_http_session_op_t of the Redis link; this file adds the
 * request's side: the timer, the pool cleanup, the handler called once.
 */


#include "ngx_http_session.h"


static ngx_int_t ngx_http_session_call_begin(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data);
static ngx_int_t ngx_http_session_call_arm(ngx_http_session_call_t *call,
    ngx_http_session_op_t *op);
static void ngx_http_session_call_reply(void *data, redisReply *reply);
static void ngx_http_session_call_timeout(ngx_event_t *ev);
static void ngx_http_session_call_cleanup(void *data);


ngx_int_t
ngx_http_session_call_send(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    u_char *cmd, size_t len)
{
    if (ngx_http_session_call_begin(call, r, handler, data) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_call_arm(call,
               ngx_http_session_redis_send(ngx_http_session_call_reply, call,
                                           cmd, len));
}


ngx_int_t
ngx_http_session_call_command(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen)
{
    if (ngx_http_session_call_begin(call, r, handler, data) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_call_arm(call,
               ngx_http_session_redis_command(ngx_http_session_call_reply,
                                              call, argc, argv, argvlen));
}


/*
 * The barrier after a script that published revocations: a PING on the
 * node that ran the script, with the script's key (on a cluster it routes
 * the PING to that key's slot; its text is only echoed back).  Redis
 * writes a script's PUBLISH messages to every subscriber in the same pass
 * of its event loop as the script's reply, but after it, and answers the
 * PING in a later pass: once the PING has its answer (even an error), the
 * messages are in every subscriber's socket, even if Redis lost the CPU
 * between those writes.  The PING always has an argument: hiredis peeks
 * past a lone command's name.  The caller carries on from the handler
 * whatever the PING's fate; a PING that could not be sent is NGX_ERROR
 * here, and the caller carries on at once.
 */

ngx_int_t
ngx_http_session_call_ping(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_str_t *key, ngx_http_session_call_pt handler,
    void *data)
{
    size_t       argvlen[2];
    const char  *argv[2];

    argv[0] = "PING";
    argvlen[0] = sizeof("PING") - 1;

    if (key != NULL && key->len) {
        argv[1] = (const char *) key->data;
        argvlen[1] = key->len;

    } else {
        argv[1] = "revoked";
        argvlen[1] = sizeof("revoked") - 1;
    }

    return ngx_http_session_call_command(call, r, handler, data, 2, argv,
                                         argvlen);
}


ngx_int_t
ngx_http_session_call_script(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    ngx_uint_t script, int nkeys, int nargs, const char **args,
    const size_t *argslen)
{
    if (ngx_http_session_call_begin(call, r, handler, data) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_session_call_arm(call,
               ngx_http_session_redis_script(script,
                                             ngx_http_session_call_reply,
                                             call, nkeys, nargs, args,
                                             argslen));
}


/* the reply, if any comes, finds no one; the handler is not called */

void
ngx_http_session_call_cancel(ngx_http_session_call_t *call)
{
    if (call->state == NGX_HTTP_SESSION_CALL_WAITING) {
        call->state = NGX_HTTP_SESSION_CALL_CANCELLED;
    }

    ngx_http_session_redis_cancel(&call->op);

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }
}


static ngx_int_t
ngx_http_session_call_begin(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data)
{
    ngx_pool_cleanup_t  *cln;

    if (call->state == NGX_HTTP_SESSION_CALL_WAITING) {
        /* one command at a time */
        return NGX_ERROR;
    }

    if (!call->cleanup) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_session_call_cleanup;
        cln->data = call;
        call->cleanup = 1;
    }

    call->request = r;
    call->handler = handler;
    call->data = data;
    call->timed_out = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_session_call_arm(ngx_http_session_call_t *call,
    ngx_http_session_op_t *op)
{
    ngx_msec_t      timeout;
    ngx_msec_int_t  left;

    if (op == NULL) {
        return NGX_ERROR;
    }

    call->op = op;
    call->state = NGX_HTTP_SESSION_CALL_WAITING;

    if (!call->started) {
        /* the first command of the call sets its deadline */
        timeout = ngx_http_session_redis_timeout();
        call->started = 1;
        call->deadline = ngx_current_msec + timeout;

    } else {
        left = (ngx_msec_int_t) (call->deadline - ngx_current_msec);
        timeout = left > 0 ? (ngx_msec_t) left : 1;
    }

    call->timer.handler = ngx_http_session_call_timeout;
    call->timer.data = call;
    call->timer.log = call->request->connection->log;

    ngx_add_timer(&call->timer, timeout);

    return NGX_OK;
}


static void
ngx_http_session_call_reply(void *data, redisReply *reply)
{
    ngx_http_session_call_t  *call = data;

    ngx_connection_t  *c;

    call->op = NULL;
    call->state = NGX_HTTP_SESSION_CALL_DONE;

    if (call->timer.timer_set) {
        ngx_del_timer(&call->timer);
    }

    c = call->request->connection;

    /* may resume, finalize or free the request: only c is used after it */
    call->handler(call, reply);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_session_call_timeout(ngx_event_t *ev)
{
    ngx_http_session_call_t  *call = ev->data;

    ngx_connection_t  *c;

    ngx_http_session_redis_cancel(&call->op);

    call->state = NGX_HTTP_SESSION_CALL_DONE;
    call->timed_out = 1;

    c = call->request->connection;

    /* may drop a dead connection, failing the other pending commands */
    ngx_http_session_redis_timed_out();

    call->handler(call, NULL);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_session_call_cleanup(void *data)
{
    ngx_http_session_call_t  *call = data;

    ngx_http_session_call_cancel(call);
}
