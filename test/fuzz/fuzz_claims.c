
/*
 * libFuzzer target: the claims parser, sc_claims_get() and
 * sc_pct_decode().
 *
 * Invariants checked (beyond the sanitizers, which catch any read past the
 * input: libFuzzer hands over an exactly sized heap copy):
 *   - an accepted string has no control byte and no byte >= 0x7f, at most
 *     SC_CLAIMS_BYTES bytes and SC_CLAIMS_MAX claims; names are 1..32 of
 *     [A-Za-z0-9_] and distinct; names and values point into the input
 *     and values only hold allowed characters and valid escapes;
 *   - sc_claims_get() returns, for each claim, its percent-decoded value,
 *     or (size_t) -1 exactly when that value decodes to a control byte;
 *     decoded values never hold CR, LF or NUL;
 *   - re-serialising the claims as "n=v; n=v" parses to the same claims;
 *   - a smaller nclaims_max gives the same result or SC_MALFORMED when
 *     there are more claims than that.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_core.h"
#include "fuzz.h"


static const char  name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_";

static const char  value_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    "-._~!$&'()*+=%";


static int
span(const char *p, size_t len, const char *set)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (p[i] == '\0' || strchr(set, p[i]) == NULL) {
            return 0;
        }
    }

    return 1;
}


static void
check_claims(const char *in, size_t size, const sc_claim_t *cl, int n)
{
    char          dec[SC_CLAIMS_BYTES], got[SC_CLAIMS_BYTES];
    char          ser[SC_CLAIMS_BYTES + 2 * SC_CLAIMS_MAX], *p;
    size_t        i, j, d, g;
    sc_claim_t    cl2[SC_CLAIMS_MAX];
    unsigned int  ctl;

    CHECK(n <= SC_CLAIMS_MAX);
    CHECK(size <= SC_CLAIMS_BYTES);

    for (i = 0; i < size; i++) {
        CHECK((unsigned char) in[i] >= 0x20 && (unsigned char) in[i] < 0x7f);
    }

    p = ser;

    for (i = 0; i < (size_t) n; i++) {
        CHECK(cl[i].name >= in && cl[i].name + cl[i].name_len <= in + size);
        CHECK(cl[i].value >= in
              && cl[i].value + cl[i].value_len <= in + size);
        CHECK(cl[i].name_len >= 1 && cl[i].name_len <= SC_CLAIM_NAME_MAX);
        CHECK(span(cl[i].name, cl[i].name_len, name_chars));
        CHECK(span(cl[i].value, cl[i].value_len, value_chars));

        for (j = 0; j < i; j++) {
            CHECK(cl[i].name_len != cl[j].name_len
                  || memcmp(cl[i].name, cl[j].name, cl[i].name_len) != 0);
        }

        d = sc_pct_decode(cl[i].value, cl[i].value_len, dec, sizeof(dec));
        CHECK(d != (size_t) -1 && d <= cl[i].value_len);

        ctl = 0;

        for (j = 0; j < d; j++) {
            ctl |= ((unsigned char) dec[j] < 0x20 && dec[j] != '\t')
                   || dec[j] == 0x7f;
        }

        g = sc_claims_get(in, size, cl[i].name, cl[i].name_len, got,
                          sizeof(got));

        if (ctl) {
            CHECK(g == (size_t) -1);

        } else {
            CHECK(g == d && memcmp(got, dec, d) == 0);
            CHECK(memchr(got, '\r', g) == NULL);
            CHECK(memchr(got, '\n', g) == NULL);
            CHECK(memchr(got, '\0', g) == NULL);
        }

        if (d > 0) {
            CHECK(sc_claims_get(in, size, cl[i].name, cl[i].name_len, got,
                                d - 1)
                  == (size_t) -1);
        }

        if (i) {
            *p++ = ';';
            *p++ = ' ';
        }

        memcpy(p, cl[i].name, cl[i].name_len);
        p += cl[i].name_len;
        *p++ = '=';
        memcpy(p, cl[i].value, cl[i].value_len);
        p += cl[i].value_len;
    }

    /* the canonical spelling parses to the same claims */

    if ((size_t) (p - ser) <= SC_CLAIMS_BYTES) {
        CHECK(sc_claims_parse(ser, p - ser, cl2, SC_CLAIMS_MAX) == n);

        for (i = 0; i < (size_t) n; i++) {
            CHECK(cl2[i].name_len == cl[i].name_len
                  && memcmp(cl2[i].name, cl[i].name, cl[i].name_len) == 0);
            CHECK(cl2[i].value_len == cl[i].value_len
                  && memcmp(cl2[i].value, cl[i].value, cl[i].value_len)
                     == 0);
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          n, m;
    char         out[64];
    size_t       max;
    const char  *in;
    sc_claim_t   cl[SC_CLAIMS_MAX + 4], cl2[SC_CLAIMS_MAX + 4];

    in = (const char *) data;

    /* more room than SC_CLAIMS_MAX: the limit is the core's own */

    n = sc_claims_parse(in, size, cl, SC_CLAIMS_MAX + 4);

    if (memchr(in, '\r', size) || memchr(in, '\n', size)
        || memchr(in, '\0', size))
    {
        CHECK(n == SC_MALFORMED);
    }

    if (n < 0) {
        CHECK(n == SC_MALFORMED);
        CHECK(sc_claims_get(in, size, "a", 1, out, sizeof(out))
              == (size_t) -1);

    } else {
        check_claims(in, size, cl, n);
    }

    max = size ? data[size - 1] % (SC_CLAIMS_MAX + 2) : 0;
    m = sc_claims_parse(in, size, cl2, max);

    if (n < 0 || (size_t) n > max) {
        CHECK(m == SC_MALFORMED);

    } else {
        CHECK(m == n && memcmp(cl, cl2, n * sizeof(sc_claim_t)) == 0);
    }

    return 0;
}
