
/*
 * ngx_http_session_module core: claims, "name=value; name2=value2".
 *
 * Grammar (blank = SP only):
 *
 *   claims = *blank [ pair *( *blank ";" *blank [ pair ] ) ] *blank
 *   pair   = name *blank "=" *blank value
 *   name   = 1*32( ALPHA / DIGIT / "_" )
 *   value  = *( vchar / "%" HEXDIG HEXDIG )
 *   vchar  = ALPHA / DIGIT / "-" / "." / "_" / "~"             unreserved
 *            / "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "="
 *                                        sub-delims but "," and ";"
 *
 * Empty pairs (";;", a trailing ";") are skipped.  Any other byte, in
 * particular every control byte (NUL, HT, CR, LF, ...) and every byte
 * >= 0x7f, makes the whole string SC_MALFORMED, so neither a parsed value
 * nor a claims string accepted here can split a header line.
 */


#include <string.h>

#include "session_core.h"


static int
sc_claim_name_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_';
}


static int
sc_claim_value_char(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    switch (c) {
    case '-': case '.': case '_': case '~':
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case '=':
        return 1;
    default:
        return 0;
    }
}


static int
sc_is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
           || (c >= 'A' && c <= 'F');
}



/*
 * Claim names compare without regard to ASCII case: nginx lower-cases
 * variable names, so $session_claim_Role asks for "role".
 */

static int
sc_claim_name_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t         i;
    unsigned char  ca, cb;

    if (alen != blen) {
        return 0;
    }

    for (i = 0; i < alen; i++) {
        ca = (unsigned char) a[i];
        cb = (unsigned char) b[i];

        if (ca >= 'A' && ca <= 'Z') {
            ca |= 0x20;
        }

        if (cb >= 'A' && cb <= 'Z') {
            cb |= 0x20;
        }

        if (ca != cb) {
            return 0;
        }
    }

    return 1;
}

int
sc_claims_parse(const char *in, size_t len, sc_claim_t *claims,
    size_t nclaims_max)
{
    size_t       i, n, max, name_len;
    const char  *p, *end, *name, *value;

    if (len == 0) {
        return 0;
    }

    if (len > SC_CLAIMS_BYTES) {
        return SC_MALFORMED;
    }

    max = nclaims_max < SC_CLAIMS_MAX ? nclaims_max : SC_CLAIMS_MAX;

    p = in;
    end = in + len;
    n = 0;

    for ( ;; ) {

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p == ';') {
            p++;
            continue;
        }

        /* name */

        name = p;

        while (p < end && sc_claim_name_char((unsigned char) *p)) {
            p++;
        }

        name_len = p - name;

        if (name_len == 0 || name_len > SC_CLAIM_NAME_MAX) {
            return SC_MALFORMED;
        }

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end || *p != '=') {
            return SC_MALFORMED;
        }

        p++;

        while (p < end && *p == ' ') {
            p++;
        }

        /* value */

        value = p;

        while (p < end && *p != ';' && *p != ' ') {

            if (*p == '%') {
                if (end - p < 3
                    || !sc_is_hex((unsigned char) p[1])
                    || !sc_is_hex((unsigned char) p[2]))
                {
                    return SC_MALFORMED;
                }

                p += 3;
                continue;
            }

            if (!sc_claim_value_char((unsigned char) *p)) {
                return SC_MALFORMED;
            }

            p++;
        }

        if (n == max) {
            return SC_MALFORMED;
        }

        for (i = 0; i < n; i++) {
            if (sc_claim_name_eq(claims[i].name, claims[i].name_len, name,
                                 name_len))
            {
                return SC_MALFORMED;
            }
        }

        claims[n].name = name;
        claims[n].name_len = name_len;
        claims[n].value = value;
        claims[n].value_len = p - value;
        n++;

        while (p < end && *p == ' ') {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p != ';') {
            return SC_MALFORMED;
        }

        p++;
    }

    return (int) n;
}


size_t
sc_claims_get(const char *in, size_t len, const char *name,
    size_t name_len, char *out, size_t outlen)
{
    int         i, n;
    size_t      j, d;
    sc_claim_t  claims[SC_CLAIMS_MAX];

    n = sc_claims_parse(in, len, claims, SC_CLAIMS_MAX);

    for (i = 0; i < n; i++) {
        if (sc_claim_name_eq(claims[i].name, claims[i].name_len, name,
                             name_len))
        {
            break;
        }
    }

    if (n < 0 || i == n) {
        return (size_t) -1;
    }

    d = sc_pct_decode(claims[i].value, claims[i].value_len, out, outlen);

    if (d == (size_t) -1) {
        return (size_t) -1;
    }

    /* nothing that could end or fold a header line: no C0 control but HT */

    for (j = 0; j < d; j++) {
        if (((unsigned char) out[j] < 0x20 && out[j] != '\t')
            || out[j] == 0x7f)
        {
            return (size_t) -1;
        }
    }

    return d;
}
