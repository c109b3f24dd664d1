
/*
 * ngx_http_session_module: session_redis cluster=, the worker's side of a
 * Redis Cluster.
 *
 * Each worker keeps the slot map (CLUSTER SLOTS, asked asynchronously of
 * any node it knows, first the configured seeds) and one pipelined link
 * per master: an ngx_http_session_link_t of ngx_http_session_redis.c
 * whose address is fixed (link->fixed), with the same connect, AUTH,
 * SCRIPT LOAD, backoff and outage logging as the single Redis link.
 * Every command handed to ngx_http_session_redis_send() comes here in
 * Redis's protocol; its key (the first key of EVALSHA, else the first
 * argument) gives the slot, the slot the link.  The command is kept in
 * its op, so that
 *
 *   MOVED  updates the slot, asks for a new map (at most one request per
 *          NGX_HTTP_SESSION_CLUSTER_REFRESH ms) and sends it again to the
 *          named node;
 *   ASK    sends ASKING then the command to the named node, once;
 *   TRYAGAIN, CLUSTERDOWN, READONLY, a lost link or no owner: the request
 *          gets NULL (503 with Retry-After), only that request;
 *   NOSCRIPT  loads the scripts on that link and sends it once more.
 *
 * A link that fails asks for a new map; while a slot's owner is down the
 * map is asked again every NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH ms, so a
 * failover (a replica promoted) is followed within that plus the
 * cluster's own election time.  Replies may come after the request died:
 * the op's data is then NULL and nothing is called.
 *
 * The revocation channel (session_cache, session_live_close): one
 * subscriber link per master, connected as the map names it, so that a
 * revocation is heard from the node that ran the revoke script, in the
 * same pass of that node's event loop as the script's reply.  A PUBLISH
 * reaches the other nodes' subscribers over the cluster bus, later; the
 * message then arrives once per link, and the evictions after the first
 * find nothing to do.  The logout's PING (ngx_http_session_logout.c) goes
 * to the node that ran the script; the cache-hit path reads every
 * subscriber link first (ngx_http_session_cluster_drain()), and serves
 * from the cache only while every master's link is subscribed.  A link of
 * a node that is no longer a master stays as long as it lives.
 */


#include "ngx_http_session_redis.h"


#define NGX_HTTP_SESSION_CLUSTER_NODES         64
#define NGX_HTTP_SESSION_CLUSTER_NONE          0xff
#define NGX_HTTP_SESSION_CLUSTER_HOPS          5
#define NGX_HTTP_SESSION_CLUSTER_REFRESH       100
#define NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH  250


typedef struct {
    ngx_http_session_link_t     link;      /* first: ac->data */
    ngx_http_session_link_t     sub;       /* the channel, or sub.name NULL */
    ngx_http_session_addr_t     addr;
    u_char                      host[NGX_HTTP_SESSION_HOST_LEN];
    char                        name[NGX_HTTP_SESSION_HOST_LEN + 32];
    char                        subname[NGX_HTTP_SESSION_HOST_LEN + 48];
    unsigned                    seed:1;
    unsigned                    master:1;  /* owns slots in the map */
} ngx_http_session_cnode_t;


typedef struct {
    ngx_cycle_t                *cycle;
    ngx_http_session_cnode_t   *nodes;     /* NGX_HTTP_SESSION_CLUSTER_NODES */
    ngx_uint_t                  nnodes;
    u_char                     *slots;     /* SC_CLUSTER_SLOTS node indexes */
    ngx_uint_t                  next_ask;
    ngx_msec_t                  last_refresh;
    ngx_event_t                 refresh;
    redisAsyncContext          *asking;    /* a CLUSTER SLOTS in flight */
    unsigned                    have_map:1;
    unsigned                    pending:1;
} ngx_http_session_cluster_t;


static ngx_http_session_cluster_t  ngx_http_session_cluster;


static ngx_int_t ngx_http_session_cluster_send(ngx_http_session_op_t *op,
    u_char *cmd, size_t len);
static ngx_int_t ngx_http_session_cluster_ready(void);
static ngx_int_t ngx_http_session_cluster_available(void);
static ngx_int_t ngx_http_session_cluster_wanted(
    ngx_http_session_link_t *link);
static void ngx_http_session_cluster_timed_out(void);
static ngx_http_session_cnode_t *ngx_http_session_cluster_node(u_char *host,
    size_t len, in_port_t port);
static ngx_int_t ngx_http_session_cluster_dispatch(ngx_http_session_op_t *op,
    ngx_http_session_cnode_t *node, ngx_uint_t asking);
static void ngx_http_session_cluster_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_int_t ngx_http_session_cluster_redirect(ngx_http_session_op_t *op,
    redisReply *rr, ngx_uint_t asking);
static void ngx_http_session_cluster_refresh(ngx_msec_t delay);
static void ngx_http_session_cluster_refresh_handler(ngx_event_t *ev);
static void ngx_http_session_cluster_slots(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_int_t ngx_http_session_cluster_key(u_char *cmd, size_t len,
    ngx_uint_t *slot);
static ngx_int_t ngx_http_session_cluster_subscribed(void);
static ngx_int_t ngx_http_session_cluster_drain(void);


static ngx_http_session_router_t  ngx_http_session_cluster_router = {
    ngx_http_session_cluster_send,
    ngx_http_session_cluster_timed_out,
    ngx_http_session_cluster_available,
    ngx_http_session_cluster_ready,
    ngx_http_session_cluster_wanted,
    ngx_http_session_cluster_subscribed,
    ngx_http_session_cluster_drain
};


ngx_int_t
ngx_http_session_cluster_init(ngx_cycle_t *cycle)
{
    ngx_uint_t                        i;
    ngx_http_session_addr_t          *sa;
    ngx_http_session_cnode_t         *node;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ngx_memzero(cl, sizeof(ngx_http_session_cluster_t));

    cl->cycle = cycle;

    cl->nodes = ngx_pcalloc(cycle->pool, NGX_HTTP_SESSION_CLUSTER_NODES
                                         * sizeof(ngx_http_session_cnode_t));
    cl->slots = ngx_pnalloc(cycle->pool, SC_CLUSTER_SLOTS);

    if (cl->nodes == NULL || cl->slots == NULL) {
        return NGX_ERROR;
    }

    ngx_memset(cl->slots, NGX_HTTP_SESSION_CLUSTER_NONE, SC_CLUSTER_SLOTS);

    w->router = &ngx_http_session_cluster_router;

    cl->refresh.handler = ngx_http_session_cluster_refresh_handler;
    cl->refresh.log = cycle->log;
    cl->refresh.data = cl;
    cl->refresh.cancelable = 1;

    /* the seeds, connected now: the first map is asked of them */

    sa = w->smcf->redis->servers->elts;

    for (i = 0; i < w->smcf->redis->servers->nelts; i++) {
        node = ngx_http_session_cluster_node(sa[i].host.data, sa[i].host.len,
                                             sa[i].port);
        if (node == NULL) {
            break;
        }

        node->seed = 1;
        node->addr.name = sa[i].name;
    }

    for (i = 0; i < cl->nnodes; i++) {
        ngx_http_session_link_connect(&cl->nodes[i].link);
    }

    ngx_http_session_cluster_refresh(0);

    return NGX_OK;
}


void
ngx_http_session_cluster_exit(void)
{
    ngx_uint_t                   i;
    ngx_http_session_op_t       *op;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (cl->nodes == NULL) {
        return;
    }

    /* the replies of the links dropped below ask for nothing more */
    ngx_http_session_redis_worker.exiting = 1;

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    for (i = 0; i < cl->nnodes; i++) {
        ngx_http_session_link_drop(&cl->nodes[i].link);
        ngx_http_session_link_drop(&cl->nodes[i].sub);
    }

    /* every op is back in the free list: their copies of commands go */

    for (op = ngx_http_session_redis_worker.free_ops; op; op = op->next) {
        if (op->cmd) {
            ngx_free(op->cmd);
            op->cmd = NULL;
            op->size = 0;
        }
    }

    cl->nodes = NULL;
    cl->nnodes = 0;
}


/* requests are routed once a slot map is in */

static ngx_int_t
ngx_http_session_cluster_available(void)
{
    return ngx_http_session_cluster.have_map;
}


/* the slot map is in and every master's link is up */

static ngx_int_t
ngx_http_session_cluster_ready(void)
{
    ngx_uint_t                   i;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (!cl->have_map) {
        return 0;
    }

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i].master
            && cl->nodes[i].link.state != NGX_HTTP_SESSION_LINK_READY)
        {
            return 0;
        }
    }

    return 1;
}


/* a node's link is (re)connected only while the map has a use for it */

static ngx_int_t
ngx_http_session_cluster_wanted(ngx_http_session_link_t *link)
{
    ngx_http_session_cnode_t    *node = (ngx_http_session_cnode_t *) link;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (link->subscriber) {
        /* a subscriber link: while its node is a master */
        node = (ngx_http_session_cnode_t *)
                   ((u_char *) link - offsetof(ngx_http_session_cnode_t, sub));
        return node->master;
    }

    if (link->opened) {
        /* a reconnection: the node failed, the map may have changed */
        ngx_http_session_cluster_refresh(NGX_HTTP_SESSION_CLUSTER_REFRESH);
    }

    return node->master || (node->seed && !cl->have_map);
}


static ngx_http_session_cnode_t *
ngx_http_session_cluster_node(u_char *host, size_t len, in_port_t port)
{
    u_char                           *p;
    ngx_uint_t                        i;
    ngx_http_session_cnode_t         *node;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (node->addr.port == port && node->addr.host.len == len
            && ngx_strncasecmp(node->host, host, len) == 0)
        {
            return node;
        }
    }

    if (cl->nnodes == NGX_HTTP_SESSION_CLUSTER_NODES
        || len == 0 || len >= NGX_HTTP_SESSION_HOST_LEN)
    {
        ngx_log_error(NGX_LOG_ERR, w->log, 0,
                      "session redis cluster: cannot add node \"%*s:%d\"",
                      len, host, (int) port);
        return NULL;
    }

    node = &cl->nodes[cl->nnodes++];

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';
    node->addr.host.data = node->host;
    node->addr.host.len = len;
    node->addr.port = port;
    node->addr.name = !ngx_http_session_is_literal(host, len);

    p = ngx_snprintf((u_char *) node->name, sizeof(node->name) - 1,
                     "redis cluster node %s:%d", node->host, (int) port);
    *p = '\0';

    ngx_http_session_link_init(&node->link, node->name, 0, cl->cycle);
    node->link.fixed = &node->addr;

    if (w->smcf->cache_zone || w->smcf->live_close) {
        p = ngx_snprintf((u_char *) node->subname, sizeof(node->subname) - 1,
                         "redis subscriber cluster node %s:%d", node->host,
                         (int) port);
        *p = '\0';

        ngx_http_session_link_init(&node->sub, node->subname, 1, cl->cycle);
        node->sub.fixed = &node->addr;
    }

    return node;
}


/* ngx_http_session_redis_send(): a command to the owner of its slot */

static ngx_int_t
ngx_http_session_cluster_send(ngx_http_session_op_t *op, u_char *cmd,
    size_t len)
{
    u_char                      *buf;
    ngx_uint_t                   slot, n;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (ngx_http_session_cluster_key(cmd, len, &slot) != NGX_OK) {
        return NGX_ERROR;
    }

    n = cl->slots[slot];

    if (n == NGX_HTTP_SESSION_CLUSTER_NONE) {
        /* no map yet, or the slot has no owner: 503 for this request */
        ngx_http_session_cluster_refresh(NGX_HTTP_SESSION_CLUSTER_REFRESH);
        return NGX_ERROR;
    }

    if (op->size < len) {
        buf = ngx_alloc(len, ngx_http_session_redis_worker.log);
        if (buf == NULL) {
            return NGX_ERROR;
        }

        if (op->cmd) {
            ngx_free(op->cmd);
        }

        op->cmd = buf;
        op->size = len;
    }

    ngx_memcpy(op->cmd, cmd, len);
    op->len = len;
    op->slot = slot;
    op->hops = 0;

    return ngx_http_session_cluster_dispatch(op, &cl->nodes[n], 0);
}


static ngx_int_t
ngx_http_session_cluster_dispatch(ngx_http_session_op_t *op,
    ngx_http_session_cnode_t *node, ngx_uint_t asking)
{
    ngx_http_session_link_t  *link = &node->link;

    static char  asking_cmd[] = "*1\r\n$6\r\nASKING\r\n";

    if (link->ac == NULL
        || (link->state != NGX_HTTP_SESSION_LINK_READY
            && link->state != NGX_HTTP_SESSION_LINK_CONNECTING)
        || (link->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        if (link->ac == NULL && !link->reconnect.timer_set
            && link->resolving == NULL)
        {
            /* a node just named by the cluster: connect it */
            ngx_http_session_link_connect(link);
        }

        ngx_http_session_cluster_refresh(NGX_HTTP_SESSION_CLUSTER_REFRESH);
        return NGX_ERROR;
    }

    if (asking
        && redisAsyncFormattedCommand(link->ac, NULL, NULL, asking_cmd,
                                      sizeof(asking_cmd) - 1)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (redisAsyncFormattedCommand(link->ac, ngx_http_session_cluster_reply,
                                   op, (const char *) op->cmd, op->len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    op->node = node;

    if (link->inflight++ == 0) {
        link->last_activity = ngx_current_msec;
    }

    if (++link->unflushed >= NGX_HTTP_SESSION_REDIS_BATCH
        && link->unflushed == link->inflight)
    {
        ngx_http_session_link_flush(link);
    }

    return NGX_OK;
}


static void
ngx_http_session_cluster_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_session_op_t            *op = privdata;
    ngx_http_session_link_t          *link = ac->data;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    void                            *data;
    redisReply                      *rr;
    ngx_uint_t                       live, failed;
    ngx_http_session_op_handler_pt   handler;

    if (link->inflight) {
        link->inflight--;
    }

    link->last_activity = ngx_current_msec;

    rr = reply;
    failed = 0;
    live = !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING))
           && !w->exiting;

    /* still wanted: a request waits for it, or nobody ever will */
    if (op->data == NULL && op->handler != NULL) {
        live = 0;
    }

    if (rr == NULL) {
        /* the link failed: the map may have changed */
        failed = 1;

        if (!w->exiting) {
            ngx_http_session_cluster_refresh(
                                       NGX_HTTP_SESSION_CLUSTER_REFRESH);
        }

    } else if (rr->type == REDIS_REPLY_ERROR) {

        if (rr->len > 6 && ngx_strncmp(rr->str, "MOVED ", 6) == 0) {
            failed = 1;

            if (live && ngx_http_session_cluster_redirect(op, rr, 0)
                        == NGX_OK)
            {
                return;
            }

        } else if (rr->len > 4 && ngx_strncmp(rr->str, "ASK ", 4) == 0) {
            failed = 1;

            if (live && ngx_http_session_cluster_redirect(op, rr, 1)
                        == NGX_OK)
            {
                return;
            }

        } else if (rr->len > 8 && ngx_strncmp(rr->str, "NOSCRIPT", 8) == 0) {
            failed = 1;

            if (!(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING))) {
                ngx_http_session_load_scripts(ac);
            }

            if (live && op->hops++ < NGX_HTTP_SESSION_CLUSTER_HOPS
                && ngx_http_session_cluster_dispatch(op, op->node, 0)
                   == NGX_OK)
            {
                return;
            }

        } else if ((rr->len >= 8 && ngx_strncmp(rr->str, "TRYAGAIN", 8) == 0)
                   || (rr->len >= 11
                       && ngx_strncmp(rr->str, "CLUSTERDOWN", 11) == 0)
                   || (rr->len >= 8
                       && ngx_strncmp(rr->str, "READONLY", 8) == 0)
                   || (rr->len >= 10
                       && ngx_strncmp(rr->str, "MASTERDOWN", 10) == 0))
        {
            /* this slot's requests only: 503 with Retry-After */
            failed = 1;
            ngx_http_session_cluster_refresh(
                                       NGX_HTTP_SESSION_CLUSTER_REFRESH);
        }
    }

    data = op->data;
    handler = op->handler;

    if (rr == NULL || rr->type == REDIS_REPLY_ERROR) {
        ngx_http_session_count(redis_errors);

    } else {
        ngx_http_session_metrics_latency(op->start);
    }

    ngx_http_session_redis_op_put(op);

    if (data && handler) {
        w->replying = link;
        handler(data, failed ? NULL : reply);
        w->replying = NULL;
    }

    /* a proper reply after an outage: the link is back */

    if (link->outage && link->ac == ac
        && link->state == NGX_HTTP_SESSION_LINK_READY
        && rr && rr->type != REDIS_REPLY_ERROR
        && !(ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        ngx_http_session_link_restored(&link->restored);
    }
}


/* "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" */

static ngx_int_t
ngx_http_session_cluster_redirect(ngx_http_session_op_t *op, redisReply *rr,
    ngx_uint_t asking)
{
    u_char                      *p, *last, *host, *colon;
    ngx_int_t                    slot, port;
    ngx_http_session_cnode_t    *node;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (op->hops++ >= NGX_HTTP_SESSION_CLUSTER_HOPS) {
        return NGX_ERROR;
    }

    p = (u_char *) rr->str + (asking ? 4 : 6);
    last = (u_char *) rr->str + rr->len;

    host = ngx_strlchr(p, last, ' ');
    if (host == NULL) {
        return NGX_ERROR;
    }

    slot = ngx_atoi(p, host - p);
    host++;

    /* the last ':' (an IPv6 address has several) */

    for (colon = last - 1; colon > host && *colon != ':'; colon--) {
        /* void */
    }

    if (slot < 0 || slot >= SC_CLUSTER_SLOTS || colon <= host) {
        return NGX_ERROR;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port < 1 || port > 65535) {
        return NGX_ERROR;
    }

    node = ngx_http_session_cluster_node(host, colon - host,
                                         (in_port_t) port);
    if (node == NULL) {
        return NGX_ERROR;
    }

    if (!asking) {
        /* the slot has moved for good: this one now, the rest soon */
        node->master = 1;
        cl->slots[slot] = (u_char) (node - cl->nodes);
        ngx_http_session_cluster_refresh(NGX_HTTP_SESSION_CLUSTER_REFRESH);
    }

    return ngx_http_session_cluster_dispatch(op, node, asking);
}


/*
 * A session_redis timeout= ran out.  As for a single Redis: a link with
 * commands outstanding and nothing back for connect_timeout is taken as
 * dead (a host that vanished sends no RST) and dropped.
 */

static void
ngx_http_session_cluster_timed_out(void)
{
    ngx_uint_t                        i;
    ngx_http_session_link_t          *link;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    for (i = 0; i < cl->nnodes; i++) {
        link = &cl->nodes[i].link;

        if (link->ac == NULL || link->inflight == 0
            || (link->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
        {
            continue;
        }

        if (ngx_current_msec - link->last_activity
            < w->smcf->redis->connect_timeout)
        {
            continue;
        }

        ngx_http_session_link_outage(link, "no reply within connect_timeout");
        redisAsyncFree(link->ac);
    }
}


/* asks for the slot map, at most once per NGX_HTTP_SESSION_CLUSTER_REFRESH */

static void
ngx_http_session_cluster_refresh(ngx_msec_t delay)
{
    ngx_msec_t                        since;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate
        || cl->pending || cl->refresh.timer_set)
    {
        return;
    }

    since = ngx_current_msec - cl->last_refresh;

    if (cl->last_refresh && since < NGX_HTTP_SESSION_CLUSTER_REFRESH) {
        delay = ngx_max(delay, NGX_HTTP_SESSION_CLUSTER_REFRESH - since);
    }

    ngx_add_timer(&cl->refresh, delay ? delay : 1);
}


static void
ngx_http_session_cluster_refresh_handler(ngx_event_t *ev)
{
    ngx_uint_t                        i, n;
    ngx_http_session_link_t          *link;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    static char  slots_cmd[] = "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";

    if (w->exiting || ngx_exiting || ngx_quit || ngx_terminate
        || cl->pending)
    {
        return;
    }

    /* any node whose link is up, in turn; else the seeds again */

    for (i = 0; i < cl->nnodes; i++) {
        n = cl->next_ask++ % cl->nnodes;
        link = &cl->nodes[n].link;

        if (link->ac == NULL || link->state != NGX_HTTP_SESSION_LINK_READY
            || (link->ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
        {
            continue;
        }

        if (redisAsyncFormattedCommand(link->ac,
                                       ngx_http_session_cluster_slots, cl,
                                       slots_cmd, sizeof(slots_cmd) - 1)
            != REDIS_OK)
        {
            continue;
        }

        cl->pending = 1;
        cl->asking = link->ac;
        cl->last_refresh = ngx_current_msec;
        return;
    }

    for (i = 0; i < cl->nnodes; i++) {
        link = &cl->nodes[i].link;

        if (cl->nodes[i].seed && link->ac == NULL
            && !link->reconnect.timer_set && link->resolving == NULL)
        {
            cl->nodes[i].master = 1;   /* asked of, until a map says */
            ngx_http_session_link_connect(link);
            cl->nodes[i].master = 0;
        }
    }

    ngx_add_timer(&cl->refresh, NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH);
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id], replicas...], ...].  The
 * new map replaces the old one whole; a node no longer a master keeps its
 * link until it fails, and is not reconnected.
 */

static void
ngx_http_session_cluster_slots(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                       *rr = reply, *r, *m;
    ngx_int_t                         start, end, port;
    ngx_uint_t                        i, j, down, changed;
    ngx_http_session_link_t          *link = ac->data;
    ngx_http_session_cnode_t         *node, *asked;
    ngx_http_session_cluster_t       *cl = &ngx_http_session_cluster;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;
    u_char                            map[SC_CLUSTER_SLOTS];

    cl->pending = 0;
    cl->asking = NULL;

    if (w->exiting) {
        return;
    }

    if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements == 0) {
        ngx_log_error(NGX_LOG_WARN, w->log, 0,
                      "session %s: no slot map (%s)", link->name,
                      rr == NULL ? "link lost"
                      : rr->type == REDIS_REPLY_ERROR ? rr->str
                      : "empty or not an array");
        ngx_http_session_cluster_refresh(
                                      NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH);
        return;
    }

    asked = (ngx_http_session_cnode_t *) link;

    ngx_memset(map, NGX_HTTP_SESSION_CLUSTER_NONE, SC_CLUSTER_SLOTS);

    for (i = 0; i < rr->elements; i++) {
        r = rr->element[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
            || r->element[0]->type != REDIS_REPLY_INTEGER
            || r->element[1]->type != REDIS_REPLY_INTEGER
            || r->element[2]->type != REDIS_REPLY_ARRAY
            || r->element[2]->elements < 2
            || r->element[2]->element[0]->type != REDIS_REPLY_STRING
            || r->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            goto garbage;
        }

        start = r->element[0]->integer;
        end = r->element[1]->integer;
        m = r->element[2];
        port = m->element[1]->integer;

        if (start < 0 || end >= SC_CLUSTER_SLOTS || start > end
            || port < 1 || port > 65535)
        {
            goto garbage;
        }

        if (m->element[0]->len == 0 || m->element[0]->str[0] == '?') {
            /* "": the node asked; "?": unknown endpoint */
            node = (m->element[0]->len == 0
                    && asked->addr.port == (in_port_t) port)
                   ? asked : NULL;

        } else {
            node = ngx_http_session_cluster_node(
                                        (u_char *) m->element[0]->str,
                                        m->element[0]->len, (in_port_t) port);
        }

        if (node == NULL) {
            continue;
        }

        for (j = (ngx_uint_t) start; j <= (ngx_uint_t) end; j++) {
            map[j] = (u_char) (node - cl->nodes);
        }
    }

    changed = !cl->have_map;

    for (i = 0; i < SC_CLUSTER_SLOTS; i++) {
        if (cl->slots[i] != map[i]) {
            changed = 1;
            break;
        }
    }

    ngx_memcpy(cl->slots, map, SC_CLUSTER_SLOTS);

    for (i = 0; i < cl->nnodes; i++) {
        cl->nodes[i].master = 0;
    }

    for (i = 0; i < SC_CLUSTER_SLOTS; i++) {
        if (map[i] != NGX_HTTP_SESSION_CLUSTER_NONE) {
            cl->nodes[map[i]].master = 1;
        }
    }

    if (changed) {
        ngx_log_error(NGX_LOG_INFO, w->log, 0,
                      "session redis cluster: new slot map, %ui range(s), "
                      "from %s", (ngx_uint_t) rr->elements, link->name);
    }

    cl->have_map = 1;

    /* every master connected; one that is down asks for the map again */

    down = 0;

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (!node->master) {
            continue;
        }

        if (node->sub.name && node->sub.ac == NULL
            && !node->sub.reconnect.timer_set && node->sub.resolving == NULL)
        {
            ngx_http_session_link_connect(&node->sub);
        }

        if (node->link.ac == NULL) {
            down = 1;

            if (!node->link.reconnect.timer_set
                && node->link.resolving == NULL)
            {
                ngx_http_session_link_connect(&node->link);
            }

        } else if (node->link.outage) {
            down = 1;
        }
    }

    for (i = 0; i < SC_CLUSTER_SLOTS && !down; i++) {
        if (map[i] == NGX_HTTP_SESSION_CLUSTER_NONE) {
            down = 1;
        }
    }

    if (down) {
        ngx_http_session_cluster_refresh(
                                      NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH);
    }

    ngx_http_session_redis_announce();

    return;

garbage:

    ngx_log_error(NGX_LOG_ERR, w->log, 0,
                  "session %s: CLUSTER SLOTS answered garbage", link->name);

    ngx_http_session_cluster_refresh(NGX_HTTP_SESSION_CLUSTER_DOWN_REFRESH);
}


/*
 * The slot of a command in Redis's protocol: its key is the first key of
 * EVALSHA/EVAL, else its first argument (every command of the module has
 * its key there, and every script's keys are on one slot by design).
 */

static ngx_int_t
ngx_http_session_cluster_key(u_char *cmd, size_t len, ngx_uint_t *slot)
{
    u_char      *p, *last, *arg[4];
    size_t       arglen[4];
    ngx_int_t    n, l;
    ngx_uint_t   i, key;

    p = cmd;
    last = cmd + len;

    if (p == last || *p++ != '*') {
        return NGX_ERROR;
    }

    for (n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
    }

    if (n < 1 || last - p < 2) {
        return NGX_ERROR;
    }

    p += 2;

    for (i = 0; i < 4 && i < (ngx_uint_t) n; i++) {
        if (p == last || *p++ != '$') {
            return NGX_ERROR;
        }

        for (l = 0; p < last && *p >= '0' && *p <= '9'; p++) {
            l = l * 10 + (*p - '0');
        }

        if (last - p < 2 + l + 2) {
            return NGX_ERROR;
        }

        arg[i] = p + 2;
        arglen[i] = l;
        p += 2 + l + 2;
    }

    key = 1;

    if (arglen[0] >= 4 && ngx_strncasecmp(arg[0], (u_char *) "EVAL", 4) == 0)
    {
        key = (n > 3 && !(arglen[2] == 1 && arg[2][0] == '0')) ? 3 : 0;
    }

    if (key == 0 || (ngx_uint_t) n <= key) {
        /* no key: any node */
        *slot = 0;
        return NGX_OK;
    }

    *slot = sc_key_slot((const char *) arg[key], arglen[key]);

    return NGX_OK;
}


/*
 * The cache may serve while every master's subscriber link is subscribed:
 * the logout's PING proves delivery only to the subscribers of the node
 * that ran the revoke script.
 */

static ngx_int_t
ngx_http_session_cluster_subscribed(void)
{
    ngx_uint_t                   i;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    if (!cl->have_map) {
        return 0;
    }

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i].master && !cl->nodes[i].sub.subscribed) {
            return 0;
        }
    }

    return 1;
}


/* ngx_http_session_redis_drain_revocations(): every subscriber link */

static ngx_int_t
ngx_http_session_cluster_drain(void)
{
    ngx_int_t                    rc, any;
    ngx_uint_t                   i;
    ngx_http_session_cnode_t    *node;
    ngx_http_session_cluster_t  *cl = &ngx_http_session_cluster;

    any = NGX_OK;

    for (i = 0; i < cl->nnodes; i++) {
        node = &cl->nodes[i];

        if (!node->sub.subscribed) {
            /* not serving from the cache if it is a master's */
            continue;
        }

        if (ngx_http_session_channel_quiet(&node->sub)) {
            /* its signal says nothing came since the last drain */
            continue;
        }

        rc = ngx_http_session_link_drain(&node->sub);

        if (rc == NGX_DECLINED) {
            return NGX_DECLINED;
        }

        if (rc == NGX_DONE) {
            any = NGX_DONE;
        }
    }

    return any;
}
