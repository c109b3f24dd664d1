
/*
 * sessionctl: declarations shared by its files (tools/sessionctl/):
 * main.c (main), args.c (the command table, options and their checks),
 * output.c (errors, text and the JSON writer), keys.c (key files and
 * cookies), redis.c (the connection and its helpers), commands.c (one
 * function per command), cluster.c (what reaches past a subject's slot on
 * a Redis Cluster), migrate.c (the migrate command).
 */

#ifndef _SESSIONCTL_H_INCLUDED_
#define _SESSIONCTL_H_INCLUDED_

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "session_core.h"
#include "session_store.h"
#include "session_slot.h"
#include "sctl_cluster.h"
#include "session_jws.h"


#define SCTL_OK               0
#define SCTL_USAGE            1
#define SCTL_RUNTIME          2
#define SCTL_NOT_FOUND        3
#define SCTL_HELP            -1     /* internal: help printed, exit 0 */

#define SCTL_SUBJECT_MAX      SS_SUBJECT_MAX
#define SCTL_PREFIX_MAX       SS_PREFIX_MAX
#define SCTL_KEY_MAX          (SCTL_PREFIX_MAX + 2 + 6 + SCTL_SUBJECT_MAX \
                               + SC_HASH_HEX_LEN + 1)
#define SCTL_FILE_MAX         65536
#define SCTL_PASSWORD_MAX     1024
#define SCTL_TIME_MAX         2147483647L
#define SCTL_TIMEOUT_SEC      2
#define SCTL_REF_LEN          16

#define SCTL_DEFAULT_REDIS    "127.0.0.1:6379"
#define SCTL_DEFAULT_PREFIX   "session:"
#define SCTL_DEFAULT_IDLE     1800
#define SCTL_DEFAULT_ABSOLUTE 43200

/* options; the first group is global, the second belongs to commands */
#define SCTL_OPT_KEYS         0x0001
#define SCTL_OPT_REDIS        0x0002
#define SCTL_OPT_DB           0x0004
#define SCTL_OPT_USER         0x0008
#define SCTL_OPT_PASSWORD     0x0010
#define SCTL_OPT_PREFIX       0x0020
#define SCTL_OPT_JSON         0x0040
#define SCTL_OPT_HELP         0x0080
#define SCTL_OPT_GLOBAL       0x00ff

#define SCTL_OPT_IDLE         0x0100
#define SCTL_OPT_ABSOLUTE     0x0200
#define SCTL_OPT_KID          0x0400
#define SCTL_OPT_FORCE        0x0800
#define SCTL_OPT_ID           0x1000
#define SCTL_OPT_FROM         0x2000
#define SCTL_OPT_TO           0x4000
#define SCTL_OPT_DRY_RUN      0x8000
#define SCTL_OPT_CURSOR       0x10000

/* cookie status besides the SC_* codes: no key ring to check the MAC */
#define SCTL_UNCHECKED        1


/*
 * Read-only view of one record, atomically with its TTL.
 *   KEYS[1] session key
 *   replies: integer 0 unknown, array { sub, cre, abs, last, cl, ttl }
 */
#define SCTL_SCRIPT_SHOW                                                      \
    "local r = redis.call('HMGET', KEYS[1], 'sub', 'cre', 'abs', 'last',"    \
    " 'cl')\n"                                                                \
    "if not r[1] then return 0 end\n"                                         \
    "r[6] = redis.call('TTL', KEYS[1])\n"                                     \
    "return r\n"


/*
 * Every session of a subject, oldest first; index entries whose record is
 * gone (or belongs to another subject) are removed from the index.
 *   KEYS[1] subject index key; ARGV[1] prefix, ARGV[2] subject
 *   reply: { pruned, { { hash, cre, abs, last, ttl, pid, ip, ua, via },
 *            ... } }; pid ip ua via are '' in records written before
 *            they were stored (session_store.h)
 */
#define SCTL_SCRIPT_LIST                                                      \
    "local out = {}\n"                                                        \
    "local pruned = 0\n"                                                      \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  local k = ARGV[1] .. '" SS_KEY_SESSION "' .. h\n"                      \
    "  local r = redis.call('HMGET', k, 'sub', 'cre', 'abs', 'last',\n"      \
    "                      'pid', 'ip', 'ua', 'via')\n"                       \
    "  if r[1] == ARGV[2] then\n"                                             \
    "    out[#out + 1] = { h, r[2] or '0', r[3] or '0', r[4] or '0',\n"       \
    "                      redis.call('TTL', k), r[5] or '', r[6] or '',\n"   \
    "                      r[7] or '', r[8] or '' }\n"                        \
    "  else\n"                                                                \
    "    redis.call('SREM', KEYS[1], h)\n"                                    \
    "    pruned = pruned + 1\n"                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "table.sort(out, function(a, b)\n"                                        \
    "  return (tonumber(a[2]) or 0) < (tonumber(b[2]) or 0)\n"                \
    "end)\n"                                                                  \
    "return { pruned, out }\n"


/*
 * The same on Redis Cluster (session_store.h, "Redis Cluster layout"):
 * ARGV[3] the subject's tag.  A member of another tag (a migrated record,
 * docs/redis.md) is on another slot: not read here but returned, and
 * read by SCTL_CLUSTER_SCRIPT_ROW on its slot (cluster.c).
 *   reply: { pruned, { rows as SCTL_SCRIPT_LIST }, { far ids } }
 */
#define SCTL_CLUSTER_SCRIPT_LIST                                              \
    SS_CLUSTER_LUA_KEYS                                                       \
    "local out, far = {}, {}\n"                                               \
    "local pruned = 0\n"                                                      \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  if string.sub(h, 1, 4) ~= ARGV[3] then\n"                              \
    "    far[#far + 1] = h\n"                                                 \
    "  else\n"                                                                \
    "    local k = sk(ARGV[1], h)\n"                                          \
    "    local r = redis.call('HMGET', k, 'sub', 'cre', 'abs', 'last',\n"    \
    "                        'pid', 'ip', 'ua', 'via')\n"                     \
    "    if r[1] == ARGV[2] then\n"                                           \
    "      out[#out + 1] = { h, r[2] or '0', r[3] or '0', r[4] or '0',\n"     \
    "                        redis.call('TTL', k), r[5] or '', r[6] or '',\n" \
    "                        r[7] or '', r[8] or '' }\n"                      \
    "    else\n"                                                              \
    "      redis.call('SREM', KEYS[1], h)\n"                                  \
    "      pruned = pruned + 1\n"                                             \
    "    end\n"                                                               \
    "  end\n"                                                                 \
    "end\n"                                                                   \
    "table.sort(out, function(a, b)\n"                                        \
    "  return (tonumber(a[2]) or 0) < (tonumber(b[2]) or 0)\n"                \
    "end)\n"                                                                  \
    "return { pruned, out, far }\n"


/*
 * One far member of a subject's index on its own slot: KEYS[1] its key;
 * ARGV[1] subject, ARGV[2] id.  reply: a row as SCTL_SCRIPT_LIST's, or 0
 * if the record is gone, renewed or another subject's (the caller then
 * removes it from the index)
 */
#define SCTL_CLUSTER_SCRIPT_ROW                                               \
    "local r = redis.call('HMGET', KEYS[1], 'sub', 'cre', 'abs', 'last',\n"  \
    "                    'pid', 'ip', 'ua', 'via', 'nx')\n"                   \
    "if r[1] ~= ARGV[1] or r[9] then return 0 end\n"                         \
    "return { ARGV[2], r[2] or '0', r[3] or '0', r[4] or '0',\n"             \
    "         redis.call('TTL', KEYS[1]), r[5] or '', r[6] or '',\n"         \
    "         r[7] or '', r[8] or '' }\n"



typedef struct sctl_ctx_s  sctl_ctx_t;

typedef int (*sctl_handler_pt)(sctl_ctx_t *ctx);


typedef struct {
    const char         *name;
    sctl_handler_pt     handler;
    int                 min_args;
    int                 max_args;           /* -1: no limit */
    unsigned            options;            /* SCTL_OPT_* of the command */
    const char         *synopsis;
    const char         *help;
} sctl_command_t;


typedef struct {
    const char         *name;
    unsigned            flag;
    unsigned            has_arg;
} sctl_option_t;


struct sctl_ctx_s {
    const sctl_command_t  *cmd;
    char                 **args;            /* positional arguments */
    int                    nargs;
    unsigned               given;           /* SCTL_OPT_* seen */

    const char            *keys_file;
    const char            *redis_addr;
    const char            *user;
    const char            *password_file;
    const char            *prefix;
    size_t                 prefix_len;
    long                   db;
    const char            *idle;
    const char            *absolute;
    const char            *kid;
    const char            *id;
    const char            *from;            /* migrate --from */
    const char            *cursor;          /* migrate --cursor */

    char                   host[INET6_ADDRSTRLEN];
    int                    port;
    const char            *unix_path;

    sc_keyring_t           keyring;
    unsigned               keyring_loaded;

    redisContext          *redis;

    /* --redis cluster=HOST:PORT[,...]: the Cluster key layout */
    const char            *cluster_seeds;
    sctl_cluster_t        *cluster;
};


typedef struct {
    int                 status;             /* SC_* or SCTL_UNCHECKED */
    size_t              key_index;
    char                kid[SC_KID_MAX + 1];
    unsigned char       token[SC_TOKEN_LEN];
    char                public_id[SC_PUBLIC_ID_LEN + 1];
    char                hash[SC_HASH_HEX_LEN + 1];
    /* on a cluster: the single-Redis hash, the id of a migrated record */
    char                legacy[SC_HASH_HEX_LEN + 1];
} sctl_cookie_t;


typedef struct {
    int                 depth;
    unsigned char       first[8];
} sctl_json_t;


extern int  sctl_json_output;
extern int  sctl_quiet;              /* cluster reconnections */
extern int  sctl_assertion_keys;     /* keys.c */


/* output.c */
void sctl_error(const char *fmt, ...);
int sctl_usage_error(const char *fmt, ...);
uint32_t sctl_unsafe_cp(const unsigned char *p, size_t n);
void sctl_text(const char *s, size_t len);
void sctl_text_time(const char *label, long long t);
size_t sctl_utf8_len(const unsigned char *p, size_t len);
void sctl_json_raw_string(const char *s, size_t len);
void sctl_json_key(sctl_json_t *j, const char *key);
void sctl_json_open(sctl_json_t *j, const char *key, int ch);
void sctl_json_close(sctl_json_t *j, int ch);
void sctl_json_str(sctl_json_t *j, const char *key, const char *s, size_t len);
void sctl_json_int(sctl_json_t *j, const char *key, long long v);
void sctl_json_bool(sctl_json_t *j, const char *key, int v);
void sctl_json_null(sctl_json_t *j, const char *key);

/* args.c */
int sctl_check_subject(const char *s);
int sctl_claim_name_valid(const char *s, size_t len);
int sctl_parse_time(const char *s, long *out);
int sctl_check_redis_addr(sctl_ctx_t *ctx);
const sctl_command_t *sctl_find_command(const char *name);
void sctl_command_help(const sctl_command_t *cmd);
const char *sctl_option_name(unsigned flag);
int sctl_set_option(sctl_ctx_t *ctx, const sctl_option_t *opt, const char *val);
int sctl_parse_args(sctl_ctx_t *ctx, int argc, char **argv);

/* keys.c */
int sctl_read_file(const char *name, char *buf, size_t size, size_t *len);
int sctl_parse_keys(const char *name, sc_keyring_t *kr, const char *buf,
    size_t len);
int sctl_load_keys(sctl_ctx_t *ctx);
int sctl_write_file(const char *path, const char *data, size_t len, int replace,
    const struct stat *owner);
int sctl_kid_exists(const sc_keyring_t *kr, const char *kid);
int sctl_new_kid(sctl_ctx_t *ctx, const sc_keyring_t *kr, char *kid);
size_t sctl_new_key_line(const char *kid, char *out);
int sctl_read_cookie_arg(const char *arg, char *buf, size_t size);
void sctl_cookie_analyze(sctl_ctx_t *ctx, const char *in, sctl_cookie_t *c);
const char *sctl_mac_status(const sctl_cookie_t *c);
int sctl_print_cookie(sctl_json_t *j, const sctl_cookie_t *c);

/* redis.c */
int sctl_redis_check(sctl_ctx_t *ctx, redisReply *r);
redisReply *sctl_redis_command(sctl_ctx_t *ctx, int argc, const char **argv,
    const size_t *argvlen);
int sctl_read_password(sctl_ctx_t *ctx, char *pw, size_t size, size_t *len);
int sctl_redis_connect(sctl_ctx_t *ctx);
int sctl_redis_connect_one(sctl_ctx_t *ctx);
int sctl_cluster_revoke_hash(sctl_ctx_t *ctx, const char *hash);
size_t sctl_key(sctl_ctx_t *ctx, char *buf, const char *type, const char *id,
    size_t len);
int sctl_reply_number(redisReply *r, long long *out);
int sctl_revoke_hash(sctl_ctx_t *ctx, const char *hash);
void sctl_redis_delivered(sctl_ctx_t *ctx, const char *key, size_t keylen);

/* commands.c */
int sctl_build_claims(sctl_ctx_t *ctx, char *out, size_t size, size_t *len);
void sctl_print_claims_json(sctl_json_t *j, const char *cl, size_t len);
int sctl_cmd_create(sctl_ctx_t *ctx);
int sctl_cmd_show(sctl_ctx_t *ctx);
int sctl_cmd_revoke(sctl_ctx_t *ctx);
int sctl_revoke_id(sctl_ctx_t *ctx);
int sctl_cmd_list(sctl_ctx_t *ctx);
int sctl_hash_valid(const redisReply *e);
int sctl_cmd_revoke_all(sctl_ctx_t *ctx);
int sctl_print_kid(const char *kid, const char *file, long long nkeys);
int sctl_cmd_keygen(sctl_ctx_t *ctx);
int sctl_cmd_rotate(sctl_ctx_t *ctx);
int sctl_cmd_assertion_keygen(sctl_ctx_t *ctx);
int sctl_cmd_assertion_rotate(sctl_ctx_t *ctx);
int sctl_cmd_inspect(sctl_ctx_t *ctx);

/* cluster.c */
int sctl_cluster_revoke_id(sctl_ctx_t *ctx);
int sctl_cluster_list_far(sctl_ctx_t *ctx, const char *ukey, size_t ukey_len,
    redisReply *far, redisReply ***rows, size_t *nrows,
    redisReply ***extra, size_t *nextra, long long *pruned);
void sctl_free_rows(redisReply **extra, size_t nextra);

/* migrate.c */
int sctl_cmd_migrate(sctl_ctx_t *ctx);


#endif /* _SESSIONCTL_H_INCLUDED_ */
