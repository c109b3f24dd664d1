
/*
 * libFuzzer target: Telegram Mini App initData (src/session_tg.h): the
 * parser, both checks, the accessors, the auth_date check, the
 * Authorization header and the JSON "id" extraction.
 *
 * The input is the initData; it is also tried as an Authorization value
 * and as JSON text.
 *
 * Invariants checked (beyond the sanitizers):
 *   - parse returns OK, MISSING (empty input only) or INVALID (with a
 *     reason); an accepted input has only bytes %x21-7E and at most
 *     SC_TG_INIT_DATA_MAX of them;
 *   - on OK: 1..32 fields, strictly sorted by key, keys of [A-Za-z0-9_],
 *     values without control bytes, sc_tg_get() returns each value, an
 *     auth_date; the data-check-strings fit SC_TG_DCS_MAX and the input
 *     length, and have one line per field counted;
 *   - the first-party check with a fixed token never succeeds on fuzzed
 *     data; re-encoding the fields and signing them with that token (an
 *     independent HMAC over a data-check-string built here) gives an
 *     initData that parses to the same fields and verifies; one hash digit
 *     changed, it does not;
 *   - the auth_date check agrees with a 128-bit computation;
 *   - a JSON object embedded as the value of another key hides its "id";
 *     any input embedded as a JSON string hides it too.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_tg.h"
#include "fuzz.h"


#define TOKEN  "123456:fuzz-token"


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


static int
key_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_';
}


static int
field_cmp(const sc_tg_t *tg, const sc_tg_field_t *a, const sc_tg_field_t *b)
{
    int     rc;
    size_t  n;

    n = a->key_len < b->key_len ? a->key_len : b->key_len;
    rc = memcmp(tg->data + a->key, tg->data + b->key, n);

    return rc ? rc : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}


static int
is_key(const sc_tg_t *tg, const sc_tg_field_t *f, const char *key)
{
    return f->key_len == strlen(key)
           && memcmp(tg->data + f->key, key, f->key_len) == 0;
}


/*
 * "k=v&k=v&...&hash=<hmac>" from the fields of tg but "hash", in reverse
 * order, values percent-encoded in various ways (either hex case, "+" or
 * "%20" for a space), signed with TOKEN; returns the length, 0 if out is
 * too short.
 */

static size_t
resign(const sc_tg_t *tg, char *out, size_t outlen)
{
    char                          *dcs;
    size_t                         i, j, n, d;
    unsigned char                  key[32], mac[32], c;
    const sc_tg_field_t           *f;
    crypto_auth_hmacsha256_state   st;

    static const char  hex[] = "0123456789abcdef0123456789ABCDEF";

    n = 5 + 64;

    for (i = 0; i < tg->nfields; i++) {
        n += tg->fields[i].key_len + 1 + 3 * tg->fields[i].value_len + 1;
    }

    if (n > outlen) {
        return 0;
    }

    /* the data-check-string, sorted, built here */

    dcs = malloc(SC_TG_DCS_MAX);
    CHECK(dcs != NULL);

    d = 0;

    for (i = 0; i < tg->nfields; i++) {
        f = &tg->fields[i];

        if (is_key(tg, f, "hash")) {
            continue;
        }

        if (d) {
            dcs[d++] = '\n';
        }

        memcpy(dcs + d, tg->data + f->key, f->key_len);
        d += f->key_len;
        dcs[d++] = '=';
        memcpy(dcs + d, tg->data + f->value, f->value_len);
        d += f->value_len;
    }

    crypto_auth_hmacsha256_init(&st, (const unsigned char *) "WebAppData",
                                10);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *) TOKEN,
                                  sizeof(TOKEN) - 1);
    crypto_auth_hmacsha256_final(&st, key);

    crypto_auth_hmacsha256_init(&st, key, sizeof(key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *) dcs, d);
    crypto_auth_hmacsha256_final(&st, mac);

    free(dcs);

    /* the query string, in reverse order */

    n = 0;

    for (i = tg->nfields; i-- > 0; /* void */) {
        f = &tg->fields[i];

        if (is_key(tg, f, "hash")) {
            continue;
        }

        memcpy(out + n, tg->data + f->key, f->key_len);
        n += f->key_len;
        out[n++] = '=';

        for (j = 0; j < f->value_len; j++) {
            c = (unsigned char) tg->data[f->value + j];

            if (key_char(c) || c == '-' || c == '.' || c == '~') {
                out[n++] = (char) c;

            } else if (c == ' ' && (j & 1)) {
                out[n++] = '+';

            } else {
                out[n++] = '%';
                out[n++] = hex[(c >> 4) + (j & 2) * 8];
                out[n++] = hex[(c & 15) + (j & 4) * 4];
            }
        }

        out[n++] = '&';
    }

    memcpy(out + n, "hash=", 5);
    n += 5;

    for (i = 0; i < 32; i++) {
        out[n++] = hex[mac[i] >> 4];
        out[n++] = hex[mac[i] & 15];
    }

    return n;
}


static void
check_fields(const sc_tg_t *tg, size_t size)
{
    int                   rc;
    char                 *dcs, *val, *re;
    size_t                i, j, n, lines;
    int64_t               id, now, age, skew;
    __int128              d;
    sc_tg_t              *tg2;
    unsigned char         c;
    const sc_tg_field_t  *f;

    CHECK(tg->nfields >= 1 && tg->nfields <= SC_TG_FIELDS_MAX);

    val = malloc(SC_TG_INIT_DATA_MAX);
    dcs = malloc(SC_TG_DCS_MAX);
    re = malloc(3 * SC_TG_INIT_DATA_MAX + 128);
    tg2 = malloc(sizeof(sc_tg_t));
    CHECK(val && dcs && re && tg2);

    for (i = 0; i < tg->nfields; i++) {
        f = &tg->fields[i];

        CHECK(f->key_len >= 1 && f->key_len <= SC_TG_KEY_MAX);
        CHECK(f->key + f->key_len <= size && f->value + f->value_len <= size);

        if (i) {
            CHECK(field_cmp(tg, &tg->fields[i - 1], f) < 0);
        }

        for (j = 0; j < f->key_len; j++) {
            CHECK(key_char((unsigned char) tg->data[f->key + j]));
        }

        for (j = 0; j < f->value_len; j++) {
            c = (unsigned char) tg->data[f->value + j];
            CHECK(c >= 0x20 && c != 0x7f);
        }

        n = sc_tg_get(tg, tg->data + f->key, f->key_len, val,
                      SC_TG_INIT_DATA_MAX);
        CHECK(n == f->value_len && memcmp(val, tg->data + f->value, n) == 0);

        if (n > 0) {
            CHECK(sc_tg_get(tg, tg->data + f->key, f->key_len, val, n - 1)
                  == (size_t) -1);
        }

        if (is_key(tg, f, "user")) {
            rc = sc_tg_user_id(tg, &id);
            CHECK(rc == SC_TG_OK || rc == SC_TG_INVALID);
            CHECK(rc != SC_TG_OK || id > 0);
        }
    }

    /* data-check-strings: one line per field counted */

    n = sc_tg_data_check_string(tg, 0, 0, dcs, SC_TG_DCS_MAX);
    CHECK(n != (size_t) -1 && n <= size);

    for (i = 0, lines = 1; i < n; i++) {
        lines += dcs[i] == '\n';
    }

    CHECK(n == 0 || lines == tg->nfields - (sc_tg_get(tg, "hash", 4, val,
                                                      SC_TG_INIT_DATA_MAX)
                                            != (size_t) -1));

    n = sc_tg_data_check_string(tg, 1, UINT64_MAX, dcs, SC_TG_DCS_MAX);
    CHECK(n != (size_t) -1 && n <= size + 32);
    CHECK(memcmp(dcs, "18446744073709551615:WebAppData\n", 32) == 0);

    /* fuzzed data never verifies */

    rc = sc_tg_verify(tg, TOKEN, sizeof(TOKEN) - 1);
    CHECK(rc == SC_TG_BAD || rc == SC_TG_INVALID);

    rc = sc_tg_verify_third_party(tg, 7342037359ULL, SC_TG_TEST);
    CHECK(rc == SC_TG_BAD || rc == SC_TG_INVALID);

    /* auth_date */

    age = (int64_t) (size % 7) - 1;
    skew = (int64_t) (size % 5) - 1;

    for (i = 0; i < 3; i++) {
        now = (i == 0) ? (tg->auth_date > INT64_MAX - 8 ? INT64_MAX
                          : tg->auth_date + skew - 1)
              : (i == 1) ? (int64_t) (size * 1000003) - 500000
              : (int64_t) (size * 0x9e3779b97f4a7c15ULL);

        rc = sc_tg_check_auth_date(tg, now, age, skew);
        d = (__int128) tg->auth_date - now;

        if (d > 0) {
            CHECK(rc == ((d > (skew < 0 ? 0 : skew)) ? SC_TG_INVALID
                                                     : SC_TG_OK));

        } else {
            CHECK(rc == ((age >= 0 && -d > age) ? SC_TG_STALE : SC_TG_OK));
        }
    }

    /* re-encoded and signed, it verifies; one digit off, it does not */

    n = resign(tg, re, 3 * SC_TG_INIT_DATA_MAX + 128);

    if (n > 0 && n <= SC_TG_INIT_DATA_MAX
        && (tg->nfields < SC_TG_FIELDS_MAX
            || sc_tg_get(tg, "hash", 4, val, SC_TG_INIT_DATA_MAX)
               != (size_t) -1))
    {
        rc = sc_tg_parse(tg2, re, n);
        CHECK(rc == SC_TG_OK);
        CHECK(tg2->auth_date == tg->auth_date);
        CHECK(sc_tg_verify(tg2, TOKEN, sizeof(TOKEN) - 1) == SC_TG_OK);

        for (i = 0; i < tg->nfields; i++) {
            f = &tg->fields[i];

            if (is_key(tg, f, "hash")) {
                continue;
            }

            CHECK(sc_tg_get(tg2, tg->data + f->key, f->key_len, val,
                            SC_TG_INIT_DATA_MAX) == f->value_len);
            CHECK(memcmp(val, tg->data + f->value, f->value_len) == 0);
        }

        re[n - 1 - (size % 64)] ^= (re[n - 1 - (size % 64)] == '0') ? 1 : 2;
        rc = sc_tg_parse(tg2, re, n);
        CHECK(rc == SC_TG_OK);
        rc = sc_tg_verify(tg2, TOKEN, sizeof(TOKEN) - 1);
        CHECK(rc == SC_TG_BAD || rc == SC_TG_INVALID);
    }

    free(val);
    free(dcs);
    free(re);
    free(tg2);
}


static void
check_json(const char *in, size_t size)
{
    int            rc, rc2;
    char          *buf, *p;
    size_t         i;
    int64_t        id, id2;
    unsigned char  c;

    rc = sc_tg_json_id(in, size, &id);
    CHECK(rc == SC_TG_OK || rc == SC_TG_MISSING || rc == SC_TG_INVALID);
    CHECK(rc != SC_TG_OK || id > 0);

    buf = malloc(6 * size + 64);
    CHECK(buf != NULL);

    /* {"x":<in>,"id":5}: a valid object hides its own "id" */

    p = buf;
    memcpy(p, "{\"x\":", 5);
    p += 5;
    memcpy(p, in, size);
    p += size;
    memcpy(p, ",\"id\":5}", 8);
    p += 8;

    id2 = 0;
    rc2 = sc_tg_json_id(buf, p - buf, &id2);
    CHECK(rc2 == SC_TG_INVALID || (rc2 == SC_TG_OK && id2 == 5));

    /* {"x":"<in escaped>","id":6}: always valid, always 6 */

    p = buf;
    memcpy(p, "{\"x\":\"", 6);
    p += 6;

    for (i = 0; i < size; i++) {
        c = (unsigned char) in[i];

        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char) c;

        } else if (c < 0x20) {
            p += sprintf(p, "\\u%04x", c);

        } else {
            *p++ = (char) c;
        }
    }

    memcpy(p, "\",\"id\":6}", 9);
    p += 9;

    id2 = 0;
    rc2 = sc_tg_json_id(buf, p - buf, &id2);
    CHECK(rc2 == SC_TG_OK && id2 == 6);

    free(buf);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc;
    size_t       i, dlen;
    sc_tg_t     *tg;
    const char  *in, *d;

    in = (const char *) data;

    tg = malloc(sizeof(sc_tg_t));
    CHECK(tg != NULL);

    rc = sc_tg_parse(tg, in, size);

    CHECK(rc == SC_TG_OK || rc == SC_TG_MISSING || rc == SC_TG_INVALID);
    CHECK((rc == SC_TG_MISSING) == (size == 0));
    CHECK(rc == SC_TG_OK || tg->reason != NULL);

    if (rc == SC_TG_OK) {
        CHECK(size <= SC_TG_INIT_DATA_MAX);

        for (i = 0; i < size; i++) {
            CHECK(data[i] > 0x20 && data[i] < 0x7f);
        }

        check_fields(tg, size);
    }

    /* as an Authorization value */

    rc = sc_tg_authorization(in, size, &d, &dlen);

    if (rc == SC_TG_OK) {
        CHECK(d > in + 3 && d + dlen <= in + size && dlen > 0);
        CHECK(d[0] != ' ' && d[0] != '\t');
        CHECK(d[dlen - 1] != ' ' && d[dlen - 1] != '\t');

    } else {
        CHECK(rc == SC_TG_MISSING);
    }

    check_json(in, size);

    free(tg);

    return 0;
}
