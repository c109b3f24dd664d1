
/*
 * ngx_http_session_module: the nginx-independent core.
 *
 * Nothing in the files declared here includes an nginx header.  They are
 * shared by the nginx module, by tools/sessionctl and by the unit tests and
 * fuzz targets under test/.  Every function is pure: no I/O, no global
 * state, no allocation; callers pass the buffers.
 */

#ifndef _SESSION_CORE_H_INCLUDED_
#define _SESSION_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define SC_OK                 0
#define SC_ERROR             -1
#define SC_MALFORMED         -2     /* syntax of a cookie is wrong */
#define SC_UNKNOWN_KID       -3     /* well formed, no such key id */
#define SC_BAD_MAC           -4     /* well formed, MAC does not verify */


#define SC_TOKEN_LEN          32    /* raw random session token */
#define SC_MAC_LEN            32    /* raw cookie MAC */
#define SC_KID_MAX            32    /* key id: 1..32 of [A-Za-z0-9_-] */
#define SC_SECRET_MIN         32    /* decoded secret, bytes */
#define SC_SECRET_MAX         512
#define SC_MAX_KEYS           32

/* base64url without padding of 32 bytes */
#define SC_B64_32_LEN         43

/* "<kid>.<token b64url>.<mac b64url>" */
#define SC_COOKIE_MAX         (SC_KID_MAX + 1 + SC_B64_32_LEN + 1             \
                               + SC_B64_32_LEN)
/* the part after "<kid>.": "<token b64url>.<mac b64url>" */
#define SC_COOKIE_TAIL        (SC_B64_32_LEN + 1 + SC_B64_32_LEN)

/* lowercase hex of BLAKE2b-256(token): the Redis record id */
#define SC_HASH_HEX_LEN       64

/* public id for logs: the first 16 hex digits of another hash */
#define SC_PUBLIC_ID_LEN      16


typedef struct {
    char            kid[SC_KID_MAX + 1];  /* NUL terminated */
    size_t          kid_len;
    unsigned char   mac_key[32];          /* derived from the secret */
} sc_key_t;


typedef struct {
    sc_key_t        keys[SC_MAX_KEYS];    /* keys[0] signs, all verify */
    size_t          nkeys;
} sc_keyring_t;


typedef struct {
    unsigned        line;                 /* 1-based, 0 if not line bound */
    char            msg[160];
} sc_error_t;


/*
 * Fills err (if not NULL) with "line N: " (when line is not 0) and the
 * formatted message; returns SC_ERROR.
 */
int sc_error_set(sc_error_t *err, unsigned line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* must be called once before any other function (wraps sodium_init) */
int sc_init(void);

/* a key id: 1..SC_KID_MAX of [A-Za-z0-9_-]; 1 or 0 */
int sc_kid_valid(const char *kid, size_t len);


/*
 * Key file: one key per line, "<kid> <base64 secret>", the secret in the
 * standard or URL-safe alphabet, padded or not, at least 32 bytes decoded.
 * Leading/trailing blanks are ignored; blank lines and lines whose first
 * non-blank character is '#' are comments.  Errors: empty (no key), a line
 * without two fields, extra fields, bad kid, bad base64, short or long
 * secret, duplicate kid, too many keys.  On error err->line names the line.
 */
int sc_keyring_parse(sc_keyring_t *kr, const char *buf, size_t len,
    sc_error_t *err);

/*
 * The key file's grammar alone, for other kinds of keys: calls handler for
 * each "<kid> <value>" line (kid checked and unique); "what" names the
 * value in messages.  The handler returns SC_OK, or SC_ERROR with err set
 * (sc_error_set with the line it is given).
 */
typedef int (*sc_keyfile_pt)(void *data, const char *kid, size_t kid_len,
    const char *value, size_t value_len, unsigned line, sc_error_t *err);

int sc_keyfile_parse(const char *buf, size_t len, const char *what,
    sc_keyfile_pt handler, void *data, sc_error_t *err);

/* wipes the key material (sodium_memzero) */
void sc_keyring_wipe(sc_keyring_t *kr);

/* fills buf with len random bytes (randombytes_buf) */
void sc_random(unsigned char *buf, size_t len);

/*
 * Writes "<kid>.<token>.<mac>" for keys[0] and returns its length
 * (no NUL is written); returns 0 if out is shorter than SC_COOKIE_MAX.
 */
size_t sc_cookie_encode(const sc_keyring_t *kr,
    const unsigned char token[SC_TOKEN_LEN], char *out, size_t outlen);

/*
 * Parses and verifies a cookie value in constant time with respect to the
 * MAC.  On SC_OK fills token and *key_index (0 means signed with the
 * current key; more means it should be re-issued).  Returns SC_MALFORMED,
 * SC_UNKNOWN_KID or SC_BAD_MAC otherwise.  Never reads past in + len.
 */
int sc_cookie_decode(const sc_keyring_t *kr, const char *in, size_t len,
    unsigned char token[SC_TOKEN_LEN], size_t *key_index);

/* hex[SC_HASH_HEX_LEN] = lowercase hex BLAKE2b-256("sid" || token); no NUL */
void sc_token_hash_hex(const unsigned char token[SC_TOKEN_LEN], char *hex);

/* out[SC_PUBLIC_ID_LEN]: a short public id for logs; no NUL */
void sc_public_id(const unsigned char token[SC_TOKEN_LEN], char *out);

/*
 * Renewal grace (see session_cookie.c): seals the new token under a key
 * derived from the old one.  sc_grace_seal writes SC_GRACE_LEN base64url
 * characters (no NUL) and returns that length, or 0 if out is too short;
 * sc_grace_open returns SC_OK, SC_MALFORMED or SC_BAD_MAC.
 */

#define SC_GRACE_RAW_LEN      (24 + 16 + SC_TOKEN_LEN)   /* nonce, tag, ct */
#define SC_GRACE_LEN          96                         /* base64url */

size_t sc_grace_seal(const unsigned char old_token[SC_TOKEN_LEN],
    const unsigned char new_token[SC_TOKEN_LEN], char *out, size_t outlen);
int sc_grace_open(const unsigned char old_token[SC_TOKEN_LEN],
    const char *in, size_t len, unsigned char new_token[SC_TOKEN_LEN]);

/* constant time equality of two buffers of the same length */
int sc_equal(const void *a, const void *b, size_t len);

/* base64url without padding; returns bytes written */
size_t sc_b64url_encode(const unsigned char *in, size_t len, char *out);

/*
 * Exactly 43 URL-safe base64 digits (no padding) to 32 bytes, strict as
 * sc_b64_decode(); 0, or -1 with out wiped.
 */
int sc_b64url_decode32(const char *in, unsigned char *out);

/*
 * Decodes standard or URL-safe base64, with or without '=' padding, no
 * whitespace.  Returns the decoded length, or (size_t) -1 on bad input or
 * when the result would exceed outlen.
 */
size_t sc_b64_decode(const char *in, size_t len, unsigned char *out,
    size_t outlen);


/*
 * Claims: "name=value; name2=value2" (the X-Session-Claims header and the
 * Redis record).  Names are 1..32 of [A-Za-z0-9_]; values percent-encoded,
 * at most SC_CLAIMS_MAX pairs and SC_CLAIMS_BYTES bytes in all.  Blanks
 * around ';' and '=' are ignored; an empty string has no claims.
 */

#define SC_CLAIMS_MAX         16
#define SC_CLAIMS_BYTES       4096
#define SC_CLAIM_NAME_MAX     32

typedef struct {
    const char     *name;                 /* points into the input */
    size_t          name_len;
    const char     *value;                /* raw, still percent-encoded */
    size_t          value_len;
} sc_claim_t;

/* returns the number of claims (>= 0) or SC_MALFORMED */
int sc_claims_parse(const char *in, size_t len, sc_claim_t *claims,
    size_t nclaims_max);

/*
 * Finds the claim named name in a claims string and percent-decodes its
 * value into out.  Returns the decoded length, (size_t) -1 when absent or
 * malformed or out is too short.
 */
size_t sc_claims_get(const char *in, size_t len, const char *name,
    size_t name_len, char *out, size_t outlen);

/* a hex digit's value (either case), or -1 */
int sc_hex_value(unsigned char c);

/*
 * decimal, no sign, no leading zero, at most INT64_MAX: 1 with *out set,
 * or 0
 */
int sc_dec_parse(const char *p, size_t len, int64_t *out);

/* percent-decodes; returns the length or (size_t) -1 on a bad escape */
size_t sc_pct_decode(const char *in, size_t len, char *out, size_t outlen);


/*
 * The record's lookup field "lk" (session_record.c): the record's id (the
 * first SC_RECORD_ID_LEN hex digits of its hash), then SC_RECORD_FIELDS
 * fields, sub abs last cl nx nt cre, each a netstring.  A field of length
 * 0 is absent (data NULL).  sc_record_unpack() returns SC_OK with
 * f[0..n-1] pointing into the input; SC_RECORD_OTHER when the value does
 * not begin with the id given (the reply of another command or another
 * record); SC_MALFORMED when the fields are wrong.  sc_record_pack()
 * returns the length written, 0 if out is too short or a field longer
 * than SC_RECORD_FIELD_MAX.
 */
#define SC_RECORD_FIELDS      7
#define SC_RECORD_ID_LEN      16
#define SC_RECORD_DIGITS      6
#define SC_RECORD_FIELD_MAX   999999
#define SC_RECORD_OTHER      -5

typedef struct {
    const char     *data;
    size_t          len;
} sc_field_t;

int sc_record_unpack(const char *in, size_t len, const char *id,
    sc_field_t *f, size_t n);
size_t sc_record_pack(char *out, size_t size, const char *id,
    const sc_field_t *f, size_t n);


#endif /* _SESSION_CORE_H_INCLUDED_ */
