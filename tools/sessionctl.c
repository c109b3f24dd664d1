
/*
 * sessionctl: the administration and test tool of ngx_http_session_module.
 *
 * Creates, shows, lists and revokes sessions in Redis with the same record
 * layout and Lua scripts as the nginx module (session_store.h), and manages
 * key files (session_core.h).  A command line tool: synchronous hiredis,
 * plain stdio.  The raw session token is never printed or stored, except
 * as part of the cookie value printed by "create".
 *
 * docs/sessionctl.md is the manual; keep the two in step.
 */

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

#define SCTL_SUBJECT_MAX      256
#define SCTL_PREFIX_MAX       128
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
 * docs/redis.md) is on another slot: not read, not pruned, not listed.
 */
#define SCTL_CLUSTER_SCRIPT_LIST                                              \
    SS_CLUSTER_LUA_KEYS                                                       \
    "local out = {}\n"                                                        \
    "local pruned = 0\n"                                                      \
    "for _, h in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"                \
    "  if string.sub(h, 1, 4) == ARGV[3] then\n"                              \
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
    "return { pruned, out }\n"


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
} sctl_cookie_t;


typedef struct {
    int                 depth;
    unsigned char       first[8];
} sctl_json_t;


static int sctl_cmd_create(sctl_ctx_t *ctx);
static int sctl_cmd_show(sctl_ctx_t *ctx);
static int sctl_cmd_revoke(sctl_ctx_t *ctx);
static int sctl_cmd_list(sctl_ctx_t *ctx);
static int sctl_revoke_id(sctl_ctx_t *ctx);
static int sctl_cmd_revoke_all(sctl_ctx_t *ctx);
static int sctl_cmd_keygen(sctl_ctx_t *ctx);
static int sctl_cmd_rotate(sctl_ctx_t *ctx);
static int sctl_cmd_assertion_keygen(sctl_ctx_t *ctx);
static int sctl_cmd_assertion_rotate(sctl_ctx_t *ctx);
static int sctl_cmd_inspect(sctl_ctx_t *ctx);


static const sctl_command_t  sctl_commands[] = {

    { "create", sctl_cmd_create, 1, -1,
      SCTL_OPT_IDLE | SCTL_OPT_ABSOLUTE,
      "create SUBJECT [NAME=VALUE ...] [--idle TIME] [--absolute TIME]",
      "Creates a session of SUBJECT with the given claims (values are\n"
      "percent-encoded by the tool) and prints the cookie value.  Needs\n"
      "--keys.  TIME is like nginx's: 30s, 10m, 12h, 1d, 1h30m, or plain\n"
      "seconds.\n"
      "  --idle TIME        idle timeout (default 30m)\n"
      "  --absolute TIME    absolute lifetime (default 12h)\n"
      "With --json: {\"cookie\": ..., \"id\": ..., \"expires\": ...}.\n" },

    { "show", sctl_cmd_show, 1, 1, 0,
      "show COOKIE",
      "Prints the key id, public id, record reference and MAC status of\n"
      "COOKIE, and its Redis record (subject, created, last seen, expiry,\n"
      "ttl, claims).  Needs --keys.  COOKIE \"-\" is read from stdin.\n"
      "Exit status 3 if the cookie is invalid or the session not found.\n" },

    { "revoke", sctl_cmd_revoke, 1, 1, SCTL_OPT_ID,
      "revoke COOKIE | revoke SUBJECT --id ID",
      "Deletes the session of COOKIE and publishes its revocation.  Needs\n"
      "--keys.  COOKIE \"-\" is read from stdin.  Prints nothing; exit\n"
      "status 0 if the session existed, 3 if not found or invalid.\n"
      "  --id ID            the session of SUBJECT with this public id\n"
      "                     (\"list\" shows it); no --keys needed\n" },

    { "list", sctl_cmd_list, 1, 1, 0,
      "list SUBJECT",
      "Lists the sessions of SUBJECT, oldest first: reference, created,\n"
      "last seen, absolute expiry, ttl, public id, how it was\n"
      "authenticated, client address and User-Agent at login.  Index\n"
      "entries whose record is gone are pruned.\n" },

    { "revoke-all", sctl_cmd_revoke_all, 1, 1, 0,
      "revoke-all SUBJECT",
      "Revokes every session of SUBJECT and prints how many there were.\n" },

    { "keygen", sctl_cmd_keygen, 1, 1,
      SCTL_OPT_KID | SCTL_OPT_FORCE,
      "keygen FILE [--kid KID] [--force]",
      "Writes a new key file with one random 32-byte key, mode 0600, and\n"
      "prints its key id.  Refuses to overwrite FILE unless --force.\n"
      "  --kid KID          key id, 1..32 of [A-Za-z0-9_-]\n"
      "                     (default k<YYYYMMDDhhmmss>, UTC)\n"
      "  --force            replace an existing FILE\n" },

    { "rotate", sctl_cmd_rotate, 1, 1, SCTL_OPT_KID,
      "rotate FILE [--kid KID]",
      "Prepends a new random key to the key file FILE, keeping the others,\n"
      "and prints its key id.  FILE is replaced atomically, mode 0600.\n"
      "  --kid KID          key id (default k<YYYYMMDDhhmmss>, UTC)\n" },

    { "assertion-keygen", sctl_cmd_assertion_keygen, 1, 1,
      SCTL_OPT_KID | SCTL_OPT_FORCE,
      "assertion-keygen FILE [--kid KID] [--force]",
      "Writes a new session_assertion_keys file with one random Ed25519\n"
      "seed (32 bytes), mode 0600, and prints its key id.  Refuses to\n"
      "overwrite FILE unless --force.\n"
      "  --kid KID          key id, 1..32 of [A-Za-z0-9_-]\n"
      "                     (default k<YYYYMMDDhhmmss>, UTC)\n"
      "  --force            replace an existing FILE\n" },

    { "assertion-rotate", sctl_cmd_assertion_rotate, 1, 1, SCTL_OPT_KID,
      "assertion-rotate FILE [--kid KID]",
      "Prepends a new Ed25519 seed to the session_assertion_keys file\n"
      "FILE, keeping the others (still published in the JWKS), and prints\n"
      "its key id.  FILE is replaced atomically, mode 0600.\n"
      "  --kid KID          key id (default k<YYYYMMDDhhmmss>, UTC)\n" },

    { "inspect", sctl_cmd_inspect, 1, 1, 0,
      "inspect COOKIE",
      "Decodes COOKIE offline, without Redis: key id, public id, record\n"
      "reference, and whether the MAC is valid (only with --keys).\n"
      "COOKIE \"-\" is read from stdin.  Exit status 3 if invalid.\n" },

    { NULL, NULL, 0, 0, 0, NULL, NULL }
};


static const sctl_option_t  sctl_options[] = {
    { "--keys",          SCTL_OPT_KEYS,     1 },
    { "--redis",         SCTL_OPT_REDIS,    1 },
    { "--db",            SCTL_OPT_DB,       1 },
    { "--user",          SCTL_OPT_USER,     1 },
    { "--password-file", SCTL_OPT_PASSWORD, 1 },
    { "--prefix",        SCTL_OPT_PREFIX,   1 },
    { "--json",          SCTL_OPT_JSON,     0 },
    { "--help",          SCTL_OPT_HELP,     0 },
    { "-h",              SCTL_OPT_HELP,     0 },
    { "--idle",          SCTL_OPT_IDLE,     1 },
    { "--absolute",      SCTL_OPT_ABSOLUTE, 1 },
    { "--kid",           SCTL_OPT_KID,      1 },
    { "--force",         SCTL_OPT_FORCE,    0 },
    { "--id",            SCTL_OPT_ID,       1 },
    { NULL, 0, 0 }
};


static const char  sctl_usage[] =
    "Usage: sessionctl [global options] COMMAND [args]\n"
    "\n"
    "Administers the sessions of ngx_http_session_module.\n"
    "\n"
    "Commands:\n"
    "  create SUBJECT [NAME=VALUE ...] [--idle TIME] [--absolute TIME]\n"
    "  show COOKIE\n"
    "  revoke COOKIE | revoke SUBJECT --id ID\n"
    "  list SUBJECT\n"
    "  revoke-all SUBJECT\n"
    "  keygen FILE [--kid KID] [--force]\n"
    "  rotate FILE [--kid KID]\n"
    "  assertion-keygen FILE [--kid KID] [--force]\n"
    "  assertion-rotate FILE [--kid KID]\n"
    "  inspect COOKIE\n"
    "\n"
    "Global options:\n"
    "  --keys FILE           key file, \"<kid> <base64 secret>\" lines\n"
    "  --redis ADDRESS       host:port (IP address or host name) or\n"
    "                        unix:/path (default " SCTL_DEFAULT_REDIS ")\n"
    "  --db N                Redis database (default 0)\n"
    "  --user NAME           Redis ACL user (needs --password-file)\n"
    "  --password-file FILE  Redis password: the first line of FILE\n"
    "  --prefix STR          key prefix (default \"" SCTL_DEFAULT_PREFIX
    "\")\n"
    "  --json                print one JSON object\n"
    "  -h, --help            this help; \"sessionctl COMMAND --help\"\n"
    "\n"
    "Exit status: 0 ok, 1 usage error, 2 runtime error, 3 not found or\n"
    "invalid cookie.\n";


static int              sctl_json_output;
static int              sctl_quiet;         /* cluster reconnections */


static void
sctl_error(const char *fmt, ...)
{
    va_list  args;

    if (sctl_quiet) {
        return;
    }

    fflush(stdout);
    fputs("sessionctl: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}


static int
sctl_usage_error(const char *fmt, ...)
{
    va_list  args;

    fputs("sessionctl: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputs("\nTry 'sessionctl --help'.\n", stderr);

    return SCTL_USAGE;
}


/*
 * Text output of untrusted strings (subjects, claims) reaches a terminal:
 * C0 controls, DEL and bytes that are not UTF-8 are written as \xNN; C1
 * controls (U+0080..U+009F, which some terminals obey as CSI, OSC, ...)
 * and the characters that reorder or break lines (bidi controls, U+2028,
 * U+2029) as \uNNNN; a backslash is doubled, so the output is unambiguous.
 */

static size_t sctl_utf8_len(const unsigned char *p, size_t len);


/* the code point of a valid n-byte sequence if it must be escaped, or 0 */

static uint32_t
sctl_unsafe_cp(const unsigned char *p, size_t n)
{
    size_t    i;
    uint32_t  cp;

    cp = p[0] & (0xff >> (n + 1));

    for (i = 1; i < n; i++) {
        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if ((cp >= 0x80 && cp <= 0x9f)
        || cp == 0x200e || cp == 0x200f
        || (cp >= 0x2028 && cp <= 0x202e)
        || (cp >= 0x2066 && cp <= 0x2069))
    {
        return cp;
    }

    return 0;
}

static void
sctl_text(const char *s, size_t len)
{
    size_t                n;
    uint32_t              cp;
    const unsigned char  *p, *end;

    p = (const unsigned char *) s;
    end = p + len;

    while (p < end) {

        if (*p < 0x20 || *p == 0x7f) {
            printf("\\x%02x", *p);
            p++;
            continue;
        }

        if (*p == '\\') {
            fputs("\\\\", stdout);
            p++;
            continue;
        }

        n = sctl_utf8_len(p, (size_t) (end - p));

        if (n == 0) {
            printf("\\x%02x", *p);
            p++;
            continue;
        }

        if (n == 1) {
            putchar(*p);
            p++;
            continue;
        }

        cp = sctl_unsafe_cp(p, n);

        if (cp) {
            printf("\\u%04x", (unsigned) cp);

        } else {
            fwrite(p, 1, n, stdout);
        }

        p += n;
    }
}


static void
sctl_text_time(const char *label, long long t)
{
    char       buf[32];
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        strcpy(buf, "?");
    }

    if (label) {
        printf("%-12s%s (%lld)\n", label, buf, t);

    } else {
        printf("%-22s", buf);
    }
}


/* JSON output; invalid UTF-8 becomes U+FFFD */

static size_t
sctl_utf8_len(const unsigned char *p, size_t len)
{
    size_t          n, i;
    unsigned char   c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c < 0x80) {
        return 1;

    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if (len < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


static void
sctl_json_raw_string(const char *s, size_t len)
{
    size_t                n;
    const unsigned char  *p, *end;

    p = (const unsigned char *) s;
    end = p + len;

    putchar('"');

    while (p < end) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
            p++;
            continue;
        }

        if (*p < 0x20 || *p == 0x7f) {
            printf("\\u%04x", *p);
            p++;
            continue;
        }

        n = sctl_utf8_len(p, (size_t) (end - p));

        if (n == 0) {
            fputs("\\ufffd", stdout);
            p++;
            continue;
        }

        if (n > 1 && sctl_unsafe_cp(p, n)) {
            printf("\\u%04x", (unsigned) sctl_unsafe_cp(p, n));
            p += n;
            continue;
        }

        fwrite(p, 1, n, stdout);
        p += n;
    }

    putchar('"');
}


static void
sctl_json_key(sctl_json_t *j, const char *key)
{
    if (!j->first[j->depth]) {
        putchar(',');
    }

    j->first[j->depth] = 0;

    if (key) {
        sctl_json_raw_string(key, strlen(key));
        putchar(':');
    }
}


static void
sctl_json_open(sctl_json_t *j, const char *key, int ch)
{
    if (j->depth > 0) {
        sctl_json_key(j, key);
    }

    putchar(ch);
    j->depth++;
    j->first[j->depth] = 1;
}


static void
sctl_json_close(sctl_json_t *j, int ch)
{
    putchar(ch);
    j->depth--;

    if (j->depth == 0) {
        putchar('\n');
    }
}


static void
sctl_json_str(sctl_json_t *j, const char *key, const char *s, size_t len)
{
    sctl_json_key(j, key);
    sctl_json_raw_string(s, len);
}


static void
sctl_json_int(sctl_json_t *j, const char *key, long long v)
{
    sctl_json_key(j, key);
    printf("%lld", v);
}


static void
sctl_json_bool(sctl_json_t *j, const char *key, int v)
{
    sctl_json_key(j, key);
    fputs(v ? "true" : "false", stdout);
}


static void
sctl_json_null(sctl_json_t *j, const char *key)
{
    sctl_json_key(j, key);
    fputs("null", stdout);
}


/* argument checks */

static int
sctl_check_subject(const char *s)
{
    size_t  i, len;

    len = strlen(s);

    if (len == 0 || len > SCTL_SUBJECT_MAX) {
        return sctl_usage_error("subject must be 1..%d bytes",
                                SCTL_SUBJECT_MAX);
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return sctl_usage_error("subject contains a control character");
        }
    }

    return SCTL_OK;
}


static int
sctl_b64url_only(const char *s, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
sctl_kid_valid(const char *s, size_t len)
{
    return len > 0 && len <= SC_KID_MAX && sctl_b64url_only(s, len);
}


static int
sctl_claim_name_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > SC_CLAIM_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * TIME as nginx's ngx_parse_time() for seconds: "<n><unit>" groups with
 * units y M w d h m s in that order, optionally blank separated; a final
 * number without a unit is seconds.  1 .. 2^31 - 1 seconds.
 */

static int
sctl_parse_time(const char *s, long *out)
{
    int          last, i, any;
    long long    n, total, scale;
    const char  *p;

    static const char       units[] = "yMwdhms";
    static const long long  scales[] = {
        365 * 86400LL, 30 * 86400LL, 7 * 86400LL, 86400, 3600, 60, 1
    };

    total = 0;
    last = -1;
    any = 0;
    p = s;

    for ( ;; ) {
        while (*p == ' ') {
            p++;
        }

        if (*p == '\0') {
            break;
        }

        if (*p < '0' || *p > '9') {
            return -1;
        }

        n = 0;

        while (*p >= '0' && *p <= '9') {
            n = n * 10 + (*p++ - '0');

            if (n > SCTL_TIME_MAX) {
                return -1;
            }
        }

        if (*p == '\0' || *p == ' ') {
            i = 6;
            scale = 1;

            /* a bare number: seconds, and only as the last group */
            while (*p == ' ') {
                p++;
            }

            if (*p != '\0') {
                return -1;
            }

        } else {
            for (i = 0; units[i] && units[i] != *p; i++) {
                /* void */
            }

            if (units[i] == '\0') {
                return -1;
            }

            scale = scales[i];
            p++;
        }

        if (i <= last) {
            return -1;
        }

        last = i;
        total += n * scale;
        any = 1;

        if (total > SCTL_TIME_MAX) {
            return -1;
        }
    }

    if (!any || total == 0) {
        return -1;
    }

    *out = (long) total;

    return 0;
}


static int
sctl_check_redis_addr(sctl_ctx_t *ctx)
{
    char            *end;
    long             port;
    size_t           hlen;
    const char      *addr, *colon, *host;
    unsigned char    bin[sizeof(struct in6_addr)];

    addr = ctx->redis_addr;

    if (strncmp(addr, "cluster=", 8) == 0) {
        ctx->cluster_seeds = addr + 8;
        ctx->cluster = sctl_cluster_create(ctx->cluster_seeds, NULL, NULL);

        if (ctx->cluster == NULL) {
            return sctl_usage_error("--redis: \"%s\" is not "
                                    "cluster=HOST:PORT[,HOST:PORT...]",
                                    addr);
        }

        sctl_cluster_free(ctx->cluster);
        ctx->cluster = NULL;

        if (ctx->given & SCTL_OPT_DB) {
            return sctl_usage_error("--db: Redis Cluster has database 0 "
                                    "only");
        }

        if (memchr(ctx->prefix, '{', ctx->prefix_len)
            || memchr(ctx->prefix, '}', ctx->prefix_len))
        {
            return sctl_usage_error("--prefix: no \"{\" or \"}\" with "
                                    "Redis Cluster (hash tags)");
        }

        return SCTL_OK;
    }

    if (strncmp(addr, "unix:", 5) == 0) {
        ctx->unix_path = addr + 5;

        if (ctx->unix_path[0] == '\0') {
            return sctl_usage_error("--redis: empty unix socket path");
        }

        return SCTL_OK;
    }

    if (addr[0] == '[') {
        host = addr + 1;
        colon = strchr(host, ']');

        if (colon == NULL || colon[1] != ':') {
            goto invalid;
        }

        hlen = (size_t) (colon - host);
        colon++;

    } else {
        host = addr;
        colon = strrchr(addr, ':');

        if (colon == NULL || memchr(addr, ':', colon - addr) != NULL) {
            goto invalid;
        }

        hlen = (size_t) (colon - host);
    }

    if (hlen == 0 || hlen >= sizeof(ctx->host)) {
        goto invalid;
    }

    memcpy(ctx->host, host, hlen);
    ctx->host[hlen] = '\0';

    errno = 0;
    port = strtol(colon + 1, &end, 10);

    if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno
        || port < 1 || port > 65535)
    {
        goto invalid;
    }

    ctx->port = (int) port;

    if (addr[0] != '[' && strcmp(ctx->host, "localhost") == 0) {
        strcpy(ctx->host, "127.0.0.1");
        return SCTL_OK;
    }

    if (inet_pton(addr[0] == '[' ? AF_INET6 : AF_INET, ctx->host, bin) == 1) {
        return SCTL_OK;
    }

    /* a host name (a compose service): hiredis resolves it on connect */

    if (addr[0] != '[' && strspn(ctx->host, "abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
                          == hlen)
    {
        return SCTL_OK;
    }

invalid:

    return sctl_usage_error("--redis: \"%s\" is not host:port (an IP "
                            "address or a host name), [IPv6]:port, or "
                            "unix:/path", addr);
}


/* command line */

static const sctl_command_t *
sctl_find_command(const char *name)
{
    const sctl_command_t  *cmd;

    for (cmd = sctl_commands; cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }

    return NULL;
}


static void
sctl_command_help(const sctl_command_t *cmd)
{
    printf("Usage: sessionctl [global options] %s\n\n%s\n"
           "See \"sessionctl --help\" for the global options.\n",
           cmd->synopsis, cmd->help);
}


static const char *
sctl_option_name(unsigned flag)
{
    const sctl_option_t  *opt;

    for (opt = sctl_options; opt->name; opt++) {
        if (opt->flag == flag) {
            return opt->name;
        }
    }

    return "?";
}


static int
sctl_set_option(sctl_ctx_t *ctx, const sctl_option_t *opt, const char *val)
{
    char  *end;

    if ((ctx->given & opt->flag) && opt->flag != SCTL_OPT_HELP) {
        return sctl_usage_error("%s given twice", opt->name);
    }

    ctx->given |= opt->flag;

    switch (opt->flag) {

    case SCTL_OPT_KEYS:
        ctx->keys_file = val;
        break;

    case SCTL_OPT_REDIS:
        ctx->redis_addr = val;
        break;

    case SCTL_OPT_DB:
        errno = 0;
        ctx->db = strtol(val, &end, 10);

        if (val[0] < '0' || val[0] > '9' || *end != '\0' || errno
            || ctx->db > INT_MAX)
        {
            return sctl_usage_error("--db: \"%s\" is not a database number",
                                    val);
        }

        break;

    case SCTL_OPT_USER:
        if (val[0] == '\0') {
            return sctl_usage_error("--user: empty user name");
        }

        ctx->user = val;
        break;

    case SCTL_OPT_PASSWORD:
        ctx->password_file = val;
        break;

    case SCTL_OPT_PREFIX:
        ctx->prefix = val;
        ctx->prefix_len = strlen(val);

        if (ctx->prefix_len == 0 || ctx->prefix_len > SCTL_PREFIX_MAX) {
            return sctl_usage_error("--prefix must be 1..%d bytes",
                                    SCTL_PREFIX_MAX);
        }

        break;

    case SCTL_OPT_IDLE:
        ctx->idle = val;
        break;

    case SCTL_OPT_ABSOLUTE:
        ctx->absolute = val;
        break;

    case SCTL_OPT_KID:
        ctx->kid = val;
        break;

    case SCTL_OPT_ID:
        ctx->id = val;
        break;

    default:
        /* flags: --json, --help, --force */
        break;
    }

    return SCTL_OK;
}


static int
sctl_parse_args(sctl_ctx_t *ctx, int argc, char **argv)
{
    int                    i, rc, options_done;
    char                  *arg, *val, *eq;
    size_t                 nlen;
    unsigned               bad;
    const sctl_option_t   *opt;

    ctx->redis_addr = SCTL_DEFAULT_REDIS;
    ctx->prefix = SCTL_DEFAULT_PREFIX;
    ctx->prefix_len = sizeof(SCTL_DEFAULT_PREFIX) - 1;

    /* positional arguments are compacted in place to argv[1..] */
    ctx->args = argv + 1;
    ctx->nargs = 0;
    options_done = 0;

    for (i = 1; i < argc; i++) {
        arg = argv[i];

        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            ctx->args[ctx->nargs++] = arg;
            continue;
        }

        if (strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }

        eq = strchr(arg, '=');
        nlen = eq ? (size_t) (eq - arg) : strlen(arg);

        for (opt = sctl_options; opt->name; opt++) {
            if (strlen(opt->name) == nlen
                && strncmp(opt->name, arg, nlen) == 0)
            {
                break;
            }
        }

        if (opt->name == NULL) {
            return sctl_usage_error("unknown option \"%s\"", arg);
        }

        if (opt->has_arg) {
            if (eq) {
                val = eq + 1;

            } else if (i + 1 < argc) {
                val = argv[++i];

            } else {
                return sctl_usage_error("%s needs a value", opt->name);
            }

        } else {
            if (eq) {
                return sctl_usage_error("%s takes no value", opt->name);
            }

            val = NULL;
        }

        rc = sctl_set_option(ctx, opt, val);
        if (rc != SCTL_OK) {
            return rc;
        }
    }

    sctl_json_output = (ctx->given & SCTL_OPT_JSON) != 0;

    if (ctx->nargs == 0) {
        if (ctx->given & SCTL_OPT_HELP) {
            fputs(sctl_usage, stdout);
            return SCTL_HELP;
        }

        return sctl_usage_error("no command given");
    }

    ctx->cmd = sctl_find_command(ctx->args[0]);

    if (ctx->cmd == NULL) {
        return sctl_usage_error("unknown command \"%s\"", ctx->args[0]);
    }

    if (ctx->given & SCTL_OPT_HELP) {
        sctl_command_help(ctx->cmd);
        return SCTL_HELP;
    }

    ctx->args++;
    ctx->nargs--;

    bad = ctx->given & ~(SCTL_OPT_GLOBAL | ctx->cmd->options);

    if (bad) {
        return sctl_usage_error("%s is not an option of \"%s\"",
                                sctl_option_name(bad & -bad), ctx->cmd->name);
    }

    if (ctx->nargs < ctx->cmd->min_args
        || (ctx->cmd->max_args >= 0 && ctx->nargs > ctx->cmd->max_args))
    {
        return sctl_usage_error("usage: sessionctl %s", ctx->cmd->synopsis);
    }

    if ((ctx->given & SCTL_OPT_USER) && ctx->password_file == NULL) {
        return sctl_usage_error("--user needs --password-file");
    }

    return sctl_check_redis_addr(ctx);
}


/* files */

static int
sctl_read_file(const char *name, char *buf, size_t size, size_t *len)
{
    int          fd;
    size_t       n;
    ssize_t      r;
    struct stat  st;

    fd = open(name, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        sctl_error("%s: %s", name, strerror(errno));
        return SCTL_RUNTIME;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        sctl_error("%s: not a regular file", name);
        close(fd);
        return SCTL_RUNTIME;
    }

    n = 0;

    for ( ;; ) {
        if (n == size) {
            sctl_error("%s: larger than %zu bytes", name, size);
            close(fd);
            return SCTL_RUNTIME;
        }

        r = read(fd, buf + n, size - n);

        if (r == -1) {
            if (errno == EINTR) {
                continue;
            }

            sctl_error("%s: %s", name, strerror(errno));
            close(fd);
            return SCTL_RUNTIME;
        }

        if (r == 0) {
            break;
        }

        n += (size_t) r;
    }

    close(fd);
    *len = n;

    return SCTL_OK;
}


/* assertion-keygen, assertion-rotate: the file holds Ed25519 seeds */
static int  sctl_assertion_keys;


static int
sctl_parse_keys(const char *name, sc_keyring_t *kr, const char *buf,
    size_t len)
{
    int          n;
    char         pfx[24];
    const char  *msg;
    sc_error_t   err;

    memset(&err, 0, sizeof(sc_error_t));

    if (sctl_assertion_keys) {
        /* Ed25519 seeds: only the key ids are kept, for --kid checks */

        static sc_jws_keys_t  ks;
        size_t                i;

        sc_keyring_wipe(kr);

        if (sc_jws_keys_parse(&ks, buf, len, &err) == SC_OK) {
            for (i = 0; i < ks.nkeys; i++) {
                memcpy(kr->keys[i].kid, ks.keys[i].kid, SC_KID_MAX + 1);
                kr->keys[i].kid_len = ks.keys[i].kid_len;
            }

            kr->nkeys = ks.nkeys;
            sc_jws_keys_wipe(&ks);
            return SCTL_OK;
        }

    } else if (sc_keyring_parse(kr, buf, len, &err) == SC_OK) {
        return SCTL_OK;
    }

    sc_keyring_wipe(kr);

    err.msg[sizeof(err.msg) - 1] = '\0';
    msg = err.msg;

    if (err.line) {
        /* the core may start msg with "line N: "; the line goes first */
        n = snprintf(pfx, sizeof(pfx), "line %u: ", err.line);

        if (n > 0 && strncmp(msg, pfx, (size_t) n) == 0) {
            msg += n;
        }

        sctl_error("%s:%u: %s", name, err.line, msg);

    } else {
        sctl_error("%s: %s", name, err.msg);
    }

    return SCTL_RUNTIME;
}


static int
sctl_load_keys(sctl_ctx_t *ctx)
{
    int          rc;
    size_t       len;
    struct stat  st;
    static char  buf[SCTL_FILE_MAX];

    if (ctx->keys_file == NULL) {
        return sctl_usage_error("\"%s\" needs --keys FILE", ctx->cmd->name);
    }

    rc = sctl_read_file(ctx->keys_file, buf, sizeof(buf), &len);

    if (rc == SCTL_OK) {
        rc = sctl_parse_keys(ctx->keys_file, &ctx->keyring, buf, len);
    }

    sodium_memzero(buf, sizeof(buf));

    if (rc != SCTL_OK) {
        return rc;
    }

    ctx->keyring_loaded = 1;

    if (stat(ctx->keys_file, &st) == 0 && (st.st_mode & 077)) {
        sctl_error("warning: %s is accessible by group or others",
                   ctx->keys_file);
    }

    return SCTL_OK;
}


/*
 * Writes data to a temporary file next to path, mode 0600, and moves it
 * into place: rename() to replace, link() to create without replacing.
 */

static int
sctl_write_file(const char *path, const char *data, size_t len, int replace,
    const struct stat *owner)
{
    int       fd, rc;
    char      tmp[PATH_MAX];
    size_t    n;
    ssize_t   w;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path)
        >= (int) sizeof(tmp))
    {
        sctl_error("%s: file name too long", path);
        return SCTL_RUNTIME;
    }

    fd = mkstemp(tmp);

    if (fd == -1) {
        sctl_error("%s: %s", tmp, strerror(errno));
        return SCTL_RUNTIME;
    }

    rc = SCTL_RUNTIME;

    if (fchmod(fd, 0600) == -1) {
        sctl_error("%s: %s", tmp, strerror(errno));
        goto failed;
    }

    if (owner && (owner->st_uid != geteuid() || owner->st_gid != getegid())) {
        /* keep the owner of a rotated file where we may; best effort */
        if (fchown(fd, owner->st_uid, owner->st_gid) == -1) {
            /* void */
        }
    }

    n = 0;

    while (n < len) {
        w = write(fd, data + n, len - n);

        if (w == -1) {
            if (errno == EINTR) {
                continue;
            }

            sctl_error("%s: %s", tmp, strerror(errno));
            goto failed;
        }

        n += (size_t) w;
    }

    if (fsync(fd) == -1) {
        sctl_error("%s: %s", tmp, strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        sctl_error("%s: %s", tmp, strerror(errno));
        goto failed;
    }

    fd = -1;

    if (replace) {
        if (rename(tmp, path) == -1) {
            sctl_error("%s: %s", path, strerror(errno));
            goto failed;
        }

        return SCTL_OK;
    }

    if (link(tmp, path) == -1) {
        if (errno == EEXIST) {
            sctl_error("%s: file exists (use --force to replace it)", path);

        } else {
            sctl_error("%s: %s", path, strerror(errno));
        }

        goto failed;
    }

    rc = SCTL_OK;

failed:

    if (fd != -1) {
        close(fd);
    }

    unlink(tmp);

    return rc;
}


static int
sctl_kid_exists(const sc_keyring_t *kr, const char *kid)
{
    size_t  i;

    for (i = 0; i < kr->nkeys; i++) {
        if (strcmp(kr->keys[i].kid, kid) == 0) {
            return 1;
        }
    }

    return 0;
}


/* kid is either --kid or k<YYYYMMDDhhmmss>[-N], unused in kr */

static int
sctl_new_kid(sctl_ctx_t *ctx, const sc_keyring_t *kr, char *kid)
{
    int        n;
    char       base[SC_KID_MAX + 1];
    time_t     now;
    struct tm  tm;

    if (ctx->kid) {
        if (!sctl_kid_valid(ctx->kid, strlen(ctx->kid))) {
            return sctl_usage_error("--kid: \"%s\" is not 1..%d of "
                                    "[A-Za-z0-9_-]", ctx->kid, SC_KID_MAX);
        }

        if (kr && sctl_kid_exists(kr, ctx->kid)) {
            return sctl_usage_error("--kid: \"%s\" is already in %s",
                                    ctx->kid, ctx->args[0]);
        }

        strcpy(kid, ctx->kid);

        return SCTL_OK;
    }

    now = time(NULL);

    if (gmtime_r(&now, &tm) == NULL
        || strftime(base, sizeof(base), "k%Y%m%d%H%M%S", &tm) == 0)
    {
        sctl_error("cannot format the time");
        return SCTL_RUNTIME;
    }

    strcpy(kid, base);

    for (n = 2; kr && sctl_kid_exists(kr, kid); n++) {
        snprintf(kid, SC_KID_MAX + 1, "%.15s-%d", base, n & 0xffff);
    }

    return SCTL_OK;
}


/* "<kid> <base64url secret>\n" of a new random 32-byte secret */

static size_t
sctl_new_key_line(const char *kid, char *out)
{
    size_t          n;
    unsigned char   secret[32];

    sc_random(secret, sizeof(secret));

    n = strlen(kid);
    memcpy(out, kid, n);
    out[n++] = ' ';
    n += sc_b64url_encode(secret, sizeof(secret), out + n);
    out[n++] = '\n';

    sodium_memzero(secret, sizeof(secret));

    return n;
}


/* cookies */

static int
sctl_read_cookie_arg(const char *arg, char *buf, size_t size)
{
    size_t  n;

    if (strcmp(arg, "-") != 0) {
        n = strlen(arg);

        if (n >= size) {
            n = size - 1;
        }

        memcpy(buf, arg, n);
        buf[n] = '\0';

        return SCTL_OK;
    }

    if (fgets(buf, (int) size, stdin) == NULL) {
        buf[0] = '\0';
        return SCTL_OK;
    }

    n = strlen(buf);

    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                 || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
    {
        buf[--n] = '\0';
    }

    return SCTL_OK;
}


/*
 * Decodes the parts of a cookie without keys (for kid, public id and the
 * record hash even when the MAC does not verify), then verifies it with
 * sc_cookie_decode() when a key ring is loaded.
 */

static void
sctl_cookie_analyze(sctl_ctx_t *ctx, const char *in, sctl_cookie_t *c)
{
    size_t           len, klen;
    const char      *dot;
    unsigned char    mac[SC_MAC_LEN];

    memset(c, 0, sizeof(sctl_cookie_t));
    c->status = SC_MALFORMED;

    len = strlen(in);

    if (len > SC_COOKIE_MAX) {
        return;
    }

    dot = memchr(in, '.', len);

    if (dot == NULL) {
        return;
    }

    klen = (size_t) (dot - in);

    if (!sctl_kid_valid(in, klen)
        || len != klen + 2 + 2 * SC_B64_32_LEN
        || dot[1 + SC_B64_32_LEN] != '.')
    {
        return;
    }

    if (sc_b64url_decode32(dot + 1, c->token) != 0
        || sc_b64url_decode32(dot + 2 + SC_B64_32_LEN, mac) != 0)
    {
        sodium_memzero(c->token, SC_TOKEN_LEN);
        return;
    }

    memcpy(c->kid, in, klen);
    c->kid[klen] = '\0';

    if (ctx->keyring_loaded) {
        c->status = sc_cookie_decode(&ctx->keyring, in, len, c->token,
                                     &c->key_index);

        if (c->status == SC_MALFORMED) {
            sodium_memzero(c->token, SC_TOKEN_LEN);
            return;
        }

        if (c->status != SC_OK) {
            /* sc_cookie_decode() leaves token alone: decode it again */
            if (sc_b64_decode(dot + 1, SC_B64_32_LEN, c->token,
                              SC_TOKEN_LEN)
                != SC_TOKEN_LEN)
            {
                c->status = SC_MALFORMED;
                return;
            }
        }

    } else {
        c->status = SCTL_UNCHECKED;
    }

    sc_public_id(c->token, c->public_id);
    c->public_id[SC_PUBLIC_ID_LEN] = '\0';

    if (ctx->cluster_seeds) {
        sc_token_cluster_id(c->token, SC_TOKEN_LEN, c->hash);

    } else {
        sc_token_hash_hex(c->token, c->hash);
    }

    c->hash[SC_HASH_HEX_LEN] = '\0';
}


static const char *
sctl_mac_status(const sctl_cookie_t *c)
{
    switch (c->status) {

    case SC_OK:
        return "valid";

    case SC_UNKNOWN_KID:
        return "unknown_kid";

    case SC_BAD_MAC:
        return "bad_mac";

    case SCTL_UNCHECKED:
        return "unchecked";

    default:
        return "malformed";
    }
}


/* prints kid, public id, ref and MAC status; returns SCTL_OK or 3 */

static int
sctl_print_cookie(sctl_json_t *j, const sctl_cookie_t *c)
{
    if (c->status == SC_MALFORMED) {
        if (sctl_json_output) {
            sctl_json_str(j, "mac", "malformed", 9);
        }

        sctl_error("malformed cookie");

        return SCTL_NOT_FOUND;
    }

    if (sctl_json_output) {
        sctl_json_str(j, "kid", c->kid, strlen(c->kid));
        sctl_json_str(j, "id", c->public_id, SC_PUBLIC_ID_LEN);
        sctl_json_str(j, "ref", c->hash, SCTL_REF_LEN);
        sctl_json_str(j, "mac", sctl_mac_status(c),
                      strlen(sctl_mac_status(c)));

        if (c->status == SC_OK) {
            sctl_json_int(j, "key_index", (long long) c->key_index);
        }

    } else {
        printf("%-12s%s\n", "kid:", c->kid);
        printf("%-12s%s\n", "public id:", c->public_id);
        printf("%-12s%.*s\n", "ref:", SCTL_REF_LEN, c->hash);

        switch (c->status) {

        case SC_OK:
            printf("%-12svalid (key %zu%s)\n", "mac:", c->key_index,
                   c->key_index ? ", not the current key: re-issue"
                                : ", current");
            break;

        case SC_UNKNOWN_KID:
            printf("%-12sinvalid (unknown kid)\n", "mac:");
            break;

        case SC_BAD_MAC:
            printf("%-12sinvalid (bad MAC)\n", "mac:");
            break;

        default:
            printf("%-12snot checked (no --keys)\n", "mac:");
            break;
        }
    }

    if (c->status == SC_OK || c->status == SCTL_UNCHECKED) {
        return SCTL_OK;
    }

    return SCTL_NOT_FOUND;
}


/* Redis */

static int
sctl_redis_check(sctl_ctx_t *ctx, redisReply *r)
{
    if (r == NULL) {
        sctl_error("redis %s: %s", ctx->redis_addr,
                   ctx->cluster ? sctl_cluster_error(ctx->cluster)
                   : ctx->redis->errstr[0] ? ctx->redis->errstr
                                           : "no reply");
        return SCTL_RUNTIME;
    }

    if (r->type == REDIS_REPLY_ERROR) {
        sctl_error("redis %s: %.*s", ctx->redis_addr, (int) r->len, r->str);
        freeReplyObject(r);
        return SCTL_RUNTIME;
    }

    return SCTL_OK;
}


static redisReply *
sctl_redis_command(sctl_ctx_t *ctx, int argc, const char **argv,
    const size_t *argvlen)
{
    redisReply  *r;

    if (ctx->cluster) {
        r = sctl_cluster_command(ctx->cluster, argc, argv, argvlen);

    } else {
        r = redisCommandArgv(ctx->redis, argc, argv, argvlen);
    }

    if (sctl_redis_check(ctx, r) != SCTL_OK) {
        return NULL;
    }

    return r;
}


static int
sctl_read_password(sctl_ctx_t *ctx, char *pw, size_t size, size_t *len)
{
    int     rc;
    char   *nl;
    size_t  n;
    char    buf[SCTL_PASSWORD_MAX + 2];

    rc = sctl_read_file(ctx->password_file, buf, sizeof(buf), &n);

    if (rc != SCTL_OK) {
        sodium_memzero(buf, sizeof(buf));
        return rc;
    }

    nl = memchr(buf, '\n', n);

    if (nl) {
        n = (size_t) (nl - buf);
    }

    if (n && buf[n - 1] == '\r') {
        n--;
    }

    if (n == 0 || n > size) {
        sodium_memzero(buf, sizeof(buf));
        sctl_error("%s: the first line must be a password of 1..%zu bytes",
                   ctx->password_file, size);
        return SCTL_RUNTIME;
    }

    memcpy(pw, buf, n);
    *len = n;

    sodium_memzero(buf, sizeof(buf));

    return SCTL_OK;
}


static int sctl_redis_connect_one(sctl_ctx_t *ctx);


static redisContext *
sctl_cluster_connect(void *data, const char *host, int port)
{
    int            rc;
    sctl_ctx_t    *ctx = data;
    redisContext  *c;

    if (strlen(host) >= sizeof(ctx->host)) {
        return NULL;
    }

    strcpy(ctx->host, host);
    ctx->port = port;
    ctx->redis = NULL;

    sctl_quiet = 1;
    rc = sctl_redis_connect_one(ctx);
    sctl_quiet = 0;

    c = ctx->redis;
    ctx->redis = NULL;

    if (rc != SCTL_OK) {
        if (c) {
            redisFree(c);
        }

        return NULL;
    }

    return c;
}


static int
sctl_redis_connect(sctl_ctx_t *ctx)
{
    redisReply  *r;
    const char  *argv[1];
    size_t       argvlen[1];

    if (ctx->cluster_seeds == NULL) {
        return sctl_redis_connect_one(ctx);
    }

    ctx->cluster = sctl_cluster_create(ctx->cluster_seeds,
                                       sctl_cluster_connect, ctx);
    if (ctx->cluster == NULL) {
        sctl_error("redis %s: out of memory", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    /* reach the cluster now: a wrong address fails before anything */

    argv[0] = "PING";
    argvlen[0] = 4;

    r = sctl_redis_command(ctx, 1, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    freeReplyObject(r);

    return SCTL_OK;
}


static int
sctl_redis_connect_one(sctl_ctx_t *ctx)
{
    int              rc, argc;
    char             pw[SCTL_PASSWORD_MAX], db[24];
    size_t           pwlen, argvlen[3];
    const char      *argv[3];
    redisReply      *r;
    struct timeval   tv;

    tv.tv_sec = SCTL_TIMEOUT_SEC;
    tv.tv_usec = 0;

    if (ctx->unix_path) {
        ctx->redis = redisConnectUnixWithTimeout(ctx->unix_path, tv);

    } else {
        ctx->redis = redisConnectWithTimeout(ctx->host, ctx->port, tv);
    }

    if (ctx->redis == NULL) {
        sctl_error("redis %s: out of memory", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    if (ctx->redis->err) {
        sctl_error("redis %s: %s", ctx->redis_addr, ctx->redis->errstr);
        return SCTL_RUNTIME;
    }

    if (redisSetTimeout(ctx->redis, tv) != REDIS_OK) {
        sctl_error("redis %s: cannot set the timeout", ctx->redis_addr);
        return SCTL_RUNTIME;
    }

    if (ctx->password_file) {
        rc = sctl_read_password(ctx, pw, sizeof(pw), &pwlen);
        if (rc != SCTL_OK) {
            return rc;
        }

        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (ctx->user) {
            argv[argc] = ctx->user;
            argvlen[argc++] = strlen(ctx->user);
        }

        argv[argc] = pw;
        argvlen[argc++] = pwlen;

        r = redisCommandArgv(ctx->redis, argc, argv, argvlen);

        sodium_memzero(pw, sizeof(pw));

        if (sctl_redis_check(ctx, r) != SCTL_OK) {
            return SCTL_RUNTIME;
        }

        freeReplyObject(r);
    }

    if (ctx->given & SCTL_OPT_DB) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = (size_t) snprintf(db, sizeof(db), "%ld", ctx->db);

        r = sctl_redis_command(ctx, 2, argv, argvlen);
        if (r == NULL) {
            return SCTL_RUNTIME;
        }

        freeReplyObject(r);
    }

    return SCTL_OK;
}


static size_t
sctl_key(sctl_ctx_t *ctx, char *buf, const char *type, const char *id,
    size_t len)
{
    size_t  n, tlen;

    if (ctx->cluster_seeds) {
        /* the Cluster layout: hash tags (session_store.h) */

        if (strcmp(type, SS_KEY_SESSION) == 0) {
            return sc_cluster_session_key(ctx->prefix, ctx->prefix_len, id,
                                          buf, SCTL_KEY_MAX);
        }

        return sc_cluster_subject_key(ctx->prefix, ctx->prefix_len, id, len,
                                      buf, SCTL_KEY_MAX);
    }

    tlen = strlen(type);
    n = ctx->prefix_len;

    memcpy(buf, ctx->prefix, n);
    memcpy(buf + n, type, tlen);
    n += tlen;
    memcpy(buf + n, id, len);
    n += len;
    buf[n] = '\0';

    return n;
}


static int
sctl_reply_number(redisReply *r, long long *out)
{
    char  *end, buf[32];

    if (r->type == REDIS_REPLY_INTEGER) {
        *out = r->integer;
        return 0;
    }

    if (r->type != REDIS_REPLY_STRING || r->len == 0
        || r->len >= sizeof(buf))
    {
        *out = 0;
        return -1;
    }

    memcpy(buf, r->str, r->len);
    buf[r->len] = '\0';

    errno = 0;
    *out = strtoll(buf, &end, 10);

    if (*end != '\0' || errno) {
        *out = 0;
        return -1;
    }

    return 0;
}


/* revokes one record by hash: 1 revoked, 0 not found, -1 error */

static int
sctl_cluster_revoke_hash(sctl_ctx_t *ctx, const char *hash)
{
    int          rc, hops, more;
    char         skey[SCTL_KEY_MAX], next[SC_HASH_HEX_LEN + 1];
    size_t       i, argvlen[7];
    const char  *argv[7];
    redisReply  *r, *e;

    /*
     * SS_CLUSTER_SCRIPT_REVOKE on the record's slot; a renewal chain that
     * leaves the slot (a migrated record) is followed by one more script
     * on the next slot.
     */

    rc = 0;
    memcpy(next, hash, SC_HASH_HEX_LEN);
    next[SC_HASH_HEX_LEN] = '\0';

    for (hops = 0; hops < SS_CHAIN_HOPS; hops++) {
        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = SS_CLUSTER_SCRIPT_REVOKE;
        argvlen[1] = sizeof(SS_CLUSTER_SCRIPT_REVOKE) - 1;
        argv[2] = "1";
        argvlen[2] = 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, next,
                              SC_HASH_HEX_LEN);
        argv[4] = ctx->prefix;
        argvlen[4] = ctx->prefix_len;
        argv[5] = next;
        argvlen[5] = SC_TAG_HEX_LEN;
        argv[6] = next;
        argvlen[6] = SC_HASH_HEX_LEN;

        r = sctl_redis_command(ctx, 7, argv, argvlen);
        if (r == NULL) {
            return -1;
        }

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
            || r->element[0]->type != REDIS_REPLY_INTEGER)
        {
            sctl_error("redis %s: unexpected reply to the revoke script",
                       ctx->redis_addr);
            freeReplyObject(r);
            return -1;
        }

        if (r->element[0]->integer == 1) {
            rc = 1;
        }

        more = 0;

        for (i = 1; i < r->elements; i++) {
            e = r->element[i];

            if (e->type == REDIS_REPLY_STRING
                && e->len == SC_HASH_HEX_LEN)
            {
                memcpy(next, e->str, SC_HASH_HEX_LEN);
                more = 1;
            }
        }

        freeReplyObject(r);

        if (!more) {
            break;
        }
    }

    return rc;
}


static int
sctl_revoke_hash(sctl_ctx_t *ctx, const char *hash)
{
    int          rc;
    char         skey[SCTL_KEY_MAX];
    size_t       argvlen[6];
    const char  *argv[6];
    redisReply  *r;

    if (ctx->cluster_seeds) {
        return sctl_cluster_revoke_hash(ctx, hash);
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_REVOKE;
    argvlen[1] = sizeof(SS_SCRIPT_REVOKE) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = skey;
    argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, hash, SC_HASH_HEX_LEN);
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = hash;
    argvlen[5] = SC_HASH_HEX_LEN;

    r = sctl_redis_command(ctx, 6, argv, argvlen);
    if (r == NULL) {
        return -1;
    }

    if (r->type != REDIS_REPLY_INTEGER) {
        sctl_error("redis %s: unexpected reply to the revoke script",
                   ctx->redis_addr);
        freeReplyObject(r);
        return -1;
    }

    rc = r->integer == 1;

    freeReplyObject(r);

    return rc;
}


/* claims */

static int
sctl_build_claims(sctl_ctx_t *ctx, char *out, size_t size, size_t *len)
{
    int          i, k, n;
    char        *eq;
    size_t       nlen, o;
    const char  *arg, *p;
    sc_claim_t   claims[SC_CLAIMS_MAX + 1];

    static const char  hex[] = "0123456789ABCDEF";

    *len = 0;
    o = 0;
    n = ctx->nargs - 1;

    if (n > SC_CLAIMS_MAX) {
        return sctl_usage_error("more than %d claims", SC_CLAIMS_MAX);
    }

    for (i = 0; i < n; i++) {
        arg = ctx->args[i + 1];
        eq = strchr(arg, '=');

        if (eq == NULL) {
            return sctl_usage_error("claim \"%s\" is not NAME=VALUE", arg);
        }

        nlen = (size_t) (eq - arg);

        if (!sctl_claim_name_valid(arg, nlen)) {
            return sctl_usage_error("claim name \"%.*s\" is not 1..%d of "
                                    "[A-Za-z0-9_]", (int) nlen, arg,
                                    SC_CLAIM_NAME_MAX);
        }

        /* names compare case-insensitively, as in sc_claims_parse() */
        for (k = 0; k < i; k++) {
            if (strncasecmp(ctx->args[k + 1], arg, nlen + 1) == 0) {
                return sctl_usage_error("claim \"%.*s\" given twice",
                                        (int) nlen, arg);
            }
        }

        if (i > 0) {
            if (o + 2 > size) {
                goto too_long;
            }

            out[o++] = ';';
            out[o++] = ' ';
        }

        if (o + nlen + 1 > size) {
            goto too_long;
        }

        memcpy(out + o, arg, nlen + 1);
        o += nlen + 1;

        for (p = eq + 1; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                || (*p >= '0' && *p <= '9')
                || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            {
                if (o + 1 > size) {
                    goto too_long;
                }

                out[o++] = *p;
                continue;
            }

            if (o + 3 > size) {
                goto too_long;
            }

            out[o++] = '%';
            out[o++] = hex[(unsigned char) *p >> 4];
            out[o++] = hex[(unsigned char) *p & 0xf];
        }
    }

    if (sc_claims_parse(out, o, claims, SC_CLAIMS_MAX + 1) != n) {
        return sctl_usage_error("the claims are not valid");
    }

    *len = o;

    return SCTL_OK;

too_long:

    return sctl_usage_error("the claims are longer than %d bytes",
                            SC_CLAIMS_BYTES);
}


static void
sctl_print_claims_json(sctl_json_t *j, const char *cl, size_t len)
{
    int          i, n;
    char         name[SC_CLAIM_NAME_MAX + 1];
    size_t       vlen;
    sc_claim_t   claims[SC_CLAIMS_MAX];
    static char  value[SC_CLAIMS_BYTES];

    n = sc_claims_parse(cl, len, claims, SC_CLAIMS_MAX);

    if (n < 0) {
        sctl_json_null(j, "claims");
        return;
    }

    sctl_json_open(j, "claims", '{');

    for (i = 0; i < n; i++) {
        vlen = sc_pct_decode(claims[i].value, claims[i].value_len, value,
                             sizeof(value));

        if (claims[i].name_len > SC_CLAIM_NAME_MAX) {
            continue;
        }

        memcpy(name, claims[i].name, claims[i].name_len);
        name[claims[i].name_len] = '\0';

        if (vlen == (size_t) -1) {
            sctl_json_null(j, name);

        } else {
            sctl_json_str(j, name, value, vlen);
        }
    }

    sctl_json_close(j, '}');
}


/* commands */

static int
sctl_cmd_create(sctl_ctx_t *ctx)
{
    int            rc;
    char           skey[SCTL_KEY_MAX], ukey[SCTL_KEY_MAX];
    char           snow[24], sabs[24], sidle[24];
    char           cookie[SC_COOKIE_MAX + 1];
    char           hash[SC_HASH_HEX_LEN], pid[SC_PUBLIC_ID_LEN];
    long           idle, absolute;
    size_t         clen, cookie_len, argvlen[19];
    time_t         now;
    const char    *argv[19];
    redisReply    *r;
    sctl_json_t    j;
    unsigned char  token[SC_TOKEN_LEN];
    static char    claims[SC_CLAIMS_BYTES];

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    idle = SCTL_DEFAULT_IDLE;
    absolute = SCTL_DEFAULT_ABSOLUTE;

    if (ctx->idle && sctl_parse_time(ctx->idle, &idle) != 0) {
        return sctl_usage_error("--idle: \"%s\" is not a time", ctx->idle);
    }

    if (ctx->absolute && sctl_parse_time(ctx->absolute, &absolute) != 0) {
        return sctl_usage_error("--absolute: \"%s\" is not a time",
                                ctx->absolute);
    }

    rc = sctl_build_claims(ctx, claims, sizeof(claims), &clen);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    now = time(NULL);

    sc_random(token, SC_TOKEN_LEN);

    if (ctx->cluster_seeds) {
        /* the subject's tag first: the record on its index's slot */
        sc_subject_tag(ctx->args[0], strlen(ctx->args[0]), token);
        sc_token_cluster_id(token, SC_TOKEN_LEN, hash);

    } else {
        sc_token_hash_hex(token, hash);
    }

    sc_public_id(token, pid);

    cookie_len = sc_cookie_encode(&ctx->keyring, token, cookie,
                                  sizeof(cookie));
    sodium_memzero(token, SC_TOKEN_LEN);

    if (cookie_len == 0) {
        sctl_error("cannot encode the cookie");
        return SCTL_RUNTIME;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_CREATE;
    argvlen[1] = sizeof(SS_SCRIPT_CREATE) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = skey;
    argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, hash, SC_HASH_HEX_LEN);
    argv[4] = ukey;
    argvlen[4] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[5] = ctx->args[0];
    argvlen[5] = strlen(ctx->args[0]);
    argv[6] = snow;
    argvlen[6] = (size_t) snprintf(snow, sizeof(snow), "%lld",
                                   (long long) now);
    argv[7] = sabs;
    argvlen[7] = (size_t) snprintf(sabs, sizeof(sabs), "%lld",
                                   (long long) now + absolute);
    argv[8] = sidle;
    argvlen[8] = (size_t) snprintf(sidle, sizeof(sidle), "%ld", idle);
    argv[9] = claims;
    argvlen[9] = clen;
    argv[10] = hash;
    argvlen[10] = SC_HASH_HEX_LEN;

    /* no renewal; the metadata: public id, no address or agent, "via" */
    argv[11] = ctx->prefix;
    argvlen[11] = ctx->prefix_len;
    argv[12] = "";
    argvlen[12] = 0;
    argv[13] = "";
    argvlen[13] = 0;
    argv[14] = "0";
    argvlen[14] = 1;
    argv[15] = pid;
    argvlen[15] = SC_PUBLIC_ID_LEN;
    argv[16] = "";
    argvlen[16] = 0;
    argv[17] = "";
    argvlen[17] = 0;
    argv[18] = "sessionctl";
    argvlen[18] = 10;

    r = sctl_redis_command(ctx, 19, argv, argvlen);

    if (r == NULL) {
        sodium_memzero(cookie, sizeof(cookie));
        return SCTL_RUNTIME;
    }

    freeReplyObject(r);

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "cookie", cookie, cookie_len);
        sctl_json_str(&j, "id", pid, SC_PUBLIC_ID_LEN);
        sctl_json_int(&j, "expires", (long long) now + absolute);
        sctl_json_close(&j, '}');

    } else {
        fwrite(cookie, 1, cookie_len, stdout);
        putchar('\n');
    }

    sodium_memzero(cookie, sizeof(cookie));

    return SCTL_OK;
}


static int
sctl_cmd_show(sctl_ctx_t *ctx)
{
    int             rc;
    char            skey[SCTL_KEY_MAX];
    char            in[SC_COOKIE_MAX + 2];
    size_t          i, argvlen[4];
    long long       v[6];
    const char     *argv[4];
    redisReply     *r, *e;
    sctl_json_t     j;
    sctl_cookie_t   c;

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    r = NULL;

    if (c.status == SC_OK) {
        /* ask Redis first: nothing is printed if it fails */

        rc = sctl_redis_connect(ctx);
        if (rc != SCTL_OK) {
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return rc;
        }

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = SCTL_SCRIPT_SHOW;
        argvlen[1] = sizeof(SCTL_SCRIPT_SHOW) - 1;
        argv[2] = "1";
        argvlen[2] = 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, c.hash,
                              SC_HASH_HEX_LEN);

        r = sctl_redis_command(ctx, 4, argv, argvlen);
        if (r == NULL) {
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return SCTL_RUNTIME;
        }

        if (r->type != REDIS_REPLY_INTEGER
            && (r->type != REDIS_REPLY_ARRAY || r->elements != 6
                || r->element[0]->type != REDIS_REPLY_STRING))
        {
            sctl_error("redis %s: unexpected reply to the show script",
                       ctx->redis_addr);
            freeReplyObject(r);
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return SCTL_RUNTIME;
        }
    }

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
    }

    rc = sctl_print_cookie(&j, &c);

    if (rc != SCTL_OK) {
        if (sctl_json_output) {
            sctl_json_close(&j, '}');
        }

        if (c.status != SC_MALFORMED) {
            sctl_error("invalid cookie: %s", sctl_mac_status(&c));
        }

        sodium_memzero(&c, sizeof(sctl_cookie_t));
        return rc;
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    if (r->type == REDIS_REPLY_INTEGER) {
        if (sctl_json_output) {
            sctl_json_bool(&j, "found", 0);
            sctl_json_close(&j, '}');

        } else {
            printf("%-12snot found\n", "record:");
        }

        freeReplyObject(r);
        return SCTL_NOT_FOUND;
    }

    for (i = 1; i < 6; i++) {
        if (i != 4) {
            sctl_reply_number(r->element[i], &v[i]);
        }
    }

    e = r->element[0];

    if (sctl_json_output) {
        sctl_json_bool(&j, "found", 1);
        sctl_json_str(&j, "subject", e->str, e->len);
        sctl_json_int(&j, "created", v[1]);
        sctl_json_int(&j, "last", v[3]);
        sctl_json_int(&j, "expires", v[2]);
        sctl_json_int(&j, "ttl", v[5]);

        e = r->element[4];

        if (e->type == REDIS_REPLY_STRING) {
            sctl_print_claims_json(&j, e->str, e->len);
            sctl_json_str(&j, "claims_raw", e->str, e->len);

        } else {
            sctl_print_claims_json(&j, "", 0);
            sctl_json_str(&j, "claims_raw", "", 0);
        }

        sctl_json_close(&j, '}');

    } else {
        printf("%-12s", "subject:");
        sctl_text(e->str, e->len);
        putchar('\n');

        sctl_text_time("created:", v[1]);
        sctl_text_time("last seen:", v[3]);
        sctl_text_time("expires:", v[2]);
        printf("%-12s%lld\n", "ttl:", v[5]);

        e = r->element[4];
        printf("%-12s", "claims:");

        if (e->type == REDIS_REPLY_STRING && e->len) {
            sctl_text(e->str, e->len);

        } else {
            fputs("(none)", stdout);
        }

        putchar('\n');
    }

    freeReplyObject(r);

    return SCTL_OK;
}


static int
sctl_cmd_revoke(sctl_ctx_t *ctx)
{
    int             rc;
    char            in[SC_COOKIE_MAX + 2];
    sctl_cookie_t   c;

    if (ctx->given & SCTL_OPT_ID) {
        return sctl_revoke_id(ctx);
    }

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    if (c.status != SC_OK) {
        sctl_error("invalid cookie: %s", sctl_mac_status(&c));
        sodium_memzero(&c, sizeof(sctl_cookie_t));
        return SCTL_NOT_FOUND;
    }

    rc = sctl_redis_connect(ctx);

    if (rc == SCTL_OK) {
        switch (sctl_revoke_hash(ctx, c.hash)) {

        case 1:
            rc = SCTL_OK;
            break;

        case 0:
            sctl_error("session %s not found", c.public_id);
            rc = SCTL_NOT_FOUND;
            break;

        default:
            rc = SCTL_RUNTIME;
            break;
        }
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    return rc;
}


/* revoke SUBJECT --id ID: SS_SCRIPT_REVOKE_ID, as session_revoke does */

static int
sctl_revoke_id(sctl_ctx_t *ctx)
{
    int           rc;
    char          ukey[SCTL_KEY_MAX];
    size_t        i, argvlen[6];
    const char   *argv[6];
    redisReply   *r;

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    if (strlen(ctx->id) != SC_PUBLIC_ID_LEN) {
        return sctl_usage_error("--id: not a public id (%d hex digits)",
                                SC_PUBLIC_ID_LEN);
    }

    for (i = 0; i < SC_PUBLIC_ID_LEN; i++) {
        if (!((ctx->id[i] >= '0' && ctx->id[i] <= '9')
              || (ctx->id[i] >= 'a' && ctx->id[i] <= 'f')))
        {
            return sctl_usage_error("--id: not a public id (%d hex digits)",
                                    SC_PUBLIC_ID_LEN);
        }
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_REVOKE_ID;
    argvlen[1] = sizeof(SS_SCRIPT_REVOKE_ID) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = ctx->id;
    argvlen[5] = SC_PUBLIC_ID_LEN;

    r = sctl_redis_command(ctx, 6, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type == REDIS_REPLY_NIL) {
        sctl_error("session %s of that subject not found", ctx->id);
        rc = SCTL_NOT_FOUND;

    } else if (r->type == REDIS_REPLY_STRING) {
        rc = SCTL_OK;

    } else {
        sctl_error("redis %s: unexpected reply to the revoke script",
                   ctx->redis_addr);
        rc = SCTL_RUNTIME;
    }

    freeReplyObject(r);

    return rc;
}


static int
sctl_cmd_list(sctl_ctx_t *ctx)
{
    int           rc;
    char          ukey[SCTL_KEY_MAX], tag[SC_TAG_HEX_LEN];
    size_t        i, k, n, argvlen[7];
    long long     pruned, v[5];
    const char   *argv[7];
    redisReply   *r, *list, *e, *e2;
    sctl_json_t   j;

    static const size_t  cols[] = { 5, 8, 6, 7 };    /* id via ip ua */

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SCTL_SCRIPT_LIST;
    argvlen[1] = sizeof(SCTL_SCRIPT_LIST) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = ctx->args[0];
    argvlen[5] = strlen(ctx->args[0]);

    if (ctx->cluster_seeds) {
        argv[1] = SCTL_CLUSTER_SCRIPT_LIST;
        argvlen[1] = sizeof(SCTL_CLUSTER_SCRIPT_LIST) - 1;
        sc_subject_tag_hex(ctx->args[0], strlen(ctx->args[0]), tag);
        argv[6] = tag;
        argvlen[6] = SC_TAG_HEX_LEN;
    }

    r = sctl_redis_command(ctx, ctx->cluster_seeds ? 7 : 6, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || (r->element[1]->type != REDIS_REPLY_ARRAY
            && r->element[1]->type != REDIS_REPLY_NIL))
    {
        goto unexpected;
    }

    pruned = r->element[0]->integer;
    list = r->element[1];

    for (i = 0; i < list->elements; i++) {
        e = list->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 9
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len < SCTL_REF_LEN)
        {
            goto unexpected;
        }

        for (k = 5; k < 9; k++) {
            if (e->element[k]->type != REDIS_REPLY_STRING) {
                goto unexpected;
            }
        }
    }

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "subject", ctx->args[0], strlen(ctx->args[0]));
        sctl_json_open(&j, "sessions", '[');

    } else if (list->elements) {
        printf("%-18s%-22s%-22s%-22s%-8s%s\n",
               "REF", "CREATED", "LAST SEEN", "EXPIRES", "TTL",
               "ID  VIA  IP  USER AGENT");
    }

    for (i = 0; i < list->elements; i++) {
        e = list->element[i];

        for (k = 1; k < 5; k++) {
            sctl_reply_number(e->element[k], &v[k]);
        }

        if (sctl_json_output) {
            sctl_json_open(&j, NULL, '{');
            sctl_json_str(&j, "ref", e->element[0]->str, SCTL_REF_LEN);
            sctl_json_str(&j, "hash", e->element[0]->str,
                          e->element[0]->len);
            sctl_json_int(&j, "created", v[1]);
            sctl_json_int(&j, "last", v[3]);
            sctl_json_int(&j, "expires", v[2]);
            sctl_json_int(&j, "ttl", v[4]);
            sctl_json_str(&j, "id", e->element[5]->str,
                          e->element[5]->len);
            sctl_json_str(&j, "via", e->element[8]->str,
                          e->element[8]->len);
            sctl_json_str(&j, "ip", e->element[6]->str,
                          e->element[6]->len);
            sctl_json_str(&j, "user_agent", e->element[7]->str,
                          e->element[7]->len);
            sctl_json_close(&j, '}');

        } else {
            /* an index member is whatever was written to Redis */
            n = e->element[0]->len < SCTL_REF_LEN ? e->element[0]->len
                                                   : SCTL_REF_LEN;
            sctl_text(e->element[0]->str, n);
            printf("%*s", (int) (18 - n), "");
            sctl_text_time(NULL, v[1]);
            sctl_text_time(NULL, v[3]);
            sctl_text_time(NULL, v[2]);
            printf("%-8lld", v[4]);

            /* id, via, ip, User-Agent: untrusted, escaped; "-" if none */

            for (k = 0; k < 4; k++) {
                e2 = e->element[cols[k]];

                if (k) {
                    fputs("  ", stdout);
                }

                if (e2->len == 0) {
                    putchar('-');

                } else {
                    sctl_text(e2->str, e2->len);
                }
            }

            putchar('\n');
        }
    }

    if (sctl_json_output) {
        sctl_json_close(&j, ']');
        sctl_json_int(&j, "pruned", pruned);
        sctl_json_close(&j, '}');

    } else if (pruned) {
        sctl_error("pruned %lld stale index entr%s", pruned,
                   pruned == 1 ? "y" : "ies");
    }

    freeReplyObject(r);

    return SCTL_OK;

unexpected:

    sctl_error("redis %s: unexpected reply to the list script",
               ctx->redis_addr);
    freeReplyObject(r);

    return SCTL_RUNTIME;
}


static int
sctl_hash_valid(const redisReply *e)
{
    size_t  i;

    if (e->type != REDIS_REPLY_STRING || e->len != SC_HASH_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < e->len; i++) {
        if (!((e->str[i] >= '0' && e->str[i] <= '9')
              || (e->str[i] >= 'a' && e->str[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


static int
sctl_cmd_revoke_all(sctl_ctx_t *ctx)
{
    int           rc, n;
    char          ukey[SCTL_KEY_MAX], hash[SC_HASH_HEX_LEN + 1];
    size_t        i, argvlen[3];
    long long     count;
    const char   *argv[3];
    redisReply   *r, *e, *s;
    sctl_json_t   j;

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    argv[0] = "SMEMBERS";
    argvlen[0] = 8;
    argv[1] = ukey;
    argvlen[1] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));

    r = sctl_redis_command(ctx, 2, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        sctl_error("redis %s: unexpected reply to SMEMBERS",
                   ctx->redis_addr);
        freeReplyObject(r);
        return SCTL_RUNTIME;
    }

    count = 0;

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];
        n = 0;

        if (sctl_hash_valid(e)) {
            memcpy(hash, e->str, SC_HASH_HEX_LEN);
            hash[SC_HASH_HEX_LEN] = '\0';

            n = sctl_revoke_hash(ctx, hash);

            if (n == -1) {
                freeReplyObject(r);
                return SCTL_RUNTIME;
            }

            count += n;
        }

        if (n == 0) {
            /* a stale or foreign entry: the script removed nothing */
            argv[0] = "SREM";
            argvlen[0] = 4;
            argv[2] = e->str;
            argvlen[2] = e->len;

            s = sctl_redis_command(ctx, 3, argv, argvlen);
            if (s == NULL) {
                freeReplyObject(r);
                return SCTL_RUNTIME;
            }

            freeReplyObject(s);
        }
    }

    freeReplyObject(r);

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "subject", ctx->args[0], strlen(ctx->args[0]));
        sctl_json_int(&j, "revoked", count);
        sctl_json_close(&j, '}');

    } else {
        printf("%lld\n", count);
    }

    return SCTL_OK;
}


static int
sctl_print_kid(const char *kid, const char *file, long long nkeys)
{
    sctl_json_t  j;

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "kid", kid, strlen(kid));
        sctl_json_str(&j, "file", file, strlen(file));
        sctl_json_int(&j, "keys", nkeys);
        sctl_json_close(&j, '}');

    } else {
        printf("%s\n", kid);
    }

    return SCTL_OK;
}


static int
sctl_cmd_keygen(sctl_ctx_t *ctx)
{
    int            rc;
    char           kid[SC_KID_MAX + 1];
    char           line[SC_KID_MAX + 1 + SC_B64_32_LEN + 2];
    size_t         n;
    sc_keyring_t   kr;

    rc = sctl_new_kid(ctx, NULL, kid);
    if (rc != SCTL_OK) {
        return rc;
    }

    n = sctl_new_key_line(kid, line);

    rc = sctl_parse_keys("the new key", &kr, line, n);

    if (rc == SCTL_OK) {
        sc_keyring_wipe(&kr);
        rc = sctl_write_file(ctx->args[0], line, n,
                             (ctx->given & SCTL_OPT_FORCE) != 0, NULL);
    }

    sodium_memzero(line, sizeof(line));

    if (rc != SCTL_OK) {
        return rc;
    }

    return sctl_print_kid(kid, ctx->args[0], 1);
}


static int
sctl_cmd_rotate(sctl_ctx_t *ctx)
{
    int            rc;
    char           kid[SC_KID_MAX + 1], *path;
    size_t         n, len, nkeys;
    struct stat    st;
    sc_keyring_t   kr;
    static char    buf[SCTL_FILE_MAX + SC_KID_MAX + SC_B64_32_LEN + 2];

    /* replace the file a symbolic link points to, not the link */
    path = realpath(ctx->args[0], NULL);

    if (path == NULL) {
        sctl_error("%s: %s", ctx->args[0], strerror(errno));
        return SCTL_RUNTIME;
    }

    n = SC_KID_MAX + 1 + SC_B64_32_LEN + 1;

    rc = sctl_read_file(path, buf + n, SCTL_FILE_MAX, &len);

    if (rc == SCTL_OK) {
        rc = sctl_parse_keys(ctx->args[0], &kr, buf + n, len);
    }

    if (rc != SCTL_OK) {
        goto done;
    }

    nkeys = kr.nkeys;

    if (nkeys >= SC_MAX_KEYS) {
        sctl_error("%s: already %d keys, remove old ones first",
                   ctx->args[0], SC_MAX_KEYS);
        sc_keyring_wipe(&kr);
        rc = SCTL_RUNTIME;
        goto done;
    }

    rc = sctl_new_kid(ctx, &kr, kid);
    sc_keyring_wipe(&kr);

    if (rc != SCTL_OK) {
        goto done;
    }

    /* the new line goes right before the old contents */
    {
        char    line[SC_KID_MAX + 1 + SC_B64_32_LEN + 2];
        size_t  ln;

        ln = sctl_new_key_line(kid, line);
        memcpy(buf + n - ln, line, ln);
        sodium_memzero(line, sizeof(line));

        rc = sctl_parse_keys(ctx->args[0], &kr, buf + n - ln, ln + len);

        if (rc == SCTL_OK) {
            sc_keyring_wipe(&kr);

            if (stat(path, &st) == -1) {
                sctl_error("%s: %s", path, strerror(errno));
                rc = SCTL_RUNTIME;

            } else {
                rc = sctl_write_file(path, buf + n - ln, ln + len, 1, &st);
            }
        }
    }

done:

    sodium_memzero(buf, sizeof(buf));
    free(path);

    if (rc != SCTL_OK) {
        return rc;
    }

    return sctl_print_kid(kid, ctx->args[0], (long long) nkeys + 1);
}


static int
sctl_cmd_assertion_keygen(sctl_ctx_t *ctx)
{
    sctl_assertion_keys = 1;
    return sctl_cmd_keygen(ctx);
}


static int
sctl_cmd_assertion_rotate(sctl_ctx_t *ctx)
{
    sctl_assertion_keys = 1;
    return sctl_cmd_rotate(ctx);
}


static int
sctl_cmd_inspect(sctl_ctx_t *ctx)
{
    int             rc;
    char            in[SC_COOKIE_MAX + 2];
    sctl_json_t     j;
    sctl_cookie_t   c;

    if (ctx->keys_file) {
        rc = sctl_load_keys(ctx);
        if (rc != SCTL_OK) {
            return rc;
        }
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
    }

    rc = sctl_print_cookie(&j, &c);

    if (sctl_json_output) {
        sctl_json_close(&j, '}');
    }

    if (rc != SCTL_OK && c.status != SC_MALFORMED) {
        sctl_error("invalid cookie: %s", sctl_mac_status(&c));
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    return rc;
}


int
main(int argc, char **argv)
{
    int         rc;
    sctl_ctx_t  ctx;

    memset(&ctx, 0, sizeof(sctl_ctx_t));

    rc = sctl_parse_args(&ctx, argc, argv);

    if (rc == SCTL_HELP) {
        return fflush(stdout) == 0 ? SCTL_OK : SCTL_RUNTIME;
    }

    if (rc != SCTL_OK) {
        return rc;
    }

    if (sc_init() != SC_OK) {
        sctl_error("cannot initialise libsodium");
        return SCTL_RUNTIME;
    }

    rc = ctx.cmd->handler(&ctx);

    if (ctx.keyring_loaded) {
        sc_keyring_wipe(&ctx.keyring);
    }

    if (ctx.redis) {
        redisFree(ctx.redis);
    }

    if (fflush(stdout) != 0 || ferror(stdout)) {
        sctl_error("standard output: %s", strerror(errno));
        return SCTL_RUNTIME;
    }

    return rc;
}
