
/*
 * sessionctl: a small synchronous Redis Cluster client (tools/sctl_cluster.c)
 */

#ifndef _SCTL_CLUSTER_H_INCLUDED_
#define _SCTL_CLUSTER_H_INCLUDED_


#include <hiredis/hiredis.h>


typedef struct sctl_cluster_s  sctl_cluster_t;

/* a connected, authenticated context to host:port, or NULL (reported) */
typedef redisContext *(*sctl_cluster_connect_pt)(void *data,
    const char *host, int port);


/* seeds: "HOST:PORT[,HOST:PORT...]" */
sctl_cluster_t *sctl_cluster_create(const char *seeds,
    sctl_cluster_connect_pt connect, void *data);

/*
 * Sends the command to the owner of its key's slot (the first key of
 * EVAL/EVALSHA, argv[1] otherwise), following MOVED and ASK and waiting
 * out TRYAGAIN, CLUSTERDOWN and an unreachable owner (a failover) for up
 * to SCTL_CLUSTER_WAIT_MS.  Returns the reply (possibly an error reply)
 * or NULL, with the reason in sctl_cluster_error().
 */
redisReply *sctl_cluster_command(sctl_cluster_t *cl, int argc,
    const char **argv, const size_t *argvlen);

/* the same, on every master (SCAN of a migration, INFO) */
int sctl_cluster_masters(sctl_cluster_t *cl, char hosts[][64], int *ports,
    int max);

const char *sctl_cluster_error(sctl_cluster_t *cl);

void sctl_cluster_free(sctl_cluster_t *cl);


#endif /* _SCTL_CLUSTER_H_INCLUDED_ */
