
/*
 * sessionctl on Redis Cluster: what reaches past the subject's slot.
 * Sessions migrated from a single Redis (migrate.c) keep their old record
 * hash, so their record may sit on another slot than their subject's
 * index ("far", session_store.h): the scripts on the index's slot return
 * those ids and each is handled here with one more single-slot call.
 */


#include "sessionctl.h"


/* revoke SUBJECT --id ID: SS_CLUSTER_SCRIPT_REVOKE_ID, then far members */

int
sctl_cluster_revoke_id(sctl_ctx_t *ctx)
{
    int           rc;
    char          ukey[SCTL_KEY_MAX], skey[SCTL_KEY_MAX];
    char          tag[SC_TAG_HEX_LEN], hash[SC_HASH_HEX_LEN + 1];
    size_t        i, argvlen[8];
    const char   *argv[8];
    redisReply   *r, *e, *s;

    sc_subject_tag_hex(ctx->args[0], strlen(ctx->args[0]), tag);

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_CLUSTER_SCRIPT_REVOKE_ID;
    argvlen[1] = sizeof(SS_CLUSTER_SCRIPT_REVOKE_ID) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = tag;
    argvlen[5] = SC_TAG_HEX_LEN;
    argv[6] = ctx->id;
    argvlen[6] = SC_PUBLIC_ID_LEN;

    r = sctl_redis_command(ctx, 7, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
        || r->element[0]->type != REDIS_REPLY_STRING)
    {
        sctl_error("redis %s: unexpected reply to the revoke script",
                   ctx->redis_addr);
        freeReplyObject(r);
        return SCTL_RUNTIME;
    }

    rc = r->element[0]->len ? SCTL_OK : SCTL_NOT_FOUND;

    if (rc == SCTL_OK) {
        sctl_redis_delivered(ctx, ukey, argvlen[3]);
    }

    /*
     * found: the far hops of its chain are ended unconditionally;
     * not found: each far member is ended only if it has the public id
     */

    for (i = 1; i < r->elements; i++) {
        e = r->element[i];

        if (!sctl_hash_valid(e)) {
            continue;
        }

        memcpy(hash, e->str, SC_HASH_HEX_LEN);
        hash[SC_HASH_HEX_LEN] = '\0';

        if (r->element[0]->len) {
            if (sctl_cluster_revoke_hash(ctx, hash) == -1) {
                freeReplyObject(r);
                return SCTL_RUNTIME;
            }

            continue;
        }

        argv[1] = SS_CLUSTER_SCRIPT_REVOKE;
        argvlen[1] = sizeof(SS_CLUSTER_SCRIPT_REVOKE) - 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, hash,
                              SC_HASH_HEX_LEN);
        argv[5] = hash;
        argvlen[5] = SC_TAG_HEX_LEN;
        argv[6] = hash;
        argvlen[6] = SC_HASH_HEX_LEN;
        argv[7] = ctx->id;
        argvlen[7] = SC_PUBLIC_ID_LEN;

        s = sctl_redis_command(ctx, 8, argv, argvlen);
        if (s == NULL) {
            freeReplyObject(r);
            return SCTL_RUNTIME;
        }

        if (s->type != REDIS_REPLY_ARRAY || s->elements < 1
            || s->element[0]->type != REDIS_REPLY_INTEGER)
        {
            sctl_error("redis %s: unexpected reply to the revoke script",
                       ctx->redis_addr);
            freeReplyObject(s);
            freeReplyObject(r);
            return SCTL_RUNTIME;
        }

        if (s->element[0]->integer == 1) {
            rc = SCTL_OK;
            sctl_redis_delivered(ctx, skey, argvlen[3]);

            /* its chain's far hops, if any */

            if (s->elements > 1 && sctl_hash_valid(s->element[1])) {
                memcpy(hash, s->element[1]->str, SC_HASH_HEX_LEN);

                if (sctl_cluster_revoke_hash(ctx, hash) == -1) {
                    freeReplyObject(s);
                    freeReplyObject(r);
                    return SCTL_RUNTIME;
                }
            }

            freeReplyObject(s);

            /* the index member goes: the record is gone */
            argv[0] = "SREM";
            argvlen[0] = 4;
            argv[1] = ukey;
            argvlen[1] = strlen(ukey);
            argv[2] = e->str;
            argvlen[2] = e->len;

            s = sctl_redis_command(ctx, 3, argv, argvlen);
            if (s) {
                freeReplyObject(s);
            }

            break;
        }

        freeReplyObject(s);
    }

    freeReplyObject(r);

    if (rc == SCTL_NOT_FOUND) {
        sctl_error("session %s of that subject not found", ctx->id);
    }

    return rc;
}


/*
 * list on a cluster: the rows of the far members, read on their slots
 * (SCTL_CLUSTER_SCRIPT_ROW) and merged with those of the script; a far
 * member whose record is gone is removed from the index and counted as
 * pruned.  *rows (malloc) points into list's and *extra's replies.
 */

static int
sctl_row_cmp(const void *a, const void *b)
{
    long long          x, y;
    const redisReply  *ra = *(redisReply * const *) a;
    const redisReply  *rb = *(redisReply * const *) b;

    sctl_reply_number(ra->element[1], &x);
    sctl_reply_number(rb->element[1], &y);

    return x < y ? -1 : x > y;
}


int
sctl_cluster_list_far(sctl_ctx_t *ctx, const char *ukey, size_t ukey_len,
    redisReply *list, redisReply ***rows, size_t *nrows,
    redisReply ***extra, size_t *nextra, long long *pruned)
{
    char          skey[SCTL_KEY_MAX];
    size_t        i, k, n, argvlen[6];
    const char   *argv[6];
    redisReply   *far, *s;

    far = list->element[2];
    list = list->element[1];

    n = list->elements + far->elements;

    *rows = calloc(n + 1, sizeof(redisReply *));
    *extra = calloc(far->elements + 1, sizeof(redisReply *));
    *nrows = 0;
    *nextra = 0;

    if (*rows == NULL || *extra == NULL) {
        sctl_error("out of memory");
        return SCTL_RUNTIME;
    }

    for (i = 0; i < list->elements; i++) {
        (*rows)[(*nrows)++] = list->element[i];
    }

    for (i = 0; i < far->elements; i++) {
        if (!sctl_hash_valid(far->element[i])) {
            continue;
        }

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = SCTL_CLUSTER_SCRIPT_ROW;
        argvlen[1] = sizeof(SCTL_CLUSTER_SCRIPT_ROW) - 1;
        argv[2] = "1";
        argvlen[2] = 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION,
                              far->element[i]->str, SC_HASH_HEX_LEN);
        argv[4] = ctx->args[0];
        argvlen[4] = strlen(ctx->args[0]);
        argv[5] = far->element[i]->str;
        argvlen[5] = SC_HASH_HEX_LEN;

        s = sctl_redis_command(ctx, 6, argv, argvlen);
        if (s == NULL) {
            return SCTL_RUNTIME;
        }

        if (s->type == REDIS_REPLY_ARRAY && s->elements == 9) {
            for (k = 0; k < 9; k++) {
                if (k != 4 && s->element[k]->type != REDIS_REPLY_STRING) {
                    break;
                }
            }

            if (k == 9) {
                (*extra)[(*nextra)++] = s;
                (*rows)[(*nrows)++] = s;
                continue;
            }
        }

        freeReplyObject(s);

        /* gone, renewed or another subject's: out of the index */

        argv[0] = "SREM";
        argvlen[0] = 4;
        argv[1] = ukey;
        argvlen[1] = ukey_len;
        argv[2] = far->element[i]->str;
        argvlen[2] = far->element[i]->len;

        s = sctl_redis_command(ctx, 3, argv, argvlen);
        if (s == NULL) {
            return SCTL_RUNTIME;
        }

        freeReplyObject(s);
        (*pruned)++;
    }

    qsort(*rows, *nrows, sizeof(redisReply *), sctl_row_cmp);

    return SCTL_OK;
}


void
sctl_free_rows(redisReply **extra, size_t nextra)
{
    size_t  i;

    if (extra == NULL) {
        return;
    }

    for (i = 0; i < nextra; i++) {
        freeReplyObject(extra[i]);
    }

    free(extra);
}
