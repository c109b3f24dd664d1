
/*
 * ngx_http_session_module core: the signed identity assertion (a compact
 * JWS, RFC 7515, signed with Ed25519, RFC 8037) and the JWKS that
 * publishes its keys.  No nginx headers; callers pass the buffers.
 */

#ifndef _SESSION_JWS_H_INCLUDED_
#define _SESSION_JWS_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "session_core.h"


#define SC_JWS_SEED_LEN       32    /* Ed25519 seed, the file's secret */
#define SC_JWS_PK_LEN         32
#define SC_JWS_SIG_LEN        64
#define SC_JWS_HEADER_MAX     128   /* base64url of the protected header */


typedef struct {
    char            kid[SC_KID_MAX + 1];  /* NUL terminated */
    size_t          kid_len;
    unsigned char   pk[SC_JWS_PK_LEN];
    unsigned char   sk[64];               /* libsodium: seed || pk */
    char            header[SC_JWS_HEADER_MAX];  /* base64url, no NUL */
    size_t          header_len;
} sc_jws_key_t;


typedef struct {
    sc_jws_key_t    keys[SC_MAX_KEYS];    /* keys[0] signs, all published */
    size_t          nkeys;
} sc_jws_keys_t;


/*
 * session_assertion_keys: "<kid> <base64 32-byte seed>" a line, the key
 * file's grammar (sc_keyfile_parse).  Errors name the line; on error the
 * keys are wiped.
 */
int sc_jws_keys_parse(sc_jws_keys_t *ks, const char *buf, size_t len,
    sc_error_t *err);
void sc_jws_keys_wipe(sc_jws_keys_t *ks);


/*
 * The body of a JSON string (no quotes): '"', '\\' and control characters
 * escaped, every byte that is not part of well-formed UTF-8 replaced with
 * U+FFFD.  Writes at most SC_JSON_ESCAPED_MAX(len) bytes; returns the
 * length, or (size_t) -1 if out is too short.
 */
#define SC_JSON_ESCAPED_MAX(n)  ((n) * 6)

size_t sc_json_escape(const char *in, size_t len, char *out, size_t outlen);


/* the registered names a session claim cannot take */
int sc_jws_reserved_claim(const char *name, size_t len);


typedef struct {
    const char     *iss;
    size_t          iss_len;
    const char     *sub;
    size_t          sub_len;
    const char     *aud;
    size_t          aud_len;
    const char     *sid;                  /* the session's public id */
    size_t          sid_len;
    const char     *amr;                  /* "cookie", "telegram" */
    size_t          amr_len;
    int64_t         iat;
    int64_t         exp;
    int64_t         auth_time;            /* < 0: not sent */
    const char     *claims;               /* "name=value; ..." encoded */
    size_t          claims_len;
} sc_assertion_t;


/* upper bounds of the payload's JSON and of the whole token */
size_t sc_jws_payload_max(const sc_assertion_t *a);
size_t sc_jws_token_max(const sc_jws_key_t *key, size_t payload_max);

/*
 * The payload's JSON: iss, sub, aud, iat, exp, auth_time, sid, amr, then
 * each session claim as a string member, except those named like a
 * registered claim (sc_jws_reserved_claim) and repeated names.  Returns
 * its length, or 0 if out is too short or the claims are malformed.
 */
size_t sc_jws_payload(const sc_assertion_t *a, char *out, size_t outlen);

/*
 * The compact JWS "<header>.<payload>.<signature>" of a JSON payload,
 * signed with key.  Returns its length (no NUL), or 0 if out is too short.
 */
size_t sc_jws_sign(const sc_jws_key_t *key, const char *payload,
    size_t payload_len, char *out, size_t outlen);

/*
 * The JWKS of every key: {"keys":[{"kty":"OKP","crv":"Ed25519","kid":..,
 * "x":..,"use":"sig","alg":"EdDSA"},...]}, public parts only.  Returns
 * its length, or 0 if out is too short (SC_JWS_JWKS_MAX is enough).
 */
#define SC_JWS_JWKS_MAX  (16 + SC_MAX_KEYS * (100 + SC_KID_MAX + 43))

size_t sc_jws_jwks(const sc_jws_keys_t *ks, char *out, size_t outlen);


#endif /* _SESSION_JWS_H_INCLUDED_ */
