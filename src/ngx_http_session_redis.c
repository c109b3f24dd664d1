
/*
 * ngx_http_session_module: the Redis store.
 *
 * Each worker keeps two links to Redis, both hiredis async contexts on
 * nginx's own event loop: the command link, which all in-flight requests
 * of the worker share by pipelining, and, when session_cache is on, a
 * subscriber link for the revocation channel.  The hiredis socket is
 * wrapped in an nginx connection so that epoll sees it with nginx's
 * stale-event protection; hiredis's add/del read/write hooks map to nginx
 * events.  Nothing here blocks: addresses are literal IPs or unix sockets
 * resolved at configuration time, and hiredis's synchronous API is never
 * called.  With Sentinel, each (re)connection first asks the sentinels,
 * asynchronously too, for the current master.
 *
 * A command's privdata is an ngx_http_session_op_t, owned by this file and
 * recycled through a free list: a request that goes away clears op->data,
 * and the late reply then finds no request and does nothing.
 */


#include "ngx_http_session_module.h"

#include <sys/ioctl.h>


#define NGX_HTTP_SESSION_LINK_DOWN        0
#define NGX_HTTP_SESSION_LINK_RESOLVING   1
#define NGX_HTTP_SESSION_LINK_CONNECTING  2
#define NGX_HTTP_SESSION_LINK_READY       3

#define NGX_HTTP_SESSION_BACKOFF_MIN      100
#define NGX_HTTP_SESSION_BACKOFF_MAX      1000

/* commands written at once in the middle of an event loop iteration */
#define NGX_HTTP_SESSION_REDIS_BATCH      16

/* what a name is resolved for */
#define NGX_HTTP_SESSION_RESOLVE_SERVER   0
#define NGX_HTTP_SESSION_RESOLVE_SENTINEL 1
#define NGX_HTTP_SESSION_RESOLVE_RECHECK  2

/* the least time between two checks of a connected name's address */
#define NGX_HTTP_SESSION_RECHECK_MIN      1000

/* a host name, NUL ended */
#define NGX_HTTP_SESSION_HOST_LEN         256


typedef struct {
    redisAsyncContext                 *ac;        /* the link's context */
    redisAsyncContext                 *sentinel;  /* a master query */
    ngx_uint_t                         state;
    ngx_uint_t                         subscriber;
    ngx_uint_t                         subscribed;
    const char                        *name;

    ngx_event_t                        reconnect;
    ngx_event_t                        connect_timer;
    ngx_event_t                        restored;
    ngx_msec_t                         backoff;

    ngx_uint_t                         inflight;
    ngx_uint_t                         unflushed;
    ngx_msec_t                         last_activity;
    time_t                             down_since;
    time_t                             scripts_reloaded;
    ngx_uint_t                         next_sentinel;
    ngx_uint_t                         setup_pending;
    unsigned                           outage:1;
    unsigned                           opened:1;
    unsigned                           counted:1;
    unsigned                           recheck_failed:1;
    unsigned                           name_refused:1;

    char                               master_host[NGX_HTTP_SESSION_HOST_LEN];
    in_port_t                          master_port;

    /* host names, with http{}'s resolver */
    ngx_resolver_ctx_t                *resolving;
    ngx_uint_t                         resolve_for;
    ngx_str_t                          resolve_name;
    in_port_t                          resolve_port;
    ngx_uint_t                         next_addr;
    ngx_event_t                        recheck;
    ngx_str_t                          peer_name;   /* connected to, or "" */
    in_port_t                          peer_port;
    ngx_sockaddr_t                     peer;
    socklen_t                          peer_len;
    time_t                             peer_valid;
    char                               peer_text[NGX_SOCKADDR_STRLEN];
} ngx_http_session_link_t;


/*
 * A reply object: hiredis's redisReply, then room for a short string or a
 * short array inline.  hiredis allocates a reply and each element, and
 * each string of each element, with malloc(): 16 allocations and frees
 * per lookup were a quarter of the module's instructions per validated
 * request (docs/benchmarks.md).  These come from a free list instead.
 */

#define NGX_HTTP_SESSION_REPLY_INLINE     16
#define NGX_HTTP_SESSION_REPLY_KEEP       1024

/* no reply of ours has more elements: a larger one is garbage */
#define NGX_HTTP_SESSION_REPLY_ELEMENTS   1024

typedef struct ngx_http_session_reply_s  ngx_http_session_reply_t;

struct ngx_http_session_reply_s {
    redisReply                         reply;     /* first */
    ngx_http_session_reply_t          *next;      /* in the free list */
    union {
        redisReply                    *element[NGX_HTTP_SESSION_REPLY_INLINE];
        char                           str[NGX_HTTP_SESSION_REPLY_INLINE
                                           * sizeof(redisReply *)];
    } u;
};


typedef struct {
    ngx_http_session_main_conf_t      *smcf;
    ngx_log_t                         *log;
    unsigned                           exiting:1;
    unsigned                           announced:1;

    ngx_http_session_link_t            cmd;
    ngx_http_session_link_t            sub;

    ngx_http_session_op_t             *free_ops;

    ngx_http_session_reply_t          *free_replies;
    ngx_uint_t                         nfree_replies;
} ngx_http_session_redis_worker_t;


static void ngx_http_session_link_init(ngx_http_session_link_t *link,
    const char *name, ngx_uint_t subscriber, ngx_cycle_t *cycle);
static void ngx_http_session_link_connect(ngx_http_session_link_t *link);
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
static ngx_int_t ngx_http_session_is_literal(u_char *host, size_t len);
static ngx_array_t *ngx_http_session_resolve_list(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_array_t *list);
static redisAsyncContext *ngx_http_session_attach(
    ngx_http_session_link_t *link, redisAsyncContext *ac);
static void ngx_http_session_link_schedule(ngx_http_session_link_t *link);
static void ngx_http_session_link_outage(ngx_http_session_link_t *link,
    const char *why);
static void ngx_http_session_link_drop(ngx_http_session_link_t *link);
static void ngx_http_session_link_garbage(ngx_http_session_link_t *link,
    const char *why);
static void ngx_http_session_link_restored(ngx_event_t *ev);
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
static void ngx_http_session_load_scripts(redisAsyncContext *ac);
static void ngx_http_session_message(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_http_session_sentinel_query(ngx_http_session_link_t *link);
static void ngx_http_session_sentinel_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_session_sentinel_reply(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_session_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);

static u_char *ngx_http_session_redis_header(u_char *p, u_char type,
    size_t n);
static ngx_int_t ngx_http_session_reply_refused(const redisReadTask *task,
    const char *str, size_t len, long long elements);
static void *ngx_http_session_reply_string(const redisReadTask *task,
    char *str, size_t len);
#if (HIREDIS_MAJOR >= 1)
static void *ngx_http_session_reply_array(const redisReadTask *task,
    size_t elements);
static void *ngx_http_session_reply_double(const redisReadTask *task,
    double value, char *str, size_t len);
static void *ngx_http_session_reply_bool(const redisReadTask *task,
    int value);
#else
static void *ngx_http_session_reply_array(const redisReadTask *task,
    int elements);
#endif
static void *ngx_http_session_reply_integer(const redisReadTask *task,
    long long value);
static void *ngx_http_session_reply_nil(const redisReadTask *task);
static void ngx_http_session_reply_free(void *obj);
static void ngx_http_session_add_read(void *privdata);
static void ngx_http_session_del_read(void *privdata);
static void ngx_http_session_add_write(void *privdata);
static void ngx_http_session_del_write(void *privdata);
static void ngx_http_session_cleanup(void *privdata);
static void ngx_http_session_read_handler(ngx_event_t *ev);
static void ngx_http_session_write_handler(ngx_event_t *ev);
static void ngx_http_session_link_flush(ngx_http_session_link_t *link);


static ngx_http_session_redis_worker_t  ngx_http_session_redis_worker;


/* inside redisAsyncHandleWrite(): see ngx_http_session_add_write() */
static ngx_uint_t                 ngx_http_session_writing;

static redisReplyObjectFunctions  ngx_http_session_reply_functions = {
    ngx_http_session_reply_string,
    ngx_http_session_reply_array,
    ngx_http_session_reply_integer,
#if (HIREDIS_MAJOR >= 1)
    ngx_http_session_reply_double,
    ngx_http_session_reply_nil,
    ngx_http_session_reply_bool,
#else
    ngx_http_session_reply_nil,
#endif
    ngx_http_session_reply_free
};


ngx_int_t
ngx_http_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_session_main_conf_t *smcf)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    ngx_memzero(w, sizeof(ngx_http_session_redis_worker_t));

    w->smcf = smcf;
    w->log = cycle->log;

    ngx_http_session_link_init(&w->cmd, "redis", 0, cycle);
    ngx_http_session_link_connect(&w->cmd);

    if (smcf->cache_zone || smcf->live_close) {
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


static void
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

static void
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

    return w->cmd.ac != NULL
           && (w->cmd.state == NGX_HTTP_SESSION_LINK_READY
               || w->cmd.state == NGX_HTTP_SESSION_LINK_CONNECTING);
}


/* the revocation channel is live: cached sessions may be served */

ngx_int_t
ngx_http_session_redis_subscribed(void)
{
    return ngx_http_session_redis_worker.sub.subscribed;
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


/* reply objects for hiredis's reader, see ngx_http_session_reply_t */

static ngx_http_session_reply_t *
ngx_http_session_reply_get(int type)
{
    ngx_http_session_reply_t         *rp;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rp = w->free_replies;

    if (rp) {
        w->free_replies = rp->next;
        w->nfree_replies--;

    } else {
        rp = malloc(sizeof(ngx_http_session_reply_t));
        if (rp == NULL) {
            return NULL;
        }
    }

    ngx_memzero(&rp->reply, sizeof(redisReply));
    rp->reply.type = type;

    return rp;
}


static void
ngx_http_session_reply_put(ngx_http_session_reply_t *rp)
{
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (w->nfree_replies >= NGX_HTTP_SESSION_REPLY_KEEP) {
        free(rp);
        return;
    }

    rp->next = w->free_replies;
    w->free_replies = rp;
    w->nfree_replies++;
}


/*
 * Garbage from Redis must never kill the worker, but hiredis aborts the
 * process (assert) on some of it: a reply that no command is waiting for
 * on a link that is not subscribed (a server or a path in between that
 * answers twice, or answers what was not asked), and a pub/sub message
 * that is not an array whose first two elements are strings.  The reader
 * calls the functions below for each part of a reply before hiredis looks
 * at it, and refusing the part here (NULL) makes it a read error: hiredis
 * then drops the link as it does for a protocol error, every command in
 * flight gets a NULL reply (503), and the link reconnects after the
 * backoff.  One line is logged per outage.  A reply whose shape is right
 * cannot be told from another one, RESP having no request ids: a wrong
 * type where the lookup expects its array drops the link too
 * (ngx_http_session_redis_desync()).
 */

static ngx_int_t
ngx_http_session_reply_refused(const redisReadTask *task, const char *str,
    size_t len, long long elements)
{
    const char               *why;
    redisAsyncContext        *ac;
    ngx_http_session_link_t  *link;

    ac = task->privdata;

    if (ac == NULL) {
        return 0;
    }

    if (elements > NGX_HTTP_SESSION_REPLY_ELEMENTS) {
        why = "redis sent an array too large for any command of ours";
        goto refused;
    }

    if (ac->replies.head != NULL) {
        /* a command waits for it (before any pub/sub message) */
        return 0;
    }

    if (!(ac->c.flags & REDIS_SUBSCRIBED)) {
        why = "redis sent a reply that no command was waiting for "
              "(more replies than commands)";
        goto refused;
    }

    /* the subscriber: "subscribe" or "message", channel, then one more */

    if (task->parent == NULL) {
        if (task->type == REDIS_REPLY_ARRAY && elements == 3) {
            return 0;
        }

    } else if (task->parent->parent != NULL || task->idx >= 2) {
        return 0;

    } else if (task->type == REDIS_REPLY_STRING) {
        if (task->idx == 1
            || (len == 7 && ngx_strncasecmp((u_char *) str,
                                            (u_char *) "message", 7) == 0)
            || (len == 9 && ngx_strncasecmp((u_char *) str,
                                            (u_char *) "subscribe", 9) == 0))
        {
            return 0;
        }
    }

    why = "redis sent a malformed pub/sub message";

refused:

    link = ac->data;

    if (link) {
        ngx_http_session_link_garbage(link, why);
    }

    return 1;
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

    if (w->cmd.ac == NULL
        || (w->cmd.ac->c.flags & (REDIS_DISCONNECTING|REDIS_FREEING)))
    {
        return;
    }

    ngx_http_session_link_garbage(&w->cmd, why);

    redisAsyncFree(w->cmd.ac);
}


/*
 * A link dropped for garbage: logged as an outage, and reconnected after
 * the longest backoff, so that a server that keeps misbehaving costs one
 * connection a second and no log line until it behaves again.
 */

static void
ngx_http_session_link_garbage(ngx_http_session_link_t *link, const char *why)
{
    ngx_http_session_link_outage(link, why);

    link->backoff = NGX_HTTP_SESSION_BACKOFF_MAX;
}


/* linked into the parent only once complete, as hiredis's own do */

static void *
ngx_http_session_reply_link(const redisReadTask *task,
    ngx_http_session_reply_t *rp)
{
    redisReply  *parent;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = &rp->reply;
    }

    return rp;
}


static void *
ngx_http_session_reply_string(const redisReadTask *task, char *str,
    size_t len)
{
    char                      *buf;
    ngx_http_session_reply_t  *rp;

    if (ngx_http_session_reply_refused(task, str, len, -1)) {
        return NULL;
    }

    rp = ngx_http_session_reply_get(task->type);
    if (rp == NULL) {
        return NULL;
    }

    if (len < sizeof(rp->u.str)) {
        buf = rp->u.str;

    } else {
        buf = malloc(len + 1);
        if (buf == NULL) {
            ngx_http_session_reply_put(rp);
            return NULL;
        }
    }

    ngx_memcpy(buf, str, len);
    buf[len] = '\0';

    rp->reply.str = buf;
    rp->reply.len = len;

    return ngx_http_session_reply_link(task, rp);
}


#if (HIREDIS_MAJOR >= 1)

static void *
ngx_http_session_reply_array(const redisReadTask *task, size_t elements)

#else

static void *
ngx_http_session_reply_array(const redisReadTask *task, int elements)

#endif
{
    ngx_http_session_reply_t  *rp;

    if (ngx_http_session_reply_refused(task, NULL, 0, elements)) {
        return NULL;
    }

    rp = ngx_http_session_reply_get(task->type);
    if (rp == NULL) {
        return NULL;
    }

    if (elements > 0) {
        if ((size_t) elements <= NGX_HTTP_SESSION_REPLY_INLINE) {
            rp->reply.element = rp->u.element;
            ngx_memzero(rp->u.element, elements * sizeof(redisReply *));

        } else {
            rp->reply.element = calloc(elements, sizeof(redisReply *));
            if (rp->reply.element == NULL) {
                ngx_http_session_reply_put(rp);
                return NULL;
            }
        }
    }

    rp->reply.elements = elements;

    return ngx_http_session_reply_link(task, rp);
}


static void *
ngx_http_session_reply_integer(const redisReadTask *task, long long value)
{
    ngx_http_session_reply_t  *rp;

    if (ngx_http_session_reply_refused(task, NULL, 0, -1)) {
        return NULL;
    }

    rp = ngx_http_session_reply_get(REDIS_REPLY_INTEGER);
    if (rp == NULL) {
        return NULL;
    }

    rp->reply.integer = value;

    return ngx_http_session_reply_link(task, rp);
}


#if (HIREDIS_MAJOR >= 1)

static void *
ngx_http_session_reply_double(const redisReadTask *task, double value,
    char *str, size_t len)
{
    ngx_http_session_reply_t  *rp;

    rp = ngx_http_session_reply_string(task, str, len);

    if (rp) {
        rp->reply.dval = value;
    }

    return rp;
}


static void *
ngx_http_session_reply_bool(const redisReadTask *task, int value)
{
    ngx_http_session_reply_t  *rp;

    if (ngx_http_session_reply_refused(task, NULL, 0, -1)) {
        return NULL;
    }

    rp = ngx_http_session_reply_get(REDIS_REPLY_BOOL);
    if (rp == NULL) {
        return NULL;
    }

    rp->reply.integer = value != 0;

    return ngx_http_session_reply_link(task, rp);
}

#endif


static void *
ngx_http_session_reply_nil(const redisReadTask *task)
{
    ngx_http_session_reply_t  *rp;

    if (ngx_http_session_reply_refused(task, NULL, 0, -1)) {
        return NULL;
    }

    rp = ngx_http_session_reply_get(REDIS_REPLY_NIL);
    if (rp == NULL) {
        return NULL;
    }

    return ngx_http_session_reply_link(task, rp);
}


/* also called by the reader on a half-parsed reply: elements may be NULL */

static void
ngx_http_session_reply_free(void *obj)
{
    size_t                     i;
    ngx_http_session_reply_t  *rp;

    rp = obj;

    if (rp == NULL) {
        return;
    }

    if (rp->reply.element) {
        for (i = 0; i < rp->reply.elements; i++) {
            ngx_http_session_reply_free(rp->reply.element[i]);
        }

        if (rp->reply.element != rp->u.element) {
            free(rp->reply.element);
        }
    }

    if (rp->reply.str && rp->reply.str != rp->u.str) {
        free(rp->reply.str);
    }

    ngx_http_session_reply_put(rp);
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


static void
ngx_http_session_link_connect(ngx_http_session_link_t *link)
{
    ngx_http_session_addr_t          *sa;
    ngx_http_session_redis_conf_t    *rc;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    rc = w->smcf->redis;

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


static ngx_int_t
ngx_http_session_is_literal(u_char *host, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];

    if (ngx_inet6_addr(host, len, addr6) == NGX_OK) {
        return 1;
    }
#endif

    return ngx_inet_addr(host, len) != INADDR_NONE;
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


/*
 * Wraps a new hiredis context's socket in an nginx connection and maps
 * hiredis's event hooks to it.  NULL (and the context freed) on failure.
 */

static redisAsyncContext *
ngx_http_session_attach(ngx_http_session_link_t *link, redisAsyncContext *ac)
{
    ngx_connection_t                 *c;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

    if (ac == NULL) {
        ngx_http_session_link_outage(link, "out of memory");
        return NULL;
    }

    if (ac->err) {
        ngx_http_session_link_outage(link, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }

    c = ngx_get_connection(ac->c.fd, w->log);
    if (c == NULL) {
        ngx_http_session_link_outage(link, "no free worker connection");
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

static void
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
    ngx_msec_t                        delay;
    ngx_http_session_redis_worker_t  *w = &ngx_http_session_redis_worker;

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

    /*
     * Once per worker, when all of its links are first ready: the test
     * harnesses wait for this line after every start and reload.
     */

    if (!w->announced
        && w->cmd.state == NGX_HTTP_SESSION_LINK_READY
        && ((w->smcf->cache_zone == NULL && !w->smcf->live_close)
            || w->sub.subscribed))
    {
        w->announced = 1;
        ngx_log_error(NGX_LOG_NOTICE, w->log, 0,
                      "session: redis link up (worker pid %P)", ngx_pid);
    }

    if (!link->outage) {
        link->backoff = NGX_HTTP_SESSION_BACKOFF_MIN;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, w->log, 0,
                       "session %s: ready", link->name);
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


static void
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

        ngx_http_session_cache_flush(w->smcf);
        link->subscribed = 1;
        ngx_http_session_link_ready(link);

        /* live connections whose revocation may have been missed */
        ngx_http_session_registry_resync(w->smcf);
        return;
    }

    if (ngx_strncmp(rr->element[0]->str, "message", 7) == 0
        && rr->element[2]->type == REDIS_REPLY_STRING
        && rr->element[2]->len == SC_HASH_HEX_LEN)
    {
        ngx_http_session_cache_evict(w->smcf, (u_char *) rr->element[2]->str);
        ngx_http_session_registry_revoked((u_char *) rr->element[2]->str,
                                          rr->element[2]->len);
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
 * Called by hiredis whenever a context is freed, whatever the reason:
 * close the nginx connection (which also closes the socket) and tell
 * hiredis the descriptor is gone, so that it is not closed twice.
 */

static void
ngx_http_session_cleanup(void *privdata)
{
    ngx_connection_t         *c = privdata;
    redisAsyncContext        *ac;
    ngx_http_session_link_t  *link;

    ac = c->data;
    link = ac->data;

    ngx_close_connection(c);
    ac->c.fd = -1;

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

    if (link->counted) {
        ngx_http_session_uncount(redis_connections);
        link->counted = 0;
    }

    ngx_http_session_link_schedule(link);
}


static void
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

static void
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
 * hiredis reads at most 16 KB per redisAsyncHandleRead(); with an
 * edge-triggered epoll a larger burst of replies would stay in the socket
 * with no new edge to come, so read until the socket is drained.
 */

static void
ngx_http_session_read_handler(ngx_event_t *ev)
{
    int                       n;
    ngx_socket_t              fd;
    ngx_connection_t         *c = ev->data;
    redisAsyncContext        *ac = c->data;
    ngx_http_session_link_t  *link = ac->data;

    fd = c->fd;

    for ( ;; ) {
        redisAsyncHandleRead(ac);

        if (link->ac != ac && link->sentinel != ac) {
            /* freed inside, c is closed */
            return;
        }

        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


static void
ngx_http_session_write_handler(ngx_event_t *ev)
{
    ngx_connection_t         *c = ev->data;
    redisAsyncContext        *ac = c->data;
    ngx_http_session_link_t  *link = ac->data;

    link->unflushed = 0;

    ngx_http_session_writing = 1;

    redisAsyncHandleWrite(ac);

    ngx_http_session_writing = 0;
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
 * A write error stays in the context (redisBufferWrite() then fails at
 * once) until that event's redisAsyncHandleWrite() drops the link as
 * usual, outside of any request's handler; while the socket is full the
 * link waits for EPOLLOUT and nothing is written here.
 */

static void
ngx_http_session_link_flush(ngx_http_session_link_t *link)
{
    int                 done;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    link->unflushed = 0;

    ac = link->ac;
    c = ac->ev.data;

    if (!(ac->c.flags & REDIS_CONNECTED) || ac->c.err || c->write->active) {
        return;
    }

    (void) redisBufferWrite(&ac->c, &done);
}


/*
 * "host:port": a literal IPv4 address, "[IPv6]", "localhost" (127.0.0.1)
 * or a host name, which ngx_http_session_redis_init_conf() resolves at
 * load time or leaves to the resolver; host is copied NUL-terminated.
 */

static ngx_int_t
ngx_http_session_parse_host_port(ngx_conf_t *cf, ngx_str_t *s,
    ngx_http_session_addr_t *sa)
{
    u_char      c, *p, *last;
    ngx_int_t   n;
    ngx_str_t   h;
    ngx_uint_t  i, name;
    u_char      addr6[16];

    last = s->data + s->len;
    name = 0;

    if (s->len && s->data[0] == '[') {
        p = ngx_strlchr(s->data, last, ']');
        if (p == NULL || p + 1 >= last || p[1] != ':') {
            return NGX_ERROR;
        }

        h.data = s->data + 1;
        h.len = p - h.data;
        p++;

        if (ngx_inet6_addr(h.data, h.len, addr6) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        p = ngx_strlchr(s->data, last, ':');
        if (p == NULL || p == s->data) {
            return NGX_ERROR;
        }

        h.data = s->data;
        h.len = p - h.data;

        if (h.len == 9
            && ngx_strncasecmp(h.data, (u_char *) "localhost", 9) == 0)
        {
            ngx_str_set(&h, "127.0.0.1");

        } else if (ngx_inet_addr(h.data, h.len) == INADDR_NONE) {

            /* a host name: letters, digits, '-', '_' and dots */

            if (h.len > NGX_HTTP_SESSION_HOST_LEN - 1) {
                return NGX_ERROR;
            }

            for (i = 0; i < h.len; i++) {
                c = h.data[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                      || (c >= '0' && c <= '9') || c == '-' || c == '_'
                      || c == '.'))
                {
                    return NGX_ERROR;
                }
            }

            name = 1;
        }
    }

    n = ngx_atoi(p + 1, last - p - 1);
    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    sa->port = (in_port_t) n;
    sa->name = name;

    sa->host.len = h.len;
    sa->host.data = ngx_pnalloc(cf->pool, h.len + 1);
    if (sa->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(sa->host.data, h.data, h.len + 1);

    return NGX_OK;
}


/*
 * Once http{} is parsed: with a "resolver" there, host names are resolved
 * by it in the worker, on every (re)connection and when their TTL runs
 * out.  Without one, they are resolved now, as nginx does for upstream
 * servers, and replaced by their addresses; a name that does not resolve
 * fails the configuration.
 */

ngx_int_t
ngx_http_session_redis_init_conf(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver && clcf->resolver->connections.nelts) {
        rc->resolver = clcf->resolver;
        rc->resolver_timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                               ? 30000 : clcf->resolver_timeout;
        return NGX_OK;
    }

    if (rc->servers) {
        rc->servers = ngx_http_session_resolve_list(cf, rc, rc->servers);
        if (rc->servers == NULL) {
            return NGX_ERROR;
        }
    }

    if (rc->sentinels) {
        rc->sentinels = ngx_http_session_resolve_list(cf, rc, rc->sentinels);
        if (rc->sentinels == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_array_t *
ngx_http_session_resolve_list(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_array_t *list)
{
    size_t                    len;
    ngx_url_t                 u;
    ngx_uint_t                i, j;
    ngx_array_t              *a;
    ngx_http_session_addr_t  *sa, *na;
    u_char                    text[NGX_SOCKADDR_STRLEN];

    a = ngx_array_create(cf->pool, list->nelts,
                         sizeof(ngx_http_session_addr_t));
    if (a == NULL) {
        return NULL;
    }

    sa = list->elts;

    for (i = 0; i < list->nelts; i++) {

        if (!sa[i].name) {
            na = ngx_array_push(a);
            if (na == NULL) {
                return NULL;
            }

            *na = sa[i];
            continue;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.host = sa[i].host;
        u.port = sa[i].port;

        /* the master blocks here, before any worker exists */

        if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"session_redis\" host \"%V\" not found "
                          "(names are resolved at load time unless http{} "
                          "has a \"resolver\") in %V:%ui",
                          &sa[i].host, &rc->conf_file, rc->conf_line);
            return NULL;
        }

        for (j = 0; j < u.naddrs; j++) {
            na = ngx_array_push(a);
            if (na == NULL) {
                return NULL;
            }

            len = ngx_sock_ntop(u.addrs[j].sockaddr, u.addrs[j].socklen,
                                text, NGX_SOCKADDR_STRLEN, 0);

            na->host.len = len;
            na->host.data = ngx_pnalloc(cf->pool, len + 1);
            if (na->host.data == NULL) {
                return NULL;
            }

            ngx_cpystrn(na->host.data, text, len + 1);
            na->port = sa[i].port;
            na->name = 0;

            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                           "session redis: \"%V\" is %V port %d",
                           &sa[i].host, &na->host, (int) na->port);
        }
    }

    return a;
}


/*
 * session_redis ADDRESS [db=N] [user=NAME] [password_file=FILE]
 *     [prefix=STR] [connect_timeout=TIME] [timeout=TIME];
 * session_redis sentinel=HOST:PORT[,HOST:PORT...] master=NAME [...];
 */

char *
ngx_http_session_redis_parse(ngx_conf_t *cf, ngx_http_session_redis_conf_t *rc,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char                   *p, *last;
    ssize_t                   size;
    ngx_int_t                 db;
    ngx_str_t                 s, file, a;
    ngx_uint_t                i;
    ngx_file_t                f;
    ngx_http_session_addr_t  *sa;
    u_char                    buf[4096];

    rc->conf_file.data = cf->conf_file->file.name.data;
    rc->conf_file.len = cf->conf_file->file.name.len;
    rc->conf_line = cf->conf_file->line;

    rc->db = 0;
    ngx_str_set(&rc->prefix, "session:");
    rc->connect_timeout = 1000;
    rc->timeout = 200;

    for (i = 1; i < n; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            /* the address */

            if (rc->addr_text.len) {
                goto invalid;
            }

            rc->addr_text = value[i];

            if (value[i].len > 5
                && ngx_strncmp(value[i].data, "unix:", 5) == 0)
            {
                rc->unix_path.len = value[i].len - 5;
                rc->unix_path.data = ngx_pnalloc(cf->pool,
                                                 rc->unix_path.len + 1);
                if (rc->unix_path.data == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_cpystrn(rc->unix_path.data, value[i].data + 5,
                            rc->unix_path.len + 1);
                continue;
            }

            rc->servers = ngx_array_create(cf->pool, 1,
                                           sizeof(ngx_http_session_addr_t));
            if (rc->servers == NULL) {
                return NGX_CONF_ERROR;
            }

            sa = ngx_array_push(rc->servers);
            if (sa == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_session_parse_host_port(cf, &value[i], sa)
                != NGX_OK)
            {
                goto bad_address;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel=", 9) == 0) {
            rc->sentinels = ngx_array_create(cf->pool, 3,
                                             sizeof(ngx_http_session_addr_t));
            if (rc->sentinels == NULL) {
                return NGX_CONF_ERROR;
            }

            p = value[i].data + 9;
            last = value[i].data + value[i].len;

            while (p < last) {
                a.data = p;
                p = ngx_strlchr(p, last, ',');
                if (p == NULL) {
                    p = last;
                }

                a.len = p - a.data;
                p++;

                sa = ngx_array_push(rc->sentinels);
                if (sa == NULL) {
                    return NGX_CONF_ERROR;
                }

                if (ngx_http_session_parse_host_port(cf, &a, sa) != NGX_OK) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid \"session_redis\" sentinel "
                                       "\"%V\": expected \"host:port\"",
                                       &a);
                    return NGX_CONF_ERROR;
                }
            }

            if (rc->sentinels->nelts == 0) {
                goto invalid;
            }

            rc->addr_text = value[i];
            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            rc->master.data = value[i].data + 7;
            rc->master.len = value[i].len - 7;

            if (rc->master.len == 0) {
                goto invalid;
            }

            continue;
        }

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
                || rc->connect_timeout == 0
                || rc->connect_timeout > NGX_HTTP_SESSION_TIMEOUT_MAX)
            {
                goto invalid_timeout;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rc->timeout = ngx_parse_time(&s, 0);
            if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0
                || rc->timeout > NGX_HTTP_SESSION_TIMEOUT_MAX)
            {
                goto invalid_timeout;
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

    if (rc->sentinels && rc->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"sentinel=\" requires "
                           "\"master=\"");
        return NGX_CONF_ERROR;
    }

    if (rc->master.len && rc->sentinels == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"master=\" requires "
                           "\"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinels && (rc->servers || rc->unix_path.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": an address and "
                           "\"sentinel=\" cannot be combined");
        return NGX_CONF_ERROR;
    }

    if (rc->addr_text.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\" needs an address or "
                           "\"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

bad_address:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" address \"%V\": expected "
                       "\"host:port\" or \"unix:/path\"", &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;

invalid_timeout:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" parameter \"%V\" "
                       "(TIME from 1ms to 10m)", &value[i]);
    return NGX_CONF_ERROR;
}
