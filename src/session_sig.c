
/*
 * ngx_http_session_module core: signed requests (HMAC-SHA256 webhooks).
 * The schemes and the calling sequence are described in session_sig.h.
 *
 * Header grammar (blank = SP / HT; blanks around a whole value ignored):
 *
 *   hexsig    = 64HEXDIG                       either case, 32 bytes
 *   timestamp = "0" / %x31-39 0*18DIGIT        at most INT64_MAX
 *   id        = 1*255( %x21-7E )
 *
 *   miniapp   hexsig
 *   github    "sha256=" hexsig
 *   slack     "v0=" hexsig
 *   stripe    item *( *blank "," *blank item )
 *             item = key "=" value; "t" once (a timestamp), "v1" 1..8
 *             times (a hexsig; malformed ones skipped, at least one
 *             well-formed), other keys ignored (v0, a future v2)
 *   standard  entry *( 1*SP entry )
 *             entry = version "," base64; "v1" 1..8 times (32 bytes of
 *             base64, strict, see sc_b64_decode; malformed ones skipped,
 *             at least one well-formed), other versions ignored
 *
 * A header value holding a byte outside %x20-7E (but HT) is invalid.
 *
 * A malformed v1 entry (stripe: not 64 hex digits; standard: not 32
 * bytes of base64) next to a well-formed one is skipped, as the senders'
 * reference verifiers do: it could not match anyway.
 *
 * HMAC-SHA256 is OpenSSL's (EVP_MAC "HMAC", digest "SHA256"); the MACs
 * are compared with CRYPTO_memcmp(), every candidate with every secret's
 * MAC, without an early exit.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "session_core.h"
#include "session_sig.h"


#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "session_sig.c needs OpenSSL 3 (EVP_MAC)"
#endif


#define SC_SIG_WHSEC  "whsec_"


static const sc_sig_scheme_info_t  sc_sig_schemes[] = {
    { "miniapp", "X-Miniapp-Signature", "X-Timestamp", NULL },
    { "github", "X-Hub-Signature-256", NULL, "X-GitHub-Delivery" },
    { "slack", "X-Slack-Signature", "X-Slack-Request-Timestamp", NULL },
    { "stripe", "Stripe-Signature", NULL, NULL },
    { "standard", "webhook-signature", "webhook-timestamp", "webhook-id" }
};

#define SC_SIG_NSCHEMES  (sizeof(sc_sig_schemes) / sizeof(sc_sig_schemes[0]))


static int sc_sig_secrets_fail(sc_sig_secrets_t *s, sc_error_t *err,
    unsigned line, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;


const sc_sig_scheme_info_t *
sc_sig_scheme_info(sc_sig_scheme_t scheme)
{
    if ((unsigned) scheme >= SC_SIG_NSCHEMES) {
        return NULL;
    }

    return &sc_sig_schemes[scheme];
}


int
sc_sig_scheme_by_name(const char *name, size_t len, sc_sig_scheme_t *scheme)
{
    size_t  i;

    for (i = 0; i < SC_SIG_NSCHEMES; i++) {
        if (strlen(sc_sig_schemes[i].name) == len
            && memcmp(sc_sig_schemes[i].name, name, len) == 0)
        {
            *scheme = (sc_sig_scheme_t) i;
            return SC_SIG_OK;
        }
    }

    return -1;
}


const char *
sc_sig_status_str(int rc)
{
    switch (rc) {
    case SC_SIG_OK:
        return "ok";
    case SC_SIG_MISSING:
        return "missing";
    case SC_SIG_INVALID:
        return "invalid";
    case SC_SIG_BAD:
        return "bad signature";
    case SC_SIG_STALE:
        return "stale";
    default:
        return "error";
    }
}


static int
sc_sig_is_blank(char c)
{
    return c == ' ' || c == '\t';
}


/* exactly 2 * SC_SIG_MAC_LEN hex digits to SC_SIG_MAC_LEN bytes */

static int
sc_sig_hex_mac(const char *p, size_t len, unsigned char *out)
{
    int     hi, lo;
    size_t  i;

    if (len != 2 * SC_SIG_MAC_LEN) {
        return 0;
    }

    for (i = 0; i < SC_SIG_MAC_LEN; i++) {
        hi = sc_hex_value((unsigned char) p[2 * i]);
        lo = sc_hex_value((unsigned char) p[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return 0;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 1;
}


static void
sc_sig_hex_encode(const unsigned char *in, size_t len, char *out)
{
    size_t  i;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
}


static int
sc_sig_parse_ts(const char *p, size_t len, int64_t *ts)
{
    if (len > SC_SIG_TS_DIGITS_MAX) {
        return 0;
    }

    return sc_dec_parse(p, len, ts);
}


static int
sc_sig_fail(sc_sig_req_t *req, int rc, const char *reason)
{
    req->reason = reason;
    return rc;
}


/*
 * Trims blanks around a header value and checks its bytes and length:
 * SC_SIG_MISSING if absent or blank, SC_SIG_INVALID if too long or with a
 * byte outside %x20-7E but HT.
 */

static int
sc_sig_value(sc_sig_req_t *req, const char *in, size_t len,
    const char **out, size_t *out_len, const char *what)
{
    size_t          i;
    const char     *s, *e;
    unsigned char   c;

    if (in == NULL) {
        req->reason = what;
        return SC_SIG_MISSING;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f) {
            return sc_sig_fail(req, SC_SIG_INVALID,
                               "control or non-ASCII byte in a header");
        }
    }

    s = in;
    e = in + len;

    while (s < e && sc_sig_is_blank(*s)) {
        s++;
    }

    while (e > s && sc_sig_is_blank(e[-1])) {
        e--;
    }

    if (s == e) {
        req->reason = what;
        return SC_SIG_MISSING;
    }

    if ((size_t) (e - s) > SC_SIG_HEADER_MAX) {
        return sc_sig_fail(req, SC_SIG_INVALID, "header value too long");
    }

    *out = s;
    *out_len = e - s;

    return SC_SIG_OK;
}


static int
sc_sig_get_ts(sc_sig_req_t *req, const sc_sig_headers_t *h,
    const char **ts, size_t *ts_len)
{
    int  rc;

    rc = sc_sig_value(req, h->timestamp, h->timestamp_len, ts, ts_len,
                      "timestamp header missing");
    if (rc != SC_SIG_OK) {
        return rc;
    }

    if (!sc_sig_parse_ts(*ts, *ts_len, &req->timestamp)) {
        return sc_sig_fail(req, SC_SIG_INVALID, "invalid timestamp");
    }

    req->has_timestamp = 1;

    return SC_SIG_OK;
}


static int
sc_sig_get_id(sc_sig_req_t *req, const sc_sig_headers_t *h)
{
    int          rc;
    size_t       i, len;
    const char  *id;

    rc = sc_sig_value(req, h->id, h->id_len, &id, &len, "id header missing");
    if (rc != SC_SIG_OK) {
        return rc;
    }

    if (len > SC_SIG_ID_MAX) {
        return sc_sig_fail(req, SC_SIG_INVALID, "id too long");
    }

    for (i = 0; i < len; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return sc_sig_fail(req, SC_SIG_INVALID, "invalid byte in id");
        }
    }

    memcpy(req->id, id, len);
    req->id[len] = '\0';
    req->id_len = len;

    return SC_SIG_OK;
}


/*
 * SC_SIG_MALFORMED (not a status of sc_sig_parse(), req->reason set) if
 * the value is not 64 hex digits: the callers with a single signature
 * make it SC_SIG_INVALID, stripe skips the entry.
 */

#define SC_SIG_MALFORMED  -100

static int
sc_sig_add_hex(sc_sig_req_t *req, const char *p, size_t len)
{
    unsigned char  mac[SC_SIG_MAC_LEN];

    if (!sc_sig_hex_mac(p, len, mac)) {
        return sc_sig_fail(req, SC_SIG_MALFORMED,
                           "signature is not 64 hex digits");
    }

    if (req->ncandidates == SC_SIG_CANDIDATES_MAX) {
        return sc_sig_fail(req, SC_SIG_INVALID, "too many signatures");
    }

    memcpy(req->candidates[req->ncandidates], mac, SC_SIG_MAC_LEN);

    req->ncandidates++;

    return SC_SIG_OK;
}


static int
sc_sig_parse_stripe(sc_sig_req_t *req, const char *p, size_t len,
    const char **ts, size_t *ts_len)
{
    int          rc;
    size_t       klen, vlen;
    const char  *end, *item, *item_end, *eq;

    end = p + len;
    *ts = NULL;

    for ( ;; ) {
        item_end = memchr(p, ',', end - p);
        if (item_end == NULL) {
            item_end = end;
        }

        item = p;
        p = item_end;

        while (item < item_end && sc_sig_is_blank(*item)) {
            item++;
        }

        while (item_end > item && sc_sig_is_blank(item_end[-1])) {
            item_end--;
        }

        eq = memchr(item, '=', item_end - item);

        if (eq == NULL || eq == item) {
            return sc_sig_fail(req, SC_SIG_INVALID,
                               "expected \"key=value\" in Stripe-Signature");
        }

        klen = eq - item;
        vlen = item_end - (eq + 1);

        if (klen == 1 && item[0] == 't') {
            if (*ts != NULL) {
                return sc_sig_fail(req, SC_SIG_INVALID,
                                   "duplicate t= in Stripe-Signature");
            }

            *ts = eq + 1;
            *ts_len = vlen;

            if (!sc_sig_parse_ts(*ts, *ts_len, &req->timestamp)) {
                return sc_sig_fail(req, SC_SIG_INVALID, "invalid timestamp");
            }

            req->has_timestamp = 1;

        } else if (klen == 2 && item[0] == 'v' && item[1] == '1') {
            rc = sc_sig_add_hex(req, eq + 1, vlen);

            if (rc == SC_SIG_MALFORMED) {
                /* as Stripe's libraries: an entry that cannot match */
                req->nskipped++;

            } else if (rc != SC_SIG_OK) {
                return rc;
            }
        }

        if (p == end) {
            break;
        }

        p++;
    }

    if (*ts == NULL) {
        return sc_sig_fail(req, SC_SIG_INVALID,
                           "no t= in Stripe-Signature");
    }

    if (req->ncandidates == 0) {
        return sc_sig_fail(req, SC_SIG_INVALID,
                           req->nskipped ? "signature is not 64 hex digits"
                                         : "no v1= in Stripe-Signature");
    }

    return SC_SIG_OK;
}


static int
sc_sig_parse_standard(sc_sig_req_t *req, const char *p, size_t len)
{
    size_t          n;
    const char     *end, *entry, *comma;
    unsigned char   mac[SC_SIG_MAC_LEN];

    end = p + len;

    while (p < end) {

        if (sc_sig_is_blank(*p)) {
            p++;
            continue;
        }

        entry = p;

        while (p < end && !sc_sig_is_blank(*p)) {
            p++;
        }

        comma = memchr(entry, ',', p - entry);

        if (comma == NULL || comma == entry) {
            return sc_sig_fail(req, SC_SIG_INVALID,
                               "expected \"v1,<base64>\" in "
                               "webhook-signature");
        }

        if (comma - entry != 2 || entry[0] != 'v' || entry[1] != '1') {
            /* another version, "v1a" (Ed25519) say: not ours */
            continue;
        }

        n = sc_b64_decode(comma + 1, p - (comma + 1), mac, SC_SIG_MAC_LEN);

        if (n != SC_SIG_MAC_LEN) {
            /* as the Standard Webhooks libraries: it cannot match */
            req->nskipped++;
            continue;
        }

        if (req->ncandidates == SC_SIG_CANDIDATES_MAX) {
            return sc_sig_fail(req, SC_SIG_INVALID, "too many signatures");
        }

        memcpy(req->candidates[req->ncandidates], mac, SC_SIG_MAC_LEN);
        req->ncandidates++;
    }

    if (req->ncandidates == 0) {
        return sc_sig_fail(req, SC_SIG_INVALID,
                           req->nskipped
                           ? "signature is not 32 bytes of base64"
                           : "no v1 signature in webhook-signature");
    }

    return SC_SIG_OK;
}


static void
sc_sig_prefix(sc_sig_req_t *req, const char *s, size_t len)
{
    /* the callers' lengths add up to at most SC_SIG_PREFIX_MAX */
    memcpy(req->prefix + req->prefix_len, s, len);
    req->prefix_len += len;
}


int
sc_sig_parse(sc_sig_req_t *req, sc_sig_scheme_t scheme,
    const sc_sig_headers_t *h)
{
    int          rc;
    size_t       len, ts_len;
    const char  *sig, *ts;

    memset(req, 0, sizeof(sc_sig_req_t));

    req->scheme = scheme;

    if ((unsigned) scheme >= SC_SIG_NSCHEMES) {
        return sc_sig_fail(req, SC_SIG_INVALID, "unknown scheme");
    }

    rc = sc_sig_value(req, h->signature, h->signature_len, &sig, &len,
                      "signature header missing");
    if (rc != SC_SIG_OK) {
        return rc;
    }

    ts = NULL;
    ts_len = 0;

    switch (scheme) {

    case SC_SIG_MINIAPP:
        rc = sc_sig_add_hex(req, sig, len);
        if (rc != SC_SIG_OK) {
            return (rc == SC_SIG_MALFORMED) ? SC_SIG_INVALID : rc;
        }

        rc = sc_sig_get_ts(req, h, &ts, &ts_len);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        sc_sig_prefix(req, ts, ts_len);
        sc_sig_prefix(req, ".", 1);
        break;

    case SC_SIG_GITHUB:
        if (len < sizeof("sha256=") - 1
            || memcmp(sig, "sha256=", sizeof("sha256=") - 1) != 0)
        {
            return sc_sig_fail(req, SC_SIG_INVALID,
                               "expected \"sha256=<hex>\"");
        }

        rc = sc_sig_add_hex(req, sig + sizeof("sha256=") - 1,
                            len - (sizeof("sha256=") - 1));
        if (rc != SC_SIG_OK) {
            return (rc == SC_SIG_MALFORMED) ? SC_SIG_INVALID : rc;
        }

        rc = sc_sig_get_id(req, h);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        break;

    case SC_SIG_SLACK:
        if (len < sizeof("v0=") - 1
            || memcmp(sig, "v0=", sizeof("v0=") - 1) != 0)
        {
            return sc_sig_fail(req, SC_SIG_INVALID, "expected \"v0=<hex>\"");
        }

        rc = sc_sig_add_hex(req, sig + sizeof("v0=") - 1,
                            len - (sizeof("v0=") - 1));
        if (rc != SC_SIG_OK) {
            return (rc == SC_SIG_MALFORMED) ? SC_SIG_INVALID : rc;
        }

        rc = sc_sig_get_ts(req, h, &ts, &ts_len);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        sc_sig_prefix(req, "v0:", 3);
        sc_sig_prefix(req, ts, ts_len);
        sc_sig_prefix(req, ":", 1);
        break;

    case SC_SIG_STRIPE:
        rc = sc_sig_parse_stripe(req, sig, len, &ts, &ts_len);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        sc_sig_prefix(req, ts, ts_len);
        sc_sig_prefix(req, ".", 1);
        break;

    default: /* SC_SIG_STANDARD */
        rc = sc_sig_parse_standard(req, sig, len);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        rc = sc_sig_get_ts(req, h, &ts, &ts_len);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        rc = sc_sig_get_id(req, h);
        if (rc != SC_SIG_OK) {
            return rc;
        }

        sc_sig_prefix(req, req->id, req->id_len);
        sc_sig_prefix(req, ".", 1);
        sc_sig_prefix(req, ts, ts_len);
        sc_sig_prefix(req, ".", 1);
        break;
    }

    return SC_SIG_OK;
}


int
sc_sig_check_ts(int64_t ts, int64_t now, int64_t tolerance)
{
    uint64_t  d;

    if (tolerance < 0) {
        return SC_SIG_STALE;
    }

    /* modulo 2^64 the difference is exact whichever is larger */

    d = (ts >= now) ? (uint64_t) ts - (uint64_t) now
                    : (uint64_t) now - (uint64_t) ts;

    return (d <= (uint64_t) tolerance) ? SC_SIG_OK : SC_SIG_STALE;
}


int
sc_sig_check_time(const sc_sig_req_t *req, int64_t now, int64_t tolerance)
{
    if (!req->has_timestamp) {
        return SC_SIG_OK;
    }

    return sc_sig_check_ts(req->timestamp, now, tolerance);
}


/* secrets file */

void
sc_sig_secrets_wipe(sc_sig_secrets_t *s)
{
    OPENSSL_cleanse(s, sizeof(sc_sig_secrets_t));
}


static int
sc_sig_secrets_fail(sc_sig_secrets_t *s, sc_error_t *err, unsigned line,
    const char *fmt, ...)
{
    va_list  args;
    char     msg[sizeof(err->msg)];

    sc_sig_secrets_wipe(s);

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    (void) sc_error_set(err, line, "%s", msg);

    return SC_SIG_ERROR;
}


int
sc_sig_secrets_parse(sc_sig_secrets_t *s, sc_sig_scheme_t scheme,
    const char *buf, size_t len, sc_error_t *err)
{
    size_t            i, n, slen, pad;
    unsigned          line;
    const char       *p, *end, *eol, *next, *b, *e;
    unsigned char     c;
    sc_sig_secret_t  *sec;

    sc_sig_secrets_wipe(s);

    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }

    if ((unsigned) scheme >= SC_SIG_NSCHEMES) {
        return sc_sig_secrets_fail(s, err, 0, "unknown scheme");
    }

    p = buf;
    end = buf + len;
    line = 0;

    while (p < end) {
        line++;

        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        next = (eol < end) ? eol + 1 : end;

        b = p;
        e = eol;
        p = next;

        if (e > b && e[-1] == '\r') {
            e--;
        }

        for (i = 0; i < (size_t) (e - b); i++) {
            c = (unsigned char) b[i];

            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                return sc_sig_secrets_fail(s, err, line,
                                           "control byte in the secrets "
                                           "file");
            }
        }

        while (b < e && sc_sig_is_blank(*b)) {
            b++;
        }

        while (e > b && sc_sig_is_blank(e[-1])) {
            e--;
        }

        if (b == e || *b == '#') {
            continue;
        }

        if (s->nsecrets == SC_SIG_SECRETS_MAX) {
            return sc_sig_secrets_fail(s, err, line,
                                       "too many secrets (at most %d)",
                                       SC_SIG_SECRETS_MAX);
        }

        sec = &s->secrets[s->nsecrets];
        slen = e - b;

        if (scheme != SC_SIG_STANDARD) {
            if (slen > SC_SIG_SECRET_MAX) {
                return sc_sig_secrets_fail(s, err, line,
                                           "secret is too long, at most %d "
                                           "bytes are allowed",
                                           SC_SIG_SECRET_MAX);
            }

            memcpy(sec->key, b, slen);
            sec->len = slen;

        } else {
            if (slen >= sizeof(SC_SIG_WHSEC) - 1
                && memcmp(b, SC_SIG_WHSEC, sizeof(SC_SIG_WHSEC) - 1) == 0)
            {
                b += sizeof(SC_SIG_WHSEC) - 1;
                slen -= sizeof(SC_SIG_WHSEC) - 1;
            }

            /* the decoded size, assuming the base64 is valid */

            pad = 0;

            while (pad < 2 && pad < slen && b[slen - 1 - pad] == '=') {
                pad++;
            }

            if ((slen - pad) / 4 * 3 + ((slen - pad) % 4) * 3 / 4
                > SC_SIG_SECRET_MAX)
            {
                return sc_sig_secrets_fail(s, err, line,
                                           "secret is too long, at most %d "
                                           "bytes are allowed",
                                           SC_SIG_SECRET_MAX);
            }

            n = sc_b64_decode(b, slen, sec->key, sizeof(sec->key));

            if (n == (size_t) -1 || n == 0) {
                return sc_sig_secrets_fail(s, err, line,
                                           "invalid base64 in secret "
                                           "(expected whsec_<base64>)");
            }

            sec->len = n;
        }

        for (i = 0; i < s->nsecrets; i++) {
            if (s->secrets[i].len == sec->len
                && CRYPTO_memcmp(s->secrets[i].key, sec->key, sec->len)
                   == 0)
            {
                return sc_sig_secrets_fail(s, err, line,
                                           "duplicate secret (same as "
                                           "secret %zu)", i + 1);
            }
        }

        s->nsecrets++;
    }

    if (s->nsecrets == 0) {
        return sc_sig_secrets_fail(s, err, 0, "no secret found");
    }

    return SC_SIG_OK;
}


/* verification */

void
sc_sig_cleanup(sc_sig_ctx_t *ctx)
{
    size_t  i;

    for (i = 0; i < SC_SIG_SECRETS_MAX; i++) {
        if (ctx->mac[i] != NULL) {
            /* EVP_MAC_CTX_free() cleanses the key schedule */
            EVP_MAC_CTX_free((EVP_MAC_CTX *) ctx->mac[i]);
            ctx->mac[i] = NULL;
        }
    }

    ctx->nmac = 0;

    if (ctx->digest != NULL) {
        EVP_MD_CTX_free((EVP_MD_CTX *) ctx->digest);
        ctx->digest = NULL;
    }
}


int
sc_sig_init(sc_sig_ctx_t *ctx, const sc_sig_secrets_t *s,
    const sc_sig_req_t *req)
{
    size_t        i;
    EVP_MAC      *mac;
    OSSL_PARAM    params[2];
    EVP_MAC_CTX  *mctx;

    memset(ctx, 0, sizeof(sc_sig_ctx_t));

    if (s->nsecrets == 0 || s->nsecrets > SC_SIG_SECRETS_MAX
        || req->ncandidates == 0)
    {
        ctx->failed = 1;
        return SC_SIG_ERROR;
    }

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) {
        ctx->failed = 1;
        return SC_SIG_ERROR;
    }

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    for (i = 0; i < s->nsecrets; i++) {
        mctx = EVP_MAC_CTX_new(mac);
        if (mctx == NULL) {
            goto failed;
        }

        ctx->mac[i] = mctx;
        ctx->nmac = i + 1;

        if (!EVP_MAC_init(mctx, s->secrets[i].key, s->secrets[i].len,
                          params))
        {
            goto failed;
        }

        if (req->prefix_len
            && !EVP_MAC_update(mctx, (const unsigned char *) req->prefix,
                               req->prefix_len))
        {
            goto failed;
        }
    }

    /* the contexts hold their own references */
    EVP_MAC_free(mac);
    mac = NULL;

    /* the replay id: SHA-256 of the signed content, whatever signs it */

    ctx->digest = EVP_MD_CTX_new();

    if (ctx->digest == NULL
        || !EVP_DigestInit_ex((EVP_MD_CTX *) ctx->digest, EVP_sha256(),
                              NULL)
        || (req->prefix_len
            && !EVP_DigestUpdate((EVP_MD_CTX *) ctx->digest, req->prefix,
                                 req->prefix_len)))
    {
        goto failed;
    }

    return SC_SIG_OK;

failed:

    if (mac) {
        EVP_MAC_free(mac);
    }

    sc_sig_cleanup(ctx);
    ctx->failed = 1;

    return SC_SIG_ERROR;
}


int
sc_sig_update(sc_sig_ctx_t *ctx, const void *data, size_t len)
{
    size_t  i;

    if (ctx->failed || ctx->nmac == 0) {
        ctx->failed = 1;
        return SC_SIG_ERROR;
    }

    if (len == 0) {
        return SC_SIG_OK;
    }

    for (i = 0; i < ctx->nmac; i++) {
        if (!EVP_MAC_update((EVP_MAC_CTX *) ctx->mac[i], data, len)) {
            ctx->failed = 1;
            sc_sig_cleanup(ctx);
            return SC_SIG_ERROR;
        }
    }

    if (!EVP_DigestUpdate((EVP_MD_CTX *) ctx->digest, data, len)) {
        ctx->failed = 1;
        sc_sig_cleanup(ctx);
        return SC_SIG_ERROR;
    }

    return SC_SIG_OK;
}


int
sc_sig_final(sc_sig_ctx_t *ctx, sc_sig_req_t *req)
{
    int            match, eq;
    size_t         i, j, n, outl, secret;
    unsigned char  macs[SC_SIG_SECRETS_MAX][SC_SIG_MAC_LEN];
    unsigned char  digest[EVP_MAX_MD_SIZE];

    if (ctx->failed || ctx->nmac == 0) {
        sc_sig_cleanup(ctx);
        return SC_SIG_ERROR;
    }

    n = ctx->nmac;

    if (ctx->digest == NULL
        || !EVP_DigestFinal_ex((EVP_MD_CTX *) ctx->digest, digest, NULL))
    {
        sc_sig_cleanup(ctx);
        ctx->failed = 1;
        return SC_SIG_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (!EVP_MAC_final((EVP_MAC_CTX *) ctx->mac[i], macs[i], &outl,
                           SC_SIG_MAC_LEN)
            || outl != SC_SIG_MAC_LEN)
        {
            OPENSSL_cleanse(macs, sizeof(macs));
            sc_sig_cleanup(ctx);
            ctx->failed = 1;
            return SC_SIG_ERROR;
        }
    }

    sc_sig_cleanup(ctx);

    /* every pair, no early exit; the first match is remembered */

    match = 0;
    secret = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < req->ncandidates; j++) {
            eq = CRYPTO_memcmp(macs[i], req->candidates[j], SC_SIG_MAC_LEN)
                 == 0;

            if (eq && !match) {
                match = 1;
                secret = i;
            }
        }
    }

    OPENSSL_cleanse(macs, sizeof(macs));

    if (!match) {
        return SC_SIG_BAD;
    }

    req->secret_index = secret;

    sc_sig_hex_encode(digest, SC_SIG_MAC_LEN, req->replay_id);
    req->replay_id_len = 2 * SC_SIG_MAC_LEN;
    req->replay_id[req->replay_id_len] = '\0';

    return SC_SIG_OK;
}


int
sc_sig_verify(sc_sig_req_t *req, const sc_sig_secrets_t *s,
    const void *body, size_t len)
{
    int           rc;
    sc_sig_ctx_t  ctx;

    rc = sc_sig_init(&ctx, s, req);
    if (rc != SC_SIG_OK) {
        return rc;
    }

    rc = sc_sig_update(&ctx, body, len);
    if (rc != SC_SIG_OK) {
        sc_sig_cleanup(&ctx);
        return rc;
    }

    return sc_sig_final(&ctx, req);
}
