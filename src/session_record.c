
/*
 * ngx_http_session_module core: the record's lookup field "lk".
 *
 * A session record in Redis is a hash (docs/redis.md).  Its fields are
 * what every script and tool reads and writes; "lk" holds a copy of the
 * fields a lookup needs, packed into one value, so that a request costs
 * Redis one HGET of one field instead of an HMGET of six or seven (a
 * third of Redis's time per lookup, and one bulk string for nginx to read
 * instead of an array: docs/benchmarks.md).  Every script that writes one
 * of those fields rewrites "lk" from the fields (SS_LUA_LK_FN).
 *
 * The format: netstrings, "<length>:<bytes>," each; the length is
 * decimal, without a leading zero.  The first is the record's id, the
 * first SC_RECORD_ID_LEN hex digits of its hash (the end of its key), so
 * that a reply names the record it comes from: RESP has no request ids,
 * and a link out of step would otherwise hand one session's record to
 * another request (ngx_http_session_redis_desync()).  Then
 * SC_RECORD_FIELDS of them in the order sub abs last cl nx nt cre; an
 * empty one ("0:,") is a field the record does not have.  Nothing may
 * follow the last.  No nginx headers, no allocation.
 */


#include <string.h>

#include "session_core.h"


int
sc_record_unpack(const char *in, size_t len, const char *id, sc_field_t *f,
    size_t n)
{
    size_t       i, l;
    unsigned     d;
    const char  *p, *end, *last;

    /* "16:<id>," */

    if (len < SC_RECORD_ID_LEN + 4
        || memcmp(in, "16:", 3) != 0
        || memcmp(in + 3, id, SC_RECORD_ID_LEN) != 0
        || in[3 + SC_RECORD_ID_LEN] != ',')
    {
        return SC_RECORD_OTHER;
    }

    p = in + SC_RECORD_ID_LEN + 4;
    end = in + len;

    for (i = 0; i < n; i++) {

        /* "0", or 1 to SC_RECORD_DIGITS digits not beginning with "0" */

        if (p == end) {
            return SC_MALFORMED;
        }

        l = 0;

        if (*p == '0') {
            p++;

        } else {
            last = (size_t) (end - p) > SC_RECORD_DIGITS
                   ? p + SC_RECORD_DIGITS : end;

            while (p < last && (d = (unsigned char) *p - '0') <= 9) {
                l = l * 10 + d;
                p++;
            }

            if (l == 0) {
                return SC_MALFORMED;
            }
        }

        if (p == end || *p++ != ':'
            || l >= (size_t) (end - p) || p[l] != ',')
        {
            return SC_MALFORMED;
        }

        f[i].data = l ? p : NULL;
        f[i].len = l;
        p += l + 1;
    }

    return p == end ? SC_OK : SC_MALFORMED;
}


size_t
sc_record_pack(char *out, size_t size, const char *id, const sc_field_t *f,
    size_t n)
{
    char    num[SC_RECORD_DIGITS + 1];
    size_t  i, j, k, l, len;

    if (size < SC_RECORD_ID_LEN + 4) {
        return 0;
    }

    memcpy(out, "16:", 3);
    memcpy(out + 3, id, SC_RECORD_ID_LEN);
    out[3 + SC_RECORD_ID_LEN] = ',';
    len = SC_RECORD_ID_LEN + 4;

    for (i = 0; i < n; i++) {
        l = f[i].data ? f[i].len : 0;

        if (l > SC_RECORD_FIELD_MAX) {
            return 0;
        }

        k = sizeof(num);

        do {
            num[--k] = (char) ('0' + l % 10);
            l /= 10;
        } while (l);

        l = f[i].data ? f[i].len : 0;

        if (size - len < sizeof(num) - k + l + 2) {
            return 0;
        }

        for (j = k; j < sizeof(num); j++) {
            out[len++] = num[j];
        }

        out[len++] = ':';

        if (l) {
            memcpy(out + len, f[i].data, l);
            len += l;
        }

        out[len++] = ',';
    }

    return len;
}
