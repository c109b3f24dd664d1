
/*
 * ngx_http_session_module: the types and functions shared by the nginx glue
 * files (the directives live in ngx_http_session_module.c).
 */

#ifndef _NGX_HTTP_SESSION_H_INCLUDED_
#define _NGX_HTTP_SESSION_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "session_core.h"
#include "session_store.h"
#include "session_sig.h"
#include "session_tg.h"
#include "session_jws.h"
#include "session_slot.h"


#define NGX_HTTP_SESSION_OFF            0
#define NGX_HTTP_SESSION_ON             1
#define NGX_HTTP_SESSION_OPTIONAL       2


/* $session_status */
#define NGX_HTTP_SESSION_ST_NONE        0    /* not looked at */
#define NGX_HTTP_SESSION_ST_OK          1
#define NGX_HTTP_SESSION_ST_MISSING     2
#define NGX_HTTP_SESSION_ST_INVALID     3
#define NGX_HTTP_SESSION_ST_EXPIRED     4
#define NGX_HTTP_SESSION_ST_UNKNOWN     5
#define NGX_HTTP_SESSION_ST_ERROR       6


#define NGX_HTTP_SESSION_SAMESITE_LAX     0
#define NGX_HTTP_SESSION_SAMESITE_STRICT  1
#define NGX_HTTP_SESSION_SAMESITE_NONE    2


/*
 * How far the clocks of the edges sharing a store may differ: a record is
 * removed as idle by an edge only this long after Redis's TTL should have
 * removed it.
 */
#define NGX_HTTP_SESSION_CLOCK_SKEW     60


/*
 * Bounds of the time and size parameters, checked by nginx -t: a session
 * or cookie lifetime (session_timeout, session_cookie max_age), an age
 * against a signed timestamp (session_signature tolerance,
 * session_telegram max_age; published vectors are decades old), a Redis
 * timeout, a session_cache zone.  Beyond them the arithmetic on now + TIME
 * and Redis's EXPIRE would overflow.
 */
#define NGX_HTTP_SESSION_LIFETIME_MAX   ((time_t) 10 * 365 * 86400)
#define NGX_HTTP_SESSION_AGE_MAX        ((time_t) 50 * 365 * 86400)
#define NGX_HTTP_SESSION_TIMEOUT_MAX    ((ngx_msec_t) 10 * 60 * 1000)
#if (NGX_PTR_SIZE == 8)
#define NGX_HTTP_SESSION_ZONE_MAX       ((ssize_t) 64 * 1024 * 1024 * 1024)
#define NGX_HTTP_SESSION_ZONE_MAX_TEXT  "65536m"
#else
#define NGX_HTTP_SESSION_ZONE_MAX       ((ssize_t) 1024 * 1024 * 1024)
#define NGX_HTTP_SESSION_ZONE_MAX_TEXT  "1024m"
#endif


/* the most cookies of our name tried in one request */
#define NGX_HTTP_SESSION_MAX_CANDIDATES 8

/* the lookup command in RESP: a prefix of at most 128 bytes fits */
#define NGX_HTTP_SESSION_LOOKUP_MAX     512


typedef struct {
    ngx_str_t                       host;        /* IP or name, NUL ended */
    in_port_t                       port;
    unsigned                        name:1;      /* resolved in the worker */
} ngx_http_session_addr_t;


typedef struct {
    ngx_str_t                       addr_text;   /* as configured */
    ngx_array_t                    *servers;     /* ngx_http_session_addr_t */
    ngx_str_t                       unix_path;   /* NUL ended, or empty */
    ngx_array_t                    *sentinels;   /* ngx_http_session_addr_t */
    ngx_resolver_t                 *resolver;    /* http{}'s, or NULL */
    ngx_msec_t                      resolver_timeout;
    ngx_str_t                       conf_file;   /* of the directive */
    ngx_uint_t                      conf_line;
    ngx_str_t                       master;      /* sentinel master name */
    ngx_uint_t                      db;
    ngx_str_t                       user;
    ngx_str_t                       password;
    ngx_str_t                       prefix;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
    unsigned                        cluster:1;   /* cluster=: servers are
                                                    the seeds */
    unsigned                        legacy:1;    /* cluster=...,legacy */
} ngx_http_session_redis_conf_t;


#define NGX_HTTP_SESSION_SCRIPT_TOUCH       0
#define NGX_HTTP_SESSION_SCRIPT_CREATE      1
#define NGX_HTTP_SESSION_SCRIPT_REVOKE      2
#define NGX_HTTP_SESSION_SCRIPT_REVOKE_ALL  3
#define NGX_HTTP_SESSION_SCRIPT_REPLAY      4
#define NGX_HTTP_SESSION_SCRIPT_LIST        5
#define NGX_HTTP_SESSION_SCRIPT_REVOKE_ID   6
#define NGX_HTTP_SESSION_SCRIPT_C_CREATE    7
#define NGX_HTTP_SESSION_SCRIPT_C_REVOKE    8
#define NGX_HTTP_SESSION_SCRIPT_C_REVOKE_ALL 9
#define NGX_HTTP_SESSION_SCRIPT_C_RETIRE    10
#define NGX_HTTP_SESSION_SCRIPT_C_LIST      11
#define NGX_HTTP_SESSION_SCRIPT_C_REVOKE_ID 12
#define NGX_HTTP_SESSION_NSCRIPTS           13


typedef struct {
    ngx_str_t                       text;
    u_char                          sha[40];
} ngx_http_session_script_t;


typedef struct {
    sc_keyring_t                   *keyring;
    void                           *memo;            /* per worker, lazily */
    ngx_str_t                       keys_file;
    ngx_http_session_redis_conf_t  *redis;
    ngx_str_t                       session_prefix;  /* "<prefix>s:" */
    ngx_str_t                       lookup;          /* HGET lk, in RESP */
    size_t                          lookup_hash;     /* the hash's offset */
    ngx_str_t                       lookup_full;     /* the HMGET */
    size_t                          lookup_full_hash;
    ngx_uint_t                      lookup_fields;   /* 7 with "cre" */
    size_t                          lookup_id;       /* its length there */
    ngx_str_t                       channel;         /* "<prefix>revoked" */
    ngx_shm_zone_t                 *cache_zone;
    time_t                          cache_valid;
    ngx_shm_zone_t                 *metrics_zone;
    ngx_flag_t                      live_close;  /* used anywhere */
    sc_jws_keys_t                  *assertion_keys;  /* or NULL */
} ngx_http_session_main_conf_t;


/* in ngx_http_session_redis_conf.c */
extern ngx_http_session_script_t  ngx_http_session_scripts[];

void ngx_http_session_scripts_init(void);


typedef struct {
    ngx_str_t                       name;
    ngx_str_t                       domain;
    ngx_str_t                       path;
    ngx_uint_t                      samesite;
    ngx_flag_t                      secure;
    ngx_flag_t                      httponly;
    time_t                          max_age;     /* NGX_CONF_UNSET: none */

    time_t                          idle;
    time_t                          absolute;
    time_t                          touch;
    ngx_str_t                       idle_text;   /* preformatted ARGV */
    ngx_str_t                       touch_text;
} ngx_http_session_srv_conf_t;


typedef struct {
    ngx_str_t                       name;
    ngx_array_t                    *values;      /* of ngx_str_t */
} ngx_http_session_claim_req_t;


typedef struct {
    sc_sig_scheme_t                 scheme;
    sc_sig_secrets_t               *secrets;
    time_t                          tolerance;
    time_t                          inflight;      /* in-flight mark TTL */
    off_t                           max_body;
    ngx_flag_t                      replay;
    ngx_str_t                       header;        /* signature header */
    ngx_str_t                       ts_header;     /* timestamp header */
    ngx_str_t                       id_header;
} ngx_http_session_sig_conf_t;


typedef struct {
    ngx_str_t                       bot_token;
    uint64_t                        bot_id;
    ngx_int_t                       env;           /* -1: no Ed25519 check */
    time_t                          max_age;
    ngx_flag_t                      login;
} ngx_http_session_tg_conf_t;


typedef struct {
    ngx_http_session_sig_conf_t    *sig;
    ngx_http_session_tg_conf_t     *tg;
    ngx_uint_t                      required;
    ngx_http_complex_value_t       *login_url;
    ngx_array_t                    *require_claims;
    ngx_flag_t                      issue;
    ngx_str_t                       issue_file;  /* where it was set */
    ngx_uint_t                      issue_line;
    time_t                          grace;
    ngx_uint_t                      logout;      /* NGX_HTTP_SESSION_LOGOUT_* */
    ngx_str_t                       logout_redirect;
    void                           *assertion;   /* session_assertion */
    void                           *csrf;        /* session_csrf */
} ngx_http_session_loc_conf_t;


#define NGX_HTTP_SESSION_LOGOUT_NONE     0
#define NGX_HTTP_SESSION_LOGOUT_CURRENT  1
#define NGX_HTTP_SESSION_LOGOUT_ALL      2


typedef struct ngx_http_session_op_s  ngx_http_session_op_t;

typedef void (*ngx_http_session_op_handler_pt)(void *data, redisReply *reply);

struct ngx_http_session_op_s {
    ngx_http_session_op_handler_pt  handler;
    void                           *data;        /* NULL: cancelled */
    ngx_http_session_op_t          *next;        /* free list */
    uint64_t                        start;       /* microseconds */

    /* session_redis cluster=: the command kept for a redirection */
    u_char                         *cmd;
    size_t                          len;
    size_t                          size;
    void                           *node;
    ngx_uint_t                      slot;
    ngx_uint_t                      hops;
};


/*
 * One Redis call of a request: the Redis layer owns the deadline
 * (ngx_http_session_call.c).  A caller embeds a zeroed call in its
 * request state and hands over the request, the command and a resume
 * handler.  The layer arms a timer of session_redis timeout=, registers a
 * pool cleanup that cancels the command when the request dies, and calls
 * the handler exactly once while the request lives: with the reply (a
 * Redis error reply included), or with NULL when the link failed or, with
 * call->timed_out set, when no answer came in time.  The handler resumes
 * the request its own way; the layer runs the connection's posted
 * requests afterwards.  A handler may send the next command of a chain on
 * the same call: the first command's deadline holds for all of them.
 * A send that fails at once returns NGX_ERROR and never calls the
 * handler.  A request that dies while waiting leaves the state CANCELLED
 * and the handler uncalled; the late reply is dropped.  Fire-and-forget
 * writes use ngx_http_session_redis_command/script with a NULL handler.
 * A caller whose state has a pool cleanup of its own may set
 * call->cleanup before the first send and call ngx_http_session_call_cancel
 * from that cleanup instead (the session lookup does: one allocation less
 * per validated request).
 */

#define NGX_HTTP_SESSION_CALL_IDLE      0
#define NGX_HTTP_SESSION_CALL_WAITING   1
#define NGX_HTTP_SESSION_CALL_DONE      2
#define NGX_HTTP_SESSION_CALL_CANCELLED 3

typedef struct ngx_http_session_call_s  ngx_http_session_call_t;

typedef void (*ngx_http_session_call_pt)(ngx_http_session_call_t *call,
    redisReply *reply);

struct ngx_http_session_call_s {
    ngx_http_request_t             *request;
    ngx_http_session_call_pt        handler;
    void                           *data;
    ngx_http_session_op_t          *op;
    ngx_event_t                     timer;
    ngx_msec_t                      deadline;
    unsigned                        state:2;
    unsigned                        timed_out:1;
    unsigned                        started:1;   /* deadline set */
    unsigned                        cleanup:1;   /* pool cleanup added */
};

#define ngx_http_session_call_waiting(call)                                   \
    ((call)->state == NGX_HTTP_SESSION_CALL_WAITING)


#define NGX_HTTP_SESSION_NBUCKETS       11
#define NGX_HTTP_SESSION_NSCHEMES       5
#define NGX_HTTP_SESSION_NSIGST         6

typedef struct {
    ngx_atomic_t                    validations[7];
    ngx_atomic_t                    cache_hits;
    ngx_atomic_t                    cache_misses;
    ngx_atomic_t                    logins_ok;
    ngx_atomic_t                    logins_error;
    ngx_atomic_t                    logouts;
    ngx_atomic_t                    reissued_rotation;
    ngx_atomic_t                    reissued_renewal;
    ngx_atomic_t                    latency[NGX_HTTP_SESSION_NBUCKETS + 1];
    ngx_atomic_t                    latency_sum_us;
    ngx_atomic_t                    redis_errors;
    ngx_atomic_t                    redis_reconnects;
    ngx_atomic_t                    redis_connections;
    ngx_atomic_t                    signatures[NGX_HTTP_SESSION_NSCHEMES]
                                               [NGX_HTTP_SESSION_NSIGST];
    ngx_atomic_t                    telegram[NGX_HTTP_SESSION_NSIGST];
    ngx_atomic_t                    cache_evictions;      /* zone full */
    ngx_atomic_t                    cache_store_failures;
    ngx_atomic_t                    limit_evicted;        /* session_limit */
    ngx_atomic_t                    limit_refused;
    ngx_atomic_t                    revoked_user;         /* session_revoke */
    ngx_atomic_t                    live_closed;
} ngx_http_session_metrics_t;


extern ngx_http_session_metrics_t  *ngx_http_session_metrics;

#define ngx_http_session_count(field)                                         \
    if (ngx_http_session_metrics) {                                           \
        (void) ngx_atomic_fetch_add(&ngx_http_session_metrics->field, 1);     \
    }

#define ngx_http_session_uncount(field)                                       \
    if (ngx_http_session_metrics) {                                           \
        (void) ngx_atomic_fetch_add(&ngx_http_session_metrics->field, -1);    \
    }


typedef struct {
    ngx_http_request_t             *request;
    ngx_http_session_call_t         call;        /* the lookup */
    ngx_pool_cleanup_t              cleanup;     /* see get_ctx() */

    ngx_int_t                       rc;
    ngx_uint_t                      status;

    ngx_str_t                       user;
    ngx_str_t                       claims;      /* raw, percent-encoded */
    time_t                          expires;
    time_t                          created;     /* auth_time; -1: unknown */
    size_t                          key_index;

    u_char                          token[SC_TOKEN_LEN];
    u_char                          public_id[SC_PUBLIC_ID_LEN];
    u_char                          hash[SC_HASH_HEX_LEN];
    u_char                          mac[SC_B64_32_LEN];  /* as sent */

    ngx_atomic_uint_t               cache_generation;  /* at lookup */

    void                           *sig;         /* signed request state */
    void                           *tg;          /* Telegram initData */

    /* set when the cookie was renewed by a later login (grace period) */
    u_char                          renew_token[SC_TOKEN_LEN];
    u_char                          current_hash[SC_HASH_HEX_LEN];

    unsigned                        renewed:1;
    unsigned                        hop:4;       /* < SS_CHAIN_HOPS */
    unsigned                        ended:1;     /* a logout ran */
    unsigned                        counted:1;
    unsigned                        done:1;
    unsigned                        have_token:1;
    unsigned                        have_hash:1;
    unsigned                        legacy:1;    /* cluster=...,legacy hit */
    unsigned                        full:1;      /* the lookup's HMGET */
    unsigned                        have_public_id:1;
    unsigned                        login_pass:1;  /* a session_issue pass */
    unsigned                        csrf:3;        /* $session_csrf_status */
} ngx_http_session_ctx_t;


extern ngx_module_t  ngx_http_session_module;
extern ngx_module_t  ngx_http_session_filter_module;
extern const char   *ngx_http_session_scheme_label[];


/* ngx_http_session_conf.c: helpers of configuration time */
ngx_int_t ngx_http_session_read_file(ngx_conf_t *cf, ngx_str_t *name,
    const char *directive, const char *label, ngx_str_t *out);
ngx_int_t ngx_http_session_parse_flag(ngx_str_t *s, ngx_flag_t *flag);
ngx_int_t ngx_http_session_parse_bounded_time(ngx_str_t *s, ngx_uint_t is_sec,
    ngx_int_t min, ngx_int_t max, ngx_int_t *out);
ngx_int_t ngx_http_session_conf_time(ngx_conf_t *cf, ngx_str_t *param,
    const char *name, time_t min, time_t max, const char *range, time_t *out);
ngx_int_t ngx_http_session_parse_bounded_int(u_char *p, size_t len,
    ngx_int_t min, ngx_int_t max, ngx_int_t *out);


/* ngx_http_session_util.c: what every phase uses */
ngx_http_session_ctx_t *ngx_http_session_get_ctx(ngx_http_request_t *r);
ngx_http_session_ctx_t *ngx_http_session_find_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_session_find_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, ngx_http_session_main_conf_t *smcf,
    ngx_http_session_ctx_t *ctx);
u_char *ngx_http_session_ctx_hash(ngx_http_session_ctx_t *ctx);
void ngx_http_session_token_id(ngx_http_session_main_conf_t *smcf,
    const u_char *token, u_char *id);
u_char *ngx_http_session_subject_key(u_char *p,
    ngx_http_session_main_conf_t *smcf, ngx_str_t *subject);
u_char *ngx_http_session_key(u_char *p, ngx_http_session_main_conf_t *smcf,
    u_char *hash);
ngx_table_elt_t *ngx_http_session_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);
ngx_int_t ngx_http_session_retry_after(ngx_http_request_t *r);
size_t ngx_http_session_json_len(u_char *s, size_t len);
u_char *ngx_http_session_json_str(u_char *p, u_char *s, size_t len);
ngx_int_t ngx_http_session_set_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf, u_char *token);
ngx_int_t ngx_http_session_expire_cookie(ngx_http_request_t *r,
    ngx_http_session_srv_conf_t *sscf);

/*
 * A revocation message from another worker or edge (hash NULL: every
 * session, after the subscriber link was down).  The Redis layer knows
 * nothing of session_cache: the cache registers this, per worker.
 */
typedef void (*ngx_http_session_revoked_pt)(
    ngx_http_session_main_conf_t *smcf, u_char *hash);

/* ngx_http_session_redis_channel.c: the revocation channel */
void ngx_http_session_redis_on_revoked(ngx_http_session_revoked_pt handler);
void ngx_http_session_redis_on_revoked_now(
    ngx_http_session_revoked_pt handler);
ngx_int_t ngx_http_session_redis_drain_revocations(void);
ngx_int_t ngx_http_session_redis_subscribed(void);

/* ngx_http_session_redis.c: the worker's links */
ngx_int_t ngx_http_session_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_session_main_conf_t *smcf);
void ngx_http_session_redis_exit_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_session_redis_available(void);
void ngx_http_session_redis_desync(const char *why);

/* ngx_http_session_cluster.c */
ngx_int_t ngx_http_session_cluster_init(ngx_cycle_t *cycle);
void ngx_http_session_cluster_exit(void);

/* ngx_http_session_redis_op.c: commands (the call API wraps them) */
ngx_http_session_op_t *ngx_http_session_redis_command(
    ngx_http_session_op_handler_pt handler, void *data, int argc,
    const char **argv, const size_t *argvlen);
ngx_http_session_op_t *ngx_http_session_redis_send(
    ngx_http_session_op_handler_pt handler, void *data, u_char *cmd,
    size_t len);
ngx_http_session_op_t *ngx_http_session_redis_script(ngx_uint_t script,
    ngx_http_session_op_handler_pt handler, void *data, int nkeys, int nargs,
    const char **args, const size_t *argslen);
u_char *ngx_http_session_redis_format(u_char *p, int argc,
    const char **argv, const size_t *argvlen);
void ngx_http_session_redis_timed_out(void);
ngx_msec_t ngx_http_session_redis_timeout(void);
void ngx_http_session_redis_cancel(ngx_http_session_op_t **op);

/* ngx_http_session_redis_conf.c: session_redis */
char *ngx_http_session_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_redis_parse(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_str_t *value, ngx_uint_t n);
ngx_int_t ngx_http_session_redis_init_conf(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc);

/* ngx_http_session_call.c */
ngx_int_t ngx_http_session_call_send(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    u_char *cmd, size_t len);
ngx_int_t ngx_http_session_call_script(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    ngx_uint_t script, int nkeys, int nargs, const char **args,
    const size_t *argslen);
ngx_int_t ngx_http_session_call_command(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_http_session_call_pt handler, void *data,
    int argc, const char **argv, const size_t *argvlen);
ngx_int_t ngx_http_session_call_ping(ngx_http_session_call_t *call,
    ngx_http_request_t *r, ngx_str_t *key, ngx_http_session_call_pt handler,
    void *data);
void ngx_http_session_call_cancel(ngx_http_session_call_t *call);

/* ngx_http_session_access.c */
ngx_int_t ngx_http_session_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_session_lookup_init(ngx_conf_t *cf,
    ngx_http_session_main_conf_t *smcf);
ngx_int_t ngx_http_session_preaccess_handler(ngx_http_request_t *r);

/* ngx_http_session_login.c */
char *ngx_http_session_issue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/*
 * ngx_http_session_registry_list.c: session_list's rows and answer, the
 * registry's bodiless answers (Cache-Control: no-store), and the far ids
 * of a cluster's list and revoke-by-id scripts (records on another slot
 * than their subject's index), followed one command each through the
 * request's call; "done" is called once, with 200 (list: "rows" complete
 * and sorted), 204 (revoked), 404 (no far record of that id) or an error
 * status.
 */
typedef struct ngx_http_session_far_s  ngx_http_session_far_t;

typedef void (*ngx_http_session_far_pt)(ngx_http_session_far_t *far,
    ngx_int_t status);

struct ngx_http_session_far_s {
    ngx_http_request_t             *request;
    ngx_http_session_call_t        *call;
    ngx_http_session_far_pt         done;
    void                           *data;
    ngx_array_t                    *rows;      /* SS_LIST_FIELDS ngx_str_t
                                                  per session */
    ngx_str_t                       index;     /* the subject's index key */
    u_char                         *ids;       /* SC_HASH_HEX_LEN each */
    ngx_uint_t                      n;
    ngx_uint_t                      next;
    size_t                          key_len;
    u_char                          public_id[SC_PUBLIC_ID_LEN];
    u_char                          key[SS_PREFIX_MAX + 8
                                        + SC_HASH_HEX_LEN];
};

ngx_int_t ngx_http_session_far_list(ngx_http_session_far_t *far,
    redisReply *ids);
ngx_int_t ngx_http_session_far_revoke(ngx_http_session_far_t *far,
    redisReply *reply);
ngx_array_t *ngx_http_session_list_rows(ngx_http_request_t *r,
    redisReply *reply);
ngx_int_t ngx_http_session_list_send(ngx_http_request_t *r,
    ngx_array_t *rows);
ngx_int_t ngx_http_session_reg_status(ngx_http_request_t *r,
    ngx_uint_t status);
ngx_int_t ngx_http_session_reg_no_store(ngx_http_request_t *r);

/* ngx_http_session_logout.c */
ngx_int_t ngx_http_session_revoke_result(ngx_http_request_t *r,
    redisReply *reply, ngx_int_t *ended);
void ngx_http_session_revoke_far(ngx_http_request_t *r, redisReply *reply,
    size_t from);
ngx_int_t ngx_http_session_send_revoke(ngx_http_request_t *r,
    ngx_uint_t all, ngx_http_session_ctx_t *ctx, ngx_str_t *subject,
    ngx_http_session_call_t *call, void *data,
    ngx_http_session_call_pt handler);
char *ngx_http_session_logout(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_session_logout_handler(ngx_http_request_t *r);

/* ngx_http_session_cache.c */
char *ngx_http_session_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_session_cache_get(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, time_t touch);
ngx_atomic_uint_t ngx_http_session_cache_generation(
    ngx_http_session_main_conf_t *smcf);
void ngx_http_session_cache_put(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx);
void ngx_http_session_cache_evict(ngx_http_session_main_conf_t *smcf,
    u_char *hash);
void ngx_http_session_cache_flush(ngx_http_session_main_conf_t *smcf);
void ngx_http_session_cache_init_process(ngx_http_session_main_conf_t *smcf);

/* ngx_http_session_signature.c */
char *ngx_http_session_signature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_session_signature_handler(ngx_http_request_t *r);
void ngx_http_session_signature_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_session_signature_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_session_telegram.c */
char *ngx_http_session_telegram(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_session_telegram_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_session_telegram_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
ngx_int_t ngx_http_session_telegram_subject(ngx_http_request_t *r,
    ngx_str_t *subject);

/* ngx_http_session_metrics.c */
char *ngx_http_session_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_session_metrics_attach(ngx_cycle_t *cycle);
uint64_t ngx_http_session_now_us(void);
void ngx_http_session_metrics_latency(uint64_t start_us);

/* ngx_http_session_assertion.c */
char *ngx_http_session_assertion_keys(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_assertion(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_session_jwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_session_assertion_merge(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *prev, ngx_http_session_loc_conf_t *conf);
ngx_int_t ngx_http_session_assertion_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_session_assertion_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_session_csrf.c */
char *ngx_http_session_csrf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_session_csrf_merge(ngx_conf_t *cf,
    ngx_http_session_loc_conf_t *prev, ngx_http_session_loc_conf_t *conf);
ngx_int_t ngx_http_session_csrf_check(ngx_http_request_t *r,
    ngx_http_session_ctx_t *ctx, ngx_http_session_loc_conf_t *slcf);
ngx_int_t ngx_http_session_csrf_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

/* ngx_http_session_registry.c */
extern ngx_module_t  ngx_http_session_registry_module;

typedef struct {
    ngx_http_complex_value_t       *client_address;  /* NULL: remote_addr */
    ngx_uint_t                      limit;           /* 0: none */
    ngx_uint_t                      limit_refuse;
    ngx_flag_t                      live_close;
    ngx_uint_t                      handler;         /* list or revoke */
} ngx_http_session_registry_loc_conf_t;

#define NGX_HTTP_SESSION_REG_NONE      0
#define NGX_HTTP_SESSION_REG_LIST      1
#define NGX_HTTP_SESSION_REG_REVOKE    2

#define NGX_HTTP_SESSION_REGISTRY_NARGS  6

typedef struct {
    u_char                          pid[SC_PUBLIC_ID_LEN];
    u_char                          max[NGX_INT_T_LEN];
    ngx_str_t                       ip;
} ngx_http_session_meta_t;

ngx_int_t ngx_http_session_registry_create_args(ngx_http_request_t *r,
    u_char *token, ngx_uint_t telegram, ngx_http_session_meta_t *m,
    const char **args, size_t *argslen);
void ngx_http_session_registry_created(ngx_http_request_t *r,
    ngx_int_t reply);

/* ngx_http_session_live.c */
ngx_int_t ngx_http_session_live_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_http_session_live_handler(ngx_http_request_t *r);
void ngx_http_session_live_revoked(u_char *hash, size_t len);

/* ngx_http_session_variables.c */
ngx_int_t ngx_http_session_add_variables(ngx_conf_t *cf);


#endif /* _NGX_HTTP_SESSION_H_INCLUDED_ */
