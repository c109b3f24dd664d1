
/*
 * ngx_http_session_module core: Telegram Mini App initData.  The checks
 * are described in session_tg.h.
 *
 * The data-check-string is unambiguous here because parsing guarantees
 * that decoded keys are [A-Za-z0-9_] (no "=", no "\n") and that decoded
 * values hold no control byte (no "\n"): one set of fields has exactly
 * one data-check-string and vice versa.
 */


#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_tg.h"


#define SC_TG_WEBAPPDATA   "WebAppData"
#define SC_TG_JSON_DEPTH   32


/* Telegram's Ed25519 public keys for third-party validation */

static const unsigned char  sc_tg_pk_production[32] = {
    0xe7, 0xbf, 0x03, 0xa2, 0xfa, 0x46, 0x02, 0xaf,
    0x45, 0x80, 0x70, 0x3d, 0x88, 0xdd, 0xa5, 0xbb,
    0x59, 0xf3, 0x2e, 0xd8, 0xb0, 0x2a, 0x56, 0xc1,
    0x87, 0xfe, 0x7d, 0x34, 0xca, 0xed, 0x24, 0x2d
};

static const unsigned char  sc_tg_pk_test[32] = {
    0x40, 0x05, 0x50, 0x58, 0xa4, 0xee, 0x38, 0x15,
    0x6a, 0x06, 0x56, 0x2e, 0x52, 0xee, 0xce, 0x92,
    0xa7, 0x71, 0xbc, 0xd8, 0x34, 0x6a, 0x8c, 0x46,
    0x15, 0xcb, 0x73, 0x76, 0xed, 0xdf, 0x72, 0xec
};


typedef struct {
    const char     *p;
    const char     *end;
} sc_tg_json_t;


static int
sc_tg_key_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '_';
}


/*
 * application/x-www-form-urlencoded decoding into out, which has room
 * for len bytes: returns the decoded length or (size_t) -1.
 */

static size_t
sc_tg_form_decode(const char *in, size_t len, char *out)
{
    int     hi, lo;
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {

        if (in[i] == '%') {
            if (len - i < 3) {
                return (size_t) -1;
            }

            hi = sc_hex_value((unsigned char) in[i + 1]);
            lo = sc_hex_value((unsigned char) in[i + 2]);

            if (hi < 0 || lo < 0) {
                return (size_t) -1;
            }

            out[n++] = (char) (hi << 4 | lo);
            i += 2;

        } else if (in[i] == '+') {
            out[n++] = ' ';

        } else {
            out[n++] = in[i];
        }
    }

    return n;
}


static int
sc_tg_key_cmp(const sc_tg_t *tg, const sc_tg_field_t *f, const char *key,
    size_t key_len)
{
    int     rc;
    size_t  n;

    n = f->key_len < key_len ? f->key_len : key_len;

    rc = memcmp(tg->data + f->key, key, n);

    if (rc != 0) {
        return rc;
    }

    return (f->key_len > key_len) - (f->key_len < key_len);
}


static const sc_tg_field_t *
sc_tg_find(const sc_tg_t *tg, const char *key, size_t key_len)
{
    size_t  i;

    for (i = 0; i < tg->nfields; i++) {
        if (sc_tg_key_cmp(tg, &tg->fields[i], key, key_len) == 0) {
            return &tg->fields[i];
        }
    }

    return NULL;
}


static int
sc_tg_fail(sc_tg_t *tg, const char *reason)
{
    tg->reason = reason;
    return SC_TG_INVALID;
}


int
sc_tg_authorization(const char *in, size_t len, const char **data,
    size_t *data_len)
{
    const char  *s, *e;

    if (in == NULL) {
        return SC_TG_MISSING;
    }

    s = in;
    e = in + len;

    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }

    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }

    if (e - s < 4
        || (s[0] | 0x20) != 't' || (s[1] | 0x20) != 'm'
        || (s[2] | 0x20) != 'a' || (s[3] != ' ' && s[3] != '\t'))
    {
        return SC_TG_MISSING;
    }

    s += 4;

    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }

    if (s == e) {
        return SC_TG_MISSING;
    }

    *data = s;
    *data_len = e - s;

    return SC_TG_OK;
}


int
sc_tg_parse(sc_tg_t *tg, const char *in, size_t len)
{
    size_t                i, j, o, klen, vlen;
    const char           *p, *end, *seg, *seg_end, *eq, *key, *val;
    unsigned char         c;
    sc_tg_field_t         f;
    const sc_tg_field_t  *ad;

    memset(tg, 0, sizeof(sc_tg_t));

    if (in == NULL || len == 0) {
        tg->reason = "no initData";
        return SC_TG_MISSING;
    }

    if (len > SC_TG_INIT_DATA_MAX) {
        return sc_tg_fail(tg, "initData too long");
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if (c <= 0x20 || c >= 0x7f) {
            return sc_tg_fail(tg, "invalid byte in initData");
        }
    }

    p = in;
    end = in + len;
    o = 0;

    for ( ;; ) {
        seg = p;
        seg_end = memchr(p, '&', end - p);

        if (seg_end == NULL) {
            seg_end = end;
        }

        if (seg == seg_end) {
            return sc_tg_fail(tg, "empty field in initData");
        }

        eq = memchr(seg, '=', seg_end - seg);

        if (eq == NULL) {
            return sc_tg_fail(tg, "field without \"=\" in initData");
        }

        if (tg->nfields == SC_TG_FIELDS_MAX) {
            return sc_tg_fail(tg, "too many fields in initData");
        }

        /* decoded sizes never exceed the encoded ones: o + ... <= len */

        key = tg->data + o;
        klen = sc_tg_form_decode(seg, eq - seg, tg->data + o);

        if (klen == (size_t) -1) {
            return sc_tg_fail(tg, "bad percent-encoding in initData");
        }

        if (klen == 0 || klen > SC_TG_KEY_MAX) {
            return sc_tg_fail(tg, "invalid field name in initData");
        }

        for (j = 0; j < klen; j++) {
            if (!sc_tg_key_char((unsigned char) key[j])) {
                return sc_tg_fail(tg, "invalid field name in initData");
            }
        }

        val = key + klen;
        vlen = sc_tg_form_decode(eq + 1, seg_end - (eq + 1),
                                 tg->data + o + klen);

        if (vlen == (size_t) -1) {
            return sc_tg_fail(tg, "bad percent-encoding in initData");
        }

        for (j = 0; j < vlen; j++) {
            c = (unsigned char) val[j];

            if (c < 0x20 || c == 0x7f) {
                return sc_tg_fail(tg, "control byte in an initData value");
            }
        }

        f.key = (uint16_t) o;
        f.key_len = (uint16_t) klen;
        f.value = (uint16_t) (o + klen);
        f.value_len = (uint16_t) vlen;

        o += klen + vlen;

        /* insertion, sorted by key bytewise */

        for (i = tg->nfields; i > 0; i--) {
            if (sc_tg_key_cmp(tg, &tg->fields[i - 1], key, klen) < 0) {
                break;
            }

            if (sc_tg_key_cmp(tg, &tg->fields[i - 1], key, klen) == 0) {
                return sc_tg_fail(tg, "duplicate field in initData");
            }
        }

        memmove(&tg->fields[i + 1], &tg->fields[i],
                (tg->nfields - i) * sizeof(sc_tg_field_t));
        tg->fields[i] = f;
        tg->nfields++;

        if (seg_end == end) {
            break;
        }

        p = seg_end + 1;
    }

    ad = sc_tg_find(tg, "auth_date", sizeof("auth_date") - 1);

    if (ad == NULL) {
        return sc_tg_fail(tg, "no auth_date in initData");
    }

    if (!sc_dec_parse(tg->data + ad->value, ad->value_len,
                         &tg->auth_date))
    {
        return sc_tg_fail(tg, "invalid auth_date in initData");
    }

    return SC_TG_OK;
}


/* the data-check-string, handed out in pieces */

typedef void (*sc_tg_emit_pt)(void *data, const char *p, size_t len);


static size_t
sc_tg_u64_dec(uint64_t v, char *out)
{
    char    tmp[20];
    size_t  i, n;

    n = 0;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    for (i = 0; i < n; i++) {
        out[i] = tmp[n - 1 - i];
    }

    return n;
}


static size_t
sc_tg_dcs(const sc_tg_t *tg, int third_party, uint64_t bot_id,
    sc_tg_emit_pt emit, void *data)
{
    int                   first;
    char                  num[20];
    size_t                i, n, total;
    const sc_tg_field_t  *f;

    total = 0;

    if (third_party) {
        n = sc_tg_u64_dec(bot_id, num);
        emit(data, num, n);
        emit(data, ":" SC_TG_WEBAPPDATA "\n", sizeof(SC_TG_WEBAPPDATA) + 1);
        total += n + sizeof(SC_TG_WEBAPPDATA) + 1;
    }

    first = 1;

    for (i = 0; i < tg->nfields; i++) {
        f = &tg->fields[i];

        if (sc_tg_key_cmp(tg, f, "hash", 4) == 0
            || (third_party && sc_tg_key_cmp(tg, f, "signature", 9) == 0))
        {
            continue;
        }

        if (!first) {
            emit(data, "\n", 1);
            total++;
        }

        first = 0;

        emit(data, tg->data + f->key, f->key_len);
        emit(data, "=", 1);
        emit(data, tg->data + f->value, f->value_len);
        total += f->key_len + 1 + f->value_len;
    }

    return total;
}


typedef struct {
    char           *out;
    size_t          len;
    size_t          size;
} sc_tg_buf_t;


static void
sc_tg_emit_buf(void *data, const char *p, size_t len)
{
    sc_tg_buf_t  *b;

    b = data;

    if (b->len <= b->size && len <= b->size - b->len) {
        memcpy(b->out + b->len, p, len);
    }

    b->len += len;
}


static void
sc_tg_emit_hmac(void *data, const char *p, size_t len)
{
    crypto_auth_hmacsha256_update(data, (const unsigned char *) p, len);
}


size_t
sc_tg_data_check_string(const sc_tg_t *tg, int third_party,
    uint64_t bot_id, char *out, size_t outlen)
{
    sc_tg_buf_t  b;

    b.out = out;
    b.len = 0;
    b.size = outlen;

    (void) sc_tg_dcs(tg, third_party, bot_id, sc_tg_emit_buf, &b);

    return (b.len <= outlen) ? b.len : (size_t) -1;
}


int
sc_tg_verify(const sc_tg_t *tg, const char *bot_token, size_t len)
{
    int                            hi, lo, eq;
    size_t                         i;
    const char                    *h;
    unsigned char                  key[crypto_auth_hmacsha256_BYTES];
    unsigned char                  want[crypto_auth_hmacsha256_BYTES];
    unsigned char                  mac[crypto_auth_hmacsha256_BYTES];
    const sc_tg_field_t           *f;
    crypto_auth_hmacsha256_state   st;

    if (bot_token == NULL || len == 0) {
        return SC_TG_INVALID;
    }

    f = sc_tg_find(tg, "hash", 4);

    if (f == NULL || f->value_len != 2 * sizeof(want)) {
        return SC_TG_INVALID;
    }

    h = tg->data + f->value;

    for (i = 0; i < sizeof(want); i++) {
        hi = sc_hex_value((unsigned char) h[2 * i]);
        lo = sc_hex_value((unsigned char) h[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return SC_TG_INVALID;
        }

        want[i] = (unsigned char) (hi << 4 | lo);
    }

    /* secret_key = HMAC-SHA256(key = "WebAppData", msg = bot_token) */

    crypto_auth_hmacsha256_init(&st, (const unsigned char *) SC_TG_WEBAPPDATA,
                                sizeof(SC_TG_WEBAPPDATA) - 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *) bot_token,
                                  len);
    crypto_auth_hmacsha256_final(&st, key);

    crypto_auth_hmacsha256_init(&st, key, sizeof(key));
    (void) sc_tg_dcs(tg, 0, 0, sc_tg_emit_hmac, &st);
    crypto_auth_hmacsha256_final(&st, mac);

    eq = sodium_memcmp(mac, want, sizeof(mac)) == 0;

    sodium_memzero(key, sizeof(key));
    sodium_memzero(mac, sizeof(mac));
    sodium_memzero(&st, sizeof(st));

    return eq ? SC_TG_OK : SC_TG_BAD;
}


static int
sc_tg_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}


int
sc_tg_verify_third_party(const sc_tg_t *tg, uint64_t bot_id,
    sc_tg_env_t env)
{
    char                  dcs[SC_TG_DCS_MAX];
    size_t                i, n;
    const char           *s;
    unsigned char         sig[crypto_sign_BYTES];
    const unsigned char  *pk;
    const sc_tg_field_t  *f;

    f = sc_tg_find(tg, "signature", 9);

    /* 64 bytes: 86 base64url digits, unpadded */

    if (f == NULL || f->value_len != 86) {
        return SC_TG_INVALID;
    }

    s = tg->data + f->value;

    for (i = 0; i < f->value_len; i++) {
        if (!sc_tg_b64url_char((unsigned char) s[i])) {
            return SC_TG_INVALID;
        }
    }

    if (sc_b64_decode(s, f->value_len, sig, sizeof(sig)) != sizeof(sig)) {
        return SC_TG_INVALID;
    }

    switch (env) {
    case SC_TG_PRODUCTION:
        pk = sc_tg_pk_production;
        break;
    case SC_TG_TEST:
        pk = sc_tg_pk_test;
        break;
    default:
        return SC_TG_ERROR;
    }

    n = sc_tg_data_check_string(tg, 1, bot_id, dcs, sizeof(dcs));

    if (n == (size_t) -1) {
        return SC_TG_ERROR;
    }

    if (crypto_sign_verify_detached(sig, (const unsigned char *) dcs, n, pk)
        != 0)
    {
        return SC_TG_BAD;
    }

    return SC_TG_OK;
}


int
sc_tg_bot_id(const char *bot_token, size_t len, uint64_t *bot_id)
{
    int64_t      v;
    const char  *colon;

    colon = memchr(bot_token, ':', len);

    if (colon == NULL || !sc_dec_parse(bot_token, colon - bot_token, &v)
        || v == 0)
    {
        return SC_TG_INVALID;
    }

    *bot_id = (uint64_t) v;

    return SC_TG_OK;
}


int
sc_tg_check_auth_date(const sc_tg_t *tg, int64_t now, int64_t max_age,
    int64_t skew)
{
    uint64_t  d;

    if (skew < 0) {
        skew = 0;
    }

    if (tg->auth_date > now) {
        d = (uint64_t) tg->auth_date - (uint64_t) now;
        return (d > (uint64_t) skew) ? SC_TG_INVALID : SC_TG_OK;
    }

    if (max_age < 0) {
        return SC_TG_OK;
    }

    d = (uint64_t) now - (uint64_t) tg->auth_date;

    return (d > (uint64_t) max_age) ? SC_TG_STALE : SC_TG_OK;
}


int64_t
sc_tg_auth_date(const sc_tg_t *tg)
{
    return tg->auth_date;
}


size_t
sc_tg_get(const sc_tg_t *tg, const char *key, size_t key_len, char *out,
    size_t outlen)
{
    const sc_tg_field_t  *f;

    f = sc_tg_find(tg, key, key_len);

    if (f == NULL || f->value_len > outlen) {
        return (size_t) -1;
    }

    memcpy(out, tg->data + f->value, f->value_len);

    return f->value_len;
}


size_t
sc_tg_user(const sc_tg_t *tg, char *out, size_t outlen)
{
    return sc_tg_get(tg, "user", 4, out, outlen);
}


size_t
sc_tg_start_param(const sc_tg_t *tg, char *out, size_t outlen)
{
    return sc_tg_get(tg, "start_param", 11, out, outlen);
}


int
sc_tg_user_id(const sc_tg_t *tg, int64_t *id)
{
    int                   rc;
    const sc_tg_field_t  *f;

    f = sc_tg_find(tg, "user", 4);

    if (f == NULL) {
        return SC_TG_MISSING;
    }

    rc = sc_tg_json_id(tg->data + f->value, f->value_len, id);

    return (rc == SC_TG_MISSING) ? SC_TG_INVALID : rc;
}


/*
 * A strict JSON (RFC 8259) recogniser, enough to find the top-level "id"
 * of an object without being fooled by nested values or strings.  Bytes
 * >= 0x80 inside strings are taken as they are (not checked as UTF-8).
 */

static void
sc_tg_json_ws(sc_tg_json_t *j)
{
    while (j->p < j->end
           && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n'
               || *j->p == '\r'))
    {
        j->p++;
    }
}


/*
 * A string at j->p (the opening quote); *is_id (if not NULL) tells if its
 * decoded value is "id".
 */

static int
sc_tg_json_string(sc_tg_json_t *j, int *is_id)
{
    int            k, v, match;
    size_t         n;
    unsigned       cp;
    unsigned char  c;

    if (j->p == j->end || *j->p != '"') {
        return 0;
    }

    j->p++;
    n = 0;
    match = 1;

    for ( ;; ) {
        if (j->p == j->end) {
            return 0;
        }

        c = (unsigned char) *j->p++;

        if (c == '"') {
            break;
        }

        if (c < 0x20) {
            return 0;
        }

        cp = c;

        if (c == '\\') {
            if (j->p == j->end) {
                return 0;
            }

            c = (unsigned char) *j->p++;

            switch (c) {
            case '"': case '\\': case '/':
                cp = c;
                break;
            case 'b': case 'f': case 'n': case 'r': case 't':
                cp = 0;
                break;
            case 'u':
                if (j->end - j->p < 4) {
                    return 0;
                }

                cp = 0;

                for (k = 0; k < 4; k++) {
                    v = sc_hex_value((unsigned char) j->p[k]);

                    if (v < 0) {
                        return 0;
                    }

                    cp = cp << 4 | (unsigned) v;
                }

                j->p += 4;
                break;
            default:
                return 0;
            }
        }

        if (n < 2 && cp == (unsigned char) "id"[n]) {
            n++;

        } else {
            match = 0;
        }
    }

    if (is_id) {
        *is_id = match && n == 2;
    }

    return 1;
}


static int
sc_tg_json_digits(sc_tg_json_t *j)
{
    const char  *start;

    start = j->p;

    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        j->p++;
    }

    return j->p > start;
}


/* a number; *integer tells if it is one without sign, fraction, exponent */

static int
sc_tg_json_number(sc_tg_json_t *j, int *integer)
{
    *integer = 1;

    if (j->p < j->end && *j->p == '-') {
        j->p++;
        *integer = 0;
    }

    if (j->p == j->end) {
        return 0;
    }

    if (*j->p == '0') {
        j->p++;

    } else if (!sc_tg_json_digits(j)) {
        return 0;
    }

    if (j->p < j->end && *j->p == '.') {
        j->p++;
        *integer = 0;

        if (!sc_tg_json_digits(j)) {
            return 0;
        }
    }

    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        *integer = 0;

        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) {
            j->p++;
        }

        if (!sc_tg_json_digits(j)) {
            return 0;
        }
    }

    return 1;
}


static int
sc_tg_json_literal(sc_tg_json_t *j, const char *lit, size_t len)
{
    if ((size_t) (j->end - j->p) < len || memcmp(j->p, lit, len) != 0) {
        return 0;
    }

    j->p += len;

    return 1;
}


static int sc_tg_json_value(sc_tg_json_t *j, unsigned depth);


/*
 * An object at j->p; with id not NULL (the top level) its "id" member is
 * parsed into *id and counted in *nid.
 */

static int
sc_tg_json_object(sc_tg_json_t *j, unsigned depth, int64_t *id,
    unsigned *nid, int *id_ok)
{
    int          is_id, integer;
    const char  *num;

    if (depth > SC_TG_JSON_DEPTH || j->p == j->end || *j->p != '{') {
        return 0;
    }

    j->p++;
    sc_tg_json_ws(j);

    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 1;
    }

    for ( ;; ) {
        if (!sc_tg_json_string(j, &is_id)) {
            return 0;
        }

        sc_tg_json_ws(j);

        if (j->p == j->end || *j->p != ':') {
            return 0;
        }

        j->p++;
        sc_tg_json_ws(j);

        if (id != NULL && is_id) {
            (*nid)++;
            num = j->p;

            if (j->p < j->end && (*j->p == '-' || (*j->p >= '0'
                                                   && *j->p <= '9')))
            {
                if (!sc_tg_json_number(j, &integer)) {
                    return 0;
                }

                *id_ok = integer
                         && sc_dec_parse(num, j->p - num, id)
                         && *id > 0;

            } else {
                if (!sc_tg_json_value(j, depth + 1)) {
                    return 0;
                }

                *id_ok = 0;
            }

        } else if (!sc_tg_json_value(j, depth + 1)) {
            return 0;
        }

        sc_tg_json_ws(j);

        if (j->p == j->end) {
            return 0;
        }

        if (*j->p == '}') {
            j->p++;
            return 1;
        }

        if (*j->p != ',') {
            return 0;
        }

        j->p++;
        sc_tg_json_ws(j);
    }
}


static int
sc_tg_json_array(sc_tg_json_t *j, unsigned depth)
{
    if (depth > SC_TG_JSON_DEPTH || j->p == j->end || *j->p != '[') {
        return 0;
    }

    j->p++;
    sc_tg_json_ws(j);

    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 1;
    }

    for ( ;; ) {
        if (!sc_tg_json_value(j, depth + 1)) {
            return 0;
        }

        sc_tg_json_ws(j);

        if (j->p == j->end) {
            return 0;
        }

        if (*j->p == ']') {
            j->p++;
            return 1;
        }

        if (*j->p != ',') {
            return 0;
        }

        j->p++;
        sc_tg_json_ws(j);
    }
}


static int
sc_tg_json_value(sc_tg_json_t *j, unsigned depth)
{
    int  integer;

    if (j->p == j->end) {
        return 0;
    }

    switch (*j->p) {
    case '{':
        return sc_tg_json_object(j, depth, NULL, NULL, NULL);
    case '[':
        return sc_tg_json_array(j, depth);
    case '"':
        return sc_tg_json_string(j, NULL);
    case 't':
        return sc_tg_json_literal(j, "true", 4);
    case 'f':
        return sc_tg_json_literal(j, "false", 5);
    case 'n':
        return sc_tg_json_literal(j, "null", 4);
    default:
        return sc_tg_json_number(j, &integer);
    }
}


int
sc_tg_json_id(const char *json, size_t len, int64_t *id)
{
    int           id_ok;
    int64_t       v;
    unsigned      nid;
    sc_tg_json_t  j;

    j.p = json;
    j.end = json + len;
    nid = 0;
    id_ok = 0;
    v = 0;

    sc_tg_json_ws(&j);

    if (!sc_tg_json_object(&j, 1, &v, &nid, &id_ok)) {
        return SC_TG_INVALID;
    }

    sc_tg_json_ws(&j);

    if (j.p != j.end) {
        return SC_TG_INVALID;
    }

    if (nid == 0) {
        return SC_TG_MISSING;
    }

    if (nid > 1 || !id_ok) {
        return SC_TG_INVALID;
    }

    *id = v;

    return SC_TG_OK;
}
