
/*
 * ngx_http_session_module: the Redis store.
 *
 * One hiredis async context per worker, on nginx's own event loop.  The
 * hiredis socket is wrapped in an nginx connection so that epoll sees it
 * with nginx's stale-event protection; hiredis's add/del read/write hooks
 * map to nginx events.  All in-flight requests of the worker pipeline their
 * commands on this connection.  Nothing here blocks: the address is a
 * literal IP or a unix socket resolved at configuration time, and hiredis's
 * synchronous API is never called.
 *
 * A command's privdata is an ngx_http_session_op_t, owned by this file and
 * recycled through a free list: a request that goes away clears op->data,
 * and the late reply then finds no request and does nothing.
 */


#include <sys/ioctl.h>

#include "ngx_http_session_module.h"


#define NGX_HTTP_SESSION_REDIS_DOWN        0
#define NGX_HTTP_SESSION_REDIS_CONNECTING  1
#define NGX_HTTP_SESSION_REDIS_READY       2

#define NGX_HTTP_SESSION_BACKOFF_MIN       100
#define NGX_HTTP_SESSION_BACKOFF_MAX       1000


typedef struct {
    redisAsyncContext                 *ac;
    ngx_connection_t                  *conn;
    ngx_uint_t                         state;
    ngx_http_session_main_conf_t      *smcf;
    ngx_log_t                         *log;

    ngx_event_t                        reconnect;
    ngx_event_t                        connect_timer;
    ngx_msec_t                         backoff;

    ngx_uint_t                         inflight;
    ngx_msec_t                         last_activity;
    time_t                             down_since;
    time_t                             scripts_reloaded;
    unsigned                           outage:1;
    unsigned                           exiting:1;

    ngx_http_session_op_t             *free_ops;
} ngx_http_session_redis_worker_t;


static void ngx_http_session_redis_connect(void);
static void ngx_http_session_redis_schedule(void);
static void ngx_http_session_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_session_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_session_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_redis_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_session_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_session_redis_outage(const char *why);
static void ngx_http_session_redis_load_scripts(redisAsyncContext *ac);

static void ngx_http_session_redis_add_read(void *privdata);
static void ngx_http_session_redis_del_read(void *privdata);
static void ngx_http_session_redis_add_write(void *privdata);
static void ngx_http_session_redis_del_write(void *privdata);
static void ngx_http_session_redis_cleanup(void *privdata);
static void ngx_http_session_redis_read_handler(ngx_event_t *ev);
static void ngx_http_session_redis_write_handler(ngx_event_t *ev);


static ngx_http_session_redis_worker_t  ngx_http_session_redis_worker;


ngx_int_t
ngx_http_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_session_main_conf_t *smcf)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ngx_memzero(w, sizeof(ngx_http_session_redis_worker_t));

    w->smcf = smcf;
    w->log = cycle->log;
    w->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;

    w->reconnect.handler = ngx_http_session_redis_reconnect_handler;
    w->reconnect.log = cycle->log;
    w->reconnect.data = w;
    w->reconnect.cancelable = 1;

    w->connect_timer.handler = ngx_http_session_redis_connect_timeout;
    w->connect_timer.log = cycle->log;
    w->connect_timer.data = w;
    w->connect_timer.cancelable = 1;

    ngx_http_session_redis_connect();

    return NGX_OK;
}


void
ngx_http_session_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    w->exiting = 1;

    if (w->reconnect.timer_set) {
        ngx_del_timer(&w->reconnect);
    }

    if (w->connect_timer.timer_set) {
        ngx_del_timer(&w->connect_timer);
    }

    if (w->ac) {
        w->ac->onDisconnect = NULL;
        redisAsyncFree(w->ac);
        w->ac = NULL;
    }
}


ngx_int_t
ngx_http_session_redis_available(void)
{
    return ngx_http_session_redis_worker.ac != NULL
           && ngx_http_session_redis_worker.state
              != NGX_HTTP_SESSION_REDIS_DOWN;
}


static ngx_http_session_op_t *
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

    return ngx_alloc(sizeof(ngx_http_session_op_t), w->log);
}


static void
ngx_http_session_redis_op_put(ngx_http_session_op_t *op)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    op->data = NULL;
    op->handler = NULL;
    op->next = w->free_ops;
    w->free_ops = op;
}


ngx_http_session_op_t *
ngx_http_session_redis_command(ngx_http_session_op_handler_pt handler,
    void *data, int argc, const char **argv, const size_t *argvlen)
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

    if (redisAsyncCommandArgv(w->ac, ngx_http_session_redis_reply, op, argc,
                              argv, argvlen)
        != REDIS_OK)
    {
        ngx_http_session_redis_op_put(op);
        return NULL;
    }

    if (w->inflight++ == 0) {
        w->last_activity = ngx_current_msec;
    }

    return op;
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
    size_t       argvlen[16];
    const char  *argv[16];

    if (nargs > 13) {
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

    if (w->ac == NULL || w->inflight == 0) {
        return;
    }

    if (ngx_current_msec - w->last_activity
        < w->smcf->redis->connect_timeout)
    {
        return;
    }

    ngx_http_session_redis_outage("no reply within connect_timeout");

    redisAsyncFree(w->ac);
}


static void
ngx_http_session_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_session_op_t            *op = privdata;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    void                            *data;
    ngx_http_session_op_handler_pt   handler;

    if (w->inflight) {
        w->inflight--;
    }

    w->last_activity = ngx_current_msec;

    data = op->data;
    handler = op->handler;

    ngx_http_session_redis_op_put(op);

    if (reply
        && ((redisReply *) reply)->type == REDIS_REPLY_ERROR
        && ((redisReply *) reply)->len > 8
        && ngx_strncmp(((redisReply *) reply)->str, "NOSCRIPT", 8) == 0
        && !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING))
        && w->scripts_reloaded != ngx_time())
    {
        w->scripts_reloaded = ngx_time();

        /* SCRIPT FLUSH on the server: this command fails, the next work */
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "session redis %V: scripts were flushed, loading "
                      "them again", &w->smcf->redis->addr_text);

        ngx_http_session_redis_load_scripts(ac);
    }

    if (data && handler) {
        handler(data, reply);
    }
}


static void
ngx_http_session_redis_connect(void)
{
    int                               fd;
    ngx_connection_t                 *c;
    redisAsyncContext                *ac;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;

    if (rc->unix_path.len) {
        ac = redisAsyncConnectUnix((const char *) rc->unix_path.data);

    } else {
        ac = redisAsyncConnect((const char *) rc->host.data, rc->port);
    }

    if (ac == NULL) {
        ngx_http_session_redis_outage("out of memory");
        ngx_http_session_redis_schedule();
        return;
    }

    if (ac->err) {
        ngx_http_session_redis_outage(ac->errstr);
        redisAsyncFree(ac);
        ngx_http_session_redis_schedule();
        return;
    }

    fd = ac->c.fd;

    c = ngx_get_connection(fd, w->log);
    if (c == NULL) {
        ngx_http_session_redis_outage("no free worker connection");

        redisAsyncFree(ac);
        ngx_http_session_redis_schedule();
        return;
    }

    c->data = ac;
    c->read->handler = ngx_http_session_redis_read_handler;
    c->write->handler = ngx_http_session_redis_write_handler;
    c->read->log = w->log;
    c->write->log = w->log;
    c->log = w->log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_session_redis_add_read;
    ac->ev.delRead = ngx_http_session_redis_del_read;
    ac->ev.addWrite = ngx_http_session_redis_add_write;
    ac->ev.delWrite = ngx_http_session_redis_del_write;
    ac->ev.cleanup = ngx_http_session_redis_cleanup;

    w->ac = ac;
    w->conn = c;
    w->state = NGX_HTTP_SESSION_REDIS_CONNECTING;
    w->inflight = 0;

    /* the hooks must be in place: this adds the write event */

    redisAsyncSetConnectCallback(ac, ngx_http_session_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_session_redis_disconnected);

    ngx_add_timer(&w->connect_timer, rc->connect_timeout);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "session redis: connecting to %V", &rc->addr_text);

    /* queued now, sent as soon as the socket is writable */

    if (rc->password.len) {
        const char  *argv[3];
        size_t       argvlen[3];
        int          argc = 0;

        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (rc->user.len) {
            argv[argc] = (const char *) rc->user.data;
            argvlen[argc++] = rc->user.len;
        }

        argv[argc] = (const char *) rc->password.data;
        argvlen[argc++] = rc->password.len;

        redisAsyncCommandArgv(ac, ngx_http_session_redis_setup_reply,
                              (void *) "AUTH", argc, argv, argvlen);
    }

    if (rc->db) {
        u_char       buf[NGX_INT_T_LEN];
        const char  *argv[2];
        size_t       argvlen[2];

        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) buf;
        argvlen[1] = ngx_sprintf(buf, "%ui", rc->db) - buf;

        redisAsyncCommandArgv(ac, ngx_http_session_redis_setup_reply,
                              (void *) "SELECT", 2, argv, argvlen);
    }

    ngx_http_session_redis_load_scripts(ac);
}


/*
 * The scripts are loaded on every connection, pipelined before any
 * request's command, so EVALSHA always finds them; after a SCRIPT FLUSH
 * the first NOSCRIPT reply loads them again.
 */

static void
ngx_http_session_redis_load_scripts(redisAsyncContext *ac)
{
    ngx_uint_t   i;
    const char  *argv[3];
    size_t       argvlen[3];

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;

    for (i = 0; i < NGX_HTTP_SESSION_NSCRIPTS; i++) {
        argv[2] = (const char *) ngx_http_session_scripts[i].text.data;
        argvlen[2] = ngx_http_session_scripts[i].text.len;

        redisAsyncCommandArgv(ac, ngx_http_session_redis_setup_reply,
                              (void *) "SCRIPT LOAD", 3, argv, argvlen);
    }
}


static void
ngx_http_session_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->connect_timer.timer_set) {
        ngx_del_timer(&w->connect_timer);
    }

    if (status != REDIS_OK) {
        /* hiredis frees ac after this returns; cleanup() has the rest */
        ngx_http_session_redis_outage(ac->errstr);
        return;
    }

    w->state = NGX_HTTP_SESSION_REDIS_READY;
    w->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;

    if (w->outage) {
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "session redis %V: connection restored after %T s",
                      &w->smcf->redis->addr_text,
                      ngx_time() - w->down_since);
        w->outage = 0;

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "session redis: connected to %V",
                       &w->smcf->redis->addr_text);
    }
}


static void
ngx_http_session_redis_disconnected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_http_session_redis_outage(ac->errstr);
    }
}


static void
ngx_http_session_redis_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                       *rr = reply;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (rr == NULL) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        /* the error text is Redis's own and holds no secret */
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "session redis %V: %s failed: %*s",
                      &w->smcf->redis->addr_text, (char *) privdata,
                      (size_t) rr->len, rr->str);

        w->outage = 1;
        w->down_since = ngx_time();

        /* deferred by hiredis until this callback returns */
        redisAsyncFree(ac);
    }
}


/*
 * Called by hiredis whenever the context is freed, whatever the reason:
 * close the nginx connection (which also closes the socket) and tell
 * hiredis the descriptor is gone, so that it is not closed twice.
 */

static void
ngx_http_session_redis_cleanup(void *privdata)
{
    ngx_connection_t                 *c = privdata;
    redisAsyncContext                *ac;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ac = c->data;

    if (w->connect_timer.timer_set) {
        ngx_del_timer(&w->connect_timer);
    }

    ngx_close_connection(c);

    if (ac) {
        ac->c.fd = -1;
    }

    if (w->ac == ac) {
        w->ac = NULL;
        w->conn = NULL;
        w->state = NGX_HTTP_SESSION_REDIS_DOWN;
        w->inflight = 0;

        ngx_http_session_redis_schedule();
    }
}


static void
ngx_http_session_redis_schedule(void)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    w->state = NGX_HTTP_SESSION_REDIS_DOWN;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (w->reconnect.timer_set) {
        return;
    }

    ngx_add_timer(&w->reconnect, w->backoff);

    w->backoff *= 2;
    if (w->backoff > NGX_HTTP_SESSION_BACKOFF_MAX) {
        w->backoff = NGX_HTTP_SESSION_BACKOFF_MAX;
    }
}


static void
ngx_http_session_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (w->ac == NULL) {
        ngx_http_session_redis_connect();
    }
}


static void
ngx_http_session_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->ac && w->state == NGX_HTTP_SESSION_REDIS_CONNECTING) {
        ngx_http_session_redis_outage("connect timed out");
        redisAsyncFree(w->ac);
    }
}


/*
 * Logged once per outage at "error"; the requests that fail meanwhile
 * answer 503 without logging above "info".
 */

static void
ngx_http_session_redis_outage(const char *why)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->outage) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "session redis: still unavailable: %s", why);
        return;
    }

    w->outage = 1;
    w->down_since = ngx_time();

    ngx_log_error(NGX_LOG_ERR, w->log, 0,
                  "session redis %V unavailable: %s; protected locations "
                  "answer 503 until it is back",
                  &w->smcf->redis->addr_text, why);
}


static ngx_uint_t
ngx_http_session_redis_event_flags(void)
{
    return (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                   : NGX_LEVEL_EVENT;
}


static void
ngx_http_session_redis_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          ngx_http_session_redis_event_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "session redis: adding a read event failed");
        }
    }
}


static void
ngx_http_session_redis_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT,
                      ngx_http_session_redis_event_flags());
    }
}


static void
ngx_http_session_redis_add_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          ngx_http_session_redis_event_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "session redis: adding a write event failed");
        }
    }
}


static void
ngx_http_session_redis_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT,
                      ngx_http_session_redis_event_flags());
    }
}


/*
 * hiredis reads at most 16 KB per redisAsyncHandleRead(); with an
 * edge-triggered epoll a larger burst of replies would stay in the socket
 * with no new edge to come, so read until the socket is drained.
 */

static void
ngx_http_session_redis_read_handler(ngx_event_t *ev)
{
    int                               n;
    ngx_socket_t                      fd;
    ngx_connection_t                 *c = ev->data;
    redisAsyncContext                *ac = c->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    fd = c->fd;

    for ( ;; ) {
        redisAsyncHandleRead(ac);

        if (w->ac != ac) {
            /* freed inside, c is closed */
            return;
        }

        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


static void
ngx_http_session_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite((redisAsyncContext *) c->data);
}


/*
 * session_redis ADDRESS [db=N] [user=NAME] [password_file=FILE]
 *     [prefix=STR] [connect_timeout=TIME] [timeout=TIME];
 */

char *
ngx_http_session_redis_parse(ngx_conf_t *cf, ngx_http_session_redis_conf_t *rc,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char      *p, *last;
    ssize_t      size;
    ngx_int_t    port, db;
    ngx_str_t    host, s, file;
    ngx_uint_t   i;
    ngx_file_t   f;
    u_char       buf[4096];
    u_char       addr6[16];

    rc->addr_text = value[1];
    rc->db = 0;
    ngx_str_set(&rc->prefix, "session:");
    rc->connect_timeout = 1000;
    rc->timeout = 200;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        rc->unix_path.len = value[1].len - 5;
        rc->unix_path.data = ngx_pnalloc(cf->pool, rc->unix_path.len + 1);
        if (rc->unix_path.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rc->unix_path.data, value[1].data + 5,
                    rc->unix_path.len + 1);

    } else {
        last = value[1].data + value[1].len;
        p = ngx_strlchr(value[1].data, last, ']');
        p = ngx_strlchr(p ? p : value[1].data, last, ':');

        if (value[1].data[0] == '[') {
            p = ngx_strlchr(value[1].data, last, ']');
            if (p == NULL || p + 1 >= last || p[1] != ':') {
                goto bad_address;
            }

            host.data = value[1].data + 1;
            host.len = p - host.data;
            p++;

            if (ngx_inet6_addr(host.data, host.len, addr6) != NGX_OK) {
                goto bad_address;
            }

        } else {
            if (p == NULL) {
                goto bad_address;
            }

            host.data = value[1].data;
            host.len = p - host.data;

            if (host.len == 9
                && ngx_strncasecmp(host.data, (u_char *) "localhost", 9) == 0)
            {
                ngx_str_set(&host, "127.0.0.1");

            } else if (ngx_inet_addr(host.data, host.len) == INADDR_NONE) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"session_redis\" address \"%V\" must "
                                   "be a literal IP address, \"localhost\" "
                                   "or \"unix:/path\": names are not "
                                   "resolved at request time", &value[1]);
                return NGX_CONF_ERROR;
            }
        }

        port = ngx_atoi(p + 1, last - p - 1);
        if (port < 1 || port > 65535) {
            goto bad_address;
        }

        rc->port = (in_port_t) port;

        rc->host.len = host.len;
        rc->host.data = ngx_pnalloc(cf->pool, host.len + 1);
        if (rc->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rc->host.data, host.data, host.len + 1);
    }

    for (i = 2; i < n; i++) {

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            db = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (db == NGX_ERROR || db > 65535) {
                goto invalid;
            }

            rc->db = db;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rc->user.data = value[i].data + 5;
            rc->user.len = value[i].len - 5;

            if (rc->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rc->prefix.data = value[i].data + 7;
            rc->prefix.len = value[i].len - 7;

            if (rc->prefix.len == 0 || rc->prefix.len > 128) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rc->connect_timeout = ngx_parse_time(&s, 0);
            if (rc->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rc->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rc->timeout = ngx_parse_time(&s, 0);
            if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            file.data = value[i].data + 14;
            file.len = value[i].len - 14;

            if (file.len == 0) {
                goto invalid;
            }

            if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&f, sizeof(ngx_file_t));
            f.name = file;
            f.log = cf->log;

            f.fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
            if (f.fd == NGX_INVALID_FILE) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   "\"session_redis\" cannot open "
                                   "password file \"%V\"", &file);
                return NGX_CONF_ERROR;
            }

            size = ngx_read_file(&f, buf, sizeof(buf) - 1, 0);
            ngx_close_file(f.fd);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                                   "\"session_redis\" cannot read "
                                   "password file \"%V\"", &file);
                return NGX_CONF_ERROR;
            }

            /* the first line, without its line ending */

            for (p = buf; p < buf + size && *p != CR && *p != LF; p++) {
                /* void */
            }

            if (p == buf) {
                ngx_explicit_memzero(buf, sizeof(buf));
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"session_redis\" password file \"%V\" "
                                   "is empty", &file);
                return NGX_CONF_ERROR;
            }

            rc->password.len = p - buf;
            rc->password.data = ngx_pnalloc(cf->pool, rc->password.len + 1);
            if (rc->password.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_cpystrn(rc->password.data, buf, rc->password.len + 1);
            ngx_explicit_memzero(buf, sizeof(buf));

            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

bad_address:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" address \"%V\": expected "
                       "\"host:port\" or \"unix:/path\"", &value[1]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}
