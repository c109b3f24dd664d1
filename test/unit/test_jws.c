
/*
 * Unit tests of the signed identity assertion (src/session_jws.c): the
 * seed file, JSON escaping, the payload, the signature (verified with
 * libsodium on the encoded token, as a backend would) and the JWKS.
 *
 * TAP lines as test_core.c; the exit status is 1 if anything failed.
 * RFC 8037 A.1/A.2 pin the seed-to-public-key derivation.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_jws.h"


#define S(s)  s, sizeof(s) - 1

/* RFC 8037 appendix A.1: d and x */
#define RFC_SEED  "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC_X     "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define SEED2     "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="


static unsigned  tests, passed, failed;


#if defined(__GNUC__) || defined(__clang__)
static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (cond) {
        passed++;
        printf("ok %u - ", tests);

    } else {
        failed++;
        printf("not ok %u - ", tests);
    }

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


static int
keys_error(const char *file, size_t len, const char *msg)
{
    int            rc;
    sc_error_t     err;
    sc_jws_keys_t  ks;

    rc = sc_jws_keys_parse(&ks, file, len, &err);

    if (rc == SC_OK || strcmp(err.msg, msg) != 0) {
        printf("# got rc %d \"%s\"\n", rc, rc == SC_OK ? "" : err.msg);
        return 0;
    }

    return ks.nkeys == 0;
}


static void
test_keys(sc_jws_keys_t *ks)
{
    int         rc;
    char        x[64];
    sc_error_t  err;

    rc = sc_jws_keys_parse(ks, S("# assertion keys\r\n"
                                 "a1 " RFC_SEED "\r\n"
                                 "\n"
                                 "  a0\t" SEED2 "  \n"), &err);
    ok(rc == SC_OK && ks->nkeys == 2, "keys: two keys, comments, CRLF");
    ok(strcmp(ks->keys[0].kid, "a1") == 0 && strcmp(ks->keys[1].kid, "a0")
       == 0, "keys: file order, the first signs");

    x[sc_b64url_encode(ks->keys[0].pk, 32, x)] = '\0';
    ok(strcmp(x, RFC_X) == 0, "keys: RFC 8037 A.2 public key from the seed");

    ok(keys_error(S(""), "no key found"), "keys: empty");
    ok(keys_error(S("# only\n"), "no key found"), "keys: comments only");
    ok(keys_error(S("a1\n"), "line 1: expected \"<kid> <base64 seed>\""),
       "keys: one field");
    ok(keys_error(S("a1 " RFC_SEED " x\n"),
                  "line 1: unexpected text after the seed, expected "
                  "\"<kid> <base64 seed>\""), "keys: extra field");
    ok(keys_error(S("a1 " RFC_SEED "\na1 " SEED2 "\n"),
                  "line 2: duplicate key id \"a1\""), "keys: duplicate kid");
    ok(keys_error(S("a1 !!!!\n"), "line 1: invalid base64 in seed"),
       "keys: bad base64");
    ok(keys_error(S("a1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==\n"),
                  "line 1: seed is 34 bytes, an Ed25519 seed is 32"),
       "keys: a 34 byte seed");
    ok(keys_error(S("a/1 " RFC_SEED "\n"),
                  "line 1: invalid key id (1..32 of A-Z a-z 0-9 _ -)"),
       "keys: bad kid");
}


static int
escapes_to(const char *in, size_t len, const char *want)
{
    char    out[256];
    size_t  n;

    n = sc_json_escape(in, len, out, sizeof(out));

    if (n == (size_t) -1 || n != strlen(want) || memcmp(out, want, n) != 0) {
        printf("# got \"%.*s\"\n", n == (size_t) -1 ? 0 : (int) n, out);
        return 0;
    }

    return 1;
}


static void
test_escape(void)
{
    char  out[6];

    ok(escapes_to(S("plain"), "plain"), "escape: plain");
    ok(escapes_to(S("a\"b\\c"), "a\\\"b\\\\c"), "escape: quote, backslash");
    ok(escapes_to(S("\n\t\x01\x7f"), "\\u000a\\u0009\\u0001\\u007f"),
       "escape: control characters");
    ok(escapes_to(S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
       "escape: UTF-8 kept");
    ok(escapes_to(S("\xff\xc3"), "\\ufffd\\ufffd"),
       "escape: invalid and truncated UTF-8 replaced");
    ok(escapes_to(S("\xc0\xaf\xed\xa0\x80"),
                  "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"),
       "escape: overlong and surrogate replaced");
    ok(sc_json_escape(S("\"\"\""), out, sizeof(out)) == (size_t) -1,
       "escape: short output refused");
}


/* base64url (no padding) to bytes, for the checks */
static size_t
b64url(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    return sc_b64_decode(in, len, out, outlen);
}


static void
test_token(sc_jws_keys_t *ks)
{
    char            *dot1, *dot2;
    size_t           plen, tlen, n;
    sc_assertion_t   a;
    char             payload[8192], token[12288];
    unsigned char    raw[8192], sig[128];

    static const char  claims[] = "role=admin; sub=root; exp=1;"
                                  " name=A%22%5C%0A%FF";

    memset(&a, 0, sizeof(a));
    a.iss = "edge";
    a.iss_len = 4;
    a.sub = "u\"1";
    a.sub_len = 3;
    a.aud = "cabinet";
    a.aud_len = 7;
    a.sid = "0123456789abcdef";
    a.sid_len = 16;
    a.amr = "cookie";
    a.amr_len = 6;
    a.iat = 1700000000;
    a.exp = 1700000060;
    a.auth_time = 1699990000;
    a.claims = claims;
    a.claims_len = sizeof(claims) - 1;

    plen = sc_jws_payload(&a, payload, sizeof(payload));
    payload[plen] = '\0';

    ok(plen > 0 && strcmp(payload,
        "{\"iss\":\"edge\",\"sub\":\"u\\\"1\",\"aud\":\"cabinet\","
        "\"iat\":1700000000,\"exp\":1700000060,\"auth_time\":1699990000,"
        "\"sid\":\"0123456789abcdef\",\"amr\":[\"cookie\"],"
        "\"role\":\"admin\",\"name\":\"A\\\"\\\\\\u000a\\ufffd\"}") == 0,
       "payload: registered names first, claims cannot override them, "
       "values escaped");
    if (plen == 0 || failed) {
        printf("# %s\n", payload);
    }

    ok(plen <= sc_jws_payload_max(&a), "payload: within its bound");
    ok(sc_jws_payload(&a, payload, 40) == 0, "payload: short buffer refused");

    a.claims = "bad claims";
    a.claims_len = 10;
    ok(sc_jws_payload(&a, payload, sizeof(payload)) == 0,
       "payload: malformed claims refused");
    a.claims = claims;
    a.claims_len = sizeof(claims) - 1;

    tlen = sc_jws_sign(&ks->keys[0], payload, plen, token, sizeof(token));
    token[tlen] = '\0';

    ok(tlen > 0 && tlen <= sc_jws_token_max(&ks->keys[0], plen),
       "sign: within its bound");

    dot1 = strchr(token, '.');
    dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    ok(dot1 && dot2 && strchr(dot2 + 1, '.') == NULL, "sign: three parts");
    if (dot1 == NULL || dot2 == NULL) {
        return;
    }

    n = b64url(token, dot1 - token, raw, sizeof(raw));
    ok(n != (size_t) -1 && n == sizeof("{\"alg\":\"EdDSA\",\"typ\":\"JWT\","
                                       "\"kid\":\"a1\"}") - 1
       && memcmp(raw, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"a1\"}", n)
          == 0, "sign: protected header");

    n = b64url(dot1 + 1, dot2 - dot1 - 1, raw, sizeof(raw));
    ok(n == plen && memcmp(raw, payload, n) == 0, "sign: payload");

    n = b64url(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig));
    ok(n == 64 && crypto_sign_verify_detached(sig, (unsigned char *) token,
                                              dot2 - token, ks->keys[0].pk)
                  == 0,
       "sign: the Ed25519 signature verifies with the published key");
    ok(n == 64 && crypto_sign_verify_detached(sig, (unsigned char *) token,
                                              dot2 - token, ks->keys[1].pk)
                  != 0,
       "sign: ... and not with another key");

    token[dot1 - token + 3] ^= 1;
    ok(crypto_sign_verify_detached(sig, (unsigned char *) token,
                                   dot2 - token, ks->keys[0].pk) != 0,
       "sign: a changed payload does not verify");

    ok(sc_jws_sign(&ks->keys[0], payload, plen, token, 100) == 0,
       "sign: short buffer refused");

    a.auth_time = -1;
    a.sid_len = 0;
    a.claims_len = 0;
    a.amr = "telegram";
    a.amr_len = 8;
    plen = sc_jws_payload(&a, payload, sizeof(payload));
    payload[plen] = '\0';
    ok(strcmp(payload, "{\"iss\":\"edge\",\"sub\":\"u\\\"1\",\"aud\":"
              "\"cabinet\",\"iat\":1700000000,\"exp\":1700000060,"
              "\"amr\":[\"telegram\"]}") == 0,
       "payload: without auth_time, sid and claims");

    ok(sc_jws_reserved_claim(S("auth_time")) && sc_jws_reserved_claim(S("aud"))
       && !sc_jws_reserved_claim(S("role")), "reserved claim names");
}


static void
test_jwks(sc_jws_keys_t *ks)
{
    char    out[SC_JWS_JWKS_MAX];
    char    want[512];
    char    x1[64];
    size_t  n;

    n = sc_jws_jwks(ks, out, sizeof(out));
    out[n] = '\0';

    x1[sc_b64url_encode(ks->keys[1].pk, 32, x1)] = '\0';
    snprintf(want, sizeof(want),
             "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a1\","
             "\"x\":\"" RFC_X "\",\"use\":\"sig\",\"alg\":\"EdDSA\"},"
             "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a0\","
             "\"x\":\"%s\",\"use\":\"sig\",\"alg\":\"EdDSA\"}]}", x1);

    ok(n > 0 && strcmp(out, want) == 0, "jwks: every key, public parts");
    ok(strstr(out, "\"d\"") == NULL && strstr(out, RFC_SEED) == NULL,
       "jwks: no private part");
    ok(sc_jws_jwks(ks, out, 50) == 0, "jwks: short buffer refused");
}


int
main(void)
{
    sc_jws_keys_t  ks;

    setvbuf(stdout, NULL, _IOLBF, 0);

    ok(sc_init() == SC_OK, "sc_init");

    test_keys(&ks);
    test_escape();
    test_token(&ks);
    test_jwks(&ks);

    sc_jws_keys_wipe(&ks);

    printf("1..%u\n", tests);
    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}
