
/*
 * ngx_http_session_module: the answers of session_list and
 * session_revoke (ngx_http_session_registry.c): the list's rows and its
 * JSON, the bodiless statuses with Cache-Control: no-store; and, on a
 * cluster, the sessions of a subject that live on another slot than its
 * index.
 *
 * A record migrated from a single Redis (sessionctl migrate, "cluster=
 * ...,legacy") is keyed by its own hash's tag, not by its subject's: the
 * cluster scripts, which never build a key outside their own slot, hand
 * such index members back to the caller ("far" ids, docs/redis.md).  Here
 * the caller follows them, one command per id on its own slot, as
 * sessionctl does (tools/sessionctl/cluster.c):
 *
 *   list    HMGET <key> cre last pid ip ua via nx sub: a row if the
 *           record is the subject's and live (no "nx"); an index member
 *           whose record is gone is removed (SREM), as the script does
 *   revoke  SS_CLUSTER_SCRIPT_REVOKE with the public id: ended only if
 *           live and of that id; the first one that ends answers 204,
 *           after the PING barrier on its node
 *
 * The commands go one after another through the request's call, under
 * the deadline its first command set (session_redis timeout=).
 */


#include "ngx_http_session.h"


#define NGX_HTTP_SESSION_FAR_FIELDS  8


static ngx_int_t ngx_http_session_far_copy(ngx_http_session_far_t *far,
    redisReply *reply, size_t from);
static ngx_uint_t ngx_http_session_far_hex(const char *s, size_t len);
static ngx_int_t ngx_http_session_far_list_next(ngx_http_session_far_t *far);
static void ngx_http_session_far_list_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_http_session_far_row(ngx_http_session_far_t *far,
    u_char *hash, redisReply **f);
static ngx_int_t ngx_http_session_far_revoke_next(
    ngx_http_session_far_t *far);
static void ngx_http_session_far_revoke_reply(ngx_http_session_call_t *call,
    redisReply *reply);
static void ngx_http_session_far_delivered(ngx_http_session_call_t *call,
    redisReply *reply);
static ngx_int_t ngx_http_session_far_cmp(const void *one, const void *two);
static void ngx_http_session_far_done(ngx_http_session_far_t *far,
    ngx_int_t status);


/*
 * The list's far ids (elements of "ids"), read one by one; "rows" holds
 * the script's rows already (ngx_str_t, SS_LIST_FIELDS per session).
 * NGX_OK: far->done is called once (503 if Redis cannot be asked);
 * NGX_ERROR: no memory, nothing started.
 */

ngx_int_t
ngx_http_session_far_list(ngx_http_session_far_t *far, redisReply *ids)
{
    if (ngx_http_session_far_copy(far, ids, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_session_far_list_next(far) != NGX_OK) {
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    return NGX_OK;
}


/*
 * The far ids of SS_CLUSTER_SCRIPT_REVOKE_ID's reply, from element 1 on,
 * tried one by one: as ngx_http_session_far_list()
 */

ngx_int_t
ngx_http_session_far_revoke(ngx_http_session_far_t *far, redisReply *reply)
{
    if (ngx_http_session_far_copy(far, reply, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_session_far_revoke_next(far) != NGX_OK) {
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
    }

    return NGX_OK;
}


/* the ids are kept: the reply is freed when its callback returns */

static ngx_int_t
ngx_http_session_far_copy(ngx_http_session_far_t *far, redisReply *reply,
    size_t from)
{
    size_t       i;
    u_char      *p;
    redisReply  *e;

    far->n = 0;
    far->next = 0;

    if (reply->elements <= from) {
        far->ids = NULL;
        return NGX_OK;
    }

    far->ids = ngx_pnalloc(far->request->pool,
                           (reply->elements - from) * SC_HASH_HEX_LEN);
    if (far->ids == NULL) {
        return NGX_ERROR;
    }

    p = far->ids;

    for (i = from; i < reply->elements; i++) {
        e = reply->element[i];

        /* an index member of any other shape names no record */

        if (e->type != REDIS_REPLY_STRING || e->len != SC_HASH_HEX_LEN
            || !ngx_http_session_far_hex(e->str, e->len))
        {
            continue;
        }

        p = ngx_cpymem(p, e->str, SC_HASH_HEX_LEN);
        far->n++;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_session_far_hex(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_session_far_list_next(ngx_http_session_far_t *far)
{
    ngx_uint_t                     i;
    size_t                         argvlen[NGX_HTTP_SESSION_FAR_FIELDS + 2];
    u_char                        *hash;
    const char                    *argv[NGX_HTTP_SESSION_FAR_FIELDS + 2];
    ngx_http_session_main_conf_t  *smcf;
    u_char                         key[SS_PREFIX_MAX + 8 + SC_HASH_HEX_LEN];

    static const char  *fields[] = {
        "cre", "last", "pid", "ip", "ua", "via", "nx", "sub"
    };

    if (far->next == far->n) {
        ngx_sort(far->rows->elts, far->rows->nelts / SS_LIST_FIELDS,
                 SS_LIST_FIELDS * sizeof(ngx_str_t),
                 ngx_http_session_far_cmp);
        ngx_http_session_far_done(far, NGX_HTTP_OK);
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(far->request,
                                         ngx_http_session_module);
    hash = far->ids + far->next * SC_HASH_HEX_LEN;

    argv[0] = "HMGET";
    argvlen[0] = sizeof("HMGET") - 1;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_http_session_key(key, smcf, hash) - key;

    for (i = 0; i < NGX_HTTP_SESSION_FAR_FIELDS; i++) {
        argv[i + 2] = fields[i];
        argvlen[i + 2] = ngx_strlen(fields[i]);
    }

    return ngx_http_session_call_command(far->call, far->request,
                                         ngx_http_session_far_list_reply,
                                         far, NGX_HTTP_SESSION_FAR_FIELDS + 2,
                                         argv, argvlen);
}


static void
ngx_http_session_far_list_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_far_t *far = call->data;

    size_t       i;
    u_char      *hash;
    size_t       argvlen[3];
    const char  *argv[3];

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY
        || reply->elements != NGX_HTTP_SESSION_FAR_FIELDS)
    {
        ngx_http_session_redis_desync("a wrong reply to a far record's "
                                      "HMGET");
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    for (i = 0; i < NGX_HTTP_SESSION_FAR_FIELDS; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING
            && reply->element[i]->type != REDIS_REPLY_NIL)
        {
            ngx_http_session_redis_desync("a wrong reply to a far "
                                          "record's HMGET");
            ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }
    }

    hash = far->ids + far->next * SC_HASH_HEX_LEN;
    far->next++;

    if (reply->element[0]->type == REDIS_REPLY_NIL) {

        /* the record is gone: its index member too (on the index's slot) */

        argv[0] = "SREM";
        argvlen[0] = sizeof("SREM") - 1;
        argv[1] = (const char *) far->index.data;
        argvlen[1] = far->index.len;
        argv[2] = (const char *) hash;
        argvlen[2] = SC_HASH_HEX_LEN;

        (void) ngx_http_session_redis_command(NULL, NULL, 3, argv, argvlen);

    } else if (ngx_http_session_far_row(far, hash, reply->element) != NGX_OK)
    {
        ngx_http_session_far_done(far, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (ngx_http_session_far_list_next(far) != NGX_OK) {
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
    }
}


/* a row as SS_SCRIPT_LIST writes one, if the record is live and the user's */

static ngx_int_t
ngx_http_session_far_row(ngx_http_session_far_t *far, u_char *hash,
    redisReply **f)
{
    ngx_uint_t               i;
    ngx_str_t               *row;
    redisReply              *e;
    ngx_http_session_ctx_t  *ctx;

    ctx = ngx_http_session_find_ctx(far->request);

    if (f[6]->type == REDIS_REPLY_STRING                   /* "nx": renewed */
        || f[7]->type != REDIS_REPLY_STRING
        || f[7]->len != ctx->user.len
        || ngx_memcmp(f[7]->str, ctx->user.data, ctx->user.len) != 0)
    {
        return NGX_OK;
    }

    row = ngx_array_push_n(far->rows, SS_LIST_FIELDS);
    if (row == NULL) {
        return NGX_ERROR;
    }

    /* cre last pid ip ua via: "last" defaults to "cre", the others to "" */

    for (i = 0; i < 6; i++) {
        e = (i == 1 && f[1]->type == REDIS_REPLY_NIL) ? f[0] : f[i];

        if (e->type == REDIS_REPLY_NIL) {
            row[i].len = 0;
            row[i].data = (u_char *) "";
            continue;
        }

        row[i].len = e->len;
        row[i].data = ngx_pnalloc(far->request->pool, e->len + 1);
        if (row[i].data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(row[i].data, e->str, e->len);
        row[i].data[e->len] = '\0';
    }

    if (ngx_strncmp(hash, ctx->current_hash, SC_HASH_HEX_LEN) == 0) {
        ngx_str_set(&row[6], "1");

    } else {
        ngx_str_set(&row[6], "0");
    }

    row[7].data = hash;
    row[7].len = SC_HASH_HEX_LEN;

    return NGX_OK;
}


/* newest first, then by hash: SS_LUA_LIST_ROWS's order */

static ngx_int_t
ngx_http_session_far_cmp(const void *one, const void *two)
{
    time_t            a, b;
    const ngx_str_t  *x = one, *y = two;

    a = ngx_atotm(x[0].data, x[0].len);
    b = ngx_atotm(y[0].data, y[0].len);

    a = (a == NGX_ERROR) ? 0 : a;
    b = (b == NGX_ERROR) ? 0 : b;

    if (a != b) {
        return (a > b) ? -1 : 1;
    }

    return ngx_strncmp(x[7].data, y[7].data, SC_HASH_HEX_LEN);
}


static ngx_int_t
ngx_http_session_far_revoke_next(ngx_http_session_far_t *far)
{
    u_char                        *hash;
    size_t                         argslen[5];
    const char                    *args[5];
    ngx_http_session_main_conf_t  *smcf;

    if (far->next == far->n) {
        ngx_http_session_far_done(far, NGX_HTTP_NOT_FOUND);
        return NGX_OK;
    }

    smcf = ngx_http_get_module_main_conf(far->request,
                                         ngx_http_session_module);
    hash = far->ids + far->next * SC_HASH_HEX_LEN;

    /* SS_CLUSTER_SCRIPT_REVOKE: key; prefix, the id's tag, id, public id */

    far->key_len = ngx_http_session_key(far->key, smcf, hash) - far->key;

    args[0] = (const char *) far->key;
    argslen[0] = far->key_len;
    args[1] = (const char *) smcf->redis->prefix.data;
    argslen[1] = smcf->redis->prefix.len;
    args[2] = (const char *) hash;
    argslen[2] = SC_TAG_HEX_LEN;
    args[3] = (const char *) hash;
    argslen[3] = SC_HASH_HEX_LEN;
    args[4] = (const char *) far->public_id;
    argslen[4] = SC_PUBLIC_ID_LEN;

    return ngx_http_session_call_script(far->call, far->request,
                                        ngx_http_session_far_revoke_reply,
                                        far, NGX_HTTP_SESSION_SCRIPT_C_REVOKE,
                                        1, 5, args, argslen);
}


static void
ngx_http_session_far_revoke_reply(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_far_t *far = call->data;

    u_char                        *hash;
    ngx_str_t                      key;
    ngx_http_session_main_conf_t  *smcf;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_http_session_redis_desync("a wrong reply to the revoke script");
        ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    hash = far->ids + far->next * SC_HASH_HEX_LEN;
    far->next++;

    if (reply->element[0]->integer != 1) {
        /* not live, or not that id: the next one */

        if (ngx_http_session_far_revoke_next(far) != NGX_OK) {
            ngx_http_session_far_done(far, NGX_HTTP_SERVICE_UNAVAILABLE);
        }

        return;
    }

    ngx_log_error(NGX_LOG_INFO, far->request->connection->log, 0,
                  "session: a session ended by its user");

    ngx_http_session_count(revoked_user);

    smcf = ngx_http_get_module_main_conf(far->request,
                                         ngx_http_session_module);

    /* this worker at once; the others through the channel */
    ngx_http_session_cache_evict(smcf, hash);
    ngx_http_session_live_revoked(hash, SC_HASH_HEX_LEN);

    /* the far hops of its renewal chain, on their slots */
    ngx_http_session_revoke_far(far->request, reply, 1);

    /* answered after the PING barrier on the node that ran the script */

    key.data = far->key;
    key.len = far->key_len;

    if (ngx_http_session_call_ping(far->call, far->request, &key,
                                   ngx_http_session_far_delivered, far)
        != NGX_OK)
    {
        ngx_http_session_far_done(far, NGX_HTTP_NO_CONTENT);
    }
}


/* the session is ended whatever the PING's fate */

static void
ngx_http_session_far_delivered(ngx_http_session_call_t *call,
    redisReply *reply)
{
    ngx_http_session_far_done(call->data, NGX_HTTP_NO_CONTENT);
}


static void
ngx_http_session_far_done(ngx_http_session_far_t *far, ngx_int_t status)
{
    ngx_http_session_far_pt  done;

    done = far->done;

    if (done == NULL) {
        return;
    }

    /* once */
    far->done = NULL;

    done(far, status);
}


/*
 * The list reply (SS_SCRIPT_LIST): SS_LIST_FIELDS strings per session,
 * cre last pid ip ua via current hash, copied (far records may be added
 * after the reply is gone).  NULL: a reply of another shape (the link is
 * dropped) or no memory.  The hash stays in nginx.
 */

ngx_array_t *
ngx_http_session_list_rows(ngx_http_request_t *r, redisReply *reply)
{
    size_t        i;
    ngx_str_t    *s;
    redisReply   *e;
    ngx_array_t  *rows;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % SS_LIST_FIELDS != 0)
    {
        ngx_http_session_redis_desync("a wrong reply to the list script");
        return NULL;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            ngx_http_session_redis_desync("a wrong reply to the list "
                                          "script");
            return NULL;
        }
    }

    rows = ngx_array_create(r->pool, reply->elements + SS_LIST_FIELDS,
                            sizeof(ngx_str_t));
    if (rows == NULL) {
        return NULL;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        s = ngx_array_push(rows);
        if (s == NULL) {
            return NULL;
        }

        s->len = e->len;
        s->data = ngx_pnalloc(r->pool, e->len + 1);
        if (s->data == NULL) {
            return NULL;
        }

        ngx_memcpy(s->data, e->str, e->len);
        s->data[e->len] = '\0';
    }

    return rows;
}


ngx_int_t
ngx_http_session_list_send(ngx_http_request_t *r, ngx_array_t *rows)
{
    size_t                   len, i, j;
    time_t                   t;
    ngx_buf_t               *b;
    ngx_int_t                rc;
    ngx_str_t               *e;
    ngx_chain_t              out;
    ngx_http_session_ctx_t  *ctx;
    u_char                  *p;

    static const char  *names[] = {
        "created", "last_seen", "id", "ip", "user_agent", "via", "current"
    };

    e = rows->elts;

    ctx = ngx_http_session_find_ctx(r);

    len = sizeof("{\"subject\":,\"sessions\":[]}\n") - 1
          + ngx_http_session_json_len((u_char *) ctx->user.data,
                                      ctx->user.len);

    for (i = 0; i < rows->nelts; i += SS_LIST_FIELDS) {
        len += sizeof("{},") - 1;

        for (j = 0; j < 7; j++) {
            len += sizeof("\"\":,") + ngx_strlen(names[j])
                   + ngx_http_session_json_len(e[i + j].data, e[i + j].len)
                   + NGX_TIME_T_LEN + sizeof("false") + sizeof("null");
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"subject\":", sizeof("{\"subject\":") - 1);
    p = ngx_http_session_json_str(p, ctx->user.data, ctx->user.len);
    p = ngx_cpymem(p, ",\"sessions\":[", sizeof(",\"sessions\":[") - 1);

    for (i = 0; i < rows->nelts; i += SS_LIST_FIELDS) {

        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "{\"id\":", sizeof("{\"id\":") - 1);

        if (e[i + 2].len == SC_PUBLIC_ID_LEN) {
            p = ngx_http_session_json_str(p, e[i + 2].data, e[i + 2].len);
        } else {
            /* a record written before public ids were stored */
            p = ngx_cpymem(p, "null", 4);
        }

        t = ngx_atotm(e[i].data, e[i].len);
        p = ngx_sprintf(p, ",\"created\":%T", t == NGX_ERROR ? 0 : t);

        t = ngx_atotm(e[i + 1].data, e[i + 1].len);
        p = ngx_sprintf(p, ",\"last_seen\":%T", t == NGX_ERROR ? 0 : t);

        p = ngx_cpymem(p, ",\"ip\":", sizeof(",\"ip\":") - 1);
        p = ngx_http_session_json_str(p, e[i + 3].data, e[i + 3].len);
        p = ngx_cpymem(p, ",\"user_agent\":", sizeof(",\"user_agent\":") - 1);
        p = ngx_http_session_json_str(p, e[i + 4].data, e[i + 4].len);
        p = ngx_cpymem(p, ",\"via\":", sizeof(",\"via\":") - 1);
        p = ngx_http_session_json_str(p, e[i + 5].data, e[i + 5].len);

        if (e[i + 6].len == 1 && e[i + 6].data[0] == '1') {
            p = ngx_cpymem(p, ",\"current\":true}",
                           sizeof(",\"current\":true}") - 1);
        } else {
            p = ngx_cpymem(p, ",\"current\":false}",
                           sizeof(",\"current\":false}") - 1);
        }
    }

    p = ngx_cpymem(p, "]}\n", 3);

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    if (ngx_http_session_reg_no_store(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/* a bodiless answer (204, 401, 404, 503) with Cache-Control: no-store */

ngx_int_t
ngx_http_session_reg_status(ngx_http_request_t *r, ngx_uint_t status)
{
    ngx_int_t  rc;

    if (ngx_http_session_reg_no_store(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return rc;
    }

    return ngx_http_send_special(r, NGX_HTTP_LAST);
}


ngx_int_t
ngx_http_session_reg_no_store(ngx_http_request_t *r)
{
    static ngx_str_t  key = ngx_string("Cache-Control");
    static ngx_str_t  value = ngx_string("private, no-store");

    return ngx_http_session_add_header(r, &key, &value) ? NGX_OK : NGX_ERROR;
}
