
/*
 * ngx_http_session_module: who hears the revocation channel.  session_cache
 * (ngx_http_session_cache.c) and the live connections of session_live_close
 * (ngx_http_session_live.c) register a handler; the subscriber link
 * (ngx_http_session_redis.c) calls them all for every revoked session's
 * hash, and with NULL ("any session") when messages may have been missed.
 * The Redis layer calls up into neither: they register from above.
 *
 * The cache-hit path reads the messages already waiting on the subscriber
 * link before it serves a cached session
 * (ngx_http_session_redis_drain_revocations()), so that a revocation
 * whose message reached the worker before the request, from any worker of
 * any edge, is never served from the cache; on Linux a signal of the
 * link's socket says whether anything is waiting
 * (ngx_http_session_channel_arm()).  That runs inside a request's
 * handler: only the handlers registered with
 * ngx_http_session_redis_on_revoked_now() (the cache: shared-memory
 * evictions) are called then; the others (which may end other requests)
 * get the messages from a posted event, at the end of the event loop
 * iteration.
 */


#include "ngx_http_session_redis.h"

#if (NGX_LINUX) && defined(F_SETSIG) && defined(F_SETOWN_EX) \
    && defined(SIGRTMIN)
#include <sys/syscall.h>
#define NGX_HTTP_SESSION_CHANNEL_SIGNAL  1
/* nginx itself uses no real-time signal; glibc keeps the two below this */
#define NGX_HTTP_SESSION_CHANNEL_SIGNO   (SIGRTMIN + 6)
static void ngx_http_session_channel_signal(int signo);
#else
#define NGX_HTTP_SESSION_CHANNEL_SIGNAL  0
#endif


#define NGX_HTTP_SESSION_REVOKED_MAX   4

/* messages kept for the posted event; beyond: "any session" */
#define NGX_HTTP_SESSION_DEFERRED_MAX  16


typedef struct {
    ngx_http_session_revoked_pt    handler;
    ngx_uint_t                     now;     /* safe inside a request */
} ngx_http_session_revoked_handler_t;


static void ngx_http_session_channel_register(
    ngx_http_session_revoked_pt handler, ngx_uint_t now);
static void ngx_http_session_channel_defer(u_char *hash);
static void ngx_http_session_channel_deferred(ngx_event_t *ev);


static ngx_http_session_revoked_handler_t
    ngx_http_session_redis_revoked[NGX_HTTP_SESSION_REVOKED_MAX];

/* inside ngx_http_session_redis_drain_revocations() */
static ngx_uint_t    ngx_http_session_channel_draining;

/*
 * Set by the signal of an armed subscriber link: bytes arrived since the
 * last drain (ngx_http_session_channel_arm()); "pending" is its value for
 * the drain under way.
 */
static ngx_atomic_t           ngx_http_session_channel_arrived;
static ngx_uint_t             ngx_http_session_channel_pending;
#if (NGX_HTTP_SESSION_CHANNEL_SIGNAL)
static int                    ngx_http_session_channel_signo;
#endif

static ngx_event_t   ngx_http_session_channel_deferred_ev;
static u_char        ngx_http_session_channel_deferred_hash
                         [NGX_HTTP_SESSION_DEFERRED_MAX][SC_HASH_HEX_LEN];
static ngx_uint_t    ngx_http_session_channel_ndeferred;
static ngx_uint_t    ngx_http_session_channel_missed;


/* session_live_close registers here: called from the event loop only */

void
ngx_http_session_redis_on_revoked(ngx_http_session_revoked_pt handler)
{
    ngx_http_session_channel_register(handler, 0);
}


/* session_cache: its handler may also run inside a request's handler */

void
ngx_http_session_redis_on_revoked_now(ngx_http_session_revoked_pt handler)
{
    ngx_http_session_channel_register(handler, 1);
}


static void
ngx_http_session_channel_register(ngx_http_session_revoked_pt handler,
    ngx_uint_t now)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_SESSION_REVOKED_MAX; i++) {
        if (ngx_http_session_redis_revoked[i].handler == NULL
            || ngx_http_session_redis_revoked[i].handler == handler)
        {
            ngx_http_session_redis_revoked[i].handler = handler;
            ngx_http_session_redis_revoked[i].now = now;
            return;
        }
    }
}


void
ngx_http_session_channel_revoked(ngx_http_session_main_conf_t *smcf,
    u_char *hash)
{
    ngx_uint_t                           i, defer;
    ngx_http_session_revoked_handler_t  *h;

    defer = 0;

    for (i = 0; i < NGX_HTTP_SESSION_REVOKED_MAX; i++) {
        h = &ngx_http_session_redis_revoked[i];

        if (h->handler == NULL) {
            continue;
        }

        if (ngx_http_session_channel_draining && !h->now) {
            defer = 1;
            continue;
        }

        h->handler(smcf, hash);
    }

    if (defer) {
        ngx_http_session_channel_defer(hash);
    }
}


static void
ngx_http_session_channel_defer(u_char *hash)
{
    ngx_event_t  *ev = &ngx_http_session_channel_deferred_ev;

    if (hash == NULL
        || ngx_http_session_channel_ndeferred == NGX_HTTP_SESSION_DEFERRED_MAX)
    {
        ngx_http_session_channel_missed = 1;

    } else {
        ngx_memcpy(ngx_http_session_channel_deferred_hash
                                       [ngx_http_session_channel_ndeferred++],
                   hash, SC_HASH_HEX_LEN);
    }

    if (!ev->posted) {
        ev->handler = ngx_http_session_channel_deferred;
        ev->log = ngx_http_session_redis_worker.log;
        ngx_post_event(ev, &ngx_posted_events);
    }
}


/*
 * The messages read by a drain, for the handlers that were not called
 * then; copied first, since a handler may lead to another drain (and more
 * deferred messages) through another request.
 */

static void
ngx_http_session_channel_deferred(ngx_event_t *ev)
{
    u_char                              *hash;
    ngx_uint_t                           i, j, n, missed;
    ngx_http_session_revoked_handler_t  *h;
    ngx_http_session_redis_worker_t     *w = &ngx_http_session_redis_worker;
    u_char                               copy[NGX_HTTP_SESSION_DEFERRED_MAX]
                                             [SC_HASH_HEX_LEN];

    n = ngx_http_session_channel_ndeferred;
    missed = ngx_http_session_channel_missed;

    ngx_memcpy(copy, ngx_http_session_channel_deferred_hash,
               n * SC_HASH_HEX_LEN);

    ngx_http_session_channel_ndeferred = 0;
    ngx_http_session_channel_missed = 0;

    for (j = 0; j < n + missed; j++) {
        hash = (j < n) ? copy[j] : NULL;

        for (i = 0; i < NGX_HTTP_SESSION_REVOKED_MAX; i++) {
            h = &ngx_http_session_redis_revoked[i];

            if (h->handler && !h->now) {
                h->handler(w->smcf, hash);
            }
        }
    }
}


/*
 * Called by the cache-hit path before it serves a cached session: the
 * revocation messages already waiting on this worker's subscriber link
 * are read and dispatched now (the cache's handler evicts at once).  A
 * message can wait there while the worker handles a request that came
 * after it: epoll reports a connection that was ready earlier (its
 * request still incomplete) before the subscriber link.
 *
 * Whether anything is waiting is known without a system call on Linux:
 * a subscriber link's socket raises a signal when bytes arrive
 * (ngx_http_session_channel_arm()), whose handler only notes it.  The
 * kernel raises it as it queues the bytes, and a signal raised before a
 * system call returns is handled before the call's caller goes on: the
 * recv() that read a request which came after a message returned after
 * the message's signal, so its handler has run by the time the request
 * is here.  A link the signal is not set up for is asked with one
 * recv(MSG_PEEK) per hit.
 *
 * NGX_OK: nothing was waiting; NGX_DONE: what was waiting was read, and
 * the caller checks again that the link is subscribed (the drain may
 * have found it closed); either way it looks the session up again if
 * the cache changed meanwhile.  NGX_DECLINED: the link could not be read
 * here; the caller does not serve from the cache.
 */

ngx_int_t
ngx_http_session_redis_drain_revocations(void)
{
    ngx_int_t                         rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (ngx_http_session_channel_draining) {
        return NGX_DECLINED;
    }

    if (w->router == NULL && w->sub.armed
        && !ngx_http_session_channel_arrived)
    {
        return NGX_OK;
    }

    ngx_http_session_channel_draining = 1;

    /*
     * What arrives from now on is for the next drain: the flag is taken
     * and cleared in one step, a signal cannot fall in between.
     */

    do {
        ngx_http_session_channel_pending = ngx_http_session_channel_arrived;
    } while (ngx_http_session_channel_pending
             && !ngx_atomic_cmp_set(&ngx_http_session_channel_arrived,
                                    ngx_http_session_channel_pending, 0));

    /* cluster=: every master's subscriber link (ngx_http_session_cluster.c) */

    rc = w->router ? w->router->drain()
                   : ngx_http_session_link_drain(&w->sub);

    ngx_http_session_channel_draining = 0;

    if (rc == NGX_DECLINED) {
        /* the next hit tries again */
        ngx_http_session_channel_arrived = 1;
    }

    return rc;
}


/*
 * For the drain of a cluster's subscriber links: 1 if this one has
 * nothing waiting, known without asking its socket.
 */

ngx_uint_t
ngx_http_session_channel_quiet(ngx_http_session_link_t *link)
{
    return link->armed && !ngx_http_session_channel_pending;
}


#if (NGX_HTTP_SESSION_CHANNEL_SIGNAL)

static void
ngx_http_session_channel_signal(int signo)
{
    ngx_http_session_channel_arrived = 1;
}

#endif


/*
 * Once per worker, where session_cache is on: the handler of the signal
 * that subscriber links raise.  Not if the signal is already someone
 * else's (another module's): every hit then asks its socket.
 */

void
ngx_http_session_channel_init_process(ngx_log_t *log)
{
#if (NGX_HTTP_SESSION_CHANNEL_SIGNAL)
    struct sigaction  sa, old;

    ngx_http_session_channel_signo = 0;

    if (sigaction(NGX_HTTP_SESSION_CHANNEL_SIGNO, NULL, &old) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "session: sigaction(%d) failed: cached sessions are "
                      "served after a recv() of the subscriber link",
                      NGX_HTTP_SESSION_CHANNEL_SIGNO);
        return;
    }

    if (old.sa_handler != SIG_DFL) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "session: signal %d is in use: cached sessions are "
                      "served after a recv() of the subscriber link",
                      NGX_HTTP_SESSION_CHANNEL_SIGNO);
        return;
    }

    ngx_memzero(&sa, sizeof(struct sigaction));
    sa.sa_handler = ngx_http_session_channel_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);

    if (sigaction(NGX_HTTP_SESSION_CHANNEL_SIGNO, &sa, NULL) == -1) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "session: sigaction(%d) failed: cached sessions are "
                      "served after a recv() of the subscriber link",
                      NGX_HTTP_SESSION_CHANNEL_SIGNO);
        return;
    }

    ngx_http_session_channel_signo = NGX_HTTP_SESSION_CHANNEL_SIGNO;
#endif
}


/*
 * A subscriber link whose subscription is confirmed: its socket raises
 * the signal, to this thread, whenever bytes arrive (or the connection
 * ends).  Bytes that came before are in hiredis's buffer or read by the
 * handler that confirmed the subscription; the first drain after this
 * asks the socket anyway.
 */

void
ngx_http_session_channel_arm(ngx_http_session_link_t *link)
{
#if (NGX_HTTP_SESSION_CHANNEL_SIGNAL)
    int                 fd, flags;
    struct sigaction    cur;
    struct f_owner_ex   owner;

    link->armed = 0;

    if (ngx_http_session_channel_signo == 0 || link->ac == NULL) {
        return;
    }

    /*
     * Every module's init_process has run by now: one that installed a
     * handler of its own for the signal after this module did would leave
     * the flag unset, and the hits would skip the drain
     */

    if (sigaction(ngx_http_session_channel_signo, NULL, &cur) == -1
        || cur.sa_handler != ngx_http_session_channel_signal)
    {
        ngx_log_error(NGX_LOG_NOTICE, ngx_http_session_redis_worker.log, 0,
                      "session: signal %d has another handler: cached "
                      "sessions are served after a recv() of the "
                      "subscriber link", ngx_http_session_channel_signo);
        ngx_http_session_channel_signo = 0;
        return;
    }

    fd = link->ac->c.fd;

    owner.type = F_OWNER_TID;
    owner.pid = (pid_t) syscall(SYS_gettid);

    flags = fcntl(fd, F_GETFL);

    if (flags == -1
        || fcntl(fd, F_SETOWN_EX, &owner) == -1
        || fcntl(fd, F_SETSIG, ngx_http_session_channel_signo) == -1
        || fcntl(fd, F_SETFL, flags | O_ASYNC) == -1)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_http_session_redis_worker.log,
                      ngx_errno, "session: the %s cannot signal its "
                      "messages: cached sessions are served after a recv() "
                      "of it", link->name);
        return;
    }

    link->armed = 1;
    ngx_http_session_channel_arrived = 1;
#else
    link->armed = 0;
#endif
}


/* the revocation channel is live: cached sessions may be served */

ngx_int_t
ngx_http_session_redis_subscribed(void)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->router) {
        return w->router->subscribed();
    }

    return w->sub.subscribed;
}
