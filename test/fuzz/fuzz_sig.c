
/*
 * libFuzzer target: signed requests (src/session_sig.h), the header
 * parser, the streaming verifier, the time check and the secrets file.
 *
 * Input: byte 0 picks the scheme, byte 1 the absent headers (bits 0..2:
 * signature, timestamp, id) and a split point of the body (bits 3..7),
 * bytes 2..9 "now" and 10..17 the tolerance (int64, little endian); then
 * "<signature>\n<timestamp>\n<id>\n<body>".  The whole input after byte 0
 * is also parsed as a secrets file.
 *
 * Invariants checked (beyond the sanitizers):
 *   - parse returns OK, MISSING or INVALID, with a reason unless OK;
 *     MISSING when the signature header is absent; never OK when a header
 *     holds a byte outside %x20-7E but HT;
 *   - on OK: 1..8 candidates; the prefix is exactly the scheme's
 *     "<ts>." / "v0:<ts>:" / "<id>.<ts>." / "" spelled from the parsed
 *     timestamp and id; the id is NUL terminated printable ASCII;
 *   - verification against two fixed secrets agrees with an independent
 *     HMAC-SHA256 (libsodium's): OK exactly when a candidate equals the
 *     MAC of one secret; fed in two pieces or in one, the same result;
 *     with the right MAC planted the request verifies, with the right
 *     secret_index and a replay id that is the SHA-256 of the signed
 *     content (libsodium's), the same whichever secret's MAC is planted;
 *     with a bit flipped it does not;
 *   - the time check equals |now - ts| <= tolerance computed in 128 bits;
 *   - secrets file: on success 1..8 secrets of 1..256 bytes, found in the
 *     input as written (but for standard, decoded), without a control
 *     byte but HT; distinct; on error the set is wiped and the message
 *     non-empty; with LF turned into CRLF the same result.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_sig.h"
#include "fuzz.h"


#define SECRET_A  "first fuzz secret"


int LLVMFuzzerInitialize(int *argc, char ***argv);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    if (sc_init() != SC_OK) {
        abort();
    }

    return 0;
}


static int64_t
get_i64(const uint8_t *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }

    return (int64_t) v;
}


static int
bad_bytes(const char *p, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; p != NULL && i < len; i++) {
        c = (unsigned char) p[i];

        if ((c < 0x20 && c != '\t') || c >= 0x7f) {
            return 1;
        }
    }

    return 0;
}


/* secrets may hold UTF-8, not C0 controls (but HT) or DEL */

static int
control_bytes(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


static int
contains(const char *hay, size_t len, const unsigned char *needle, size_t n)
{
    size_t  i;

    for (i = 0; i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
ref_mac(const sc_sig_secret_t *sec, const sc_sig_req_t *req,
    const char *body, size_t len, unsigned char *out)
{
    crypto_auth_hmacsha256_state  st;

    crypto_auth_hmacsha256_init(&st, sec->key, sec->len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *) req->prefix,
                                  req->prefix_len);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *) body, len);
    crypto_auth_hmacsha256_final(&st, out);
}


static int
verify_split(sc_sig_req_t *req, const sc_sig_secrets_t *s, const char *body,
    size_t len, size_t split)
{
    sc_sig_ctx_t  ctx;

    if (split > len) {
        split = len;
    }

    CHECK(sc_sig_init(&ctx, s, req) == SC_SIG_OK);
    CHECK(sc_sig_update(&ctx, body, split) == SC_SIG_OK);
    CHECK(sc_sig_update(&ctx, body + split, len - split) == SC_SIG_OK);

    return sc_sig_final(&ctx, req);
}


static void
check_prefix(const sc_sig_req_t *req)
{
    int   n;
    char  want[SC_SIG_PREFIX_MAX + 64];

    CHECK(req->id_len <= SC_SIG_ID_MAX && req->id[req->id_len] == '\0');
    CHECK(strlen(req->id) == req->id_len);
    CHECK(!bad_bytes(req->id, req->id_len));
    CHECK(memchr(req->id, ' ', req->id_len) == NULL);
    CHECK(req->timestamp >= 0);

    switch (req->scheme) {
    case SC_SIG_MINIAPP:
    case SC_SIG_STRIPE:
        CHECK(req->has_timestamp && req->id_len == 0);
        n = snprintf(want, sizeof(want), "%lld.", (long long) req->timestamp);
        break;
    case SC_SIG_SLACK:
        CHECK(req->has_timestamp && req->id_len == 0);
        n = snprintf(want, sizeof(want), "v0:%lld:",
                     (long long) req->timestamp);
        break;
    case SC_SIG_GITHUB:
        CHECK(!req->has_timestamp && req->id_len > 0);
        n = 0;
        break;
    default:
        CHECK(req->has_timestamp && req->id_len > 0);
        n = snprintf(want, sizeof(want), "%s.%lld.", req->id,
                     (long long) req->timestamp);
        break;
    }

    CHECK(n >= 0 && (size_t) n == req->prefix_len);
    CHECK(req->prefix_len <= SC_SIG_PREFIX_MAX);
    CHECK(memcmp(req->prefix, want, n) == 0);
}


static void
check_verify(const sc_sig_req_t *parsed, const char *body, size_t len,
    size_t split)
{
    int                        rc, match, want_idx, found;
    char                       hex[2 * SC_SIG_MAC_LEN + 1];
    size_t                     i, j;
    sc_sig_req_t               req, req2;
    sc_sig_secrets_t           s;
    unsigned char              mac[2][SC_SIG_MAC_LEN];
    unsigned char              digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state   sha;

    memset(&s, 0, sizeof(s));
    memcpy(s.secrets[0].key, SECRET_A, sizeof(SECRET_A) - 1);
    s.secrets[0].len = sizeof(SECRET_A) - 1;

    for (i = 0; i < 32; i++) {
        s.secrets[1].key[i] = (unsigned char) i;
    }

    s.secrets[1].len = 32;
    s.nsecrets = 2;

    ref_mac(&s.secrets[0], parsed, body, len, mac[0]);
    ref_mac(&s.secrets[1], parsed, body, len, mac[1]);

    match = 0;

    for (i = 0; i < parsed->ncandidates; i++) {
        match |= memcmp(parsed->candidates[i], mac[0], SC_SIG_MAC_LEN) == 0
                 || memcmp(parsed->candidates[i], mac[1], SC_SIG_MAC_LEN)
                    == 0;
    }

    req = *parsed;
    rc = sc_sig_verify(&req, &s, body, len);
    CHECK(rc == (match ? SC_SIG_OK : SC_SIG_BAD));

    req = *parsed;
    CHECK(verify_split(&req, &s, body, len, split) == rc);

    /* the right MAC planted as the last candidate */

    req2 = *parsed;
    memcpy(req2.candidates[req2.ncandidates - 1], mac[1], SC_SIG_MAC_LEN);

    want_idx = -1;
    found = 0;

    for (i = 0; i < 2 && !found; i++) {
        for (j = 0; j < req2.ncandidates; j++) {
            if (memcmp(req2.candidates[j], mac[i], SC_SIG_MAC_LEN) == 0) {
                want_idx = (int) i;
                found = 1;
                break;
            }
        }
    }

    CHECK(found);

    req = req2;
    CHECK(verify_split(&req, &s, body, len, split) == SC_SIG_OK);
    CHECK(req.secret_index == (size_t) want_idx);

    /* the replay id: SHA-256 of the signed content, whatever matched */

    crypto_hash_sha256_init(&sha);
    crypto_hash_sha256_update(&sha, (const unsigned char *) parsed->prefix,
                              parsed->prefix_len);
    crypto_hash_sha256_update(&sha, body, len);
    crypto_hash_sha256_final(&sha, digest);

    for (i = 0; i < SC_SIG_MAC_LEN; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }

    CHECK(req.replay_id_len == 64 && strcmp(req.replay_id, hex) == 0);

    /* the other secret's MAC planted: the same replay id */

    req = *parsed;
    memcpy(req.candidates[0], mac[0], SC_SIG_MAC_LEN);
    CHECK(sc_sig_verify(&req, &s, body, len) == SC_SIG_OK);
    CHECK(strcmp(req.replay_id, hex) == 0);

    /* every candidate one bit off */

    for (i = 0; i < req2.ncandidates; i++) {
        memcpy(req2.candidates[i], mac[1], SC_SIG_MAC_LEN);
        req2.candidates[i][(len + i) % SC_SIG_MAC_LEN] ^=
            (unsigned char) (1 << (split % 8));
    }

    CHECK(sc_sig_verify(&req2, &s, body, len) == SC_SIG_BAD);
}


static void
check_time(const sc_sig_req_t *req, int64_t now, int64_t tol)
{
    int       rc;
    __int128  d;

    rc = sc_sig_check_time(req, now, tol);

    if (!req->has_timestamp) {
        CHECK(rc == SC_SIG_OK);
        return;
    }

    d = (__int128) req->timestamp - now;

    if (d < 0) {
        d = -d;
    }

    CHECK(rc == ((tol >= 0 && d <= tol) ? SC_SIG_OK : SC_SIG_STALE));
}


static void
check_secrets(sc_sig_scheme_t scheme, const char *in, size_t size)
{
    int               rc, rc2;
    char             *crlf;
    size_t            i, j, n;
    sc_error_t        err, err2;
    sc_sig_secrets_t  s, s2;

    rc = sc_sig_secrets_parse(&s, scheme, in, size, &err);

    if (rc != SC_SIG_OK) {
        CHECK(rc == SC_SIG_ERROR);
        CHECK(s.nsecrets == 0 && s.secrets[0].len == 0);
        CHECK(err.msg[0] != '\0' && strlen(err.msg) < sizeof(err.msg));

    } else {
        CHECK(s.nsecrets >= 1 && s.nsecrets <= SC_SIG_SECRETS_MAX);

        for (i = 0; i < s.nsecrets; i++) {
            CHECK(s.secrets[i].len >= 1
                  && s.secrets[i].len <= SC_SIG_SECRET_MAX);

            if (scheme != SC_SIG_STANDARD) {
                CHECK(contains(in, size, s.secrets[i].key,
                               s.secrets[i].len));
                CHECK(!control_bytes(s.secrets[i].key, s.secrets[i].len));
                CHECK(s.secrets[i].key[0] != ' '
                      && s.secrets[i].key[0] != '\t'
                      && s.secrets[i].key[0] != '#');
            }

            for (j = 0; j < i; j++) {
                CHECK(s.secrets[i].len != s.secrets[j].len
                      || memcmp(s.secrets[i].key, s.secrets[j].key,
                                s.secrets[i].len) != 0);
            }
        }
    }

    if (memchr(in, '\r', size) != NULL) {
        return;
    }

    crlf = malloc(2 * size + 1);
    CHECK(crlf != NULL);

    for (i = 0, n = 0; i < size; i++) {
        if (in[i] == '\n') {
            crlf[n++] = '\r';
        }

        crlf[n++] = in[i];
    }

    rc2 = sc_sig_secrets_parse(&s2, scheme, crlf, n, &err2);
    free(crlf);

    CHECK(rc2 == rc);

    if (rc == SC_SIG_OK) {
        CHECK(memcmp(&s, &s2, sizeof(s)) == 0);

    } else {
        CHECK(err.line == err2.line);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    size_t            i, body_len, split, field_len[3];
    int64_t           now, tol;
    unsigned          flags;
    const char       *p, *end, *nl, *body, *field[3];
    sc_sig_req_t      req;
    sc_sig_scheme_t   scheme;
    sc_sig_headers_t  h;

    if (size < 1) {
        return 0;
    }

    scheme = (sc_sig_scheme_t) (data[0] % 5);

    check_secrets(scheme, (const char *) data + 1, size - 1);

    if (size < 18) {
        return 0;
    }

    flags = data[1];
    now = get_i64(data + 2);
    tol = get_i64(data + 10);

    p = (const char *) data + 18;
    end = (const char *) data + size;

    for (i = 0; i < 3; i++) {
        nl = memchr(p, '\n', end - p);

        field[i] = p;
        field_len[i] = (nl ? nl : end) - p;

        p = nl ? nl + 1 : end;
    }

    body = p;
    body_len = end - p;
    split = body_len ? (flags >> 3) * body_len / 31 : 0;

    h.signature = (flags & 1) ? NULL : field[0];
    h.signature_len = (flags & 1) ? 0 : field_len[0];
    h.timestamp = (flags & 2) ? NULL : field[1];
    h.timestamp_len = (flags & 2) ? 0 : field_len[1];
    h.id = (flags & 4) ? NULL : field[2];
    h.id_len = (flags & 4) ? 0 : field_len[2];

    rc = sc_sig_parse(&req, scheme, &h);

    CHECK(rc == SC_SIG_OK || rc == SC_SIG_MISSING || rc == SC_SIG_INVALID);
    CHECK(rc == SC_SIG_OK || req.reason != NULL);
    CHECK(!(flags & 1) || rc == SC_SIG_MISSING);

    if (rc != SC_SIG_OK) {
        return 0;
    }

    CHECK(!bad_bytes(h.signature, h.signature_len));

    if (scheme == SC_SIG_MINIAPP || scheme == SC_SIG_SLACK
        || scheme == SC_SIG_STANDARD)
    {
        CHECK(!bad_bytes(h.timestamp, h.timestamp_len));
    }

    CHECK(req.scheme == scheme);
    CHECK(req.ncandidates >= 1 && req.ncandidates <= SC_SIG_CANDIDATES_MAX);

    check_prefix(&req);
    check_time(&req, now, tol);
    check_verify(&req, body, body_len, split);

    return 0;
}
