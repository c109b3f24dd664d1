
/*
 * ngx_http_session_module: the Redis store, its links.
 *
 * Each worker keeps two links to Redis, both hiredis async contexts on
 * nginx's own event loop (ngx_http_session_redis_event.c): the command
 * link, which all in-flight requests of the worker share by pipelining,
 * and, when session_cache is on, a subscriber link for the revocation
 * channel.  Nothing here blocks: addresses are literal, unix sockets,
 * resolved at configuration time or by http{}'s resolver, and hiredis's
 * synchronous API is never called.  With Sentinel, each (re)connection
 * first asks the sentinels, asynchronously too, for the current master.
 *
 * Commands and their replies are in ngx_http_session_redis_op.c, the
 * reply allocator in _redis_reply.c, session_redis in _redis_conf.c; a
 * request's wait for a reply in ngx_http_session_call.c.
 */


#include "ngx_http_session_redis.h"


static void ngx_http_session_link_open(ngx_http_session_link_t *link,
    const char *host, in_port_t port, const char *path);
static void ngx_http_session_link_target(ngx_http_session_link_t *link,
    ngx_http_session_addr_t *sa, ngx_uint_t purpose);
static void ngx_http_session_link_resolve(ngx_http_session_link_t *link,
    ngx_str_t *name, in_port_t port, ngx_uint_t purpose);
static void ngx_http_session_resolved(ngx_resolver_ctx_t *ctx);
static void ngx_http_session_recheck_handler(ngx_event_t *ev);
static void ngx_http_session_sentinel_open(ngx_http_session_link_t *link,
    const char *host, in_port_t port);
static void ngx_http_session_reconnect_handler(ngx_event_t *ev);
static void ngx_http_session_connect_timeout(ngx_event_t *ev);
static void ngx_http_session_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_setup(ngx_http_session_link_t *link);
static void ngx_http_session_link_ready(ngx_http_session_link_t *link);
static void ngx_http_session_setup_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_session_message(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_session_sentinel_query(ngx_http_session_link_t *link);
static void ngx_http_session_sentinel_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_sentinel_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_session_link_closed(ngx_http_session_link_t *link,
    redisAsyncContext *ac);


ngx_int_t
ngx_http_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_session_main_conf_t *smcf)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ngx_memzero(w, sizeof(ngx_http_session_redis_worker_t));

    w->smcf = smcf;
    w->log = cycle->log;
    w->outage = ngx_http_session_link_outage;
    w->garbage = ngx_http_session_link_garbage;
    w->closed = ngx_http_session_link_closed;

    if (!smcf->redis->cluster) {     /* else ngx_http_session_cluster.c's */
        ngx_http_session_link_init(&w->cmd, "redis", 0, cycle);
        ngx_http_session_link_connect(&w->cmd);
    }

    /* cluster=: one subscriber link per master (ngx_http_session_cluster.c) */

    if (smcf->cache_zone) {
        ngx_http_session_channel_init_process(cycle->log);
    }

    if ((smcf->cache_zone || smcf->live_close) && !smcf->redis->cluster) {
        ngx_http_session_link_init(&w->sub, "redis subscriber", 1, cycle);
        ngx_http_session_link_connect(&w->sub);
    }

    return NGX_OK;
}


void
ngx_http_session_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_session_op_t            *op;
    ngx_http_session_reply_t         *rp;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    w->exiting = 1;

    ngx_http_session_link_drop(&w->cmd);
    ngx_http_session_link_drop(&w->sub);

    /* every pending command has been called back by now */

    while (w->free_ops) {
        op = w->free_ops;
        w->free_ops = op->next;
        ngx_free(op);
    }

    while (w->free_replies) {
        rp = w->free_replies;
        w->free_replies = rp->next;
        ngx_free(rp);
    }

    w->nfree_replies = 0;
}


void
ngx_http_session_link_init(ngx_http_session_link_t *link, const char *name,
    ngx_uint_t subscriber, ngx_cycle_t *cycle)
{
    link->name = name;
    link->subscriber = subscriber;
    link->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;

    link->reconnect.handler = ngx_http_session_reconnect_handler;
    link->reconnect.log = cycle->log;
    link->reconnect.data = link;
    link->reconnect.cancelable = 1;

    link->connect_timer.handler = ngx_http_session_connect_timeout;
    link->connect_timer.log = cycle->log;
    link->connect_timer.data = link;
    link->connect_timer.cancelable = 1;

    link->recheck.handler = ngx_http_session_recheck_handler;
    link->recheck.log = cycle->log;
    link->recheck.data = link;
    link->recheck.cancelable = 1;
    link->restored.handler = ngx_http_session_link_restored;
    link->restored.log = cycle->log;
    link->restored.data = link;
}


/* frees the link's contexts and cancels its timers (worker exit) */

void
ngx_http_session_link_drop(ngx_http_session_link_t *link)
{
    redisAsyncContext  *ac;

    if (link->reconnect.timer_set) {
        ngx_del_timer(&link->reconnect);
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->recheck.timer_set) {
        ngx_del_timer(&link->recheck);
    }

    if (link->resolving) {
        ngx_resolve_name_done(link->resolving);
        link->resolving = NULL;
    }

    if (link->restored.posted) {
        ngx_delete_posted_event(&link->restored);
    }

    if (link->sentinel) {
        ac = link->sentinel;
        ac->onConnect = NULL;
        redisAsyncFree(ac);
        link->sentinel = NULL;
    }

    if (link->ac) {
        ac = link->ac;
        ac->onDisconnect = NULL;
        redisAsyncFree(ac);
        link->ac = NULL;
    }
}


ngx_int_t
ngx_http_session_redis_available(void)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->router) {
        return w->router->available();
    }

    return w->cmd.ac != NULL
           && (w->cmd.state == NGX_HTTP_SESSION_LINK_READY
               || w->cmd.state == NGX_HTTP_SESSION_LINK_CONNECTING);
}


/*
 * A reply of the wrong type for the command it answers: the link is out
 * of step with the commands sent (or the server misbehaves), so every
 * reply after it would be wrong too.  The command link is dropped; the
 * caller is inside a reply callback, where hiredis defers the free.
 */

void
ngx_http_session_redis_desync(const char *why)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;
    ngx_http_session_link_t          *link = w->replying ? w->replying
                                                         : &w->cmd;

    if (link->ac == NULL
        || (link->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return;
    }

    ngx_http_session_link_garbage(link, why);

    redisAsyncFree(link->ac);
}


/*
 * A link dropped for garbage: logged as an outage, and reconnected after
 * the longest backoff, so that a server that keeps misbehaving costs one
 * connection a second and no log line until it behaves again.
 */

void
ngx_http_session_link_garbage(ngx_http_session_link_t *link, const char *why)
{
    ngx_http_session_link_outage(link, why);

    link->backoff = NGX_HTTP_SESSION_BACKOFF_MAX;
}


void
ngx_http_session_link_connect(ngx_http_session_link_t *link)
{
    ngx_http_session_addr_t          *sa;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;

    if (link->fixed) {
        /* a cluster node: only while the slot map has a use for it */
        if (w->router && w->router->wanted(link)) {
            ngx_http_session_link_target(link, link->fixed,
                                         NGX_HTTP_SESSION_RESOLVE_SERVER);
        } else {
            link->state = NGX_HTTP_SESSION_LINK_DOWN;
        }

        return;
    }

    if (rc->sentinels) {
        ngx_http_session_sentinel_query(link);
        return;
    }

    if (rc->unix_path.len) {
        ngx_http_session_link_open(link, NULL, 0,
                                   (const char *) rc->unix_path.data);
        return;
    }

    /* addresses resolved at load time are tried in turn */

    sa = rc->servers->elts;
    sa = &sa[link->next_addr++ % rc->servers->nelts];

    ngx_http_session_link_target(link, sa, NGX_HTTP_SESSION_RESOLVE_SERVER);
}


/* a literal address is connected to at once, a name resolved first */

static void
ngx_http_session_link_target(ngx_http_session_link_t *link,
    ngx_http_session_addr_t *sa, ngx_uint_t purpose)
{
    if (sa->name) {
        ngx_http_session_link_resolve(link, &sa->host, sa->port, purpose);
        return;
    }

    link->peer_name.len = 0;

    if (purpose == NGX_HTTP_SESSION_RESOLVE_SENTINEL) {
        ngx_http_session_sentinel_open(link, (const char *) sa->host.data,
                                       sa->port);

    } else {
        ngx_http_session_link_open(link, (const char *) sa->host.data,
                                   sa->port, NULL);
    }
}


/*
 * Host names go through nginx's resolver, never through getaddrinfo():
 * hiredis is handed the numeric address.  The answer may come at once
 * (from the resolver's cache, inside ngx_resolve_name()) or later.
 */

static void
ngx_http_session_link_resolve(ngx_http_session_link_t *link, ngx_str_t *name,
    in_port_t port, ngx_uint_t purpose)
{
    ngx_resolver_ctx_t               *ctx;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    u_char                            why[NGX_HTTP_SESSION_HOST_LEN + 128];

    rc = w->smcf->redis;

    /* without a resolver, names were resolved at load time */

    ctx = rc->resolver ? ngx_resolve_start(rc->resolver, NULL) : NULL;

    if (ctx == NULL || ctx == NGX_NO_RESOLVER) {
        ngx_snprintf(why, sizeof(why), "cannot resolve \"%V\"%Z", name);
        goto failed;
    }

    ctx->name = *name;
    ctx->handler = ngx_http_session_resolved;
    ctx->data = link;
    ctx->timeout = rc->resolver_timeout;
    ctx->cancelable = 1;

    link->resolving = ctx;
    link->resolve_for = purpose;
    link->resolve_name = *name;
    link->resolve_port = port;

    if (purpose != NGX_HTTP_SESSION_RESOLVE_RECHECK) {
        link->state = NGX_HTTP_SESSION_LINK_RESOLVING;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "session %s: resolving \"%V\"", link->name, name);

    if (ngx_resolve_name(ctx) == NGX_OK) {
        return;
    }

    /* ctx is freed */

    link->resolving = NULL;
    ngx_snprintf(why, sizeof(why), "cannot resolve \"%V\"%Z", name);

failed:

    if (purpose == NGX_HTTP_SESSION_RESOLVE_RECHECK) {
        /* the link stays as it is; asked again later */

        if (link->ac && !w->exiting && !link->recheck.timer_set) {
            ngx_add_timer(&link->recheck, NGX_HTTP_SESSION_RECHECK_MIN);
        }

        return;
    }

    ngx_http_session_link_outage(link, (char *) why);
    ngx_http_session_link_schedule(link);
}


static void
ngx_http_session_resolved(ngx_resolver_ctx_t *ctx)
{
    ngx_http_session_link_t          *link = ctx->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    size_t                            len;
    ngx_uint_t                        i, purpose;
    ngx_msec_t                        delay;
    ngx_resolver_addr_t              *ra;
    u_char                            why[NGX_HTTP_SESSION_HOST_LEN + 128];
    u_char                            text[NGX_SOCKADDR_STRLEN];

    link->resolving = NULL;
    purpose = link->resolve_for;

    if (ctx->state != NGX_OK || ctx->naddrs == 0) {
        ngx_snprintf(why, sizeof(why), "\"%V\" could not be resolved "
                     "(%i: %s)%Z", &ctx->name, ctx->state,
                     ngx_resolver_strerror(ctx->state));
        ngx_resolve_name_done(ctx);

        if (purpose == NGX_HTTP_SESSION_RESOLVE_RECHECK) {
            /* the link still works: keep it, ask again later */

            if (!link->recheck_failed) {
                ngx_log_error(NGX_LOG_WARN, w->log, 0,
                              "session %s %V: %s; staying on %s",
                              link->name, &w->smcf->redis->addr_text, why,
                              link->peer_text);
                link->recheck_failed = 1;
            }

            if (link->ac && !w->exiting) {
                ngx_add_timer(&link->recheck, NGX_HTTP_SESSION_RECHECK_MIN);
            }

            return;
        }

        ngx_http_session_link_outage(link, (char *) why);
        ngx_http_session_link_schedule(link);
        return;
    }

    link->recheck_failed = 0;

    if (purpose == NGX_HTTP_SESSION_RESOLVE_RECHECK) {

        link->peer_valid = ctx->valid;

        for (i = 0; i < ctx->naddrs; i++) {
            ra = &ctx->addrs[i];

            if (ngx_cmp_sockaddr(ra->sockaddr, ra->socklen,
                                 &link->peer.sockaddr, link->peer_len, 0)
                == NGX_OK)
            {
                /* still there */

                ngx_resolve_name_done(ctx);

                if (link->ac && !w->exiting) {
                    delay = (link->peer_valid > ngx_time())
                            ? (ngx_msec_t) (link->peer_valid - ngx_time())
                              * 1000
                            : 0;

                    ngx_add_timer(&link->recheck,
                                  ngx_max(delay,
                                          NGX_HTTP_SESSION_RECHECK_MIN));
                }

                return;
            }
        }

        len = ngx_sock_ntop(ctx->addrs[0].sockaddr, ctx->addrs[0].socklen,
                            text, NGX_SOCKADDR_STRLEN, 0);

        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "session %s %V: \"%V\" now resolves to %*s, "
                      "not %s: reconnecting", link->name,
                      &w->smcf->redis->addr_text, &ctx->name, len, text,
                      link->peer_text);

        ngx_resolve_name_done(ctx);

        if (link->ac) {
            /* cleanup() schedules the reconnection, which resolves again */
            link->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;
            redisAsyncFree(link->ac);
        }

        return;
    }

    /* several addresses: tried in turn, one per (re)connection */

    ra = &ctx->addrs[link->next_addr++ % ctx->naddrs];

    ngx_memcpy(&link->peer, ra->sockaddr, ra->socklen);
    link->peer_len = ra->socklen;
    link->peer_valid = ctx->valid;
    link->peer_name = link->resolve_name;
    link->peer_port = link->resolve_port;

    len = ngx_sock_ntop(ra->sockaddr, ra->socklen, (u_char *) link->peer_text,
                        NGX_SOCKADDR_STRLEN - 1, 0);
    link->peer_text[len] = '\0';

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "session %s: \"%V\" is %s", link->name, &ctx->name,
                   link->peer_text);

    ngx_resolve_name_done(ctx);

    if (purpose == NGX_HTTP_SESSION_RESOLVE_SENTINEL) {
        link->peer_name.len = 0;
        ngx_http_session_sentinel_open(link, link->peer_text,
                                       link->resolve_port);

    } else {
        ngx_http_session_link_open(link, link->peer_text, link->resolve_port,
                                   NULL);
    }
}


/*
 * A link connected to a name asks the resolver again when the answer's
 * TTL (or the resolver's "valid=") has run out, and moves to the new
 * address if the name no longer points to the one it is connected to.
 */

static void
ngx_http_session_recheck_handler(ngx_event_t *ev)
{
    ngx_http_session_link_t          *link = ev->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (link->ac == NULL || link->resolving || link->peer_name.len == 0) {
        return;
    }

    ngx_http_session_link_resolve(link, &link->peer_name, link->peer_port,
                                  NGX_HTTP_SESSION_RESOLVE_RECHECK);
}


static void
ngx_http_session_link_open(ngx_http_session_link_t *link, const char *host,
    in_port_t port, const char *path)
{
    redisAsyncContext                *ac;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;

    ac = path ? redisAsyncConnectUnix(path) : redisAsyncConnect(host, port);

    ac = ngx_http_session_attach(link, ac);
    if (ac == NULL) {
        ngx_http_session_link_schedule(link);
        return;
    }

    link->ac = ac;
    link->state = NGX_HTTP_SESSION_LINK_CONNECTING;
    link->inflight = 0;

    if (link->opened) {
        ngx_http_session_count(redis_reconnects);
    }

    link->opened = 1;

    /* the hooks are in place: this adds the write event */

    redisAsyncSetConnectCallback(ac, ngx_http_session_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_session_disconnected);

    ngx_add_timer(&link->connect_timer, rc->connect_timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, w->log, 0,
                   "session %s: connecting to %s", link->name,
                   path ? path : host);

    /* queued now, sent as soon as the socket is writable */

    ngx_http_session_setup(link);
}


static void
ngx_http_session_setup(ngx_http_session_link_t *link)
{
    int                               argc;
    u_char                           *p;
    size_t                            argvlen[3];
    const char                       *argv[3];
    redisAsyncContext                *ac;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;
    u_char                            buf[NGX_INT_T_LEN];

    ac = link->ac;
    rc = w->smcf->redis;
    link->setup_pending = 0;

    if (rc->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (rc->user.len) {
            argv[argc] = (const char *) rc->user.data;
            argvlen[argc++] = rc->user.len;
        }

        argv[argc] = (const char *) rc->password.data;
        argvlen[argc++] = rc->password.len;

        redisAsyncCommandArgv(ac, ngx_http_session_setup_reply,
                              (void *) "AUTH", argc, argv, argvlen);
        link->setup_pending++;
    }

    if (link->subscriber) {
        argv[0] = "SUBSCRIBE";
        argvlen[0] = 9;
        argv[1] = (const char *) w->smcf->channel.data;
        argvlen[1] = w->smcf->channel.len;

        redisAsyncCommandArgv(ac, ngx_http_session_message, link, 2, argv,
                              argvlen);
        return;
    }

    if (rc->db) {
        p = ngx_sprintf(buf, "%ui", rc->db);

        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) buf;
        argvlen[1] = p - buf;

        redisAsyncCommandArgv(ac, ngx_http_session_setup_reply,
                              (void *) "SELECT", 2, argv, argvlen);
        link->setup_pending++;
    }

    ngx_http_session_load_scripts(ac);
    link->setup_pending += NGX_HTTP_SESSION_NSCRIPTS;
}


/*
 * The scripts are loaded on every connection, pipelined before any
 * request's command, so EVALSHA always finds them; after a SCRIPT FLUSH
 * the first NOSCRIPT reply loads them again.
 */

void
ngx_http_session_load_scripts(redisAsyncContext *ac)
{
    ngx_uint_t   i;
    size_t       argvlen[3];
    const char  *argv[3];

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;

    for (i = 0; i < NGX_HTTP_SESSION_NSCRIPTS; i++) {
        argv[2] = (const char *) ngx_http_session_scripts[i].text.data;
        argvlen[2] = ngx_http_session_scripts[i].text.len;

        redisAsyncCommandArgv(ac, ngx_http_session_setup_reply,
                              (void *) "SCRIPT LOAD", 3, argv, argvlen);
    }
}


static void
ngx_http_session_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_session_link_t  *link = ac->data;

    if (status != REDIS_OK) {
        if (link->connect_timer.timer_set) {
            ngx_del_timer(&link->connect_timer);
        }

        /* hiredis frees ac after this returns; cleanup() has the rest */
        ngx_http_session_link_outage(link, ac->errstr);
        return;
    }

    /*
     * Only TCP is up: the link is ready once its setup commands (AUTH,
     * SELECT, SCRIPT LOAD, or SUBSCRIBE) have succeeded, which the
     * connect timer still bounds.  A server that accepts connections and
     * then refuses the setup therefore keeps the backoff growing.
     */

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_http_session_redis_worker.log, 0,
                   "session %s: connected, setting up", link->name);
}


static void
ngx_http_session_link_ready(ngx_http_session_link_t *link)
{
    ngx_msec_t  delay;

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    link->state = NGX_HTTP_SESSION_LINK_READY;
    link->name_refused = 0;

    if (link->peer_name.len && !link->recheck.timer_set) {
        delay = (link->peer_valid > ngx_time())
                ? (ngx_msec_t) (link->peer_valid - ngx_time()) * 1000 : 0;

        ngx_add_timer(&link->recheck,
                      ngx_max(delay, NGX_HTTP_SESSION_RECHECK_MIN));
    }

    ngx_http_session_count(redis_connections);
    link->counted = 1;

    ngx_http_session_redis_announce();

    if (!link->outage) {
        link->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_http_session_redis_worker.log,
                       0, "session %s: ready", link->name);
        return;
    }

    /*
     * After an outage the link serves at once, but is said to be restored
     * (and the backoff starts over) only once it has proved itself: the
     * command link at its first command that gets a proper reply
     * (ngx_http_session_redis_reply()), the subscriber once the read that
     * confirmed the subscription is over.  A server that answers the
     * setup but sends garbage afterwards, or answers twice, has the link
     * dropped before that: the outage goes on, logged once, and the
     * reconnections slow down to one a second.
     */

    if (link->subscriber && !link->restored.posted) {
        ngx_post_event(&link->restored, &ngx_posted_events);
    }
}


/*
 * Once per worker, when all of its links are first ready: the test
 * harnesses wait for this line after every start and reload.
 */

void
ngx_http_session_redis_announce(void)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (!w->announced
        && (w->router ? w->router->ready()
                                    : w->cmd.state
                                      == NGX_HTTP_SESSION_LINK_READY)
        && ((w->smcf->cache_zone == NULL && !w->smcf->live_close)
            || ngx_http_session_redis_subscribed()))
    {
        w->announced = 1;
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "session: redis link up (worker pid %P)", ngx_pid);
    }
}


void
ngx_http_session_link_restored(ngx_event_t *ev)
{
    ngx_http_session_link_t          *link = ev->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (link->state != NGX_HTTP_SESSION_LINK_READY || !link->outage) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                  "session %s %V: connection restored after %T s",
                  link->name, &w->smcf->redis->addr_text,
                  ngx_time() - link->down_since);

    link->outage = 0;
    link->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;
}


static void
ngx_http_session_disconnected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_http_session_link_outage(ac->data, ac->errstr);
    }
}


static void
ngx_http_session_setup_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    u_char                   *p;
    redisReply               *rr = reply;
    ngx_http_session_link_t  *link = ac->data;
    u_char                    why[160];

    if (rr == NULL) {
        return;
    }

    if (rr->type != REDIS_REPLY_ERROR) {
        if (link->state != NGX_HTTP_SESSION_LINK_READY
            && link->setup_pending && --link->setup_pending == 0)
        {
            ngx_http_session_link_ready(link);
        }

        return;
    }

    /* the error text is Redis's own and holds no secret */

    p = ngx_snprintf(why, sizeof(why) - 1, "%s failed: %*s",
                     (char *) privdata, (size_t) rr->len, rr->str);
    *p = '\0';

    ngx_http_session_link_outage(link, (char *) why);

    /* deferred by hiredis until this callback returns */
    redisAsyncFree(ac);
}


/*
 * The subscriber's callback: the SUBSCRIBE confirmation, then one call per
 * message.  A revoked session's hash is evicted from the cache at once.
 * Until the subscription is confirmed (and after it is lost) the cache is
 * bypassed; on confirmation it is flushed, since revocations may have been
 * missed meanwhile.
 */

static void
ngx_http_session_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply                       *rr = reply;
    ngx_http_session_link_t          *link = privdata;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (rr == NULL) {
        link->subscribed = 0;
        link->armed = 0;
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_session_setup_reply(ac, reply, (void *) "SUBSCRIBE");
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 3
        || rr->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    if (ngx_strncasecmp((u_char *) rr->element[0]->str,
                        (u_char *) "subscribe", 9) == 0)
    {
        if (link->subscribed) {
            /* one SUBSCRIBE, one confirmation: the link is out of step */
            ngx_http_session_link_garbage(link, "redis confirmed the "
                                                "subscription twice");
            redisAsyncFree(ac);
            return;
        }

        /* messages may have been missed while unsubscribed */
        ngx_http_session_channel_revoked(w->smcf, NULL);

        link->subscribed = 1;
        ngx_http_session_channel_arm(link);
        ngx_http_session_link_ready(link);
        return;
    }

    if (ngx_strncmp(rr->element[0]->str, "message", 7) == 0
        && rr->element[2]->type == REDIS_REPLY_STRING
        && rr->element[2]->len == SC_HASH_HEX_LEN)
    {
        ngx_http_session_channel_revoked(w->smcf,
                                         (u_char *) rr->element[2]->str);
    }
}


/*
 * Sentinel: asks the configured sentinels in turn for the master's
 * address ("SENTINEL get-master-addr-by-name"), then connects the link to
 * it.  Every reconnection asks again, so a failover is followed.
 */

static void
ngx_http_session_sentinel_query(ngx_http_session_link_t *link)
{
    ngx_http_session_addr_t          *sa;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;
    sa = rc->sentinels->elts;
    sa = &sa[link->next_sentinel++ % rc->sentinels->nelts];

    ngx_http_session_link_target(link, sa, NGX_HTTP_SESSION_RESOLVE_SENTINEL);
}


static void
ngx_http_session_sentinel_open(ngx_http_session_link_t *link,
    const char *host, in_port_t port)
{
    size_t                            argvlen[3];
    const char                       *argv[3];
    redisAsyncContext                *ac;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;

    ac = redisAsyncConnect(host, port);

    ac = ngx_http_session_attach(link, ac);
    if (ac == NULL) {
        ngx_http_session_link_schedule(link);
        return;
    }

    link->sentinel = ac;
    link->state = NGX_HTTP_SESSION_LINK_RESOLVING;

    redisAsyncSetConnectCallback(ac, ngx_http_session_sentinel_connected);

    ngx_add_timer(&link->connect_timer, rc->connect_timeout);

    argv[0] = "SENTINEL";
    argvlen[0] = 8;
    argv[1] = "get-master-addr-by-name";
    argvlen[1] = 23;
    argv[2] = (const char *) rc->master.data;
    argvlen[2] = rc->master.len;

    redisAsyncCommandArgv(ac, ngx_http_session_sentinel_reply, link, 3, argv,
                          argvlen);
}


static void
ngx_http_session_sentinel_connected(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK) {
        ngx_http_session_link_outage(ac->data, ac->errstr);
    }
}


static void
ngx_http_session_sentinel_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                       *rr = reply;
    ngx_http_session_link_t          *link = privdata;
    ngx_int_t                         port;
    ngx_http_session_addr_t           sa;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;
    u_char                            why[NGX_HTTP_SESSION_HOST_LEN + 128];

    if (rr == NULL) {
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING
        || rr->element[0]->len >= sizeof(link->master_host))
    {
        ngx_http_session_link_outage(link, "sentinel does not know the "
                                           "master");
        redisAsyncFree(ac);
        return;
    }

    port = ngx_atoi((u_char *) rr->element[1]->str, rr->element[1]->len);
    if (port < 1 || port > 65535) {
        ngx_http_session_link_outage(link, "sentinel sent a bad port");
        redisAsyncFree(ac);
        return;
    }

    ngx_memcpy(link->master_host, rr->element[0]->str, rr->element[0]->len);
    link->master_host[rr->element[0]->len] = '\0';
    link->master_port = (in_port_t) port;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, ngx_http_session_redis_worker.log, 0,
                   "session %s: sentinel says master is %s:%d", link->name,
                   link->master_host, (int) port);

    /*
     * Sentinel with "announce-hostnames yes" answers a host name: it goes
     * through nginx's resolver like a configured one; hiredis would look
     * it up with a blocking getaddrinfo().  Without a resolver the link
     * stays down, saying why.
     */

    sa.host.data = (u_char *) link->master_host;
    sa.host.len = rr->element[0]->len;
    sa.port = link->master_port;
    sa.name = !ngx_http_session_is_literal(sa.host.data, sa.host.len);

    if (sa.name && w->smcf->redis->resolver == NULL) {
        ngx_snprintf(why, sizeof(why), "sentinel announced the master by "
                     "host name \"%V\", which is resolved only with a "
                     "\"resolver\" in http{}%Z", &sa.host);

        if (link->outage && !link->name_refused) {
            /* a configuration problem: said even amid an outage */
            ngx_log_error(NGX_LOG_ERR, w->log, 0, "session %s %V: %s",
                          link->name, &w->smcf->redis->addr_text, why);
        }

        link->name_refused = 1;
        ngx_http_session_link_outage(link, (char *) why);

        /* cleanup() schedules the next attempt */
        redisAsyncFree(ac);
        return;
    }

    /* the query context goes once this callback returns */

    link->sentinel = NULL;
    redisAsyncFree(ac);

    ngx_http_session_link_target(link, &sa, NGX_HTTP_SESSION_RESOLVE_SERVER);
}


/*
 * A hiredis context of the link is gone (its connection closed by the
 * event glue): the link forgets it and schedules the reconnection.
 */

static void
ngx_http_session_link_closed(ngx_http_session_link_t *link,
    redisAsyncContext *ac)
{
    if (link->sentinel == ac) {
        link->sentinel = NULL;

        if (link->ac == NULL) {
            if (link->connect_timer.timer_set) {
                ngx_del_timer(&link->connect_timer);
            }

            ngx_http_session_link_schedule(link);
        }

        return;
    }

    if (link->ac != ac) {
        /* a sentinel query that already handed over */
        return;
    }

    if (link->connect_timer.timer_set) {
        ngx_del_timer(&link->connect_timer);
    }

    if (link->recheck.timer_set) {
        ngx_del_timer(&link->recheck);
    }

    if (link->resolving
        && link->resolve_for == NGX_HTTP_SESSION_RESOLVE_RECHECK)
    {
        /* the reconnection resolves anew */
        ngx_resolve_name_done(link->resolving);
        link->resolving = NULL;
    }

    link->ac = NULL;
    link->inflight = 0;
    link->subscribed = 0;
    link->armed = 0;

    if (link->counted) {
        ngx_http_session_uncount(redis_connections);
        link->counted = 0;
    }

    ngx_http_session_link_schedule(link);
}


void
ngx_http_session_link_schedule(ngx_http_session_link_t *link)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    link->state = NGX_HTTP_SESSION_LINK_DOWN;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (link->reconnect.timer_set) {
        return;
    }

    ngx_add_timer(&link->reconnect, link->backoff);

    link->backoff *= 2;
    if (link->backoff > NGX_HTTP_SESSION_BACKOFF_MAX) {
        link->backoff = NGX_HTTP_SESSION_BACKOFF_MAX;
    }
}


static void
ngx_http_session_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_session_link_t          *link = ev->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (link->ac == NULL && link->sentinel == NULL
        && link->resolving == NULL)
    {
        ngx_http_session_link_connect(link);
    }
}


static void
ngx_http_session_connect_timeout(ngx_event_t *ev)
{
    ngx_http_session_link_t  *link = ev->data;

    if (link->sentinel) {
        ngx_http_session_link_outage(link, "sentinel did not answer in time");
        redisAsyncFree(link->sentinel);
        return;
    }

    if (link->ac && link->state == NGX_HTTP_SESSION_LINK_CONNECTING) {
        ngx_http_session_link_outage(link, "connect timed out");
        redisAsyncFree(link->ac);
    }
}


/*
 * Logged once per outage at "error"; the requests that fail meanwhile
 * answer 503 without logging above "info".
 */

void
ngx_http_session_link_outage(ngx_http_session_link_t *link, const char *why)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (link->outage) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "session %s: still unavailable: %s", link->name, why);
        return;
    }

    link->outage = 1;
    link->down_since = ngx_time();

    ngx_log_error(NGX_LOG_ERR, w->log, 0,
                  "session %s %V unavailable: %s; %s", link->name,
                  &w->smcf->redis->addr_text, why,
                  link->subscriber ? "the session cache is bypassed until "
                                     "it is back"
                                   : "protected locations answer 503 until "
                                     "it is back");
}
