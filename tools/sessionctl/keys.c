
/*
 * sessionctl: key files and cookies.
 */


#include "sessionctl.h"


int
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
int  sctl_assertion_keys;


int
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


int
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

int
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


int
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

int
sctl_new_kid(sctl_ctx_t *ctx, const sc_keyring_t *kr, char *kid)
{
    int        n;
    char       base[SC_KID_MAX + 1];
    time_t     now;
    struct tm  tm;

    if (ctx->kid) {
        if (!sc_kid_valid(ctx->kid, strlen(ctx->kid))) {
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

size_t
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

int
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

void
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

    if (!sc_kid_valid(in, klen)
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
        sc_token_hash_hex(c->token, c->legacy);
        c->legacy[SC_HASH_HEX_LEN] = '\0';

    } else {
        sc_token_hash_hex(c->token, c->hash);
    }

    c->hash[SC_HASH_HEX_LEN] = '\0';
}


const char *
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

int
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
