
/*
 * sessionctl: the command table, the options and their checks.
 */


#include "sessionctl.h"


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

    { "migrate", sctl_cmd_migrate, 0, 0,
      SCTL_OPT_FROM | SCTL_OPT_TO | SCTL_OPT_DRY_RUN | SCTL_OPT_CURSOR,
      "migrate --from HOST:PORT --to cluster=HOST:PORT[,...] [--dry-run]\n"
      "        [--cursor N]",
      "Copies the sessions of a single Redis (--from; --db applies to it)\n"
      "into a Redis Cluster (--to) without logging anyone out: each\n"
      "<prefix>s:<hash> becomes <prefix>s:{<hash[0..3]>}<hash> with its\n"
      "remaining TTL, its hash joins <prefix>u:{<tag>}<subject>, and the\n"
      "replay keys <prefix>r:* are copied.  A record already on the\n"
      "cluster is replaced only if the source was seen later (\"last\");\n"
      "run it again to copy what changed: a second run over the same data\n"
      "changes nothing.  --user, --password-file and --prefix apply to\n"
      "both sides.  Prints the counts (--json: an object); --dry-run\n"
      "writes nothing and counts what would be copied.  A run that\n"
      "stops names the SCAN cursor it reached: --cursor N goes on from\n"
      "there.\n" },
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
    { "--from",          SCTL_OPT_FROM,     1 },
    { "--to",            SCTL_OPT_TO,       1 },
    { "--dry-run",       SCTL_OPT_DRY_RUN,  0 },
    { "--cursor",        SCTL_OPT_CURSOR,   1 },
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
    "  migrate --from HOST:PORT --to cluster=HOST:PORT[,...] [--dry-run]\n"
    "          [--cursor N]\n"
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



int
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


int
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

int
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


int
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

        if ((ctx->given & SCTL_OPT_DB) && !(ctx->given & SCTL_OPT_TO)) {
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

const sctl_command_t *
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


void
sctl_command_help(const sctl_command_t *cmd)
{
    printf("Usage: sessionctl [global options] %s\n\n%s\n"
           "See \"sessionctl --help\" for the global options.\n",
           cmd->synopsis, cmd->help);
}


const char *
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


int
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
        if (ctx->given & SCTL_OPT_TO) {
            return sctl_usage_error("--to and --redis: give one");
        }

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

    case SCTL_OPT_FROM:
        ctx->from = val;
        break;

    case SCTL_OPT_CURSOR:
        if (val[0] == '\0' || strlen(val) > 20
            || strspn(val, "0123456789") != strlen(val))
        {
            return sctl_usage_error("--cursor: \"%s\" is not a SCAN cursor",
                                    val);
        }

        ctx->cursor = val;
        break;

    case SCTL_OPT_TO:
        /* the destination is the context's Redis: a cluster */
        if (ctx->given & SCTL_OPT_REDIS) {
            return sctl_usage_error("--to and --redis: give one");
        }

        ctx->redis_addr = val;
        break;

    default:
        /* flags: --json, --help, --force */
        break;
    }

    return SCTL_OK;
}


int
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

    if (ctx->cmd->handler == sctl_cmd_migrate) {
        if (!(ctx->given & SCTL_OPT_FROM) || !(ctx->given & SCTL_OPT_TO)) {
            return sctl_usage_error("usage: sessionctl %s",
                                    ctx->cmd->synopsis);
        }

        if (strncmp(ctx->redis_addr, "cluster=", 8) != 0) {
            return sctl_usage_error("--to: \"%s\" is not "
                                    "cluster=HOST:PORT[,HOST:PORT...]",
                                    ctx->redis_addr);
        }

        if (strncmp(ctx->from, "cluster=", 8) == 0) {
            return sctl_usage_error("--from: a single Redis, not a cluster");
        }
    }

    return sctl_check_redis_addr(ctx);
}


/* files */
