
/*
 * ngx_http_session_module core: the key file.
 *
 * Key derivation.  The cookie MAC key of every key is derived from its
 * secret, HKDF style, with BLAKE2b (libsodium crypto_generichash):
 *
 *   prk     = BLAKE2b-512("ngx_http_session secret v1" || 0x00 || secret)
 *   mac_key = BLAKE2b-256(key = prk,
 *                         message = "ngx_http_session cookie mac v1")
 *
 * The first, unkeyed, step compresses a secret of any length (32..512
 * bytes) into a 64 byte BLAKE2b key; its label keeps prk apart from any
 * other hash of the same secret.  The second step is a keyed PRF whose
 * message names the purpose, so that other keys derived from the same
 * secret later (another version, another purpose) are independent of the
 * cookie MAC key.  The raw secret itself is never used as a key.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"


#define SC_KDF_EXTRACT  "ngx_http_session secret v1"
#define SC_KDF_MAC      "ngx_http_session cookie mac v1"


static int
sc_is_blank(char c)
{
    return c == ' ' || c == '\t';
}


/* the rule for a key id, for the key file, cookies and sessionctl */

int
sc_kid_valid(const char *kid, size_t len)
{
    size_t  i;
    char    c;

    if (len == 0 || len > SC_KID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = kid[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static void
sc_derive_mac_key(const unsigned char *secret, size_t len,
    unsigned char mac_key[32])
{
    unsigned char             prk[crypto_generichash_BYTES_MAX];
    crypto_generichash_state  st;

    crypto_generichash_init(&st, NULL, 0, sizeof(prk));
    crypto_generichash_update(&st, (const unsigned char *) SC_KDF_EXTRACT,
                              sizeof(SC_KDF_EXTRACT));
    crypto_generichash_update(&st, secret, len);
    crypto_generichash_final(&st, prk, sizeof(prk));

    crypto_generichash(mac_key, 32, (const unsigned char *) SC_KDF_MAC,
                       sizeof(SC_KDF_MAC) - 1, prk, sizeof(prk));

    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(&st, sizeof(st));
}


/*
 * The key file's grammar, shared by session_keys (secrets) and
 * session_assertion_keys (Ed25519 seeds): one key per line,
 * "<kid> <base64 value>"; blanks around, blank lines and '#' comments are
 * ignored, as is the CR of a CRLF line; key ids are unique, at most
 * SC_MAX_KEYS keys, at least one.  "what" names the value in messages
 * ("secret", "seed").  The handler is called for each key, in file order.
 */

int
sc_keyfile_parse(const char *buf, size_t len, const char *what,
    sc_keyfile_pt handler, void *data, sc_error_t *err)
{
    size_t          i, nkeys, klen;
    unsigned        line;
    const char     *p, *end, *eol, *next, *s, *e, *kid, *val;
    const char     *kids[SC_MAX_KEYS];
    size_t          kid_lens[SC_MAX_KEYS];

    if (err) {
        err->line = 0;
        err->msg[0] = '\0';
    }

    if (len == 0) {
        return sc_error_set(err, 0, "no key found");
    }

    p = buf;
    end = buf + len;
    line = 0;
    nkeys = 0;

    while (p < end) {
        line++;

        eol = memchr(p, '\n', end - p);
        if (eol == NULL) {
            eol = end;
        }

        next = (eol < end) ? eol + 1 : end;

        if (memchr(p, '\0', eol - p) != NULL) {
            return sc_error_set(err, line, "NUL byte in the key file");
        }

        /* trim blanks, and the CR of a CRLF line ending */

        s = p;
        e = eol;

        while (s < e && sc_is_blank(*s)) {
            s++;
        }

        while (e > s && (sc_is_blank(e[-1]) || e[-1] == '\r')) {
            e--;
        }

        p = next;

        if (s == e || *s == '#') {
            continue;
        }

        /* "<kid> <value>" */

        kid = s;

        while (s < e && !sc_is_blank(*s)) {
            s++;
        }

        klen = s - kid;

        while (s < e && sc_is_blank(*s)) {
            s++;
        }

        if (s == e) {
            return sc_error_set(err, line, "expected \"<kid> <base64 %s>\"",
                                what);
        }

        val = s;

        while (s < e && !sc_is_blank(*s)) {
            s++;
        }

        if (s != e) {
            return sc_error_set(err, line, "unexpected text after the %s, "
                                "expected \"<kid> <base64 %s>\"",
                                what, what);
        }

        if (!sc_kid_valid(kid, klen)) {
            return sc_error_set(err, line,
                                "invalid key id (1..%d of A-Z a-z 0-9 _ -)",
                                SC_KID_MAX);
        }

        for (i = 0; i < nkeys; i++) {
            if (kid_lens[i] == klen && memcmp(kids[i], kid, klen) == 0) {
                return sc_error_set(err, line, "duplicate key id \"%.*s\"",
                                    (int) klen, kid);
            }
        }

        if (nkeys == SC_MAX_KEYS) {
            return sc_error_set(err, line, "too many keys (at most %d)",
                                SC_MAX_KEYS);
        }

        kids[nkeys] = kid;
        kid_lens[nkeys] = klen;
        nkeys++;

        if (handler(data, kid, klen, val, s - val, line, err) != SC_OK) {
            return SC_ERROR;
        }
    }

    if (nkeys == 0) {
        return sc_error_set(err, 0, "no key found");
    }

    return SC_OK;
}


static int
sc_keyring_add(void *data, const char *kid, size_t klen, const char *sec,
    size_t slen, unsigned line, sc_error_t *err)
{
    sc_keyring_t   *kr = data;

    size_t          n, pad;
    sc_key_t       *key;
    unsigned char   secret[SC_SECRET_MAX];

    /* the decoded size, assuming the base64 is valid */

    pad = 0;

    while (pad < 2 && pad < slen && sec[slen - 1 - pad] == '=') {
        pad++;
    }

    if ((slen - pad) / 4 * 3 + ((slen - pad) % 4) * 3 / 4 > SC_SECRET_MAX) {
        return sc_error_set(err, line, "secret is too long, at most %d "
                            "bytes are allowed", SC_SECRET_MAX);
    }

    n = sc_b64_decode(sec, slen, secret, sizeof(secret));

    if (n == (size_t) -1) {
        return sc_error_set(err, line, "invalid base64 in secret");
    }

    if (n < SC_SECRET_MIN) {
        sodium_memzero(secret, sizeof(secret));
        return sc_error_set(err, line, "secret is %zu bytes, at least %d "
                            "are required", n, SC_SECRET_MIN);
    }

    key = &kr->keys[kr->nkeys++];

    memcpy(key->kid, kid, klen);
    key->kid[klen] = '\0';
    key->kid_len = klen;

    sc_derive_mac_key(secret, n, key->mac_key);

    sodium_memzero(secret, sizeof(secret));

    return SC_OK;
}


int
sc_keyring_parse(sc_keyring_t *kr, const char *buf, size_t len,
    sc_error_t *err)
{
    sc_keyring_wipe(kr);

    if (sc_keyfile_parse(buf, len, "secret", sc_keyring_add, kr, err)
        != SC_OK)
    {
        sc_keyring_wipe(kr);
        return SC_ERROR;
    }

    return SC_OK;
}


void
sc_keyring_wipe(sc_keyring_t *kr)
{
    sodium_memzero(kr, sizeof(sc_keyring_t));
}
