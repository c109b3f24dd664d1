
/*
 * ngx_http_session_module core: the session cookie and the hashes of its
 * token.
 *
 * Cookie value: "<kid>.<token>.<mac>", token and mac 32 bytes each in
 * unpadded base64url (43 characters), with
 *
 *   mac = BLAKE2b-256(key = mac_key of <kid>,
 *                     message = "ngx_http_session cookie v1" || 0x00
 *                               || kid || 0x00 || token)
 *
 * (mac_key: see session_keyring.c).  A kid never contains a NUL and the
 * token has a fixed length, so the message is unambiguous.
 *
 * Hashes of the token, unkeyed BLAKE2b, with distinct prefixes:
 *
 *   record id  = hex(BLAKE2b-256("sid" || token))              64 digits
 *   public id  = hex(BLAKE2b-256("ngx_http_session public id v1" || 0x00
 *                                || token))[0..16)            16 digits
 *
 * The record id names the session in Redis; the public id goes to logs.
 * Neither can be turned into the token (256 random bits), and the public
 * id cannot be turned into the record id either.
 */


#include <string.h>

#include <sodium.h>

#include "session_core.h"


#define SC_MAC_LABEL     "ngx_http_session cookie v1"
#define SC_SID_LABEL     "sid"
#define SC_PUBLIC_LABEL  "ngx_http_session public id v1"


/*
 * BLAKE2b-256 keyed with the key's MAC key over
 * "ngx_http_session cookie v1" NUL kid NUL token, in one call: the
 * incremental API cost a few hundred instructions more per cookie
 * (docs/benchmarks.md)
 */

static void
sc_cookie_mac(const sc_key_t *key, const unsigned char *token,
    unsigned char mac[SC_MAC_LEN])
{
    unsigned char  *p, msg[sizeof(SC_MAC_LABEL) + SC_KID_MAX + 1
                           + SC_TOKEN_LEN];

    p = msg;
    memcpy(p, SC_MAC_LABEL, sizeof(SC_MAC_LABEL));
    p += sizeof(SC_MAC_LABEL);
    memcpy(p, key->kid, key->kid_len);
    p += key->kid_len;
    *p++ = '\0';
    memcpy(p, token, SC_TOKEN_LEN);
    p += SC_TOKEN_LEN;

    crypto_generichash(mac, SC_MAC_LEN, msg, (unsigned long long) (p - msg),
                       key->mac_key, sizeof(key->mac_key));

    sodium_memzero(msg, sizeof(msg));
}


/* lowercase hex, branch free (as libsodium's sodium_bin2hex); no NUL */

static void
sc_hex(const unsigned char *in, size_t len, char *out)
{
    size_t    i;
    unsigned  b, c;

    for (i = 0; i < len; i++) {
        b = in[i] >> 4;
        c = in[i] & 0xf;

        out[2 * i] = (char) (unsigned char)
                     (87U + b + (((b - 10U) >> 8) & ~38U));
        out[2 * i + 1] = (char) (unsigned char)
                         (87U + c + (((c - 10U) >> 8) & ~38U));
    }
}


size_t
sc_cookie_encode(const sc_keyring_t *kr,
    const unsigned char token[SC_TOKEN_LEN], char *out, size_t outlen)
{
    char           *p;
    const sc_key_t *key;
    unsigned char   mac[SC_MAC_LEN];

    if (outlen < SC_COOKIE_MAX || kr->nkeys == 0) {
        return 0;
    }

    key = &kr->keys[0];

    sc_cookie_mac(key, token, mac);

    p = out;

    memcpy(p, key->kid, key->kid_len);
    p += key->kid_len;
    *p++ = '.';
    p += sc_b64url_encode(token, SC_TOKEN_LEN, p);
    *p++ = '.';
    p += sc_b64url_encode(mac, SC_MAC_LEN, p);

    sodium_memzero(mac, sizeof(mac));

    return p - out;
}


int
sc_cookie_decode(const sc_keyring_t *kr, const char *in, size_t len,
    unsigned char token[SC_TOKEN_LEN], size_t *key_index)
{
    int             rc;
    size_t          i, klen;
    const char     *t, *m;
    const sc_key_t *key;
    unsigned char   tok[SC_TOKEN_LEN], mac[SC_MAC_LEN], exp[SC_MAC_LEN];

    /* the layout is fixed once the length is known */

    if (len <= SC_COOKIE_TAIL + 1 || len > SC_COOKIE_MAX) {
        return SC_MALFORMED;
    }

    klen = len - SC_COOKIE_TAIL - 1;
    t = in + klen + 1;
    m = t + SC_B64_32_LEN + 1;

    if (in[klen] != '.' || t[SC_B64_32_LEN] != '.'
        || !sc_kid_valid(in, klen))
    {
        return SC_MALFORMED;
    }

    /*
     * only URL-safe digits, no padding, zero trailing bits: one spelling
     * per token
     */

    if (sc_b64url_decode32(t, tok) != 0) {
        return SC_MALFORMED;
    }

    if (sc_b64url_decode32(m, mac) != 0) {
        sodium_memzero(tok, sizeof(tok));
        return SC_MALFORMED;
    }

    key = NULL;

    for (i = 0; i < kr->nkeys; i++) {
        if (kr->keys[i].kid_len == klen
            && memcmp(kr->keys[i].kid, in, klen) == 0)
        {
            key = &kr->keys[i];
            break;
        }
    }

    if (key == NULL) {
        rc = SC_UNKNOWN_KID;
        goto done;
    }

    sc_cookie_mac(key, tok, exp);

    if (crypto_verify_32(mac, exp) != 0) {
        rc = SC_BAD_MAC;
        goto done;
    }

    memcpy(token, tok, SC_TOKEN_LEN);

    if (key_index) {
        *key_index = i;
    }

    rc = SC_OK;

done:

    sodium_memzero(tok, sizeof(tok));
    sodium_memzero(exp, sizeof(exp));

    return rc;
}


void
sc_token_hash_hex(const unsigned char token[SC_TOKEN_LEN], char *hex)
{
    unsigned char  h[32], msg[sizeof(SC_SID_LABEL) - 1 + SC_TOKEN_LEN];

    /* BLAKE2b-256 of "sid" token */

    memcpy(msg, SC_SID_LABEL, sizeof(SC_SID_LABEL) - 1);
    memcpy(msg + sizeof(SC_SID_LABEL) - 1, token, SC_TOKEN_LEN);

    crypto_generichash(h, sizeof(h), msg, sizeof(msg), NULL, 0);

    sc_hex(h, sizeof(h), hex);

    sodium_memzero(h, sizeof(h));
    sodium_memzero(msg, sizeof(msg));
}


void
sc_public_id(const unsigned char token[SC_TOKEN_LEN], char *out)
{
    unsigned char             h[32];
    crypto_generichash_state  st;

    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *) SC_PUBLIC_LABEL,
                              sizeof(SC_PUBLIC_LABEL));
    crypto_generichash_update(&st, token, SC_TOKEN_LEN);
    crypto_generichash_final(&st, h, sizeof(h));

    sc_hex(h, SC_PUBLIC_ID_LEN / 2, out);

    sodium_memzero(h, sizeof(h));
    sodium_memzero(&st, sizeof(st));
}


/*
 * Renewal grace: when a login replaces a session, the old record keeps the
 * new token sealed under a key that only the holder of the old token can
 * derive (crypto_secretbox, XSalsa20-Poly1305, key = keyed BLAKE2b-256 of
 * a label with the old token as key, random nonce).  A reader of Redis
 * learns nothing; a client presenting the old cookie during the grace
 * period gets the new one.
 */

static void
sc_grace_key(const unsigned char old_token[SC_TOKEN_LEN], unsigned char *key)
{
    static const char  label[] = "ngx_http_session grace v1";

    crypto_generichash(key, crypto_secretbox_KEYBYTES,
                       (const unsigned char *) label, sizeof(label) - 1,
                       old_token, SC_TOKEN_LEN);
}


size_t
sc_grace_seal(const unsigned char old_token[SC_TOKEN_LEN],
    const unsigned char new_token[SC_TOKEN_LEN], char *out, size_t outlen)
{
    unsigned char  key[crypto_secretbox_KEYBYTES];
    unsigned char  box[SC_GRACE_RAW_LEN];

    if (outlen < SC_GRACE_LEN) {
        return 0;
    }

    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    sc_grace_key(old_token, key);

    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, new_token,
                          SC_TOKEN_LEN, box, key);

    sodium_memzero(key, sizeof(key));

    return sc_b64url_encode(box, sizeof(box), out);
}


int
sc_grace_open(const unsigned char old_token[SC_TOKEN_LEN], const char *in,
    size_t len, unsigned char new_token[SC_TOKEN_LEN])
{
    int            rc;
    unsigned char  key[crypto_secretbox_KEYBYTES];
    unsigned char  box[SC_GRACE_RAW_LEN];

    if (len != SC_GRACE_LEN
        || sc_b64_decode(in, len, box, sizeof(box)) != sizeof(box))
    {
        return SC_MALFORMED;
    }

    sc_grace_key(old_token, key);

    rc = crypto_secretbox_open_easy(new_token,
                                    box + crypto_secretbox_NONCEBYTES,
                                    SC_TOKEN_LEN + crypto_secretbox_MACBYTES,
                                    box, key);

    sodium_memzero(key, sizeof(key));

    return rc == 0 ? SC_OK : SC_BAD_MAC;
}
