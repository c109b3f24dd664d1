
/*
 * ngx_http_session_module core: the signed identity assertion.
 *
 * A compact JWS (RFC 7515) over a JSON payload, signed with Ed25519
 * ("alg":"EdDSA", RFC 8037) by libsodium.  The key file holds each key's
 * 32-byte seed; the public key is derived from it (crypto_sign_seed_keypair)
 * and published in the JWKS.  The protected header of each key,
 * {"alg":"EdDSA","typ":"JWT","kid":"<kid>"}, is encoded once, when the
 * file is read.
 */


#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_jws.h"


static int
sc_jws_add(void *data, const char *kid, size_t klen, const char *val,
    size_t vlen, unsigned line, sc_error_t *err)
{
    sc_jws_keys_t  *ks = data;

    int             n;
    size_t          len;
    sc_jws_key_t   *key;
    unsigned char   seed[64];
    char            json[64 + SC_KID_MAX];

    len = sc_b64_decode(val, vlen, seed, sizeof(seed));

    if (len == (size_t) -1) {
        sodium_memzero(seed, sizeof(seed));
        return sc_error_set(err, line, "invalid base64 in seed");
    }

    if (len != SC_JWS_SEED_LEN) {
        sodium_memzero(seed, sizeof(seed));
        return sc_error_set(err, line, "seed is %zu bytes, an Ed25519 seed "
                            "is %d", len, SC_JWS_SEED_LEN);
    }

    key = &ks->keys[ks->nkeys++];

    memcpy(key->kid, kid, klen);
    key->kid[klen] = '\0';
    key->kid_len = klen;

    crypto_sign_seed_keypair(key->pk, key->sk, seed);
    sodium_memzero(seed, sizeof(seed));

    /* the key id has only [A-Za-z0-9_-]: nothing to escape */

    n = snprintf(json, sizeof(json),
                 "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
                 key->kid);

    if (n < 0 || (size_t) n >= sizeof(json)
        || ((size_t) n + 2) / 3 * 4 > SC_JWS_HEADER_MAX)
    {
        return sc_error_set(err, line, "key id is too long");
    }

    key->header_len = sc_b64url_encode((unsigned char *) json, n,
                                       key->header);

    return SC_OK;
}


int
sc_jws_keys_parse(sc_jws_keys_t *ks, const char *buf, size_t len,
    sc_error_t *err)
{
    sc_jws_keys_wipe(ks);

    if (sc_keyfile_parse(buf, len, "seed", sc_jws_add, ks, err) != SC_OK) {
        sc_jws_keys_wipe(ks);
        return SC_ERROR;
    }

    return SC_OK;
}


void
sc_jws_keys_wipe(sc_jws_keys_t *ks)
{
    sodium_memzero(ks, sizeof(sc_jws_keys_t));
}


/* the length of the well-formed UTF-8 sequence at p, or 0 */

static size_t
sc_utf8_len(const unsigned char *p, size_t left)
{
    size_t    n, i;
    uint32_t  c, min;

    if (p[0] < 0x80) {
        return 1;
    }

    if ((p[0] & 0xe0) == 0xc0) {
        n = 2; c = p[0] & 0x1f; min = 0x80;

    } else if ((p[0] & 0xf0) == 0xe0) {
        n = 3; c = p[0] & 0x0f; min = 0x800;

    } else if ((p[0] & 0xf8) == 0xf0) {
        n = 4; c = p[0] & 0x07; min = 0x10000;

    } else {
        return 0;
    }

    if (n > left) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    return n;
}


size_t
sc_json_escape(const char *in, size_t len, char *out, size_t outlen)
{
    size_t                i, n, o;
    unsigned char         c;
    const unsigned char  *p = (const unsigned char *) in;

    static const char     hex[] = "0123456789abcdef";

    o = 0;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        if (o + 6 > outlen) {
            return (size_t) -1;
        }

        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char) c;
            i++;
            continue;
        }

        if (c < 0x20 || c == 0x7f) {
            out[o++] = '\\';
            out[o++] = 'u';
            out[o++] = '0';
            out[o++] = '0';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
            i++;
            continue;
        }

        n = sc_utf8_len(p + i, len - i);

        if (n == 0) {
            memcpy(out + o, "\\ufffd", 6);
            o += 6;
            i++;
            continue;
        }

        /* n <= 4 < 6 */
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }

    return o;
}


int
sc_jws_reserved_claim(const char *name, size_t len)
{
    size_t  i;

    static const char  *reserved[] = {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "sid",
        "auth_time", "amr", "typ", "cnf"
    };

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == len && memcmp(reserved[i], name, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


size_t
sc_jws_payload_max(const sc_assertion_t *a)
{
    return 160 + 3 * 20
           + SC_JSON_ESCAPED_MAX(a->iss_len + a->sub_len + a->aud_len
                                 + a->sid_len + a->amr_len + a->claims_len)
           + SC_CLAIMS_MAX * 8;
}


size_t
sc_jws_token_max(const sc_jws_key_t *key, size_t payload_max)
{
    return key->header_len + 1 + (payload_max + 2) / 3 * 4 + 1
           + (SC_JWS_SIG_LEN + 2) / 3 * 4;
}


/* appends a literal; 0 if it does not fit */

static int
sc_put(char *out, size_t outlen, size_t *o, const char *s, size_t len)
{
    if (len > outlen - *o) {
        return 0;
    }

    memcpy(out + *o, s, len);
    *o += len;
    return 1;
}


static int
sc_put_str(char *out, size_t outlen, size_t *o, const char *name,
    const char *s, size_t len)
{
    size_t  n;

    if (!sc_put(out, outlen, o, ",\"", 2)
        || !sc_put(out, outlen, o, name, strlen(name))
        || !sc_put(out, outlen, o, "\":\"", 3))
    {
        return 0;
    }

    n = sc_json_escape(s, len, out + *o, outlen - *o);
    if (n == (size_t) -1) {
        return 0;
    }

    *o += n;

    return sc_put(out, outlen, o, "\"", 1);
}


static int
sc_put_int(char *out, size_t outlen, size_t *o, const char *name,
    int64_t v)
{
    int   n;
    char  buf[64];

    n = snprintf(buf, sizeof(buf), ",\"%s\":%" PRId64, name, v);

    return n > 0 && (size_t) n < sizeof(buf)
           && sc_put(out, outlen, o, buf, n);
}


size_t
sc_jws_payload(const sc_assertion_t *a, char *out, size_t outlen)
{
    int          nclaims, i, j, dup;
    size_t       o, n;
    sc_claim_t   claims[SC_CLAIMS_MAX];
    char         value[SC_CLAIMS_BYTES];
    char         name[SC_CLAIM_NAME_MAX + 1];

    nclaims = 0;

    if (a->claims_len) {
        nclaims = sc_claims_parse(a->claims, a->claims_len, claims,
                                  SC_CLAIMS_MAX);
        if (nclaims < 0) {
            return 0;
        }
    }

    o = 0;

    /* "{" then ",\"iss\"..." with its comma dropped */

    if (!sc_put(out, outlen, &o, "{", 1)
        || !sc_put_str(out, outlen, &o, "iss", a->iss, a->iss_len))
    {
        return 0;
    }

    memmove(out + 1, out + 2, o - 2);
    o--;

    if (!sc_put_str(out, outlen, &o, "sub", a->sub, a->sub_len)
        || !sc_put_str(out, outlen, &o, "aud", a->aud, a->aud_len)
        || !sc_put_int(out, outlen, &o, "iat", a->iat)
        || !sc_put_int(out, outlen, &o, "exp", a->exp)
        || (a->auth_time >= 0
            && !sc_put_int(out, outlen, &o, "auth_time", a->auth_time))
        || (a->sid_len
            && !sc_put_str(out, outlen, &o, "sid", a->sid, a->sid_len))
        || !sc_put(out, outlen, &o, ",\"amr\":[\"", 9))
    {
        return 0;
    }

    n = sc_json_escape(a->amr, a->amr_len, out + o, outlen - o);

    if (n == (size_t) -1 || (o += n, !sc_put(out, outlen, &o, "\"]", 2))) {
        return 0;
    }

    for (i = 0; i < nclaims; i++) {

        if (sc_jws_reserved_claim(claims[i].name, claims[i].name_len)) {
            continue;
        }

        dup = 0;

        for (j = 0; j < i; j++) {
            if (claims[j].name_len == claims[i].name_len
                && memcmp(claims[j].name, claims[i].name,
                          claims[i].name_len) == 0)
            {
                dup = 1;
                break;
            }
        }

        if (dup) {
            continue;
        }

        n = sc_pct_decode(claims[i].value, claims[i].value_len, value,
                          sizeof(value));
        if (n == (size_t) -1 || claims[i].name_len > SC_CLAIM_NAME_MAX) {
            return 0;
        }

        /* names are [A-Za-z0-9_]: nothing to escape */

        memcpy(name, claims[i].name, claims[i].name_len);
        name[claims[i].name_len] = '\0';

        if (!sc_put_str(out, outlen, &o, name, value, n)) {
            return 0;
        }
    }

    if (!sc_put(out, outlen, &o, "}", 1)) {
        return 0;
    }

    return o;
}


size_t
sc_jws_sign(const sc_jws_key_t *key, const char *payload,
    size_t payload_len, char *out, size_t outlen)
{
    size_t         o;
    unsigned char  sig[SC_JWS_SIG_LEN];

    if (sc_jws_token_max(key, payload_len) > outlen) {
        return 0;
    }

    memcpy(out, key->header, key->header_len);
    o = key->header_len;
    out[o++] = '.';
    o += sc_b64url_encode((const unsigned char *) payload, payload_len,
                          out + o);

    crypto_sign_detached(sig, NULL, (unsigned char *) out, o, key->sk);

    out[o++] = '.';
    o += sc_b64url_encode(sig, sizeof(sig), out + o);

    return o;
}


size_t
sc_jws_jwks(const sc_jws_keys_t *ks, char *out, size_t outlen)
{
    int     n;
    size_t  i, o;
    char    x[SC_B64_32_LEN + 1];

    o = 0;

    if (!sc_put(out, outlen, &o, "{\"keys\":[", 9)) {
        return 0;
    }

    for (i = 0; i < ks->nkeys; i++) {
        x[sc_b64url_encode(ks->keys[i].pk, SC_JWS_PK_LEN, x)] = '\0';

        if (o >= outlen) {
            return 0;
        }

        n = snprintf(out + o, outlen - o,
                     "%s{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"%s\","
                     "\"x\":\"%s\",\"use\":\"sig\",\"alg\":\"EdDSA\"}",
                     i ? "," : "", ks->keys[i].kid, x);

        if (n < 0 || (size_t) n >= outlen - o) {
            return 0;
        }

        o += n;
    }

    if (!sc_put(out, outlen, &o, "]}", 2)) {
        return 0;
    }

    return o;
}
