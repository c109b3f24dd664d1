
/*
 * libFuzzer target: cookie decoding, base64 and percent-decoding.
 *
 * Invariants checked (beyond the sanitizers, which catch any read past the
 * input: libFuzzer hands over an exactly sized heap copy):
 *   - sc_cookie_decode() agrees with an independent, naive implementation
 *     of the grammar on what is SC_MALFORMED, and on SC_UNKNOWN_KID;
 *   - a cookie that decodes re-encodes, with the key it verified under,
 *     to exactly the same bytes (one valid spelling per cookie);
 *   - encode -> decode round trips for a token taken from the input, and
 *     a single bit flip in the result never verifies;
 *   - sc_b64url_encode() -> sc_b64_decode() round trips, and whatever
 *     sc_b64_decode() accepts is canonical: re-encoding gives the input
 *     back (modulo alphabet and padding);
 *   - the hashes of a token are lowercase hex of the right length.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_core.h"
#include "fuzz.h"


/* the keys of the seed corpus, test/fuzz/corpus/fuzz_cookie */
static const char  keys[] =
    "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    "k2 QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hpamtsbW5v\n"
    "abcdefghijklmnopqrstuvwxyz-_0123 "
    "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWmpw==\n";

static sc_keyring_t  ring;
static sc_keyring_t  single[SC_MAX_KEYS];     /* single[i]: keys[i] alone */

static const char  url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


int LLVMFuzzerInitialize(int *argc, char ***argv);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    size_t  i;

    (void) argc;
    (void) argv;

    if (sc_init() != SC_OK
        || sc_keyring_parse(&ring, keys, sizeof(keys) - 1, NULL) != SC_OK)
    {
        abort();
    }

    for (i = 0; i < ring.nkeys; i++) {
        single[i].keys[0] = ring.keys[i];
        single[i].nkeys = 1;
    }

    return 0;
}


static int
naive_kid(const char *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 32) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || strchr(url, p[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


/* 43 url-safe digits, the last one with its two unused bits clear */

static int
naive_b64_43(const char *p)
{
    size_t       i;
    const char  *d;

    for (i = 0; i < SC_B64_32_LEN; i++) {
        if (p[i] == '\0' || (d = strchr(url, p[i])) == NULL) {
            return 0;
        }
    }

    return ((d - url) & 3) == 0;
}


static int
naive_well_formed(const char *p, size_t len, size_t *kid_len)
{
    const char  *dot;

    dot = memchr(p, '.', len);

    if (dot == NULL) {
        return 0;
    }

    *kid_len = dot - p;

    return naive_kid(p, *kid_len)
           && len == *kid_len + 2 + 2 * SC_B64_32_LEN
           && dot[1 + SC_B64_32_LEN] == '.'
           && naive_b64_43(dot + 1)
           && naive_b64_43(dot + 2 + SC_B64_32_LEN);
}


static void
check_hashes(const unsigned char *token)
{
    char    hex[SC_HASH_HEX_LEN], pub[SC_PUBLIC_ID_LEN];
    size_t  i;

    sc_token_hash_hex(token, hex);
    sc_public_id(token, pub);

    for (i = 0; i < SC_HASH_HEX_LEN; i++) {
        CHECK((hex[i] >= '0' && hex[i] <= '9')
              || (hex[i] >= 'a' && hex[i] <= 'f'));
    }

    for (i = 0; i < SC_PUBLIC_ID_LEN; i++) {
        CHECK((pub[i] >= '0' && pub[i] <= '9')
              || (pub[i] >= 'a' && pub[i] <= 'f'));
    }
}


static void
fuzz_decode(const char *in, size_t size)
{
    int            rc, known;
    char           again[SC_COOKIE_MAX];
    size_t         i, kid_len, idx, n;
    unsigned char  token[SC_TOKEN_LEN];

    idx = (size_t) -1;
    rc = sc_cookie_decode(&ring, in, size, token, &idx);

    CHECK(rc == SC_OK || rc == SC_MALFORMED || rc == SC_UNKNOWN_KID
          || rc == SC_BAD_MAC);

    if (!naive_well_formed(in, size, &kid_len)) {
        CHECK(rc == SC_MALFORMED);
        return;
    }

    CHECK(rc != SC_MALFORMED);

    known = 0;

    for (i = 0; i < ring.nkeys; i++) {
        if (ring.keys[i].kid_len == kid_len
            && memcmp(ring.keys[i].kid, in, kid_len) == 0)
        {
            known = 1;
        }
    }

    CHECK(known == (rc != SC_UNKNOWN_KID));

    if (rc != SC_OK) {
        return;
    }

    CHECK(idx < ring.nkeys);

    n = sc_cookie_encode(&single[idx], token, again, sizeof(again));
    CHECK(n == size && memcmp(again, in, size) == 0);

    check_hashes(token);
}


static void
fuzz_round_trip(const uint8_t *data, size_t size)
{
    char           c[SC_COOKIE_MAX];
    size_t         n, k, idx, bit;
    unsigned char  token[SC_TOKEN_LEN], out[SC_TOKEN_LEN];

    memset(token, 0, sizeof(token));
    memcpy(token, data, size < SC_TOKEN_LEN ? size : SC_TOKEN_LEN);

    k = size ? data[0] % ring.nkeys : 0;

    n = sc_cookie_encode(&single[k], token, c, sizeof(c));
    CHECK(n == ring.keys[k].kid_len + 2 + 2 * SC_B64_32_LEN);
    CHECK(naive_well_formed(c, n, &idx));

    idx = (size_t) -1;
    CHECK(sc_cookie_decode(&ring, c, n, out, &idx) == SC_OK);
    CHECK(idx == k);
    CHECK(memcmp(out, token, SC_TOKEN_LEN) == 0);

    CHECK(sc_cookie_decode(&single[(k + 1) % ring.nkeys], c, n, out, &idx)
          == SC_UNKNOWN_KID);

    check_hashes(token);

    if (size > SC_TOKEN_LEN + 1) {
        bit = (data[SC_TOKEN_LEN] | (size_t) data[SC_TOKEN_LEN + 1] << 8)
              % (n * 8);
        c[bit / 8] ^= (char) (1 << (bit % 8));
        CHECK(sc_cookie_decode(&ring, c, n, out, &idx) != SC_OK);
    }
}


static void
fuzz_b64(const uint8_t *data, size_t size)
{
    char           enc[700], norm[700];
    size_t         n, m, i, len;
    unsigned char  dec[520];

    /* encode -> decode */

    len = size < 512 ? size : 512;
    n = sc_b64url_encode(data, len, enc);
    CHECK(n == (len * 4 + 2) / 3);
    m = sc_b64_decode(enc, n, dec, sizeof(dec));
    CHECK(m == len && memcmp(dec, data, len) == 0);
    CHECK(len == 0 || sc_b64_decode(enc, n, dec, len - 1) == (size_t) -1);

    /* decode -> encode: accepted input is canonical */

    m = sc_b64_decode((const char *) data, size, dec, sizeof(dec));

    if (m == (size_t) -1) {
        return;
    }

    CHECK(m <= size * 3 / 4);

    len = size;

    while (len > 0 && data[len - 1] == '=') {
        len--;
    }

    CHECK(size - len <= 2);

    for (i = 0; i < len; i++) {
        norm[i] = data[i] == '+' ? '-' : data[i] == '/' ? '_' : (char) data[i];
    }

    n = sc_b64url_encode(dec, m, enc);
    CHECK(n == len && memcmp(enc, norm, n) == 0);
}


static void
fuzz_pct(const uint8_t *data, size_t size)
{
    char    out[256];
    size_t  n, len;

    len = size < sizeof(out) ? size : sizeof(out);
    n = sc_pct_decode((const char *) data, len, out, sizeof(out));

    if (n != (size_t) -1) {
        CHECK(n <= len);
        CHECK(memchr(data, '%', len) != NULL || memcmp(out, data, n) == 0);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode((const char *) data, size);
    fuzz_round_trip(data, size);
    fuzz_b64(data, size);
    fuzz_pct(data, size);

    return 0;
}
