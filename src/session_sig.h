
/*
 * ngx_http_session_module: signed requests (HMAC-SHA256 webhooks), the
 * nginx-independent part.
 *
 * Schemes (sig = lowercase or uppercase hex unless noted, 32 bytes):
 *
 *   miniapp   X-Miniapp-Signature: <sig>
 *             X-Timestamp: <unix seconds>
 *             signed: "<timestamp>.<body>"
 *   github    X-Hub-Signature-256: sha256=<sig>
 *             X-GitHub-Delivery: <id>                (the replay id)
 *             signed: "<body>"
 *   slack     X-Slack-Signature: v0=<sig>
 *             X-Slack-Request-Timestamp: <unix seconds>
 *             signed: "v0:<timestamp>:<body>"
 *   stripe    Stripe-Signature: t=<ts>,v1=<sig>[,v1=<sig>...][,v0=...]
 *             signed: "<ts>.<body>"
 *   standard  webhook-id: <id>
 *             webhook-timestamp: <unix seconds>
 *             webhook-signature: v1,<base64 sig> [v1,<base64 sig> ...]
 *             signed: "<id>.<timestamp>.<body>"
 *
 * Use:
 *
 *   sc_sig_secrets_parse()       once, at configuration time
 *   sc_sig_parse()               the request headers -> sc_sig_req_t
 *   sc_sig_check_time()          the timestamp against the clock
 *   sc_sig_init()                one HMAC context per secret, fed with
 *                                the signed prefix ("<ts>." ...)
 *   sc_sig_update()              each piece of the raw body, in order
 *   sc_sig_final()               SC_SIG_OK or SC_SIG_BAD, sets the
 *                                replay id (SHA-256 of the signed
 *                                content); releases the contexts
 *   sc_sig_cleanup()             releases the contexts if sc_sig_final()
 *                                was not reached (harmless otherwise)
 *
 * The HMAC contexts are OpenSSL's (EVP_MAC, allocated by OpenSSL): an
 * nginx caller must arrange for sc_sig_cleanup() to run when the request
 * goes away before sc_sig_final() (a pool cleanup handler).  Nothing else
 * allocates, does I/O or keeps global state.
 */

#ifndef _SESSION_SIG_H_INCLUDED_
#define _SESSION_SIG_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>

#include "session_core.h"


/* status codes; the same values as SC_TG_* in session_tg.h */
#define SC_SIG_OK              0
#define SC_SIG_ERROR          -1    /* OpenSSL failed (out of memory...) */
#define SC_SIG_MISSING       -11    /* a required header absent or empty */
#define SC_SIG_INVALID       -12    /* a header is malformed */
#define SC_SIG_BAD           -13    /* well formed, no signature matches */
#define SC_SIG_STALE         -14    /* timestamp outside the tolerance */


#define SC_SIG_MAC_LEN        32    /* HMAC-SHA256 */
#define SC_SIG_CANDIDATES_MAX  8    /* signatures in one request */
#define SC_SIG_SECRETS_MAX     8    /* secrets in one secrets file */
#define SC_SIG_SECRET_MAX    256    /* bytes, after whsec_ decoding */
#define SC_SIG_HEADER_MAX   2048    /* longest header value accepted */
#define SC_SIG_ID_MAX        255    /* webhook-id, X-GitHub-Delivery */
#define SC_SIG_TS_DIGITS_MAX  19    /* fits int64_t */

/* "<id>.<ts>." is the longest signed prefix */
#define SC_SIG_PREFIX_MAX     (SC_SIG_ID_MAX + 1 + SC_SIG_TS_DIGITS_MAX + 1)

/* the replay id: lowercase hex of a SHA-256 */
#define SC_SIG_REPLAY_MAX     (2 * SC_SIG_MAC_LEN)


typedef enum {
    SC_SIG_MINIAPP = 0,
    SC_SIG_GITHUB,
    SC_SIG_SLACK,
    SC_SIG_STRIPE,
    SC_SIG_STANDARD
} sc_sig_scheme_t;


/* per scheme: its name and the request headers it reads */
typedef struct {
    const char       *name;           /* "miniapp", "github", ... */
    const char       *signature;      /* header names, NULL if unused */
    const char       *timestamp;
    const char       *id;
} sc_sig_scheme_info_t;


/* header values as received; value NULL means the header is absent */
typedef struct {
    const char       *signature;
    size_t            signature_len;
    const char       *timestamp;
    size_t            timestamp_len;
    const char       *id;
    size_t            id_len;
} sc_sig_headers_t;


typedef struct {
    sc_sig_scheme_t   scheme;

    int               has_timestamp;
    int64_t           timestamp;

    unsigned char     candidates[SC_SIG_CANDIDATES_MAX][SC_SIG_MAC_LEN];
    size_t            ncandidates;
    size_t            nskipped;       /* malformed extra entries skipped */

    /* fed to the MAC before the body: "<ts>.", "v0:<ts>:", "<id>.<ts>." */
    char              prefix[SC_SIG_PREFIX_MAX];
    size_t            prefix_len;

    /* X-GitHub-Delivery or webhook-id, NUL terminated; empty otherwise */
    char              id[SC_SIG_ID_MAX + 1];
    size_t            id_len;

    /*
     * Set by sc_sig_final() on SC_SIG_OK, NUL terminated: the lowercase
     * hex of SHA-256(prefix || body), the signed content.  It names the
     * delivery, not the secret or the signature entry that verified it,
     * so a replay carrying another valid signature of the same content
     * (secret rotation) has the same replay id.  github: the body alone
     * (its delivery id is not signed); standard: "<id>.<ts>.<body>".
     */
    char              replay_id[SC_SIG_REPLAY_MAX + 1];
    size_t            replay_id_len;
    size_t            secret_index;   /* which secret verified */

    /* on SC_SIG_MISSING or SC_SIG_INVALID: a static string, for logs */
    const char       *reason;
} sc_sig_req_t;


typedef struct {
    unsigned char     key[SC_SIG_SECRET_MAX];
    size_t            len;
} sc_sig_secret_t;


typedef struct {
    sc_sig_secret_t   secrets[SC_SIG_SECRETS_MAX];
    size_t            nsecrets;
} sc_sig_secrets_t;


/*
 * The streaming verifier: one OpenSSL EVP_MAC_CTX per secret, and an
 * EVP_MD_CTX (SHA-256) for the replay id.
 */
typedef struct {
    void             *mac[SC_SIG_SECRETS_MAX];
    size_t            nmac;
    void             *digest;
    int               failed;
} sc_sig_ctx_t;


/* NULL if scheme is out of range */
const sc_sig_scheme_info_t *sc_sig_scheme_info(sc_sig_scheme_t scheme);

/* "miniapp", "github", "slack", "stripe", "standard": SC_SIG_OK or -1 */
int sc_sig_scheme_by_name(const char *name, size_t len,
    sc_sig_scheme_t *scheme);

/* "ok", "missing", "invalid", "bad signature", "stale", "error" */
const char *sc_sig_status_str(int rc);

/*
 * Secrets file: one secret per line; blank lines and lines whose first
 * non-blank character is '#' are ignored; blanks (SP, HT) around a secret
 * and the CR of a CRLF line ending are stripped, blanks inside a secret
 * are kept ("It's a Secret to Everybody").  A secret is its bytes as
 * written (for stripe, "whsec_..." whole, prefix included) except for
 * standard, where it is base64 ("whsec_" prefix optional) and the key is
 * the decoded bytes.  1..SC_SIG_SECRET_MAX bytes each, at most
 * SC_SIG_SECRETS_MAX secrets, at least one; no control byte but HT.
 * Returns SC_SIG_OK or SC_SIG_ERROR with err->line and err->msg set (if
 * err is not NULL); on error *s is wiped.
 */
int sc_sig_secrets_parse(sc_sig_secrets_t *s, sc_sig_scheme_t scheme,
    const char *buf, size_t len, sc_error_t *err);

void sc_sig_secrets_wipe(sc_sig_secrets_t *s);

/*
 * Parses the headers of a request for scheme: SC_SIG_OK, SC_SIG_MISSING
 * (signature, timestamp or id header absent, or empty or blank) or
 * SC_SIG_INVALID (req->reason says why).  Blanks around a value are
 * ignored.  Signatures must be exactly 32 bytes; a timestamp is 1..19
 * decimal digits without sign or leading zero, at most INT64_MAX; an id
 * is 1..SC_SIG_ID_MAX printable ASCII bytes.  stripe: "t" exactly once,
 * at least one well-formed "v1", other keys ignored; standard: at least
 * one well-formed "v1", other versions ("v1a,...") ignored.  A malformed
 * "v1" value next to a well-formed one is skipped (req->nskipped), as
 * Stripe's and the Standard Webhooks libraries do.  More than
 * SC_SIG_CANDIDATES_MAX well-formed candidates is SC_SIG_INVALID.
 */
int sc_sig_parse(sc_sig_req_t *req, sc_sig_scheme_t scheme,
    const sc_sig_headers_t *h);

/*
 * SC_SIG_OK if the scheme has no timestamp (github) or
 * |now - timestamp| <= tolerance (seconds, >= 0); SC_SIG_STALE otherwise.
 */
int sc_sig_check_time(const sc_sig_req_t *req, int64_t now,
    int64_t tolerance);

/* the same test on bare numbers: SC_SIG_OK or SC_SIG_STALE */
int sc_sig_check_ts(int64_t ts, int64_t now, int64_t tolerance);

/*
 * Starts one HMAC per secret and feeds it req->prefix.  SC_SIG_OK or
 * SC_SIG_ERROR (nothing is left allocated then).  ctx needs no
 * initialisation before.
 */
int sc_sig_init(sc_sig_ctx_t *ctx, const sc_sig_secrets_t *s,
    const sc_sig_req_t *req);

/* feeds a piece of the body; SC_SIG_OK or SC_SIG_ERROR */
int sc_sig_update(sc_sig_ctx_t *ctx, const void *data, size_t len);

/*
 * Compares, in constant time, every candidate with the MAC of every
 * secret.  SC_SIG_OK (req->replay_id and req->secret_index set),
 * SC_SIG_BAD, or SC_SIG_ERROR if an earlier step failed.  Releases the
 * contexts.
 */
int sc_sig_final(sc_sig_ctx_t *ctx, sc_sig_req_t *req);

/* releases the contexts; idempotent; safe on a zeroed ctx */
void sc_sig_cleanup(sc_sig_ctx_t *ctx);

/* init + update(body) + final, for a body held in one piece */
int sc_sig_verify(sc_sig_req_t *req, const sc_sig_secrets_t *s,
    const void *body, size_t len);


#endif /* _SESSION_SIG_H_INCLUDED_ */
