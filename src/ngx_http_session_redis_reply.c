
/*
 * ngx_http_session_module: the reply allocator for hiredis's reader, with
 * the checks that refuse garbage before hiredis sees it.
 */


#include "ngx_http_session_redis.h"


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


/*
 * The worker's state of the Redis layer (links, free lists, the link
 * layer's callbacks), defined here at the bottom of the layer: every file
 * of the layer uses it, and this one calls no other.
 */

ngx_http_session_redis_worker_t  ngx_http_session_redis_worker;


redisReplyObjectFunctions  ngx_http_session_reply_functions = {
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
        ngx_http_session_redis_worker.garbage(link, why);
    }

    return 1;
}


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
