
/*
 * Unit tests of the nginx-independent core (src/session_core.h).
 *
 * No framework: TAP lines "ok N - desc" / "not ok N - desc", then
 * "P passed, F failed"; the exit status is 1 if anything failed.
 *
 * The pinned digests and the pinned cookie below were computed once with
 * an independent implementation (Python's hashlib.blake2b) of the
 * constructions documented in src/session_keyring.c and
 * src/session_cookie.c; a change to any of them invalidates every cookie
 * and every Redis record in the field, so it must be deliberate.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"


#define S(s)  s, sizeof(s) - 1

#define SECRET1  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SECRET2  "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl9gYWJjZGVmZ2hp" \
                 "amtsbW5v"
#define SECRET3  "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWmpw=="

/* token 00 01 .. 1f */
#define TOKEN_HASH  \
    "60706837eaeccaa82e200ed923185fc60adcbb2bbc1d43425ee1af2adaaf4cd3"
#define TOKEN_PUBLIC  "4b562b35cf41e649"
#define TOKEN_COOKIE  "k1.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" \
                      ".cc0SlDLVIysoFwHne6c17lvSu-G4uq5dqCoTkaEenpg"


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


/* base64 */

static int
b64_decodes_to(const char *in, const char *want, size_t want_len)
{
    size_t         n;
    unsigned char  out[128];

    n = sc_b64_decode(in, strlen(in), out, sizeof(out));

    return n == want_len && memcmp(out, want, n) == 0;
}


static int
b64_rejects(const char *in)
{
    unsigned char  out[128];

    return sc_b64_decode(in, strlen(in), out, sizeof(out)) == (size_t) -1;
}


static int
b64_encodes_to(const char *in, const char *want)
{
    char    out[128];
    size_t  n;

    n = sc_b64url_encode((const unsigned char *) in, strlen(in), out);

    return n == strlen(want) && memcmp(out, want, n) == 0;
}


/*
 * sc_b64url_decode32(), the cookie fields' fast path, against the general
 * decoder: the same bytes for every valid input, and for every input with
 * one byte replaced by each of the 256 values, the same verdict as
 * sc_b64_decode() plus "URL-safe digits only".
 */

static int
b64url_decode32_ref(const char *in, unsigned char *out)
{
    size_t  i;

    for (i = 0; i < SC_B64_32_LEN; i++) {
        if (in[i] == '+' || in[i] == '/' || in[i] == '=') {
            return -1;
        }
    }

    return sc_b64_decode(in, SC_B64_32_LEN, out, 32) == 32 ? 0 : -1;
}


static void
test_b64url_decode32(void)
{
    int            same, rounds, rc, ref, wiped;
    char           enc[SC_B64_32_LEN + 1], bad[SC_B64_32_LEN];
    size_t         i, v, accepted, rejected;
    unsigned char  raw[32], got[32], want[32];

    same = 1;
    wiped = 1;
    accepted = 0;
    rejected = 0;

    for (rounds = 0; rounds < 64; rounds++) {
        sc_random(raw, sizeof(raw));

        if (rounds == 0) {
            memset(raw, 0, sizeof(raw));
        } else if (rounds == 1) {
            memset(raw, 0xff, sizeof(raw));
        }

        sc_b64url_encode(raw, sizeof(raw), enc);

        if (sc_b64url_decode32(enc, got) != 0
            || memcmp(got, raw, sizeof(raw)) != 0)
        {
            same = 0;
        }

        for (i = 0; i < SC_B64_32_LEN; i++) {
            for (v = 0; v < 256; v++) {
                memcpy(bad, enc, sizeof(bad));
                bad[i] = (char) v;

                memset(got, 0x5a, sizeof(got));
                rc = sc_b64url_decode32(bad, got);
                ref = b64url_decode32_ref(bad, want);

                if (rc != ref || (rc == 0 && memcmp(got, want, 32) != 0)) {
                    if (same) {
                        printf("# decode32 differs: position %zu, byte %zu\n",
                               i, v);
                    }

                    same = 0;
                }

                if (rc == 0) {
                    accepted++;

                } else {
                    rejected++;

                    if (sodium_is_zero(got, sizeof(got)) != 1) {
                        wiped = 0;
                    }
                }
            }
        }
    }

    ok(same, "b64url decode32 agrees with sc_b64_decode (64 x 43 x 256)");
    ok(accepted > 0 && rejected > 0, "... which accepts and rejects some");
    ok(wiped, "b64url decode32 wipes its output on error");

    memset(enc, 'A', SC_B64_32_LEN);
    enc[SC_B64_32_LEN - 1] = 'B';
    ok(sc_b64url_decode32(enc, got) != 0,
       "b64url decode32 rejects non-zero trailing bits");
    enc[SC_B64_32_LEN - 1] = 'E';
    ok(sc_b64url_decode32(enc, got) == 0 && got[31] == 0x01,
       "b64url decode32 accepts zero trailing bits");
    enc[SC_B64_32_LEN - 1] = '+';
    ok(sc_b64url_decode32(enc, got) != 0,
       "b64url decode32 rejects the standard alphabet");
    memset(enc, '_', SC_B64_32_LEN);
    enc[SC_B64_32_LEN - 1] = '8';
    ok(sc_b64url_decode32(enc, got) == 0
       && got[0] == 0xff
       && got[31] == 0xff,
       "b64url decode32 all ones");
}


/* sc_equal: every length up to 80, a difference at every position */

static void
test_equal(void)
{
    int            good;
    size_t         len, i;
    unsigned char  a[80], b[80];

    good = 1;

    for (len = 0; len <= sizeof(a); len++) {
        sc_random(a, len);
        memcpy(b, a, len);

        if (!sc_equal(a, b, len)) {
            good = 0;
        }

        for (i = 0; i < len; i++) {
            b[i] ^= (unsigned char) (1 << (i % 8));

            if (sc_equal(a, b, len)) {
                good = 0;
            }

            b[i] = a[i] ^ 0x80;

            if (sc_equal(a, b, len)) {
                good = 0;
            }

            b[i] = a[i];
        }
    }

    ok(good, "sc_equal: equal buffers of 0..80 bytes, and one bit or byte "
       "changed anywhere");
    ok(sc_equal("a", "b", 0), "sc_equal: empty buffers are equal");
}


static void
test_b64(void)
{
    int            good;
    char           enc[128];
    size_t         len, n, i;
    unsigned char  raw[96], dec[96];

    ok(b64_encodes_to("", ""), "b64url encode \"\"");
    ok(b64_encodes_to("f", "Zg"), "b64url encode f");
    ok(b64_encodes_to("fo", "Zm8"), "b64url encode fo");
    ok(b64_encodes_to("foo", "Zm9v"), "b64url encode foo");
    ok(b64_encodes_to("foob", "Zm9vYg"), "b64url encode foob");
    ok(b64_encodes_to("fooba", "Zm9vYmE"), "b64url encode fooba");
    ok(b64_encodes_to("foobar", "Zm9vYmFy"), "b64url encode foobar");
    ok(b64_encodes_to("\xfb\xff\xbf", "-_-_"), "b64url uses - and _");

    ok(b64_decodes_to("", "", 0), "b64 decode \"\"");
    ok(b64_decodes_to("Zm9vYg==", S("foob")), "b64 decode padded ==");
    ok(b64_decodes_to("Zm9vYmE=", S("fooba")), "b64 decode padded =");
    ok(b64_decodes_to("Zm9vYg", S("foob")), "b64 decode unpadded");
    ok(b64_decodes_to("Zm9vYmFy", S("foobar")), "b64 decode 6 bytes");
    ok(b64_decodes_to("+/+/", S("\xfb\xff\xbf")), "b64 decode standard");
    ok(b64_decodes_to("-_-_", S("\xfb\xff\xbf")), "b64 decode url-safe");
    ok(b64_decodes_to("+/8=", S("\xfb\xff")), "b64 decode +/ padded");

    ok(b64_rejects("Zm9v!mFy"), "b64 rejects bad alphabet");
    ok(b64_rejects("Zm9v YmFy"), "b64 rejects a space");
    ok(b64_rejects("Zm9vYmFy\n"), "b64 rejects a newline");
    ok(b64_rejects("Zm9vY"), "b64 rejects length 1 mod 4");
    ok(b64_rejects("Zg="), "b64 rejects short padding");
    ok(b64_rejects("Zg==="), "b64 rejects three =");
    ok(b64_rejects("Z=g="), "b64 rejects = inside");
    ok(b64_rejects("=Zg="), "b64 rejects leading =");
    ok(b64_rejects("Zg==Zg=="), "b64 rejects padding in the middle");
    ok(b64_rejects("===="), "b64 rejects only padding");
    ok(b64_rejects("Zh"), "b64 rejects non-canonical trailing bits (4)");
    ok(b64_rejects("Zh=="), "b64 rejects non-canonical padded (4)");
    ok(b64_rejects("Zm9"), "b64 rejects non-canonical trailing bits (2)");
    ok(b64_rejects("+_+_"), "b64 rejects mixed alphabets");
    ok(sc_b64_decode("Zm9v\0mFy", 8, dec, sizeof(dec)) == (size_t) -1,
       "b64 rejects an embedded NUL");
    ok(sc_b64_decode("Zm9vYmFy", 8, dec, 5) == (size_t) -1,
       "b64 rejects output longer than outlen");
    ok(sc_b64_decode("Zm9vYmFy", 8, dec, 6) == 6,
       "b64 decodes into an exact outlen");

    good = 1;

    for (len = 0; len <= sizeof(raw); len++) {
        sc_random(raw, len);
        n = sc_b64url_encode(raw, len, enc);

        if (n != (len * 4 + 2) / 3
            || sc_b64_decode(enc, n, dec, sizeof(dec)) != len
            || memcmp(raw, dec, len) != 0)
        {
            good = 0;
        }

        for (i = 0; i < n; i++) {
            if (enc[i] == '+' || enc[i] == '/' || enc[i] == '=') {
                good = 0;
            }
        }
    }

    ok(good, "b64url round trips 0..96 random bytes");

    ok(sc_b64url_encode(raw, 32, enc) == SC_B64_32_LEN,
       "32 bytes encode to SC_B64_32_LEN characters");

    test_b64url_decode32();
}


/* keyring */

static int
keyring_error(const char *file, size_t len, unsigned line, const char *msg)
{
    int           rc;
    sc_error_t    err;
    sc_keyring_t  kr;

    rc = sc_keyring_parse(&kr, file, len, &err);

    if (rc == SC_OK || kr.nkeys != 0 || err.line != line
        || strcmp(err.msg, msg) != 0)
    {
        printf("# rc %d, nkeys %zu, line %u, msg \"%s\"\n",
               rc, kr.nkeys, err.line, err.msg);
        return 0;
    }

    return 1;
}


static void
test_keyring(void)
{
    int            rc, zero;
    char           file[4096], *p;
    size_t         i;
    sc_error_t     err;
    sc_keyring_t   kr;

    rc = sc_keyring_parse(&kr, S("# keys\r\n"
                                 "\r\n"
                                 "  k1 " SECRET1 "  \r\n"
                                 "\t# old\n"
                                 "k_2-X\t\t" SECRET2), &err);

    ok(rc == SC_OK && kr.nkeys == 2, "keyring: CRLF, comments, blanks, "
       "no final newline");
    ok(kr.keys[0].kid_len == 2 && strcmp(kr.keys[0].kid, "k1") == 0
       && kr.keys[1].kid_len == 5 && strcmp(kr.keys[1].kid, "k_2-X") == 0,
       "keyring: key ids in file order, NUL terminated");
    ok(!sc_equal(kr.keys[0].mac_key, kr.keys[1].mac_key, 32),
       "keyring: different secrets give different mac keys");

    rc = sc_keyring_parse(&kr, S("k3 " SECRET3 "\n"), &err);
    ok(rc == SC_OK && kr.nkeys == 1, "keyring: padded standard alphabet");

    rc = sc_keyring_parse(&kr, S("k3 gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5"
                                 "ydnp-goaKjpKWmpw\n"), &err);
    ok(rc == SC_OK && kr.nkeys == 1, "keyring: unpadded url-safe alphabet");

    ok(keyring_error(S(""), 0, "no key found"), "keyring: empty file");
    ok(keyring_error(S("# nothing\n\n   \n"), 0, "no key found"),
       "keyring: comments only");
    ok(keyring_error(S("k1 " SECRET1 "\nk2\n"), 2,
                     "line 2: expected \"<kid> <base64 secret>\""),
       "keyring: one field");
    ok(keyring_error(S("k1 " SECRET1 " extra\n"), 1,
                     "line 1: unexpected text after the secret, "
                     "expected \"<kid> <base64 secret>\""),
       "keyring: extra field");
    ok(keyring_error(S("\n\n# c\n\n\n\nk!1 " SECRET1 "\n"), 7,
                     "line 7: invalid key id (1..32 of A-Z a-z 0-9 _ -)"),
       "keyring: bad character in kid");
    ok(keyring_error(S("k12345678901234567890123456789012 " SECRET1), 1,
                     "line 1: invalid key id (1..32 of A-Z a-z 0-9 _ -)"),
       "keyring: kid of 33 bytes");
    ok(keyring_error(S("k1 " SECRET1 "\nk2 " SECRET2 "\n\nk3 "
                       "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJm*m5ydnp+goaKjpKWm"
                       "pw==\n"), 4,
                     "line 4: invalid base64 in secret"),
       "keyring: invalid base64");
    ok(keyring_error(S("k1 " SECRET1 "\nk2 " SECRET2 "\n\nk3 "
                       "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp+goaKjpKWm"
                       "px==\n"), 4,
                     "line 4: invalid base64 in secret"),
       "keyring: non-canonical base64");
    ok(keyring_error(S("k1 " SECRET1 "\n#\nk2 AAAAAAAAAAAAAAAAAAAAAA==\n"), 3,
                     "line 3: secret is 16 bytes, at least 32 are required"),
       "keyring: 16 byte secret");
    ok(keyring_error(S("k1 ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgg==\n"),
                     1, "line 1: secret is 31 bytes, at least 32 are "
                     "required"),
       "keyring: 31 byte secret");
    ok(keyring_error(S("k1 " SECRET1 "\nk2 " SECRET2 "\n# \n\nk1 " SECRET3),
                     5, "line 5: duplicate key id \"k1\""),
       "keyring: duplicate kid");
    ok(keyring_error("k1 " SECRET1 "\nk2 \0" SECRET2 "\n",
                     sizeof("k1 " SECRET1 "\nk2 \0" SECRET2 "\n") - 1, 2,
                     "line 2: NUL byte in the key file"),
       "keyring: NUL byte");

    /* 512 bytes are fine, 513 are not */

    p = file;
    memcpy(p, "big ", 4);
    p += 4;
    memset(p, 'A', 684);
    p[683] = '=';
    p += 684;

    rc = sc_keyring_parse(&kr, file, p - file, &err);
    ok(rc == SC_OK, "keyring: 512 byte secret");

    memset(file + 4, 'A', 688);
    ok(keyring_error(file, 4 + 688, 1, "line 1: secret is too long, at most "
                     "512 bytes are allowed"),
       "keyring: 516 byte secret");

    /* 32 keys are fine, 33 are not */

    p = file;

    for (i = 0; i < 33; i++) {
        p += sprintf(p, "k%zu %s\n", i, SECRET1);
    }

    rc = sc_keyring_parse(&kr, file, p - file - (sizeof(SECRET1) + 4), &err);
    ok(rc == SC_OK && kr.nkeys == 32, "keyring: 32 keys");
    ok(keyring_error(file, p - file, 33,
                     "line 33: too many keys (at most 32)"),
       "keyring: 33 keys");

    rc = sc_keyring_parse(&kr, S("a " SECRET1), NULL);
    ok(rc == SC_OK, "keyring: err may be NULL");

    sc_keyring_wipe(&kr);

    zero = 1;

    for (i = 0; i < sizeof(kr); i++) {
        if (((unsigned char *) &kr)[i] != 0) {
            zero = 0;
        }
    }

    ok(zero && kr.nkeys == 0, "keyring: wipe zeroes the ring");
}


/* cookies */

static const char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static unsigned
b64url_value(char c)
{
    return (unsigned) (strchr(b64url, c) - b64url);
}


static char
b64url_digit(unsigned v)
{
    return b64url[v & 63];
}


static void
test_cookie(void)
{
    int            rc, good, any;
    char           c[SC_COOKIE_MAX + 8], m[SC_COOKIE_MAX + 8];
    size_t         n, i, b, idx;
    sc_keyring_t   kr1, kr2, kr21, kr1bis, kr32;
    unsigned char  token[SC_TOKEN_LEN], out[SC_TOKEN_LEN];

    (void) sc_keyring_parse(&kr1, S("k1 " SECRET1 "\nk2 " SECRET2), NULL);
    (void) sc_keyring_parse(&kr2, S("k2 " SECRET2), NULL);
    (void) sc_keyring_parse(&kr21, S("k2 " SECRET2 "\nk1 " SECRET1), NULL);
    (void) sc_keyring_parse(&kr1bis, S("k1 " SECRET3), NULL);
    (void) sc_keyring_parse(&kr32, S("abcdefghijklmnopqrstuvwxyz-_0123 "
                                     SECRET1), NULL);

    for (i = 0; i < SC_TOKEN_LEN; i++) {
        token[i] = (unsigned char) i;
    }

    n = sc_cookie_encode(&kr1, token, c, sizeof(c));
    ok(n == sizeof(TOKEN_COOKIE) - 1 && memcmp(c, TOKEN_COOKIE, n) == 0,
       "cookie: pinned value for a fixed key and token");

    ok(sc_cookie_encode(&kr1, token, c, SC_COOKIE_MAX - 1) == 0,
       "cookie: encode needs SC_COOKIE_MAX bytes");

    sc_random(token, sizeof(token));
    n = sc_cookie_encode(&kr1, token, c, SC_COOKIE_MAX);
    ok(n == 2 + 1 + SC_B64_32_LEN + 1 + SC_B64_32_LEN
       && memcmp(c, "k1.", 3) == 0 && c[3 + SC_B64_32_LEN] == '.',
       "cookie: \"<kid>.<token>.<mac>\", signed by the first key");

    idx = 99;
    memset(out, 0, sizeof(out));
    rc = sc_cookie_decode(&kr1, c, n, out, &idx);
    ok(rc == SC_OK && idx == 0 && memcmp(out, token, sizeof(token)) == 0,
       "cookie: round trip, key_index 0");

    idx = 99;
    memset(out, 0, sizeof(out));
    rc = sc_cookie_decode(&kr21, c, n, out, &idx);
    ok(rc == SC_OK && idx == 1 && memcmp(out, token, sizeof(token)) == 0,
       "cookie: signed by the second key of the ring, key_index 1");

    ok(sc_cookie_decode(&kr1, c, n, out, NULL) == SC_OK,
       "cookie: key_index may be NULL");

    ok(sc_cookie_decode(&kr2, c, n, out, &idx) == SC_UNKNOWN_KID,
       "cookie: unknown kid");
    ok(sc_cookie_decode(&kr1bis, c, n, out, &idx) == SC_BAD_MAC,
       "cookie: same kid, other secret: bad MAC");

    /* every single bit flip is rejected */

    good = 1;
    any = 0;

    for (i = 0; i < n; i++) {
        for (b = 0; b < 8; b++) {
            memcpy(m, c, n);
            m[i] ^= (char) (1 << b);
            rc = sc_cookie_decode(&kr1, m, n, out, &idx);

            if (rc == SC_OK) {
                printf("# bit %zu of byte %zu accepted\n", b, i);
                good = 0;
            }

            if (i > 3 + SC_B64_32_LEN && rc == SC_BAD_MAC) {
                any = 1;
            }
        }
    }

    ok(good, "cookie: each of the %zu single bit flips is rejected", n * 8);
    ok(any, "cookie: a flip in the MAC that stays well formed is SC_BAD_MAC");

    good = 1;

    for (i = 0; i < n; i++) {
        if (sc_cookie_decode(&kr1, c, i, out, &idx) != SC_MALFORMED) {
            good = 0;
        }
    }

    ok(good, "cookie: every truncation is SC_MALFORMED");

    good = 1;

    for (i = 1; i < n; i++) {
        if (sc_cookie_decode(&kr1, c + i, n - i, out, &idx) == SC_OK) {
            good = 0;
        }
    }

    ok(good, "cookie: every suffix is rejected");

    memcpy(m, c, n);
    m[n] = '=';
    ok(sc_cookie_decode(&kr1, m, n + 1, out, &idx) == SC_MALFORMED,
       "cookie: trailing = is SC_MALFORMED");
    m[n] = ' ';
    ok(sc_cookie_decode(&kr1, m, n + 1, out, &idx) == SC_MALFORMED,
       "cookie: trailing blank is SC_MALFORMED");
    m[n] = '.';
    ok(sc_cookie_decode(&kr1, m, n + 1, out, &idx) == SC_MALFORMED,
       "cookie: trailing dot is SC_MALFORMED");

    memcpy(m, c, n);
    m[n - 1] = '\0';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: NUL byte is SC_MALFORMED");

    /* kid of 0 and 33 bytes, 32 is fine */

    ok(sc_cookie_decode(&kr1, c + 2, n - 2, out, &idx) == SC_MALFORMED,
       "cookie: empty kid is SC_MALFORMED");

    memset(m, 'k', 33);
    memcpy(m + 33, c + 2, n - 2);
    ok(sc_cookie_decode(&kr1, m, n + 31, out, &idx) == SC_MALFORMED,
       "cookie: kid of 33 bytes is SC_MALFORMED");

    n = sc_cookie_encode(&kr32, token, m, sizeof(m));
    ok(n == SC_COOKIE_MAX
       && sc_cookie_decode(&kr32, m, n, out, &idx) == SC_OK,
       "cookie: kid of 32 bytes round trips at SC_COOKIE_MAX");

    n = sc_cookie_encode(&kr1, token, c, sizeof(c));

    memcpy(m, c, n);
    m[1] = '.';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: extra dot is SC_MALFORMED");

    memcpy(m, c, n);
    m[1] = '+';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: bad kid character is SC_MALFORMED");

    /* "_" and "/" both mean 63, "-" and "+" 62 */

    memcpy(m, c, n);
    m[5] = '/';
    m[6] = '+';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: standard alphabet in the token is SC_MALFORMED");

    /*
     * the last of 43 digits carries 4 bits and 2 unused ones that are
     * zero; the same digit with an unused bit set is another spelling of
     * the same bytes, it must not decode
     */

    good = 1;

    for (b = 1; b < 4; b++) {
        memcpy(m, c, n);
        i = 3 + SC_B64_32_LEN - 1;
        m[i] = b64url_digit(b64url_value(m[i]) | b);
        good &= sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED;

        memcpy(m, c, n);
        i = n - 1;
        m[i] = b64url_digit(b64url_value(m[i]) | b);
        good &= sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED;
    }

    ok(good, "cookie: non-canonical last digits are SC_MALFORMED");

    memcpy(m, c, n);
    m[3 + SC_B64_32_LEN - 1] = '=';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: padding in the token is SC_MALFORMED");

    memcpy(m, c, n);
    m[n - 1] = '=';
    ok(sc_cookie_decode(&kr1, m, n, out, &idx) == SC_MALFORMED,
       "cookie: padding in the MAC is SC_MALFORMED");

    ok(sc_cookie_decode(&kr1, S(""), out, &idx) == SC_MALFORMED,
       "cookie: empty value is SC_MALFORMED");

    memset(c, 'A', sizeof(c));
    ok(sc_cookie_decode(&kr1, c, sizeof(c), out, &idx) == SC_MALFORMED,
       "cookie: overlong value is SC_MALFORMED");

    sc_keyring_wipe(&kr1);
    sc_keyring_wipe(&kr2);
    sc_keyring_wipe(&kr21);
    sc_keyring_wipe(&kr1bis);
    sc_keyring_wipe(&kr32);
}


/* hashes of the token */

static void
test_hashes(void)
{
    int            good;
    char           hex[SC_HASH_HEX_LEN + 1], hex2[SC_HASH_HEX_LEN + 1];
    char           pub[SC_PUBLIC_ID_LEN + 1], pub2[SC_PUBLIC_ID_LEN + 1];
    size_t         i;
    unsigned char  token[SC_TOKEN_LEN], h[32], in[3 + SC_TOKEN_LEN];

    for (i = 0; i < SC_TOKEN_LEN; i++) {
        token[i] = (unsigned char) i;
    }

    memset(hex, 'x', sizeof(hex));
    sc_token_hash_hex(token, hex);
    ok(memcmp(hex, TOKEN_HASH, SC_HASH_HEX_LEN) == 0
       && hex[SC_HASH_HEX_LEN] == 'x',
       "token hash: pinned value, exactly 64 characters written");

    memcpy(in, "sid", 3);
    memcpy(in + 3, token, SC_TOKEN_LEN);
    crypto_generichash(h, sizeof(h), in, sizeof(in), NULL, 0);
    sodium_bin2hex(hex2, sizeof(hex2), h, sizeof(h));
    ok(memcmp(hex, hex2, SC_HASH_HEX_LEN) == 0,
       "token hash is BLAKE2b-256(\"sid\" || token)");

    memset(pub, 'x', sizeof(pub));
    sc_public_id(token, pub);
    ok(memcmp(pub, TOKEN_PUBLIC, SC_PUBLIC_ID_LEN) == 0
       && pub[SC_PUBLIC_ID_LEN] == 'x',
       "public id: pinned value, exactly 16 characters written");

    ok(memcmp(pub, hex, SC_PUBLIC_ID_LEN) != 0,
       "public id is not a prefix of the token hash");

    token[31] ^= 1;
    sc_token_hash_hex(token, hex2);
    sc_public_id(token, pub2);
    ok(memcmp(hex, hex2, SC_HASH_HEX_LEN) != 0
       && memcmp(pub, pub2, SC_PUBLIC_ID_LEN) != 0,
       "another token, other hash and public id");

    good = 1;

    for (i = 0; i < 64; i++) {
        sc_random(token, sizeof(token));
        sc_token_hash_hex(token, hex);
        sc_token_hash_hex(token, hex2);
        sc_public_id(token, pub);

        good &= memcmp(hex, hex2, SC_HASH_HEX_LEN) == 0;
        good &= strspn(hex, "0123456789abcdef") >= SC_HASH_HEX_LEN;
        pub[SC_PUBLIC_ID_LEN] = '\0';
        good &= strspn(pub, "0123456789abcdef") == SC_PUBLIC_ID_LEN;
        good &= memcmp(pub, hex, SC_PUBLIC_ID_LEN) != 0;
    }

    ok(good, "hashes: stable, lowercase hex, public id never a prefix");
}


/* claims */

static int
claims_count(const char *in, size_t len)
{
    sc_claim_t  claims[SC_CLAIMS_MAX];

    return sc_claims_parse(in, len, claims, SC_CLAIMS_MAX);
}


static int
claim_is(const sc_claim_t *c, const char *name, const char *value)
{
    return c->name_len == strlen(name)
           && memcmp(c->name, name, c->name_len) == 0
           && c->value_len == strlen(value)
           && memcmp(c->value, value, c->value_len) == 0;
}


static int
claims_get_is(const char *in, const char *name, const char *want)
{
    char    out[256];
    size_t  n;

    n = sc_claims_get(in, strlen(in), name, strlen(name), out, sizeof(out));

    if (want == NULL) {
        return n == (size_t) -1;
    }

    return n == strlen(want) && memcmp(out, want, n) == 0;
}


static void
test_claims(void)
{
    int         n;
    char        buf[SC_CLAIMS_BYTES + 64], out[16], *p;
    size_t      i;
    sc_claim_t  cl[SC_CLAIMS_MAX + 1];

    ok(claims_count(S("")) == 0, "claims: empty string");
    ok(claims_count(S("   ")) == 0, "claims: blanks only");
    ok(claims_count(NULL, 0) == 0, "claims: NULL, 0");

    n = sc_claims_parse(S("a=1"), cl, SC_CLAIMS_MAX);
    ok(n == 1 && claim_is(&cl[0], "a", "1"), "claims: one pair");

    n = sc_claims_parse(S("  role = admin ;tenant=a%20b;  x_1=  "), cl,
                        SC_CLAIMS_MAX);
    ok(n == 3 && claim_is(&cl[0], "role", "admin")
       && claim_is(&cl[1], "tenant", "a%20b") && claim_is(&cl[2], "x_1", ""),
       "claims: blanks around ; and =, raw value, empty value");

    n = sc_claims_parse(S("a=1;;b=2;"), cl, SC_CLAIMS_MAX);
    ok(n == 2, "claims: empty pairs are skipped");

    n = sc_claims_parse(S("v=AZaz09-._~!$&'()*+=="), cl, SC_CLAIMS_MAX);
    ok(n == 1 && claim_is(&cl[0], "v", "AZaz09-._~!$&'()*+=="),
       "claims: every allowed raw value character");

    ok(claims_count(S("a=b\r\nX: y")) == SC_MALFORMED,
       "claims: CRLF header injection");
    ok(claims_count(S("a=b\nX: y")) == SC_MALFORMED, "claims: LF");
    ok(claims_count(S("a=b\r")) == SC_MALFORMED, "claims: CR");
    ok(claims_count(S("a=b\0c")) == SC_MALFORMED, "claims: NUL");
    ok(claims_count(S("a=b\tc")) == SC_MALFORMED, "claims: HT");
    ok(claims_count(S("a=\x7f")) == SC_MALFORMED, "claims: DEL");
    ok(claims_count(S("a=\xc3\xa9")) == SC_MALFORMED, "claims: raw UTF-8");
    ok(claims_count(S("a=b c")) == SC_MALFORMED, "claims: blank in value");
    ok(claims_count(S("a=\"b\"")) == SC_MALFORMED, "claims: quote");
    ok(claims_count(S("a=b\\c")) == SC_MALFORMED, "claims: backslash");
    ok(claims_count(S("a=b,c=d")) == SC_MALFORMED, "claims: comma");
    ok(claims_count(S("a=http://x")) == SC_MALFORMED,
       "claims: gen-delims must be escaped");
    ok(claims_count(S("a=%4")) == SC_MALFORMED, "claims: short escape");
    ok(claims_count(S("a=%")) == SC_MALFORMED, "claims: bare %%");
    ok(claims_count(S("a=%zz")) == SC_MALFORMED, "claims: non-hex escape");
    ok(claims_count(S("a=%4a%4A")) == 1, "claims: hex escapes, both cases");
    ok(claims_count(S("a")) == SC_MALFORMED, "claims: name without =");
    ok(claims_count(S("=1")) == SC_MALFORMED, "claims: empty name");
    ok(claims_count(S("a-b=1")) == SC_MALFORMED, "claims: - in a name");
    ok(claims_count(S("a b=1")) == SC_MALFORMED, "claims: blank in a name");
    ok(claims_count(S("a=1; a=2")) == SC_MALFORMED, "claims: duplicate");
    ok(claims_count(S("a=1; A=2")) == SC_MALFORMED,
       "claims: names are case-insensitive, so a=1; A=2 is a duplicate");
    ok(claims_count(S("abcdefghijklmnopqrstuvwxyz_012345=1")) == SC_MALFORMED,
       "claims: name of 33 bytes");
    ok(claims_count(S("abcdefghijklmnopqrstuvwxyz_01234=1")) == 1,
       "claims: name of 32 bytes");

    p = buf;

    for (i = 0; i < SC_CLAIMS_MAX; i++) {
        p += sprintf(p, "c%zu=%zu; ", i, i);
    }

    ok(sc_claims_parse(buf, p - buf, cl, SC_CLAIMS_MAX + 1) == SC_CLAIMS_MAX,
       "claims: %d pairs are fine", SC_CLAIMS_MAX);

    p += sprintf(p, "c%zu=%zu", i, i);

    ok(sc_claims_parse(buf, p - buf, cl, SC_CLAIMS_MAX + 1) == SC_MALFORMED,
       "claims: %d pairs are too many", SC_CLAIMS_MAX + 1);
    ok(sc_claims_parse(S("a=1; b=2; c=3"), cl, 2) == SC_MALFORMED,
       "claims: more than nclaims_max");
    ok(sc_claims_parse(S("a=1; b=2; c=3"), NULL, 0) == SC_MALFORMED,
       "claims: nclaims_max 0");

    memcpy(buf, "a=", 2);
    memset(buf + 2, 'x', SC_CLAIMS_BYTES - 2);
    ok(claims_count(buf, SC_CLAIMS_BYTES) == 1,
       "claims: %d bytes are fine", SC_CLAIMS_BYTES);
    buf[SC_CLAIMS_BYTES] = 'x';
    ok(claims_count(buf, SC_CLAIMS_BYTES + 1) == SC_MALFORMED,
       "claims: %d bytes are too many", SC_CLAIMS_BYTES + 1);

    ok(claims_get_is("a=1; b=hello%20world%21", "b", "hello world!"),
       "claims get: percent-decoded");
    ok(claims_get_is("ab=1; a=2", "a", "2"), "claims get: exact name");
    ok(claims_get_is("a=", "a", ""), "claims get: empty value");
    ok(claims_get_is("Role=admin", "role", "admin"),
       "claims get: a lower-case name finds a mixed-case claim");
    ok(claims_get_is("a=x%09y", "a", "x\ty"), "claims get: HT is kept");
    ok(claims_get_is("a=1", "b", NULL), "claims get: absent");
    ok(claims_get_is("a=1", "", NULL), "claims get: empty name");
    ok(claims_get_is("a=1; a=2", "a", NULL), "claims get: duplicate");
    ok(claims_get_is("a=b%0d%0aX:%20y", "a", NULL),
       "claims get: decoded CRLF is rejected");
    ok(claims_get_is("a=b%0AX", "a", NULL), "claims get: decoded LF");
    ok(claims_get_is("a=b%00", "a", NULL), "claims get: decoded NUL");
    ok(claims_get_is("a=b\r\nX: y", "a", NULL),
       "claims get: raw CRLF is rejected");
    ok(claims_get_is("a=ok; b=\"", "a", NULL),
       "claims get: malformed elsewhere in the string");
    ok(sc_claims_get(S("a=0123456789abcdef"), S("a"), out, sizeof(out))
       == 16, "claims get: exact outlen");
    ok(sc_claims_get(S("a=0123456789abcdefg"), S("a"), out, sizeof(out))
       == (size_t) -1, "claims get: outlen too short");

    ok(sc_pct_decode(S("a%2Fb%2f"), out, sizeof(out)) == 4
       && memcmp(out, "a/b/", 4) == 0, "pct decode");
    ok(sc_pct_decode(S("a+b"), out, sizeof(out)) == 3
       && memcmp(out, "a+b", 3) == 0, "pct decode: + is not a blank");
    ok(sc_pct_decode(S("%g0"), out, sizeof(out)) == (size_t) -1,
       "pct decode: bad escape");
    ok(sc_pct_decode(S("ab%4"), out, sizeof(out)) == (size_t) -1,
       "pct decode: truncated escape");
    ok(sc_pct_decode(S("abc"), out, 2) == (size_t) -1,
       "pct decode: outlen too short");
}


static void
test_misc(void)
{
    unsigned char  a[64], b[64];

    sc_random(a, sizeof(a));
    memcpy(b, a, sizeof(a));

    ok(sc_equal(a, b, sizeof(a)) == 1, "sc_equal: equal buffers");
    b[63] ^= 0x80;
    ok(sc_equal(a, b, sizeof(a)) == 0, "sc_equal: last bit differs");
    b[63] ^= 0x80;
    b[0] ^= 1;
    ok(sc_equal(a, b, sizeof(a)) == 0, "sc_equal: first bit differs");
    ok(sc_equal(a, b, 0) == 1, "sc_equal: empty buffers are equal");

    sc_random(b, sizeof(b));
    ok(!sc_equal(a, b, sizeof(a)), "sc_random: two draws differ");
}


static void
test_grace(void)
{
    char           sealed[SC_GRACE_LEN + 8], again[SC_GRACE_LEN];
    size_t         n, i;
    unsigned char  old_token[SC_TOKEN_LEN], new_token[SC_TOKEN_LEN];
    unsigned char  other[SC_TOKEN_LEN], out[SC_TOKEN_LEN];

    sc_random(old_token, sizeof(old_token));
    sc_random(new_token, sizeof(new_token));
    memcpy(other, old_token, sizeof(other));
    other[0] ^= 1;

    n = sc_grace_seal(old_token, new_token, sealed, sizeof(sealed));
    ok(n == SC_GRACE_LEN, "grace: sealed length");

    ok(sc_grace_seal(old_token, new_token, sealed, SC_GRACE_LEN - 1) == 0,
       "grace: short output buffer refused");

    n = sc_grace_seal(old_token, new_token, sealed, sizeof(sealed));

    ok(sc_grace_open(old_token, sealed, n, out) == SC_OK
       && memcmp(out, new_token, SC_TOKEN_LEN) == 0,
       "grace: the old token opens the new one");

    ok(sc_grace_open(other, sealed, n, out) == SC_BAD_MAC,
       "grace: another token cannot open it");

    sc_grace_seal(old_token, new_token, again, sizeof(again));
    ok(memcmp(again, sealed, SC_GRACE_LEN) != 0,
       "grace: random nonce, two seals differ");

    for (i = 0; i < n; i += 7) {
        memcpy(again, sealed, n);
        again[i] = again[i] == 'A' ? 'B' : 'A';

        if (sc_grace_open(old_token, again, n, out) == SC_OK) {
            break;
        }
    }

    ok(i >= n, "grace: a changed character never opens");

    ok(sc_grace_open(old_token, sealed, n - 1, out) == SC_MALFORMED,
       "grace: truncated is malformed");

    memcpy(again, sealed, n);
    again[10] = '*';
    ok(sc_grace_open(old_token, again, n, out) == SC_MALFORMED,
       "grace: bad alphabet is malformed");
}


/* the record's lookup copy "lk" (src/session_record.c) */

#define LK_ID     "0123456789abcdef"
#define LK_HEAD   "16:" LK_ID ","

static int
unpacks_to(const char *in, size_t len, int want, const char *subject)
{
    sc_field_t  f[SC_RECORD_FIELDS];

    if (sc_record_unpack(in, len, LK_ID, f, SC_RECORD_FIELDS) != want) {
        return 0;
    }

    return want != SC_OK
           || (subject == NULL ? f[0].data == NULL
               : f[0].data != NULL && f[0].len == strlen(subject)
                 && memcmp(f[0].data, subject, f[0].len) == 0);
}


static void
test_record(void)
{
    char         out[256];
    size_t       i, n, len, cut;
    sc_field_t   f[SC_RECORD_FIELDS], g[SC_RECORD_FIELDS];
    int          good;
    static char  big[SC_RECORD_FIELD_MAX + 1];

    static const char  lk[] = LK_HEAD "5:alice,10:1764723200,10:1764680000,"
                              "9:role=root,0:,0:,10:1764680000,";

    ok(unpacks_to(S(lk), SC_OK, "alice"), "record: unpack");
    ok(sc_record_unpack(S(lk), LK_ID, f, SC_RECORD_FIELDS) == SC_OK
       && f[1].len == 10 && memcmp(f[1].data, "1764723200", 10) == 0
       && f[3].len == 9 && memcmp(f[3].data, "role=root", 9) == 0
       && f[4].data == NULL && f[4].len == 0 && f[5].data == NULL
       && f[6].len == 10,
       "record: the fields, an empty one absent");
    ok(unpacks_to(S(LK_HEAD "0:,0:,0:,0:,0:,0:,0:,"), SC_OK, NULL),
       "record: seven empty fields");
    ok(unpacks_to(S(LK_HEAD "5:a,b,c,0:,0:,0:,0:,0:,0:,"), SC_OK, "a,b,c"),
       "record: a comma inside a field");

    /* another record's, or not a record's: SC_RECORD_OTHER */

    ok(unpacks_to(S("16:0123456789abcdee,5:alice,10:1764723200,"
                    "10:1764680000,9:role=root,0:,0:,10:1764680000,"),
                  SC_RECORD_OTHER, NULL),
       "record: another record's id");
    ok(unpacks_to(S("5:alice,10:1764723200,10:1764680000,9:role=root,"
                    "0:,0:,10:1764680000,"), SC_RECORD_OTHER, NULL),
       "record: no id");
    ok(unpacks_to(S("6b86b273ff34fce19d6b804eff5a3f5747ada4ea"),
                  SC_RECORD_OTHER, NULL)
       && unpacks_to(S(""), SC_RECORD_OTHER, NULL)
       && unpacks_to(S("16:0123456789abcdef"), SC_RECORD_OTHER, NULL)
       && unpacks_to(S("17:0123456789abcdef0,"), SC_RECORD_OTHER, NULL),
       "record: a SHA1 (SCRIPT LOAD's reply), empty, a cut or long id");

    /* every proper prefix and every one-byte extension is refused */

    good = 1;

    for (cut = 0; cut < sizeof(lk) - 1; cut++) {
        good &= unpacks_to(lk, cut,
                           cut < sizeof(LK_HEAD) - 1 ? SC_RECORD_OTHER
                                                     : SC_MALFORMED,
                           NULL);
    }

    ok(good, "record: every truncation is refused");

    memcpy(out, lk, sizeof(lk) - 1);
    good = 1;

    for (i = 0; i < 256; i++) {
        out[sizeof(lk) - 1] = (char) i;
        good &= unpacks_to(out, sizeof(lk), SC_MALFORMED, NULL);
    }

    ok(good, "record: a byte after the seventh field is refused");

    ok(unpacks_to(S(LK_HEAD "05:alice,10:1764723200,10:1764680000,"
                    "9:role=root,0:,0:,10:1764680000,"), SC_MALFORMED, NULL),
       "record: a leading zero in a length");
    ok(unpacks_to(S(LK_HEAD "00:,0:,0:,0:,0:,0:,0:,"), SC_MALFORMED, NULL),
       "record: a length of 00");
    ok(unpacks_to(S(LK_HEAD "6:alice,10:1764723200,10:1764680000,"
                    "9:role=root,0:,0:,10:1764680000,"), SC_MALFORMED, NULL),
       "record: a length one too long");
    ok(unpacks_to(S(LK_HEAD "4:alice,10:1764723200,10:1764680000,"
                    "9:role=root,0:,0:,10:1764680000,"), SC_MALFORMED, NULL),
       "record: a length one too short");
    ok(unpacks_to(S(LK_HEAD ":alice,0:,0:,0:,0:,0:,0:,"), SC_MALFORMED,
                  NULL),
       "record: no length");
    ok(unpacks_to(S(LK_HEAD "+5:alice,0:,0:,0:,0:,0:,0:,"), SC_MALFORMED,
                  NULL)
       && unpacks_to(S(LK_HEAD " 5:alice,0:,0:,0:,0:,0:,0:,"), SC_MALFORMED,
                     NULL)
       && unpacks_to(S(LK_HEAD "5 :alice,0:,0:,0:,0:,0:,0:,"), SC_MALFORMED,
                     NULL),
       "record: a sign or a space around a length");
    ok(unpacks_to(S(LK_HEAD "1000000:x"), SC_MALFORMED, NULL)
       && unpacks_to(S(LK_HEAD "18446744073709551621:alice,"), SC_MALFORMED,
                     NULL),
       "record: seven digits, and a length that wraps size_t");
    ok(unpacks_to(S(LK_HEAD "5:alice;0:,0:,0:,0:,0:,0:,"), SC_MALFORMED,
                  NULL),
       "record: another byte than a comma after a field");

    /* pack: the inverse, and its limits */

    ok(sc_record_unpack(S(lk), LK_ID, f, SC_RECORD_FIELDS) == SC_OK
       && (len = sc_record_pack(out, sizeof(out), LK_ID, f,
                                SC_RECORD_FIELDS))
          == sizeof(lk) - 1
       && memcmp(out, lk, len) == 0,
       "record: pack gives back what was unpacked");

    good = 1;

    for (n = 0; n < sizeof(lk) - 1; n++) {
        good &= sc_record_pack(out, n, LK_ID, f, SC_RECORD_FIELDS) == 0;
    }

    ok(good, "record: pack refuses every buffer too short");

    memset(big, 'x', sizeof(big));
    memset(g, 0, sizeof(g));
    g[0].data = big;
    g[0].len = SC_RECORD_FIELD_MAX + 1;
    ok(sc_record_pack(out, sizeof(out), LK_ID, g, SC_RECORD_FIELDS) == 0,
       "record: pack refuses a field over SC_RECORD_FIELD_MAX");
}

int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    ok(sc_init() == SC_OK, "sc_init");
    ok(sc_init() == SC_OK, "sc_init twice");

    test_b64();
    test_equal();
    test_keyring();
    test_cookie();
    test_hashes();
    test_claims();
    test_misc();
    test_grace();
    test_record();

    printf("1..%u\n", tests);
    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}
