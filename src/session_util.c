
/*
 * ngx_http_session_module core utilities: base64, hex digits, decimals,
 * percent-decoding, constant time comparison, randomness, error
 * messages.  No nginx headers, no allocation, no I/O.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"


/*
 * Branch-free byte classification, after libsodium's codecs.c.  Each
 * helper returns 0xff for true and 0 for false; arguments are 0..0xff.
 * The encoder, which writes our own tokens and MACs into cookies, runs in
 * constant time: no lookup tables and no data dependent branches.  The
 * decoder reads what a client sent (or the key file, at start-up) and uses
 * a table: its timing depends only on bytes the sender already knows.  It
 * was the largest single cost of a validated request in constant-time
 * form (docs/benchmarks.md).  Secrets are compared with sc_equal(),
 * sodium_memcmp and crypto_verify_32 only.
 */

static unsigned
sc_ct_eq(unsigned x, unsigned y)
{
    return (((0U - (x ^ y)) >> 8) & 0xff) ^ 0xff;
}


static unsigned
sc_ct_gt(unsigned x, unsigned y)
{
    return ((y - x) >> 8) & 0xff;
}


static unsigned
sc_ct_ge(unsigned x, unsigned y)
{
    return sc_ct_gt(y, x) ^ 0xff;
}


static unsigned
sc_ct_lt(unsigned x, unsigned y)
{
    return sc_ct_gt(y, x);
}


/* 0..63 to the URL-safe alphabet */

static char
sc_b64url_char(unsigned x)
{
    return (char) ((sc_ct_lt(x, 26) & (x + 'A'))
                   | (sc_ct_ge(x, 26) & sc_ct_lt(x, 52) & (x + ('a' - 26)))
                   | (sc_ct_ge(x, 52) & sc_ct_lt(x, 62) & (x - (52 - '0')))
                   | (sc_ct_eq(x, 62) & '-')
                   | (sc_ct_eq(x, 63) & '_'));
}


/*
 * Decoding table: the 6-bit value, 0x40 set for the standard alphabet's
 * "+" "/", 0x80 for the URL-safe "-" "_", 0xff for anything else.  A table
 * lookup depends on the input byte, which is the caller's own data (a
 * cookie sent by the client, a key file read at start-up), never on a
 * secret the attacker lacks; the MAC comparison stays constant time.
 */

static const unsigned char  sc_b64_table[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7e, 0xff, 0xbe, 0xff, 0x7f,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
    0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xbf,
    0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24,
    0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
    0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff
};


size_t
sc_b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t    i, n;
    unsigned  acc, bits;

    n = 0;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        acc = ((acc << 8) | in[i]) & 0xffff;
        bits += 8;

        while (bits >= 6) {
            bits -= 6;
            out[n++] = sc_b64url_char((acc >> bits) & 0x3f);
        }
    }

    if (bits > 0) {
        out[n++] = sc_b64url_char((acc << (6 - bits)) & 0x3f);
    }

    return n;
}


/*
 * Strict: '=' only at the end, one or two of them and then only to a
 * multiple of 4 characters; unpadded input must not be 1 mod 4 long; the
 * unused low bits of the last digit must be zero (so that every byte
 * string has exactly one spelling per alphabet and padding style); the
 * two alphabets must not be mixed.  On error out is wiped.
 */

size_t
sc_b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
    size_t    i, n, o, pad, olen;
    unsigned  v, acc, bits, bad, std, url;

    pad = 0;

    if (len > 0 && in[len - 1] == '=') {
        pad = (len > 1 && in[len - 2] == '=') ? 2 : 1;

        if (len % 4 != 0) {
            return (size_t) -1;
        }
    }

    n = len - pad;

    if (n % 4 == 1) {
        return (size_t) -1;
    }

    olen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);

    if (olen > outlen) {
        return (size_t) -1;
    }

    o = 0;
    acc = 0;
    bits = 0;
    bad = 0;
    std = 0;
    url = 0;

    for (i = 0; i < n; i++) {
        v = sc_b64_table[(unsigned char) in[i]];

        if (v == 0xff) {
            bad = 1;
            break;
        }

        std |= v & 0x40;
        url |= v & 0x80;

        acc = ((acc << 6) | (v & 0x3f)) & 0xfff;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
        }
    }

    /* non-canonical: leftover bits set */
    bad |= (acc & ((1U << bits) - 1)) ? 0xff : 0;

    bad |= (std && url);

    if (bad) {
        if (olen) {
            sodium_memzero(out, olen);
        }

        return (size_t) -1;
    }

    return olen;
}


/*
 * The cookie's fields: exactly 43 URL-safe digits, no padding, to 32
 * bytes, in one pass of 4-digit groups.  The same rules as
 * sc_b64_decode(): anything but the URL-safe alphabet (0x80 in this
 * table), the standard alphabet's "+" "/" included, and non-zero trailing
 * bits are refused.  Returns 0, or -1 with out wiped.  It is the first
 * thing done to every cookie, so it is written for speed
 * (docs/benchmarks.md); like sc_b64_decode() it looks up bytes the client
 * sent, never a secret it lacks.
 */

static const unsigned char  sc_b64url_table[256] = {
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x3e, 0x80, 0x80,
    0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
    0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
    0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x80, 0x80, 0x80, 0x80, 0x3f,
    0x80, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24,
    0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
    0x31, 0x32, 0x33, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    0x80, 0x80, 0x80, 0x80
};


int
sc_b64url_decode32(const char *in, unsigned char *out)
{
    size_t                i;
    uint32_t              a, b, c, d, bad;
    const unsigned char  *p;

    p = (const unsigned char *) in;
    bad = 0;

    for (i = 0; i < 10; i++) {
        a = sc_b64url_table[p[0]];
        b = sc_b64url_table[p[1]];
        c = sc_b64url_table[p[2]];
        d = sc_b64url_table[p[3]];

        bad |= a | b | c | d;

        a = a << 18 | b << 12 | c << 6 | d;

        out[3 * i] = (unsigned char) (a >> 16);
        out[3 * i + 1] = (unsigned char) (a >> 8);
        out[3 * i + 2] = (unsigned char) a;

        p += 4;
    }

    /* 3 digits, 18 bits: 16 of data and 2 that must be zero */

    a = sc_b64url_table[p[0]];
    b = sc_b64url_table[p[1]];
    c = sc_b64url_table[p[2]];

    bad = (bad | a | b | c) & 0x80;

    a = a << 12 | b << 6 | c;
    bad |= a & 3;

    out[30] = (unsigned char) (a >> 10);
    out[31] = (unsigned char) (a >> 2);

    if (bad) {
        sodium_memzero(out, 32);
        return -1;
    }

    return 0;
}


int
sc_equal(const void *a, const void *b, size_t len)
{
    size_t                i;
    uint64_t              x, y, d;
    const unsigned char  *p, *q;

    /*
     * 1 if equal, 0 if not, in time that depends on len only: every word
     * is read and the differences are OR-ed, with no early exit.  Eight
     * bytes at a time, a tenth of sodium_memcmp()'s cost on a 43-byte
     * cache key (docs/benchmarks.md); a length that is not a multiple of
     * eight ends with the last eight bytes, read again in part.
     */

    p = a;
    q = b;
    d = 0;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&x, p + i, 8);
        memcpy(&y, q + i, 8);
        d |= x ^ y;
    }

    if (i < len && len >= 8) {
        /* the last eight bytes, overlapping the words above */
        memcpy(&x, p + len - 8, 8);
        memcpy(&y, q + len - 8, 8);
        d |= x ^ y;

    } else {
        for ( /* void */ ; i < len; i++) {
            d |= (uint64_t) (p[i] ^ q[i]);
        }
    }

    /* 1 iff d == 0, without a branch on d */

    d |= d >> 32;
    d &= 0xffffffff;

    return (int) (1 & ((d - 1) >> 32));
}


void
sc_random(unsigned char *buf, size_t len)
{
    randombytes_buf(buf, len);
}


int
sc_init(void)
{
    return sodium_init() < 0 ? SC_ERROR : SC_OK;
}


int
sc_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


int
sc_dec_parse(const char *p, size_t len, int64_t *out)
{
    size_t   i;
    int64_t  v, d;

    if (len == 0 || (p[0] == '0' && len > 1)) {
        return 0;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }

        d = p[i] - '0';

        if (v > (INT64_MAX - d) / 10) {
            return 0;
        }

        v = v * 10 + d;
    }

    *out = v;

    return 1;
}


size_t
sc_pct_decode(const char *in, size_t len, char *out, size_t outlen)
{
    int            hi, lo;
    size_t         i, n;
    unsigned char  c;

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (c == '%') {
            if (len - i < 3) {
                return (size_t) -1;
            }

            hi = sc_hex_value((unsigned char) in[i + 1]);
            lo = sc_hex_value((unsigned char) in[i + 2]);

            if (hi < 0 || lo < 0) {
                return (size_t) -1;
            }

            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        }

        if (n == outlen) {
            return (size_t) -1;
        }

        out[n++] = (char) c;
    }

    return n;
}


int
sc_error_set(sc_error_t *err, unsigned line, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (err == NULL) {
        return SC_ERROR;
    }

    err->line = line;
    n = 0;

    if (line) {
        n = snprintf(err->msg, sizeof(err->msg), "line %u: ", line);

        if (n < 0 || (size_t) n >= sizeof(err->msg)) {
            n = 0;
        }
    }

    va_start(args, fmt);
    (void) vsnprintf(err->msg + n, sizeof(err->msg) - n, fmt, args);
    va_end(args);

    return SC_ERROR;
}
