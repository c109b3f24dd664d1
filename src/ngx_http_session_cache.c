
/*
 * ngx_http_session_module: the shared-memory session cache.
 *
 * session_cache zone=NAME:SIZE [valid=TIME];
 *
 * Valid lookups are kept in an nginx shared-memory zone, so that every
 * worker can serve them without a Redis round trip.  An entry is found by
 * the cookie's MAC, which the request has just verified: a hit costs no
 * token hash (docs/benchmarks.md).  The tree is keyed by a SipHash of the
 * MAC under a random key of the zone, and the MAC itself is compared in
 * constant time, so the walk tells a client nothing about other entries.
 * A second tree finds the entries of a session by its hash, for
 * revocations; an LRU queue evicts the least recently used entries when
 * the zone is full.  An entry is served for at most
 * min(valid, touch) seconds, so idle-timeout touches keep reaching Redis,
 * and never past the session's absolute expiry.  Revocations reach every
 * worker through the Redis pub/sub channel "<prefix>revoked"; a worker
 * whose subscription is not live bypasses the cache, and a worker about
 * to serve a hit first reads the messages already waiting on its
 * subscriber link (see ngx_http_session_cache_get()).
 */


#include "ngx_http_session.h"

#include <sodium.h>


typedef struct {
    ngx_rbtree_node_t               node;       /* by MAC: first */
    ngx_rbtree_node_t               by_hash;
    ngx_queue_t                     queue;
    u_char                          mac[SC_B64_32_LEN];
    u_char                          hash[SC_HASH_HEX_LEN];
    time_t                          cached;
    time_t                          expires;
    time_t                          created;
    u_short                         user_len;
    u_short                         claims_len;
    u_char                          data[1];    /* user, then claims */
} ngx_http_session_cache_node_t;


typedef struct {
    ngx_rbtree_t                    rbtree;     /* by MAC */
    ngx_rbtree_node_t               sentinel;
    ngx_rbtree_t                    hashes;     /* by session hash */
    ngx_rbtree_node_t               hash_sentinel;
    ngx_queue_t                     queue;
    ngx_atomic_t                    generation;  /* see cache_put() */
    u_char                          key[crypto_shorthash_KEYBYTES];
    ngx_uint_t                      full_logged;  /* said once, at warn */
} ngx_http_session_cache_sh_t;


typedef struct {
    ngx_http_session_cache_sh_t    *sh;
    ngx_slab_pool_t                *shpool;
} ngx_http_session_cache_t;


/*
 * The tree keys of the MACs this worker looked up last.  A browser sends
 * its cookie many times in a row, and the SipHash of its MAC was a cached
 * request's largest single cost (about 190 of its 1,280 instructions;
 * docs/benchmarks.md).  Direct-mapped by the MAC's first two digits; the
 * digits compared in constant time like every MAC (sc_equal), so the
 * time taken says nothing about the MACs of others.  Valid for one
 * SipHash key: a zone made anew (a reload, single-process mode) empties
 * the table.
 */

#define NGX_HTTP_SESSION_CACHE_KEYS  256

typedef struct {
    u_char                          mac[16];
    ngx_rbtree_key_t                key;
    ngx_uint_t                      set;
} ngx_http_session_cache_key_t;


static ngx_http_session_cache_key_t
    ngx_http_session_cache_keys[NGX_HTTP_SESSION_CACHE_KEYS];
static u_char  ngx_http_session_cache_keys_for[crypto_shorthash_KEYBYTES];


/* a hit, copied out of the zone */
typedef struct {
    ngx_str_t                       user;
    ngx_str_t                       claims;
    time_t                          expires;
    time_t                          created;
    u_char                          hash[SC_HASH_HEX_LEN];
} ngx_http_session_cache_hit_t;


static ngx_int_t ngx_http_session_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_session_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_session_cache_insert_hash(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_key_t ngx_http_session_cache_mac_key(
    ngx_http_session_cache_t *cache, u_char *mac);
static ngx_http_session_cache_node_t *ngx_http_session_cache_find(
    ngx_http_session_cache_t *cache, u_char *mac);
static ngx_http_session_cache_node_t *ngx_http_session_cache_find_hash(
    ngx_http_session_cache_t *cache, u_char *hash);
static ngx_int_t ngx_http_session_cache_read(ngx_http_request_t *r,
    ngx_http_session_cache_t *cache, u_char *mac, time_t fresh,
    ngx_http_session_cache_hit_t *hit, ngx_atomic_uint_t *generation);
static void ngx_http_session_cache_delete(ngx_http_session_cache_t *cache,
    ngx_http_session_cache_node_t *cn);


#define ngx_http_session_cache_node(n)                                       \
    ((ngx_http_session_cache_node_t *)                                        \
         ((u_char *) (n) - offsetof(ngx_http_session_cache_node_t, by_hash)))


/* the hash tree's key: the first digits of the (uniformly random) hash */

static ngx_rbtree_key_t
ngx_http_session_cache_hash_key(u_char *hash)
{
    ngx_rbtree_key_t  key;

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    return key;
}


#if (crypto_shorthash_KEYBYTES != 16)
#error "the cache's memo of keys compares a 16-byte shorthash key"
#endif

static ngx_inline ngx_uint_t
ngx_http_session_cache_key_moved(u_char *key)
{
    uint64_t  a[2], b[2];

    ngx_memcpy(a, key, sizeof(a));
    ngx_memcpy(b, ngx_http_session_cache_keys_for, sizeof(b));

    return ((a[0] ^ b[0]) | (a[1] ^ b[1])) != 0;
}


static ngx_rbtree_key_t
ngx_http_session_cache_mac_key(ngx_http_session_cache_t *cache, u_char *mac)
{
    ngx_rbtree_key_t               key;
    ngx_http_session_cache_key_t  *k;
    u_char                         out[crypto_shorthash_BYTES];

    /* a new zone (a reload) has a new key: the memo starts again */

    if (ngx_http_session_cache_key_moved(cache->sh->key)) {
        ngx_memzero(ngx_http_session_cache_keys,
                    sizeof(ngx_http_session_cache_keys));
        ngx_memcpy(ngx_http_session_cache_keys_for, cache->sh->key,
                   crypto_shorthash_KEYBYTES);
    }

    k = &ngx_http_session_cache_keys[(mac[0] * 64 + mac[1])
                                     % NGX_HTTP_SESSION_CACHE_KEYS];

    if (k->set && sc_equal(k->mac, mac, 16)) {
        return k->key;
    }

    /* 16 digits, 96 bits, spread the keys well enough; sc_equal decides */

    crypto_shorthash(out, mac, 16, cache->sh->key);
    ngx_memcpy(&key, out, sizeof(ngx_rbtree_key_t));

    ngx_memcpy(k->mac, mac, 16);
    k->key = key;
    k->set = 1;

    return key;
}


char *
ngx_http_session_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    u_char                    *p;
    ssize_t                    size;
    ngx_int_t                  rc;
    ngx_str_t                 *value, name, s;
    ngx_uint_t                 i;
    ngx_http_session_cache_t  *cache;

    if (smcf->cache_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;
    size = 0;
    name.len = 0;
    smcf->cache_valid = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size > NGX_HTTP_SESSION_ZONE_MAX) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "session cache zone \"%V\" is too large "
                                   "(at most " NGX_HTTP_SESSION_ZONE_MAX_TEXT
                                   ")", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "session cache zone \"%V\" is too small",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        rc = ngx_http_session_conf_time(cf, &value[i], "valid", 1, 60,
                                        "1s to 60s", &smcf->cache_valid);
        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_cache\" must have \"zone=NAME:SIZE\"");
        return NGX_CONF_ERROR;
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    smcf->cache_zone = ngx_shared_memory_add(cf, &name, size,
                                             &ngx_http_session_module);
    if (smcf->cache_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (smcf->cache_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", &name);
        return NGX_CONF_ERROR;
    }

    smcf->cache_zone->init = ngx_http_session_cache_init_zone;
    smcf->cache_zone->data = cache;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_cache\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_session_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_session_cache_t  *ocache = data;

    size_t                     len;
    ngx_http_session_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* a reload keeps the entries */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_http_session_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_http_session_cache_insert);
    ngx_rbtree_init(&cache->sh->hashes, &cache->sh->hash_sentinel,
                    ngx_http_session_cache_insert_hash);
    ngx_queue_init(&cache->sh->queue);
    cache->sh->generation = 0;
    crypto_shorthash_keygen(cache->sh->key);

    len = sizeof(" in session cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in session cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * The MAC tree: equal keys (a SipHash collision) go right and are told
 * apart by the constant-time compare in ngx_http_session_cache_find(); a
 * colliding entry is a cache miss, never another session.
 */

static void
ngx_http_session_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        p = (node->key < temp->key) ? &temp->left : &temp->right;

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* the hash tree: a session has an entry per cookie (kid) that was seen */

static void
ngx_http_session_cache_insert_hash(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t              **p;
    ngx_http_session_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = ngx_http_session_cache_node(node);
            cnt = ngx_http_session_cache_node(temp);

            p = (ngx_memcmp(cn->hash, cnt->hash, SC_HASH_HEX_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_session_cache_node_t *
ngx_http_session_cache_find(ngx_http_session_cache_t *cache, u_char *mac)
{
    ngx_rbtree_key_t                key;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_session_cache_node_t  *cn;

    key = ngx_http_session_cache_mac_key(cache, mac);

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        cn = (ngx_http_session_cache_node_t *) node;

        if (sc_equal(mac, cn->mac, SC_B64_32_LEN)) {
            return cn;
        }

        return NULL;
    }

    return NULL;
}


/* the hash is a Redis key, not a secret: an ordinary compare is fine */

static ngx_http_session_cache_node_t *
ngx_http_session_cache_find_hash(ngx_http_session_cache_t *cache,
    u_char *hash)
{
    ngx_int_t                       rc;
    ngx_rbtree_key_t                key;
    ngx_rbtree_node_t              *node, *sentinel;
    ngx_http_session_cache_node_t  *cn;

    key = ngx_http_session_cache_hash_key(hash);

    node = cache->sh->hashes.root;
    sentinel = cache->sh->hashes.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        cn = ngx_http_session_cache_node(node);

        rc = ngx_memcmp(hash, cn->hash, SC_HASH_HEX_LEN);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_session_cache_delete(ngx_http_session_cache_t *cache,
    ngx_http_session_cache_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &cn->node);
    ngx_rbtree_delete(&cache->sh->hashes, &cn->by_hash);
    ngx_slab_free_locked(cache->shpool, cn);
}


/*
 * NGX_OK: a hit, ctx holds the session; NGX_DECLINED: ask Redis.
 *
 * Before a hit is served, the revocation messages already waiting on this
 * worker's subscriber link are read (ngx_http_session_redis_drain_
 * revocations(): no system call while the link's signal says nothing
 * came, else one recv()): a revocation whose message reached this worker
 * before the request, from any worker of any edge, is then never outrun
 * by it (a revocation is answered only once its message is out:
 * ngx_http_session_call_ping()).  The drain evicts
 * from the zone, so it runs without the zone's lock, after the entry was
 * copied out; if the zone's revocation generation moved meanwhile (here
 * or in another worker), the entry is looked up again.
 */

ngx_int_t
ngx_http_session_cache_get(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx,
    time_t touch)
{
    time_t                         fresh;
    ngx_int_t                      rc;
    ngx_atomic_uint_t              generation;
    ngx_http_session_cache_t      *cache;
    ngx_http_session_cache_hit_t   hit;
    ngx_http_session_main_conf_t  *smcf;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (smcf->cache_zone == NULL || !ngx_http_session_redis_subscribed()) {
        return NGX_DECLINED;
    }

    cache = smcf->cache_zone->data;
    fresh = ngx_min(smcf->cache_valid, touch);

    if (ngx_http_session_cache_read(r, cache, ctx->mac, fresh, &hit,
                                    &generation)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_session_redis_drain_revocations();

    if (rc == NGX_DECLINED
        || (rc == NGX_DONE && !ngx_http_session_redis_subscribed()))
    {
        return NGX_DECLINED;
    }

    if (cache->sh->generation != generation
        && ngx_http_session_cache_read(r, cache, ctx->mac, fresh, &hit,
                                       &generation)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    ctx->user = hit.user;
    ctx->claims = hit.claims;
    ctx->expires = hit.expires;
    ctx->created = hit.created;

    ngx_memcpy(ctx->hash, hit.hash, SC_HASH_HEX_LEN);
    ctx->have_hash = 1;

    ngx_memcpy(ctx->current_hash, ctx->hash, SC_HASH_HEX_LEN);
    ctx->status = NGX_HTTP_SESSION_ST_OK;

    return NGX_OK;
}


/* a fresh entry, copied out under the zone's lock, and the generation */

static ngx_int_t
ngx_http_session_cache_read(ngx_http_request_t *r,
    ngx_http_session_cache_t *cache, u_char *mac, time_t fresh,
    ngx_http_session_cache_hit_t *hit, ngx_atomic_uint_t *generation)
{
    time_t                          now;
    ngx_http_session_cache_node_t  *cn;

    now = ngx_time();

    ngx_shmtx_lock(&cache->shpool->mutex);

    *generation = cache->sh->generation;

    cn = ngx_http_session_cache_find(cache, mac);

    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    /* cached in the future: this clock stepped back; ask Redis */

    if (cn->cached > now || now - cn->cached >= fresh
        || now >= cn->expires)
    {
        ngx_http_session_cache_delete(cache, cn);
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    hit->user.len = cn->user_len;
    hit->claims.len = cn->claims_len;
    hit->user.data = ngx_pnalloc(r->pool,
                                 cn->user_len + cn->claims_len + 2);

    if (hit->user.data == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    ngx_memcpy(hit->user.data, cn->data, cn->user_len);
    hit->user.data[cn->user_len] = '\0';

    hit->claims.data = hit->user.data + cn->user_len + 1;
    ngx_memcpy(hit->claims.data, cn->data + cn->user_len, cn->claims_len);
    hit->claims.data[cn->claims_len] = '\0';

    hit->expires = cn->expires;
    hit->created = cn->created;

    ngx_memcpy(hit->hash, cn->hash, SC_HASH_HEX_LEN);

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}


/*
 * The revocation generation of the zone: every eviction and every flush
 * moves it on, in whichever worker.  A lookup notes it before its command
 * is sent; its reply is cached only if it has not moved since.  The
 * reply and the revocation come on different connections (the command
 * link, the subscriber), so a lookup that Redis answered just before the
 * revocation can be read after the eviction it should have undergone:
 * without the check it would be cached again and served for up to
 * "valid" seconds after the revocation.  A revocation anywhere costs the
 * lookups in flight at that moment their caching, nothing more.
 */

ngx_atomic_uint_t
ngx_http_session_cache_generation(ngx_http_session_main_conf_t *smcf)
{
    ngx_http_session_cache_t  *cache;

    if (smcf->cache_zone == NULL) {
        return 0;
    }

    cache = smcf->cache_zone->data;

    return cache->sh->generation;
}


void
ngx_http_session_cache_put(ngx_http_request_t *r, ngx_http_session_ctx_t *ctx)
{
    size_t                          size;
    ngx_uint_t                      i, full;
    ngx_queue_t                    *q;
    ngx_http_session_cache_t       *cache;
    ngx_http_session_main_conf_t   *smcf;
    ngx_http_session_cache_node_t  *cn, *old;

    smcf = ngx_http_get_module_main_conf(r, ngx_http_session_module);

    if (smcf->cache_zone == NULL || ctx->renewed || !ctx->have_hash
        || !ngx_http_session_redis_subscribed()
        || ctx->user.len > 0xffff || ctx->claims.len > 0xffff)
    {
        return;
    }

    cache = smcf->cache_zone->data;
    size = offsetof(ngx_http_session_cache_node_t, data)
           + ctx->user.len + ctx->claims.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (cache->sh->generation != ctx->cache_generation) {
        /* a revocation came while the lookup was in flight */
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    old = ngx_http_session_cache_find(cache, ctx->mac);
    if (old) {
        ngx_http_session_cache_delete(cache, old);
    }

    cn = ngx_slab_alloc_locked(cache->shpool, size);

    /* full: evict the least recently used entries and try again */

    for (i = 0; cn == NULL && i < 8; i++) {

        if (ngx_queue_empty(&cache->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&cache->sh->queue);
        ngx_http_session_cache_delete(cache,
                   ngx_queue_data(q, ngx_http_session_cache_node_t, queue));

        ngx_http_session_count(cache_evictions);

        cn = ngx_slab_alloc_locked(cache->shpool, size);
    }

    /*
     * A full zone is said once, at warn (the slab allocator's own "no
     * memory" lines are off); the metrics count every eviction and every
     * lookup that could not be stored.
     */

    full = (i > 0 || cn == NULL) && !cache->sh->full_logged;

    if (full) {
        cache->sh->full_logged = 1;
    }

    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);

        ngx_http_session_count(cache_store_failures);

        if (full) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "session cache zone \"%V\" is full: an entry of "
                          "%uz bytes could not be stored (logged once; "
                          "see nginx_session_cache_store_failures_total and "
                          "nginx_session_cache_evictions_total)",
                          &smcf->cache_zone->shm.name, size);
        }

        return;
    }

    ngx_memcpy(cn->mac, ctx->mac, SC_B64_32_LEN);
    ngx_memcpy(cn->hash, ctx->hash, SC_HASH_HEX_LEN);
    cn->node.key = ngx_http_session_cache_mac_key(cache, ctx->mac);
    cn->by_hash.key = ngx_http_session_cache_hash_key(ctx->hash);
    cn->cached = ngx_time();
    cn->expires = ctx->expires;
    cn->created = ctx->created;
    cn->user_len = (u_short) ctx->user.len;
    cn->claims_len = (u_short) ctx->claims.len;
    ngx_memcpy(cn->data, ctx->user.data, ctx->user.len);
    ngx_memcpy(cn->data + ctx->user.len, ctx->claims.data, ctx->claims.len);

    ngx_rbtree_insert(&cache->sh->rbtree, &cn->node);
    ngx_rbtree_insert(&cache->sh->hashes, &cn->by_hash);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (full) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "session cache zone \"%V\" is full: least recently "
                      "used entries are evicted (logged once; see "
                      "nginx_session_cache_evictions_total)",
                      &smcf->cache_zone->shm.name);
    }
}


void
ngx_http_session_cache_evict(ngx_http_session_main_conf_t *smcf, u_char *hash)
{
    ngx_http_session_cache_t       *cache;
    ngx_http_session_cache_node_t  *cn;

    if (smcf->cache_zone == NULL) {
        return;
    }

    cache = smcf->cache_zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->generation++;

    /* one entry per cookie of the session that was seen */

    while ((cn = ngx_http_session_cache_find_hash(cache, hash)) != NULL) {
        ngx_http_session_cache_delete(cache, cn);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* the revocation channel's messages, from the Redis layer */

static void
ngx_http_session_cache_revoked(ngx_http_session_main_conf_t *smcf,
    u_char *hash)
{
    if (hash) {
        ngx_http_session_cache_evict(smcf, hash);

    } else {
        ngx_http_session_cache_flush(smcf);
    }
}


void
ngx_http_session_cache_init_process(ngx_http_session_main_conf_t *smcf)
{
    if (smcf->cache_zone) {
        ngx_http_session_redis_on_revoked_now(ngx_http_session_cache_revoked);
    }
}


void
ngx_http_session_cache_flush(ngx_http_session_main_conf_t *smcf)
{
    ngx_queue_t               *q;
    ngx_http_session_cache_t  *cache;

    if (smcf->cache_zone == NULL) {
        return;
    }

    cache = smcf->cache_zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->generation++;

    while (!ngx_queue_empty(&cache->sh->queue)) {
        q = ngx_queue_head(&cache->sh->queue);
        ngx_http_session_cache_delete(cache,
                   ngx_queue_data(q, ngx_http_session_cache_node_t, queue));
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}
