
/*
 * libFuzzer target: the identity assertion's JSON (src/session_jws.c).
 *
 * The input is split at its first NUL byte: a subject, then a claims
 * string (the Redis record's "cl" field).  Invariants checked, beyond the
 * sanitizers:
 *   - sc_json_escape() output fits SC_JSON_ESCAPED_MAX, is valid UTF-8,
 *     has no raw control byte, '"' only after a backslash;
 *   - sc_jws_payload() either refuses (malformed claims) or writes a
 *     payload within sc_jws_payload_max() that starts with the registered
 *     claims, has no raw control byte and is valid UTF-8;
 *   - the signed token fits sc_jws_token_max() and its signature verifies
 *     with libsodium over "header.payload".
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "session_jws.h"
#include "fuzz.h"


static int
valid_utf8(const unsigned char *p, size_t len)
{
    size_t    i, n, k;
    uint32_t  c;

    for (i = 0; i < len; i += n) {
        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0) {
            n = 2; c = p[i] & 0x1f;
        } else if ((p[i] & 0xf0) == 0xe0) {
            n = 3; c = p[i] & 0x0f;
        } else if ((p[i] & 0xf8) == 0xf0) {
            n = 4; c = p[i] & 0x07;
        } else {
            return 0;
        }

        if (i + n > len) {
            return 0;
        }

        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80) {
                return 0;
            }
            c = (c << 6) | (p[i + k] & 0x3f);
        }

        if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800)
            || (n == 4 && c < 0x10000) || c > 0x10ffff
            || (c >= 0xd800 && c <= 0xdfff))
        {
            return 0;
        }
    }

    return 1;
}


static void
no_raw_controls(const unsigned char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        CHECK(p[i] >= 0x20 && p[i] != 0x7f);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                 n, sub_len, plen, tlen, i;
    char                  *out, *payload, *token, *dot;
    const uint8_t         *nul;
    sc_assertion_t         a;
    unsigned char          sig[128];
    static int             ready;
    static sc_jws_keys_t   ks;

    static const char      file[] =
        "a1 nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n";

    if (!ready) {
        if (sc_init() != SC_OK
            || sc_jws_keys_parse(&ks, file, sizeof(file) - 1, NULL) != SC_OK)
        {
            abort();
        }
        ready = 1;
    }

    if (size > 8192) {
        return 0;
    }

    /* escaping on its own */

    out = malloc(SC_JSON_ESCAPED_MAX(size) + 1);
    CHECK(out != NULL);
    n = sc_json_escape((const char *) data, size, out,
                       SC_JSON_ESCAPED_MAX(size));
    CHECK(n != (size_t) -1 && n <= SC_JSON_ESCAPED_MAX(size));
    CHECK(valid_utf8((unsigned char *) out, n));
    no_raw_controls((unsigned char *) out, n);

    for (i = 0; i < n; i++) {
        if (out[i] == '\\') {
            i++;            /* the escaped character */
            continue;
        }
        CHECK(out[i] != '"');
    }

    free(out);

    /* the payload */

    nul = memchr(data, '\0', size);
    sub_len = nul ? (size_t) (nul - data) : size;

    memset(&a, 0, sizeof(a));
    a.iss = "edge";
    a.iss_len = 4;
    a.sub = (const char *) data;
    a.sub_len = sub_len;
    a.aud = "aud";
    a.aud_len = 3;
    a.sid = "0123456789abcdef";
    a.sid_len = 16;
    a.amr = "cookie";
    a.amr_len = 6;
    a.iat = 1;
    a.exp = 61;
    a.auth_time = 0;
    a.claims = nul ? (const char *) nul + 1 : "";
    a.claims_len = nul ? size - sub_len - 1 : 0;

    n = sc_jws_payload_max(&a);
    payload = malloc(n);
    CHECK(payload != NULL);

    plen = sc_jws_payload(&a, payload, n);

    if (plen == 0) {
        free(payload);
        return 0;
    }

    CHECK(plen <= n);
    CHECK(memcmp(payload, "{\"iss\":\"edge\",\"sub\":\"", 21) == 0);
    CHECK(payload[plen - 1] == '}');
    CHECK(valid_utf8((unsigned char *) payload, plen));
    no_raw_controls((unsigned char *) payload, plen);

    n = sc_jws_token_max(&ks.keys[0], plen);
    token = malloc(n);
    CHECK(token != NULL);

    tlen = sc_jws_sign(&ks.keys[0], payload, plen, token, n);
    CHECK(tlen > 0 && tlen <= n);

    dot = memchr(token, '.', tlen);
    CHECK(dot != NULL);
    dot = memchr(dot + 1, '.', tlen - (dot + 1 - token));
    CHECK(dot != NULL);
    CHECK(sc_b64_decode(dot + 1, tlen - (dot + 1 - token), sig, sizeof(sig))
          == 64);
    CHECK(crypto_sign_verify_detached(sig, (unsigned char *) token,
                                      dot - token, ks.keys[0].pk) == 0);

    free(token);
    free(payload);

    return 0;
}
