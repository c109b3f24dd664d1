
/*
 * ngx_http_session_module: hiredis on nginx's event loop.  A hiredis
 * context's socket is wrapped in an nginx connection, so that epoll sees
 * it with nginx's stale-event protection; hiredis's add/del read/write
 * hooks map to nginx events, and its cleanup hook closes the connection.
 */


#include "ngx_http_session_redis.h"

#include <sys/ioctl.h>
#include <hiredis/sds.h>


#if (NGX_HTTP_SESSION_PROCESS_CALLBACKS)
/* exported by libhiredis, declared only in its private headers (config) */
void redisProcessCallbacks(redisAsyncContext *ac);
#endif


/* an output buffer grown larger by a burst is freed once it is written */
#define NGX_HTTP_SESSION_OBUF_KEEP  (64 * 1024)


static void ngx_http_session_add_read(void *privdata);
static void ngx_http_session_del_read(void *privdata);
static void ngx_http_session_add_write(void *privdata);
static void ngx_http_session_del_write(void *privdata);
static void ngx_http_session_cleanup(void *privdata);
static void ngx_http_session_read_handler(ngx_event_t *ev);
static void ngx_http_session_write_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_session_link_send(redisAsyncContext *ac,
    ngx_connection_t *c);
static ngx_inline ngx_uint_t ngx_http_session_link_plain(
    redisAsyncContext *ac);


/* inside redisAsyncHandleWrite(): see ngx_http_session_add_write() */
static ngx_uint_t  ngx_http_session_writing;


/*
 * Wraps a new hiredis context's socket in an nginx connection and maps
 * hiredis's event hooks to it.  NULL (and the context freed) on failure.
 */

redisAsyncContext *
ngx_http_session_attach(ngx_http_session_link_t *link, redisAsyncContext *ac)
{
    ngx_connection_t                 *c;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (ac == NULL) {
        w->outage(link, "out of memory");
        return NULL;
    }

    if (ac->err) {
        w->outage(link, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, w->log);
    if (c == NULL) {
        w->outage(link, "no free worker connection");
        redisAsyncFree(ac);
        return NULL;
    }

    /* before the first byte is read: every reply comes from the list */

    ac->c.reader->fn = &ngx_http_session_reply_functions;
    ac->c.reader->privdata = ac;

    c->data = ac;
    c->read->handler = ngx_http_session_read_handler;
    c->write->handler = ngx_http_session_write_handler;
    c->read->log = w->log;
    c->write->log = w->log;
    c->log = w->log;

    ac->data = link;
    ac->ev.data = c;
    ac->ev.addRead = ngx_http_session_add_read;
    ac->ev.delRead = ngx_http_session_del_read;
    ac->ev.addWrite = ngx_http_session_add_write;
    ac->ev.delWrite = ngx_http_session_del_write;
    ac->ev.cleanup = ngx_http_session_cleanup;

    return ac;
}


/* AUTH, SELECT, the scripts or SUBSCRIBE: pipelined before anything else */


/*
 * Called by hiredis whenever a context is freed, whatever the reason:
 * close the nginx connection (which also closes the socket) and tell
 * hiredis the descriptor is gone, so that it is not closed twice; the
 * link layer then updates its link.
 */

static void
ngx_http_session_cleanup(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac;

    ac = c->data;

    ngx_close_connection(c);
    ac->c.fd = -1;

    ngx_http_session_redis_worker.closed(ac->data, ac);
}


static ngx_uint_t
ngx_http_session_event_flags(void)
{
    return (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                   : NGX_LEVEL_EVENT;
}


static void
ngx_http_session_add_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          ngx_http_session_event_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "session redis: adding a read event failed");
        }
    }
}


static void
ngx_http_session_del_read(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT,
                      ngx_http_session_event_flags());
    }
}


static void
ngx_http_session_add_write(void *privdata)
{
    ngx_connection_t   *c = privdata;
    redisAsyncContext  *ac = c->data;

    /*
     * Commands of a connected link are written once per event loop
     * iteration, after all of its events: one write() carries every
     * command the iteration produced, and the replies can be back by the
     * next iteration, with no epoll_ctl() and no epoll_wait() round for
     * EPOLLOUT.  Only when hiredis could not write everything (the socket
     * buffer is full), or while connecting, does the link wait for
     * EPOLLOUT.
     */

    if ((ac->c.flags & REDIS_CONNECTED) && !ngx_http_session_writing) {
        if (!c->write->posted && !c->write->active) {
            ngx_post_event(c->write, &ngx_posted_events);
        }

        return;
    }

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          ngx_http_session_event_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "session redis: adding a write event failed");
        }
    }
}


static void
ngx_http_session_del_write(void *privdata)
{
    ngx_connection_t  *c = privdata;

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT,
                      ngx_http_session_event_flags());
    }
}


/*
 * A connected link's replies are read here, not by redisAsyncHandleRead():
 * one recv() into a 16 KB buffer (hiredis's own size), fed to the reader,
 * and the callbacks run (redisProcessCallbacks(), what hiredis does after
 * its own read).  A read shorter than the buffer drained the socket: more
 * bytes coming later bring a new edge, so no FIONREAD is needed to know
 * (hiredis does not say how much it read).  The end of the stream or an
 * error is left to redisAsyncHandleRead(), which reads again, meets it
 * and drops the link the usual way; so is a link still connecting, or
 * one hiredis is taking down.
 *
 * With an edge-triggered epoll, a burst larger than the buffer would stay
 * in the socket with no new edge to come: the loop reads until a short
 * read.
 */

#define NGX_HTTP_SESSION_LINK_READ  (16 * 1024)

static void
ngx_http_session_read_handler(ngx_event_t *ev)
{
    int                       n;
    ngx_socket_t              fd;
    ngx_connection_t         *c = ev->data;
    redisAsyncContext        *ac = c->data;
    ngx_http_session_link_t  *link = ac->data;
#if (NGX_HTTP_SESSION_PROCESS_CALLBACKS)
    ssize_t                   got;
    ngx_err_t                 err;
    u_char                    buf[NGX_HTTP_SESSION_LINK_READ];
#endif

    fd = c->fd;

    for ( ;; ) {

#if (NGX_HTTP_SESSION_PROCESS_CALLBACKS)
        if (!ngx_http_session_link_plain(ac))
#endif
        {
            redisAsyncHandleRead(ac);

            if (link->ac != ac && link->sentinel != ac) {
                /* freed inside, c is closed */
                return;
            }

            if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
                return;
            }

            continue;
        }

#if (NGX_HTTP_SESSION_PROCESS_CALLBACKS)

        got = recv(fd, buf, NGX_HTTP_SESSION_LINK_READ, 0);

        if (got > 0) {
            /* a reader in error (or out of memory) fails the next reply */
            (void) redisReaderFeed(ac->c.reader, (const char *) buf,
                                   (size_t) got);

            redisProcessCallbacks(ac);

            if (link->ac != ac && link->sentinel != ac) {
                return;
            }

            if (got < NGX_HTTP_SESSION_LINK_READ) {
                return;
            }

            continue;
        }

        if (got == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN) {
                return;
            }

            if (err == NGX_EINTR) {
                continue;
            }
        }

        /* the end of the stream or an error: hiredis meets it too */

        redisAsyncHandleRead(ac);
        return;

#endif
    }
}


/*
 * Reads now whatever is already waiting on a link's socket, outside of its
 * read handler (ngx_http_session_redis_drain_revocations()): one
 * recv(MSG_PEEK) when nothing is.  NGX_OK: nothing was waiting, nothing
 * changed; NGX_DONE: what was waiting was read and nothing is left (the
 * link may be gone: the caller checks); NGX_DECLINED: the link could not
 * be read here, or more kept coming.
 *
 * Safe with nginx's edge-triggered epoll: reading here consumes no epoll
 * notification, so the read handler still runs for every edge (and then
 * finds EAGAIN, which hiredis takes as "nothing yet"); bytes left unread
 * came after an edge still to be reported.  Not from inside one of the
 * link's own callbacks (hiredis is not reentrant), nor while it connects
 * or is being freed.
 */

ngx_int_t
ngx_http_session_link_drain(ngx_http_session_link_t *link)
{
    u_char              byte;
    ssize_t             n;
    ngx_uint_t          i;
    ngx_socket_t        fd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = link->ac;

    if (ac == NULL
        || (ac->c.flags & (REDIS_CONNECTED|REDIS_IN_CALLBACK
                           |REDIS_DISCONNECTING|REDIS_FREEING))
           != REDIS_CONNECTED)
    {
        return NGX_DECLINED;
    }

    c = ac->ev.data;
    fd = c->fd;

    for (i = 0; i < NGX_HTTP_SESSION_DRAIN_MAX; i++) {

        n = recv(fd, &byte, 1, MSG_PEEK|MSG_DONTWAIT);

        if (n == -1 && ngx_socket_errno == NGX_EAGAIN) {
            return i ? NGX_DONE : NGX_OK;
        }

        /* bytes, the end of the stream or an error: hiredis reads it */

        redisAsyncHandleRead(ac);

        if (link->ac != ac) {
            /* freed inside, c is closed */
            return NGX_DONE;
        }
    }

    return NGX_DECLINED;
}


static void
ngx_http_session_write_handler(ngx_event_t *ev)
{
    ngx_int_t                 rc;
    ngx_connection_t         *c = ev->data;
    redisAsyncContext        *ac = c->data;
    ngx_http_session_link_t  *link = ac->data;

    link->unflushed = 0;

    if (ngx_http_session_link_plain(ac)) {
        rc = ngx_http_session_link_send(ac, c);

        if (rc == NGX_OK) {
            ngx_http_session_del_write(c);
            return;
        }

        if (rc == NGX_AGAIN) {
            ngx_http_session_writing = 1;
            ngx_http_session_add_write(c);
            ngx_http_session_writing = 0;
            return;
        }

        /* NGX_ERROR: the buffer is intact, hiredis meets the error again */
    }

    ngx_http_session_writing = 1;

    redisAsyncHandleWrite(ac);

    ngx_http_session_writing = 0;
}


/*
 * A connected link's commands are written here, not by redisBufferWrite():
 * one send() of the output buffer, which is then emptied and kept.
 * hiredis frees a written buffer and allocates an empty one, and the next
 * command grows it again: three allocator calls per write
 * (docs/benchmarks.md).  A buffer grown large by a burst is given back.
 * NGX_OK: all written; NGX_AGAIN: the socket is full, the rest waits in
 * the buffer; NGX_ERROR: nothing was written, and the buffer is left as
 * it was for redisAsyncHandleWrite() (or redisBufferWrite()), which meets
 * the error again and reports it the usual way.
 */

static ngx_int_t
ngx_http_session_link_send(redisAsyncContext *ac, ngx_connection_t *c)
{
    sds        obuf, fresh;
    size_t     len;
    ssize_t    n;
    ngx_err_t  err;

    obuf = ac->c.obuf;
    len = sdslen(obuf);

    if (len == 0) {
        return NGX_OK;
    }

    for ( ;; ) {
        n = send(c->fd, obuf, len, 0);

        if (n != -1) {
            break;
        }

        err = ngx_socket_errno;

        if (err == NGX_EAGAIN) {
            return NGX_AGAIN;
        }

        if (err != NGX_EINTR) {
            return NGX_ERROR;
        }
    }

    if ((size_t) n < len) {
        (void) sdsrange(obuf, n, -1);
        return NGX_AGAIN;
    }

    if (sdsalloc(obuf) > NGX_HTTP_SESSION_OBUF_KEEP) {
        fresh = sdsempty();

        if (fresh) {
            sdsfree(obuf);
            ac->c.obuf = fresh;
            return NGX_OK;
        }
    }

    sdsclear(obuf);

    return NGX_OK;
}


/* connected, and neither in a callback nor being taken down by hiredis */

static ngx_inline ngx_uint_t
ngx_http_session_link_plain(redisAsyncContext *ac)
{
    return (ac->c.flags & (REDIS_CONNECTED|REDIS_IN_CALLBACK
                           |REDIS_DISCONNECTING|REDIS_FREEING))
           == REDIS_CONNECTED
           && ac->c.err == 0;
}


/*
 * A long event loop iteration (a burst of requests) would hold its first
 * commands back until its end while Redis sits idle: when
 * NGX_HTTP_SESSION_REDIS_BATCH commands are waiting and none is in flight
 * before them, they are written at once, and Redis works on them while the
 * worker goes on with the iteration.  Only then: while earlier commands
 * are in flight Redis is busy anyway, and an extra write() (and an extra
 * wakeup of Redis) would cost CPU for nothing.  The posted write event
 * still runs at the end of the iteration and writes the rest.
 * A write error stays in the buffer until that event's
 * redisAsyncHandleWrite() meets it and drops the link as usual, outside
 * of any request's handler; while the socket is full the link waits for
 * EPOLLOUT and nothing is written here.
 */

void
ngx_http_session_link_flush(ngx_http_session_link_t *link)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    link->unflushed = 0;

    ac = link->ac;
    c = ac->ev.data;

    if (!ngx_http_session_link_plain(ac) || c->write->active) {
        return;
    }

    (void) ngx_http_session_link_send(ac, c);
}
