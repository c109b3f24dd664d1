
/*
 * ngx_http_session_module: Telegram Mini App initData, the
 * nginx-independent part.
 *
 * The Mini App sends its initData, a query string, as
 * "Authorization: tma <initData>".  Two ways to check it:
 *
 *   first party (the bot token is known):
 *     secret_key = HMAC-SHA256(key = "WebAppData", msg = bot_token)
 *     hash       = hex(HMAC-SHA256(key = secret_key,
 *                                  msg = data_check_string))
 *     data_check_string: every field but "hash" ("signature" included),
 *     percent-decoded, as "key=value", sorted by key bytewise, joined
 *     with "\n"
 *
 *   third party (only the bot id is known):
 *     Ed25519 with Telegram's public key (production or test
 *     environment) over "<bot_id>:WebAppData\n" followed by every field
 *     but "hash" and "signature" in the same form; "signature" is
 *     base64url without padding
 *
 * Use: sc_tg_parse(), then sc_tg_verify() or sc_tg_verify_third_party(),
 * then sc_tg_check_auth_date(), then the accessors.  No allocation, no
 * I/O, no global state; the HMAC and Ed25519 are libsodium's.
 */

#ifndef _SESSION_TG_H_INCLUDED_
#define _SESSION_TG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* status codes; the same values as SC_SIG_* in session_sig.h */
#define SC_TG_OK               0
#define SC_TG_ERROR           -1
#define SC_TG_MISSING        -11    /* no initData */
#define SC_TG_INVALID        -12    /* malformed initData or field */
#define SC_TG_BAD            -13    /* well formed, does not verify */
#define SC_TG_STALE          -14    /* auth_date older than max_age */


#define SC_TG_INIT_DATA_MAX  4096   /* bytes of initData, encoded */
#define SC_TG_FIELDS_MAX       32
#define SC_TG_KEY_MAX          64   /* decoded key: 1..64 of [A-Za-z0-9_] */

/* the longest data-check-string: "<bot_id>:WebAppData\n" + fields */
#define SC_TG_DCS_MAX        (SC_TG_INIT_DATA_MAX + 32)

#define SC_TG_FUTURE_SKEW      60   /* default tolerance for clock skew */
#define SC_TG_NO_MAX_AGE       -1   /* sc_tg_check_auth_date(): no limit */


typedef enum {
    SC_TG_PRODUCTION = 0,
    SC_TG_TEST
} sc_tg_env_t;


/* offsets into sc_tg_t.data: the struct may be copied */
typedef struct {
    uint16_t          key;
    uint16_t          key_len;
    uint16_t          value;
    uint16_t          value_len;
} sc_tg_field_t;


typedef struct {
    char              data[SC_TG_INIT_DATA_MAX];   /* decoded fields */
    sc_tg_field_t     fields[SC_TG_FIELDS_MAX];    /* sorted by key */
    size_t            nfields;
    int64_t           auth_date;
    const char       *reason;   /* a static string, for logs, or NULL */
} sc_tg_t;


/*
 * Takes "tma <initData>" (an Authorization header value; the scheme is
 * case-insensitive, blanks around are ignored) and points *data at the
 * initData.  SC_TG_OK, or SC_TG_MISSING if in is NULL, blank, another
 * scheme, or "tma" with nothing after it.
 */
int sc_tg_authorization(const char *in, size_t len, const char **data,
    size_t *data_len);

/*
 * Parses initData "key=value&key=value...": SC_TG_OK, SC_TG_MISSING (in
 * is NULL or len is 0) or SC_TG_INVALID (tg->reason says why).
 *
 * Strict: at most SC_TG_INIT_DATA_MAX bytes, every byte in %x21-7E; no
 * empty segment, every segment has a "="; keys and values are decoded as
 * application/x-www-form-urlencoded ("+" is a space, "%XX" either case,
 * a bad escape is invalid); decoded keys are 1..SC_TG_KEY_MAX of
 * [A-Za-z0-9_] and distinct; decoded values hold no control byte (so no
 * value can add a line to the data-check-string); at most
 * SC_TG_FIELDS_MAX fields; "auth_date" present, decimal, no sign, no
 * leading zero, at most INT64_MAX.
 */
int sc_tg_parse(sc_tg_t *tg, const char *in, size_t len);

/*
 * First-party check with the bot token: SC_TG_OK, SC_TG_BAD, or
 * SC_TG_INVALID if "hash" is absent or not 64 hex digits or the token is
 * empty.  Constant time in the comparison of the hash.
 */
int sc_tg_verify(const sc_tg_t *tg, const char *bot_token, size_t len);

/*
 * Third-party check, Ed25519 with Telegram's public key for env:
 * SC_TG_OK, SC_TG_BAD, or SC_TG_INVALID if "signature" is absent or not
 * 86 characters of unpadded base64url (64 bytes).
 */
int sc_tg_verify_third_party(const sc_tg_t *tg, uint64_t bot_id,
    sc_tg_env_t env);

/* the bot id of a bot token "<bot_id>:<secret>": SC_TG_OK or INVALID */
int sc_tg_bot_id(const char *bot_token, size_t len, uint64_t *bot_id);

/*
 * Writes the data-check-string (first party: third_party = 0, bot_id
 * unused) into out; returns its length or (size_t) -1 if outlen is too
 * short (SC_TG_DCS_MAX is always enough).
 */
size_t sc_tg_data_check_string(const sc_tg_t *tg, int third_party,
    uint64_t bot_id, char *out, size_t outlen);

/*
 * auth_date against the clock: SC_TG_INVALID if more than skew seconds
 * in the future (skew < 0 counts as 0), SC_TG_STALE if older than
 * max_age seconds (max_age SC_TG_NO_MAX_AGE: no limit), SC_TG_OK
 * otherwise.
 */
int sc_tg_check_auth_date(const sc_tg_t *tg, int64_t now, int64_t max_age,
    int64_t skew);

int64_t sc_tg_auth_date(const sc_tg_t *tg);

/*
 * Copies the decoded value of a field into out (no NUL is written);
 * returns its length, or (size_t) -1 if the field is absent or outlen is
 * too short.
 */
size_t sc_tg_get(const sc_tg_t *tg, const char *key, size_t key_len,
    char *out, size_t outlen);

/* sc_tg_get() of "user" (a JSON object) and of "start_param" */
size_t sc_tg_user(const sc_tg_t *tg, char *out, size_t outlen);
size_t sc_tg_start_param(const sc_tg_t *tg, char *out, size_t outlen);

/*
 * The "id" of the "user" field: SC_TG_OK, SC_TG_MISSING if there is no
 * "user" field, SC_TG_INVALID if it is not a JSON object with exactly one
 * top-level "id" holding a positive integer (at most INT64_MAX).
 */
int sc_tg_user_id(const sc_tg_t *tg, int64_t *id);

/*
 * The same on any JSON text: it must be one JSON object (RFC 8259, up to
 * 32 levels deep, blanks around allowed).  "id" keys inside nested
 * values or inside strings are not looked at; a key spelled with escapes
 * ("\u0069d") is still "id".  SC_TG_OK, SC_TG_MISSING (valid object
 * without a top-level "id") or SC_TG_INVALID (not a valid object; an "id"
 * that is not a positive integer; "id" twice).
 */
int sc_tg_json_id(const char *json, size_t len, int64_t *id);


#endif /* _SESSION_TG_H_INCLUDED_ */
