
/*
 * sessionctl: a small synchronous Redis Cluster client.
 *
 * The slot map comes from CLUSTER SLOTS of any reachable node (the seeds,
 * then every node learnt); one connection per node, opened on first use.
 * A command goes to the owner of its key's slot (session_slot.c's hashing,
 * the same as the module's); MOVED updates that slot and retries, ASK
 * retries once on the named node after ASKING; TRYAGAIN, CLUSTERDOWN,
 * LOADING and a broken connection (a master killed, its replica not yet
 * promoted) refresh the map and retry every 100 ms for up to
 * SCTL_CLUSTER_WAIT_MS.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "session_slot.h"
#include "sctl_cluster.h"


#define SCTL_CLUSTER_NODES    64
#define SCTL_CLUSTER_WAIT_MS  15000
#define SCTL_CLUSTER_STEP_MS  100


typedef struct {
    char                      host[64];
    int                       port;
    redisContext             *c;
} sctl_node_t;


struct sctl_cluster_s {
    sctl_node_t               nodes[SCTL_CLUSTER_NODES];
    int                       nnodes;
    short                     map[SC_CLUSTER_SLOTS];
    sctl_cluster_connect_pt   connect;
    void                     *data;
    char                      err[256];
};


static void
sctl_cluster_sleep(void)
{
    struct timespec  ts;

    ts.tv_sec = 0;
    ts.tv_nsec = SCTL_CLUSTER_STEP_MS * 1000000L;

    nanosleep(&ts, NULL);
}


static int
sctl_cluster_node(sctl_cluster_t *cl, const char *host, size_t hlen,
    int port)
{
    int  i;

    if (hlen == 0 || hlen >= sizeof(cl->nodes[0].host)) {
        return -1;
    }

    for (i = 0; i < cl->nnodes; i++) {
        if (cl->nodes[i].port == port
            && strlen(cl->nodes[i].host) == hlen
            && memcmp(cl->nodes[i].host, host, hlen) == 0)
        {
            return i;
        }
    }

    if (cl->nnodes == SCTL_CLUSTER_NODES) {
        return -1;
    }

    memcpy(cl->nodes[i].host, host, hlen);
    cl->nodes[i].host[hlen] = '\0';
    cl->nodes[i].port = port;
    cl->nodes[i].c = NULL;

    return cl->nnodes++;
}


static redisContext *
sctl_cluster_conn(sctl_cluster_t *cl, int i)
{
    if (cl->nodes[i].c == NULL) {
        cl->nodes[i].c = cl->connect(cl->data, cl->nodes[i].host,
                                     cl->nodes[i].port);
    }

    return cl->nodes[i].c;
}


static void
sctl_cluster_drop(sctl_cluster_t *cl, int i)
{
    if (cl->nodes[i].c) {
        redisFree(cl->nodes[i].c);
        cl->nodes[i].c = NULL;
    }
}


/* the slot map from the first node that answers CLUSTER SLOTS */

static int
sctl_cluster_refresh(sctl_cluster_t *cl)
{
    int            i, n, k, port;
    size_t         j;
    long long      s, e;
    redisReply    *r, *range, *m;
    redisContext  *c;

    for (i = 0; i < cl->nnodes; i++) {
        c = sctl_cluster_conn(cl, i);
        if (c == NULL) {
            continue;
        }

        r = redisCommand(c, "CLUSTER SLOTS");

        if (r == NULL) {
            sctl_cluster_drop(cl, i);
            continue;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            /* an error, or no slots assigned yet */
            snprintf(cl->err, sizeof(cl->err), "%s:%d: CLUSTER SLOTS: %.*s",
                     cl->nodes[i].host, cl->nodes[i].port,
                     r->type == REDIS_REPLY_ERROR ? (int) r->len : 8,
                     r->type == REDIS_REPLY_ERROR ? r->str : "no slots");
            freeReplyObject(r);
            continue;
        }

        for (k = 0; k < SC_CLUSTER_SLOTS; k++) {
            cl->map[k] = -1;
        }

        for (j = 0; j < r->elements; j++) {
            range = r->element[j];

            if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
                || range->element[0]->type != REDIS_REPLY_INTEGER
                || range->element[1]->type != REDIS_REPLY_INTEGER
                || range->element[2]->type != REDIS_REPLY_ARRAY
                || range->element[2]->elements < 2)
            {
                continue;
            }

            s = range->element[0]->integer;
            e = range->element[1]->integer;
            m = range->element[2];

            if (m->element[0]->type != REDIS_REPLY_STRING
                || m->element[1]->type != REDIS_REPLY_INTEGER
                || s < 0 || e >= SC_CLUSTER_SLOTS || s > e)
            {
                continue;
            }

            port = (int) m->element[1]->integer;

            if (m->element[0]->len == 0) {
                /* "" is the address this node was asked on */
                n = sctl_cluster_node(cl, cl->nodes[i].host,
                                      strlen(cl->nodes[i].host), port);

            } else {
                n = sctl_cluster_node(cl, m->element[0]->str,
                                      m->element[0]->len, port);
            }

            for ( /* void */ ; s <= e; s++) {
                cl->map[s] = (short) n;
            }
        }

        freeReplyObject(r);

        return 0;
    }

    if (cl->err[0] == '\0') {
        snprintf(cl->err, sizeof(cl->err), "no cluster node reachable");
    }

    return -1;
}


sctl_cluster_t *
sctl_cluster_create(const char *seeds, sctl_cluster_connect_pt connect,
    void *data)
{
    int              k;
    long             port;
    char            *end;
    const char      *p, *colon, *comma;
    sctl_cluster_t  *cl;

    cl = calloc(1, sizeof(sctl_cluster_t));
    if (cl == NULL) {
        return NULL;
    }

    cl->connect = connect;
    cl->data = data;

    for (k = 0; k < SC_CLUSTER_SLOTS; k++) {
        cl->map[k] = -1;
    }

    for (p = seeds; *p; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma == NULL) {
            comma = p + strlen(p);
        }

        colon = NULL;

        for (end = (char *) p; end < comma; end++) {
            if (*end == ':') {
                colon = end;
            }
        }

        if (colon == NULL) {
            free(cl);
            return NULL;
        }

        port = strtol(colon + 1, &end, 10);

        if (end != comma || port < 1 || port > 65535
            || sctl_cluster_node(cl, p, (size_t) (colon - p), (int) port)
               < 0)
        {
            free(cl);
            return NULL;
        }

        if (*comma == '\0') {
            break;
        }
    }

    if (cl->nnodes == 0) {
        free(cl);
        return NULL;
    }

    return cl;
}


static const char *
sctl_cluster_key(int argc, const char **argv, const size_t *argvlen,
    size_t *len)
{
    if (argc >= 4
        && (strcasecmp(argv[0], "EVAL") == 0
            || strcasecmp(argv[0], "EVALSHA") == 0))
    {
        if (argvlen[2] == 1 && argv[2][0] == '0') {
            return NULL;
        }

        *len = argvlen[3];
        return argv[3];
    }

    if (argc >= 2 && strcasecmp(argv[0], "PUBLISH") != 0
        && strcasecmp(argv[0], "SCAN") != 0)
    {
        *len = argvlen[1];
        return argv[1];
    }

    return NULL;
}


/* "MOVED 3999 127.0.0.1:6381": the node index, or -1 */

static int
sctl_cluster_redirect(sctl_cluster_t *cl, const char *str, size_t len,
    int *slot)
{
    long         port;
    char         buf[128], *end, *sp, *colon;

    if (len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, str, len);
    buf[len] = '\0';

    sp = strchr(buf, ' ');
    if (sp == NULL) {
        return -1;
    }

    *slot = (int) strtol(sp + 1, &end, 10);

    if (*end != ' ' || *slot < 0 || *slot >= SC_CLUSTER_SLOTS) {
        return -1;
    }

    colon = strrchr(end + 1, ':');
    if (colon == NULL) {
        return -1;
    }

    port = strtol(colon + 1, &sp, 10);

    if (*sp != '\0' || port < 1 || port > 65535) {
        return -1;
    }

    return sctl_cluster_node(cl, end + 1, (size_t) (colon - end - 1),
                             (int) port);
}


static int
sctl_cluster_is(redisReply *r, const char *what)
{
    size_t  n;

    n = strlen(what);

    return r->type == REDIS_REPLY_ERROR && r->len >= n
           && memcmp(r->str, what, n) == 0
           && (r->len == n || r->str[n] == ' ');
}


redisReply *
sctl_cluster_command(sctl_cluster_t *cl, int argc, const char **argv,
    const size_t *argvlen)
{
    int            i, ask, slot, s, waited;
    size_t         klen;
    const char    *key;
    redisReply    *r, *a;
    redisContext  *c;

    key = sctl_cluster_key(argc, argv, argvlen, &klen);
    slot = key ? (int) sc_key_slot(key, klen) : -1;

    ask = -1;

    for (waited = 0; waited <= SCTL_CLUSTER_WAIT_MS; /* void */ ) {

        if (ask >= 0) {
            i = ask;

        } else if (slot >= 0) {
            i = cl->map[slot];

            if (i < 0) {
                if (sctl_cluster_refresh(cl) != 0 || cl->map[slot] < 0) {
                    goto wait;
                }

                i = cl->map[slot];
            }

        } else {
            /* no key: any node that answers */

            for (i = 0; i < cl->nnodes; i++) {
                if (sctl_cluster_conn(cl, i)) {
                    break;
                }
            }

            if (i == cl->nnodes) {
                snprintf(cl->err, sizeof(cl->err),
                         "no cluster node reachable");
                goto wait;
            }
        }

        c = sctl_cluster_conn(cl, i);
        if (c == NULL) {
            snprintf(cl->err, sizeof(cl->err), "%s:%d: unreachable",
                     cl->nodes[i].host, cl->nodes[i].port);
            goto unreachable;
        }

        if (ask >= 0) {
            ask = -1;
            a = redisCommand(c, "ASKING");

            if (a == NULL) {
                sctl_cluster_drop(cl, i);
                goto unreachable;
            }

            freeReplyObject(a);
        }

        r = redisCommandArgv(c, argc, argv, argvlen);

        if (r == NULL) {
            snprintf(cl->err, sizeof(cl->err), "%s:%d: %s",
                     cl->nodes[i].host, cl->nodes[i].port,
                     c->errstr[0] ? c->errstr : "no reply");
            sctl_cluster_drop(cl, i);
            goto unreachable;
        }

        if (sctl_cluster_is(r, "MOVED")) {
            i = sctl_cluster_redirect(cl, r->str, r->len, &s);
            freeReplyObject(r);

            if (i < 0) {
                snprintf(cl->err, sizeof(cl->err), "a garbled MOVED");
                return NULL;
            }

            cl->map[s] = (short) i;
            continue;
        }

        if (sctl_cluster_is(r, "ASK")) {
            ask = sctl_cluster_redirect(cl, r->str, r->len, &s);
            freeReplyObject(r);

            if (ask < 0) {
                snprintf(cl->err, sizeof(cl->err), "a garbled ASK");
                return NULL;
            }

            continue;
        }

        if (sctl_cluster_is(r, "TRYAGAIN") || sctl_cluster_is(r, "CLUSTERDOWN")
            || sctl_cluster_is(r, "LOADING")
            || sctl_cluster_is(r, "READONLY"))
        {
            snprintf(cl->err, sizeof(cl->err), "%s:%d: %.*s",
                     cl->nodes[i].host, cl->nodes[i].port, (int) r->len,
                     r->str);
            freeReplyObject(r);
            goto unreachable;
        }

        return r;

    unreachable:

        /* a failover in progress: the map will name the new master */
        (void) sctl_cluster_refresh(cl);

    wait:

        if (getenv("SCTL_CLUSTER_DEBUG")) {
            fprintf(stderr, "sessionctl: cluster: waiting: %s\n", cl->err);
        }

        sctl_cluster_sleep();
        waited += SCTL_CLUSTER_STEP_MS;
    }

    return NULL;
}


int
sctl_cluster_masters(sctl_cluster_t *cl, char hosts[][64], int *ports,
    int max)
{
    int  i, k, n, seen[SCTL_CLUSTER_NODES];

    if (sctl_cluster_refresh(cl) != 0) {
        return -1;
    }

    memset(seen, 0, sizeof(seen));
    n = 0;

    for (k = 0; k < SC_CLUSTER_SLOTS; k++) {
        i = cl->map[k];

        if (i >= 0 && !seen[i] && n < max) {
            seen[i] = 1;
            memcpy(hosts[n], cl->nodes[i].host, 64);
            ports[n++] = cl->nodes[i].port;
        }
    }

    return n;
}


const char *
sctl_cluster_error(sctl_cluster_t *cl)
{
    return cl->err[0] ? cl->err : "no reply";
}


void
sctl_cluster_free(sctl_cluster_t *cl)
{
    int  i;

    for (i = 0; i < cl->nnodes; i++) {
        sctl_cluster_drop(cl, i);
    }

    free(cl);
}
