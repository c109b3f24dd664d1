
/*
 * ngx_http_session_module: the Redis layer's own declarations, shared by
 * its files and by no one else: ngx_http_session_redis.c (the links:
 * connection, Sentinel, resolver), ngx_http_session_redis_event.c
 * (hiredis on nginx's event loop),
 * ngx_http_session_redis_op.c (commands and their replies),
 * ngx_http_session_redis_reply.c (the reply allocator),
 * ngx_http_session_redis_conf.c (session_redis) and
 * ngx_http_session_cluster.c (session_redis cluster=).
 */

#ifndef _NGX_HTTP_SESSION_REDIS_H_INCLUDED_
#define _NGX_HTTP_SESSION_REDIS_H_INCLUDED_


#include "ngx_http_session.h"

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

/* reads of 16 KB at most by one drain of the subscriber link */
#define NGX_HTTP_SESSION_DRAIN_MAX        8

/* a host name, NUL ended */
#define NGX_HTTP_SESSION_HOST_LEN         256


typedef struct {
    redisAsyncContext                 *ac;        /* the link's context */
    redisAsyncContext                 *sentinel;  /* a master query */
    ngx_uint_t                         state;
    ngx_uint_t                         subscriber;
    ngx_uint_t                         subscribed;
    const char                        *name;
    ngx_http_session_addr_t           *fixed;     /* a cluster node's */

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
    unsigned                           armed:1;    /* signals messages */
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


typedef void (*ngx_http_session_link_event_pt)(
    ngx_http_session_link_t *link, const char *why);
typedef void (*ngx_http_session_link_closed_pt)(
    ngx_http_session_link_t *link, redisAsyncContext *ac);


/*
 * session_redis cluster= (ngx_http_session_cluster.c, above this layer):
 * how commands are routed and what "available" means, set by
 * ngx_http_session_cluster_init(); NULL for a single Redis or Sentinel.
 */
typedef struct {
    ngx_int_t                        (*send)(ngx_http_session_op_t *op,
                                             u_char *cmd, size_t len);
    void                             (*timed_out)(void);
    ngx_int_t                        (*available)(void);
    ngx_int_t                        (*ready)(void);
    ngx_int_t                        (*wanted)(ngx_http_session_link_t *l);
    ngx_int_t                        (*subscribed)(void);
    ngx_int_t                        (*drain)(void);
} ngx_http_session_router_t;


typedef struct {
    ngx_http_session_main_conf_t      *smcf;
    ngx_log_t                         *log;
    ngx_http_session_router_t         *router;    /* cluster=, or NULL */
    unsigned                           exiting:1;
    unsigned                           announced:1;

    ngx_http_session_link_t            cmd;
    ngx_http_session_link_t            sub;
    ngx_http_session_link_t           *replying;  /* cluster: a reply's */

    ngx_http_session_op_t             *free_ops;

    ngx_http_session_reply_t          *free_replies;
    ngx_uint_t                         nfree_replies;

    /*
     * The link layer's (_redis.c) answers to what happens below it, set
     * by ngx_http_session_redis_init_process(): the event glue and the
     * reply functions call up through these, never by name.
     */
    ngx_http_session_link_event_pt     outage;
    ngx_http_session_link_event_pt     garbage;
    ngx_http_session_link_closed_pt    closed;
} ngx_http_session_redis_worker_t;


/* ngx_http_session_redis_reply.c, the bottom of the layer */
extern ngx_http_session_redis_worker_t  ngx_http_session_redis_worker;
extern redisReplyObjectFunctions        ngx_http_session_reply_functions;

/* ngx_http_session_redis.c */
void ngx_http_session_link_outage(ngx_http_session_link_t *link,
    const char *why);
void ngx_http_session_link_flush(ngx_http_session_link_t *link);
void ngx_http_session_link_restored(ngx_event_t *ev);
void ngx_http_session_link_garbage(ngx_http_session_link_t *link,
    const char *why);
void ngx_http_session_load_scripts(redisAsyncContext *ac);
void ngx_http_session_link_schedule(ngx_http_session_link_t *link);

ngx_int_t ngx_http_session_is_literal(u_char *host, size_t len);
void ngx_http_session_link_init(ngx_http_session_link_t *link,
    const char *name, ngx_uint_t subscriber, ngx_cycle_t *cycle);
void ngx_http_session_link_connect(ngx_http_session_link_t *link);
void ngx_http_session_link_drop(ngx_http_session_link_t *link);
void ngx_http_session_redis_announce(void);

/* ngx_http_session_redis_op.c */
ngx_http_session_op_t *ngx_http_session_redis_op_get(void);
void ngx_http_session_redis_op_put(ngx_http_session_op_t *op);

/* ngx_http_session_redis_channel.c */
void ngx_http_session_channel_init_process(ngx_log_t *log);
void ngx_http_session_channel_arm(ngx_http_session_link_t *link);
ngx_uint_t ngx_http_session_channel_quiet(ngx_http_session_link_t *link);
void ngx_http_session_channel_revoked(ngx_http_session_main_conf_t *smcf,
    u_char *hash);

/* ngx_http_session_redis_event.c */
redisAsyncContext *ngx_http_session_attach(ngx_http_session_link_t *link,
    redisAsyncContext *ac);
ngx_int_t ngx_http_session_link_drain(ngx_http_session_link_t *link);


#endif /* _NGX_HTTP_SESSION_REDIS_H_INCLUDED_ */
