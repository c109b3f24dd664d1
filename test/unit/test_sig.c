
/*
 * Unit tests of signed requests (src/session_sig.h) and of Telegram Mini
 * App initData (src/session_tg.h).
 *
 * No framework: TAP lines "ok N - desc" / "not ok N - desc", then
 * "P passed, F failed"; the exit status is 1 if anything failed.
 *
 * Published vectors: test/vectors/webhook_signatures.json and
 * test/vectors/telegram_init_data.json (verbatim copies of the shared
 * /work/shared/vectors files), hard-coded below with the same names.
 * The other pinned values (marked "python") were computed once with
 * Python's hmac/hashlib and urllib.parse.parse_qsl, independently of the
 * code under test.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_sig.h"
#include "session_tg.h"


#define S(s)  s, sizeof(s) - 1


/* webhook_signatures.json */

#define GH_SECRET   "It's a Secret to Everybody"
#define GH_BODY     "Hello, World!"
#define GH_SIG      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c" \
                    "46f4379c8b043e17"

#define SL_SECRET   "8f742231b10e8888abcd99yyyzzz85a5"
#define SL_TS       "1531420618"
#define SL_BODY                                                               \
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testtea"   \
    "mnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_"  \
    "name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3"  \
    "A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlf"  \
    "mibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d"  \
    "10d2c447fce8b6703c"
#define SL_SIG      "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519" \
                    "666489c69b503"

#define SW_SECRET   "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_ID       "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TS       "1614265330"
#define SW_BODY     "{\"test\": 2432232314}"
#define SW_SIG      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

#define ST_SECRET   "whsec_test_secret"
#define ST_BODY     "{\"id\":\"evt_test\",\"object\":\"event\"}"
#define ST_HEX      "8042376f6ca064adbe037642a718227dfd59047137eb49497a54c" \
                    "49eb0cfb724"
#define ST_SIG      "t=1700000000,v1=" ST_HEX

/* python: hmac(MA_SECRET, "1700000000." MA_BODY), and with MA_SECRET2 */
#define MA_SECRET   "miniapp-test-secret-0123456789abcdef"
#define MA_SECRET2  "second secret, with spaces"
#define MA_TS       "1700000000"
#define MA_BODY     "{\"hello\":\"world\"}"
#define MA_HEX      "4ee69562453dab2a2b87d59c953960a294899d5456124adfd0704d" \
                    "12c3f8bb5b"
#define MA_HEX2     "0eda49b4c52850659233ed0422c4a4372b9bd2df9ec5f3f18bcc8e" \
                    "d6dbf0a731"
/* python: hashlib.sha256("1700000000." MA_BODY) */
#define MA_REPLAY   "3e988933d1741cdb4f117a721f50e035578cbe672ea059e5a0985" \
                    "9dc7e758a8c"

#define HEX63_A     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
                    "aaaaaaaa"
#define HEX64_A     "a" HEX63_A
#define HEX62_A     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
                    "aaaaaaa"
#define B64_32_A    "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo="


/* telegram_init_data.json */

#define TG_TOKEN1   "5768337691:AAGDAe6rjxu1cUgxK4BizYi--Utc3J9v5AU"
#define TG_DATA1                                                              \
    "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%22%2C"   \
    "%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C"   \
    "%22language_code%22%3A%22en%22%2C%22is_premium%22%3Atrue%2C%22allows"   \
    "_write_to_pm%22%3Atrue%7D&chat_instance=-3788475317572404878&chat_typ"  \
    "e=private&auth_date=1709144340&hash=371697738012ebd26a111ace4aff23ee2"  \
    "65596cd64026c8c3677956a85ca1827"

#define TG_TOKEN2   "5768337691:AAH5YkoiEuPk8-FZa32hStHTqXiLPtAEhx8"
#define TG_DATA2                                                              \
    "query_id=AAHdF6IQAAAAAN0XohDhrOrc&user=%7B%22id%22%3A279058397%2C%22f"  \
    "irst_name%22%3A%22Vladislav%22%2C%22last_name%22%3A%22Kibenko%22%2C%2"  \
    "2username%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22i"  \
    "s_premium%22%3Atrue%7D&auth_date=1662771648&hash=c501b71e775f74ce10e3"  \
    "77dea85a7ea24ecd640b223ea86dfe453e0eaed2e2b2"

#define TG_BOT3     7342037359ULL
#define TG_DATA3                                                              \
    "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%"  \
    "20-%20%3F%20%5C%2F%22%2C%22last_name%22%3A%22Kibenko%22%2C%22username"  \
    "%22%3A%22vdkfrost%22%2C%22language_code%22%3A%22ru%22%2C%22is_premium"  \
    "%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22%3A%22h"  \
    "ttps%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3A"  \
    "THa57u6MqTDih13LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=813472220031"  \
    "4281151&chat_type=private&auth_date=1733584787&hash=2174df5b000556d04"  \
    "4f3f020384e879c8efcab55ddea2ced4eb752e93e7080d6&signature=zL-ucjNyREi"  \
    "HDE8aihFwpfR9aggP2xiAo3NSpfe-p7IbCisNlDKlo7Kb6G4D0Ao2mBrSgEk4maLSdv6M"  \
    "LIlADQ"

/* python: '+' in a value, "signature" kept in the first-party string */
#define TG_TOKEN4   "123456:TEST-token_for-unit-tests"
#define TG_DATA4                                                              \
    "auth_date=1700000000&start_param=abc+def%2Bghi&user=%7B%22id%22%3A42%"  \
    "2C%22n%22%3A%7B%22id%22%3A7%7D%7D&signature=c2lnbmF0dXJl&hash=69ecb60"  \
    "9481fd5ce0a3b680cfff3fc4e1d1f6f5f1f8583a00e6b00116b45ad5d"
#define TG_DCS4                                                               \
    "auth_date=1700000000\nsignature=c2lnbmF0dXJl\nstart_param=abc def+ghi"  \
    "\nuser={\"id\":42,\"n\":{\"id\":7}}"

/* python: "id" inside a string value before the real one; id > 2^53 */
#define TG_DATA5                                                              \
    "auth_date=1700000000&user=%7B%22name%22%3A%22%5C%22id%5C%22%3A1%22%2C"  \
    "%22id%22%3A9007199254740993%7D&hash=497efad29b008e2b6cc4354a914d8995e"  \
    "7c93b5199556953da7083d003b0b60d"


static unsigned  tests, passed, failed;


#if defined(__GNUC__) || defined(__clang__)
static void ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#endif


static void
ok(int cond, const char *fmt, ...)
{
    va_list  args;

    tests++;

    if (cond) {
        passed++;
        printf("ok %u - ", tests);

    } else {
        failed++;
        printf("not ok %u - ", tests);
    }

    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);

    printf("\n");
}


/* headers from C strings, NULL meaning absent */

static sc_sig_headers_t
hdrs(const char *sig, const char *ts, const char *id)
{
    sc_sig_headers_t  h;

    h.signature = sig;
    h.signature_len = sig ? strlen(sig) : 0;
    h.timestamp = ts;
    h.timestamp_len = ts ? strlen(ts) : 0;
    h.id = id;
    h.id_len = id ? strlen(id) : 0;

    return h;
}


static int
secrets(sc_sig_secrets_t *s, sc_sig_scheme_t scheme, const char *text)
{
    sc_error_t  err;

    if (sc_sig_secrets_parse(s, scheme, text, strlen(text), &err)
        != SC_SIG_OK)
    {
        printf("# secrets: %s\n", err.msg);
        return 0;
    }

    return 1;
}


/* parse + verify; returns the rc of the first step that fails */

static int
check(sc_sig_scheme_t scheme, const char *secret_file, const char *sig,
    const char *ts, const char *id, const char *body, size_t body_len)
{
    int               rc;
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    if (!secrets(&s, scheme, secret_file)) {
        return SC_SIG_ERROR;
    }

    h = hdrs(sig, ts, id);

    rc = sc_sig_parse(&req, scheme, &h);
    if (rc != SC_SIG_OK) {
        return rc;
    }

    return sc_sig_verify(&req, &s, body, body_len);
}


/* the same, the body fed in pieces of every size from 1 to len */

static int
check_streaming(sc_sig_scheme_t scheme, const char *secret_file,
    const char *sig, const char *ts, const char *id, const char *body)
{
    int               rc, good;
    size_t            len, piece, off, n;
    sc_sig_ctx_t      ctx;
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    if (!secrets(&s, scheme, secret_file)) {
        return 0;
    }

    h = hdrs(sig, ts, id);

    if (sc_sig_parse(&req, scheme, &h) != SC_SIG_OK) {
        return 0;
    }

    len = strlen(body);
    good = 1;

    for (piece = 1; piece <= len; piece++) {
        if (sc_sig_init(&ctx, &s, &req) != SC_SIG_OK) {
            return 0;
        }

        for (off = 0; off < len; off += n) {
            n = len - off < piece ? len - off : piece;

            if (sc_sig_update(&ctx, body + off, n) != SC_SIG_OK) {
                good = 0;
            }

            /* an empty piece (an empty nginx buffer) changes nothing */
            (void) sc_sig_update(&ctx, body, 0);
        }

        rc = sc_sig_final(&ctx, &req);
        good &= rc == SC_SIG_OK;
    }

    return good;
}


static void
test_sig_vectors(void)
{
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    ok(check(SC_SIG_GITHUB, GH_SECRET, GH_SIG, NULL, "d-1", S(GH_BODY))
       == SC_SIG_OK, "github: published vector");
    ok(check(SC_SIG_SLACK, SL_SECRET, SL_SIG, SL_TS, NULL, S(SL_BODY))
       == SC_SIG_OK, "slack: published vector");
    ok(check(SC_SIG_STANDARD, SW_SECRET, SW_SIG, SW_TS, SW_ID, S(SW_BODY))
       == SC_SIG_OK, "standard: published vector");
    ok(check(SC_SIG_STRIPE, ST_SECRET, ST_SIG, NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: published vector");
    ok(check(SC_SIG_MINIAPP, MA_SECRET, MA_HEX, MA_TS, NULL, S(MA_BODY))
       == SC_SIG_OK, "miniapp: pinned vector");

    ok(check_streaming(SC_SIG_GITHUB, GH_SECRET, GH_SIG, NULL, "d-1",
                       GH_BODY),
       "github: every piece size");
    ok(check_streaming(SC_SIG_SLACK, SL_SECRET, SL_SIG, SL_TS, NULL,
                       SL_BODY),
       "slack: every piece size");
    ok(check_streaming(SC_SIG_STANDARD, SW_SECRET, SW_SIG, SW_TS, SW_ID,
                       SW_BODY),
       "standard: every piece size");
    ok(check_streaming(SC_SIG_STRIPE, ST_SECRET, ST_SIG, NULL, NULL,
                       ST_BODY),
       "stripe: every piece size");
    ok(check_streaming(SC_SIG_MINIAPP, MA_SECRET, MA_HEX, MA_TS, NULL,
                       MA_BODY),
       "miniapp: every piece size");

    /* the standard secret without its whsec_ prefix */
    ok(check(SC_SIG_STANDARD, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SW_SIG,
             SW_TS, SW_ID, S(SW_BODY))
       == SC_SIG_OK, "standard: secret without whsec_");

    /* the stripe secret is the whole string: decoded, it fails */
    ok(check(SC_SIG_STRIPE, "test_secret", ST_SIG, NULL, NULL, S(ST_BODY))
       == SC_SIG_BAD, "stripe: whsec_ prefix is part of the key");

    /* uppercase hex and blanks around values */
    ok(check(SC_SIG_MINIAPP, MA_SECRET,
             " 4EE69562453DAB2A2B87D59C953960A294899D5456124ADFD0704D12C3F8"
             "BB5B\t", " " MA_TS " ", NULL, S(MA_BODY))
       == SC_SIG_OK, "miniapp: uppercase hex, blanks around values");

    /* prefixes, timestamps, ids */

    h = hdrs(MA_HEX, MA_TS, NULL);
    ok(sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_OK
       && req.prefix_len == 11 && memcmp(req.prefix, "1700000000.", 11) == 0
       && req.has_timestamp && req.timestamp == 1700000000
       && req.ncandidates == 1 && req.id_len == 0,
       "miniapp: prefix \"<ts>.\"");

    h = hdrs(SL_SIG, SL_TS, NULL);
    ok(sc_sig_parse(&req, SC_SIG_SLACK, &h) == SC_SIG_OK
       && req.prefix_len == 14 && memcmp(req.prefix, "v0:1531420618:", 14) == 0
       && req.timestamp == 1531420618,
       "slack: prefix \"v0:<ts>:\"");

    h = hdrs(SW_SIG, SW_TS, SW_ID);
    ok(sc_sig_parse(&req, SC_SIG_STANDARD, &h) == SC_SIG_OK
       && req.prefix_len == sizeof(SW_ID "." SW_TS ".") - 1
       && memcmp(req.prefix, SW_ID "." SW_TS ".", req.prefix_len) == 0
       && req.id_len == sizeof(SW_ID) - 1 && strcmp(req.id, SW_ID) == 0
       && req.candidates[0][0] == 0x83 && req.candidates[0][31] == 0xe1,
       "standard: prefix \"<id>.<ts>.\", id, decoded candidate");

    h = hdrs(ST_SIG, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && req.prefix_len == 11 && memcmp(req.prefix, "1700000000.", 11) == 0
       && req.timestamp == 1700000000 && req.ncandidates == 1
       && req.candidates[0][0] == 0x80 && req.candidates[0][31] == 0x24,
       "stripe: prefix \"<t>.\", decoded candidate");

    h = hdrs(GH_SIG, NULL, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    ok(sc_sig_parse(&req, SC_SIG_GITHUB, &h) == SC_SIG_OK
       && req.prefix_len == 0 && !req.has_timestamp
       && strcmp(req.id, "72d3162e-cc78-11e3-81ab-4c9367dc0958") == 0,
       "github: no prefix, no timestamp, delivery id");

    /* replay ids: SHA-256 of the signed content (python: hashlib) */

    secrets(&s, SC_SIG_GITHUB, GH_SECRET);
    h = hdrs(GH_SIG, NULL, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    ok(sc_sig_parse(&req, SC_SIG_GITHUB, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(GH_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, "dffd6021bb2bd5b0af676290809ec3a53191dd81c7f"
                 "70a4b28688a362182986f") == 0
       && req.replay_id_len == 64 && req.secret_index == 0,
       "github: replay id is SHA-256 of the body (the id is not signed)");

    h = hdrs(GH_SIG, NULL, "another-delivery-id");
    ok(sc_sig_parse(&req, SC_SIG_GITHUB, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(GH_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, "dffd6021bb2bd5b0af676290809ec3a53191dd81c7f"
                 "70a4b28688a362182986f") == 0,
       "github: ... whatever X-GitHub-Delivery says");

    secrets(&s, SC_SIG_STANDARD, SW_SECRET);
    h = hdrs(SW_SIG, SW_TS, SW_ID);
    ok(sc_sig_parse(&req, SC_SIG_STANDARD, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(SW_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, "fd94dd7335dc2af74a2c07ebe09e9b6c1035bf3899"
                 "7d424067b10d3f7c00297c") == 0,
       "standard: replay id is SHA-256 of \"<id>.<ts>.<body>\"");

    secrets(&s, SC_SIG_STRIPE, ST_SECRET);
    h = hdrs("t=1700000000,v1=" HEX64_A ",v1=" ST_HEX, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(ST_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, "f3bf671783aeb933d5d2ca85083f30ccb9db508b0a"
                 "fc0c51cee9a255e1b07214") == 0,
       "stripe: replay id is SHA-256 of \"<t>.<body>\"");

    secrets(&s, SC_SIG_MINIAPP, MA_SECRET);
    h = hdrs("4EE69562453DAB2A2B87D59C953960A294899D5456124ADFD0704D12C3F8"
             "BB5B", MA_TS, NULL);
    ok(sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(MA_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, MA_REPLAY) == 0,
       "miniapp: replay id is SHA-256 of \"<ts>.<body>\"");
}


/*
 * Issue 11 item 4: the replay id does not depend on which secret or which
 * signature entry verified, so that a replay carrying only the second of
 * two valid signatures (secret rotation) meets the first one's key.
 */

static void
test_sig_replay_rotation(void)
{
    char              id[SC_SIG_REPLAY_MAX + 1];
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    secrets(&s, SC_SIG_MINIAPP, MA_SECRET "\n" MA_SECRET2 "\n");

    h = hdrs(MA_HEX, MA_TS, NULL);
    ok(sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(MA_BODY)) == SC_SIG_OK
       && req.secret_index == 0 && strcmp(req.replay_id, MA_REPLAY) == 0,
       "rotation: first secret, replay id of the content");
    memcpy(id, req.replay_id, sizeof(id));

    h = hdrs(MA_HEX2, MA_TS, NULL);
    ok(sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(MA_BODY)) == SC_SIG_OK
       && req.secret_index == 1 && strcmp(req.replay_id, id) == 0,
       "rotation: second secret, the same replay id");

    secrets(&s, SC_SIG_STRIPE, ST_SECRET "\nwhsec_other\n");
    h = hdrs("t=1700000000,v1=" HEX64_A ",v1=" ST_HEX, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(ST_BODY)) == SC_SIG_OK,
       "stripe: t=,v1=m1,v1=m2 verifies");
    memcpy(id, req.replay_id, sizeof(id));
    h = hdrs("t=1700000000,v1=" ST_HEX, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(ST_BODY)) == SC_SIG_OK
       && strcmp(req.replay_id, id) == 0,
       "stripe: a replay with only one of the v1 has the same replay id");

    h = hdrs("t=1700000001,v1=" ST_HEX, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(ST_BODY)) == SC_SIG_BAD,
       "stripe: another timestamp does not verify");
}


/*
 * Issue 11: as lenient as the senders' reference verifiers, a malformed
 * extra signature entry next to a good one is skipped.
 */

static void
test_sig_lenient(void)
{
    sc_sig_req_t      req;
    sc_sig_headers_t  h;

    ok(check(SC_SIG_STRIPE, ST_SECRET, "t=1700000000,v1=deadbeef,v1=" ST_HEX,
             NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: v1=deadbeef next to a good v1 is skipped");

    ok(check(SC_SIG_STRIPE, ST_SECRET, "t=1700000000,v1=" ST_HEX ",v1=zz,v1=",
             NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: non-hex and empty v1 after a good one skipped");

    h = hdrs("t=1700000000,v1=deadbeef,v1=" ST_HEX, NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK
       && req.ncandidates == 1 && req.nskipped == 1,
       "stripe: one candidate, one skipped");

    h = hdrs("t=1700000000,v1=deadbeef", NULL, NULL);
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_INVALID,
       "stripe: only a malformed v1 is still invalid");

    ok(check(SC_SIG_STANDARD, SW_SECRET, "v1,AAAA " SW_SIG, SW_TS, SW_ID,
             S(SW_BODY))
       == SC_SIG_OK, "standard: v1,AAAA next to a good v1 is skipped");

    ok(check(SC_SIG_STANDARD, SW_SECRET, SW_SIG " v1,!!!! v1,", SW_TS, SW_ID,
             S(SW_BODY))
       == SC_SIG_OK, "standard: bad base64 and empty v1 after a good one");

    h = hdrs("v1,AAAA", SW_TS, SW_ID);
    ok(sc_sig_parse(&req, SC_SIG_STANDARD, &h) == SC_SIG_INVALID,
       "standard: only a malformed v1 is still invalid");

    h = hdrs("v1,AAAA v1", SW_TS, SW_ID);
    ok(sc_sig_parse(&req, SC_SIG_STANDARD, &h) == SC_SIG_INVALID,
       "standard: an entry without a comma is still invalid");

    ok(check(SC_SIG_STRIPE, ST_SECRET,
             "t=1700000000,v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
             ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
             ",v1=ab,v1=" ST_HEX, NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: skipped entries do not count towards eight");
}


/* the worked example of docs/signatures.md: keep the two in step */

static void
test_sig_doc_example(void)
{
    ok(check(SC_SIG_MINIAPP, "miniapp-callback-secret-0123456789\n",
             "3e9f28eaca21d856ba1645c5aa2fb6c787f54736bf79c9da44f0437d6cc5af42",
             "1700000000", NULL, S("{\"order\":42,\"paid\":true}"))
       == SC_SIG_OK,
       "miniapp: the worked example in docs/signatures.md verifies");
}


static void
test_sig_multi(void)
{
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    /* rotation: any secret of the file verifies */

    ok(check(SC_SIG_MINIAPP, MA_SECRET "\n" MA_SECRET2 "\n", MA_HEX2, MA_TS,
             NULL, S(MA_BODY))
       == SC_SIG_OK, "miniapp: second secret of two verifies");

    secrets(&s, SC_SIG_MINIAPP, "# old\r\n" MA_SECRET2 "\r\n\r\n" MA_SECRET);
    h = hdrs(MA_HEX, MA_TS, NULL);
    ok(s.nsecrets == 2 && sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_OK
       && sc_sig_verify(&req, &s, S(MA_BODY)) == SC_SIG_OK
       && req.secret_index == 1,
       "miniapp: secret_index names the secret that verified");

    ok(check(SC_SIG_MINIAPP, "other\n" MA_SECRET2 "\n", MA_HEX, MA_TS, NULL,
             S(MA_BODY))
       == SC_SIG_BAD, "miniapp: no secret verifies");

    ok(check(SC_SIG_GITHUB, "a\nb\nc\nd\ne\nf\ng\n" GH_SECRET, GH_SIG, NULL,
             "x", S(GH_BODY))
       == SC_SIG_OK, "github: eighth secret of eight verifies");

    /* several candidates, any may match */

    ok(check(SC_SIG_STRIPE, ST_SECRET,
             "t=1700000000,v1=" HEX64_A ",v0=" HEX64_A ",v1=" ST_HEX,
             NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: second v1 matches, v0 ignored");

    ok(check(SC_SIG_STRIPE, ST_SECRET,
             "v1=" ST_HEX " , t=1700000000 ,v0=whatever,x=y", NULL, NULL,
             S(ST_BODY))
       == SC_SIG_OK, "stripe: any order, blanks, unknown keys ignored");

    ok(check(SC_SIG_STRIPE, ST_SECRET,
             "t=1700000000,v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
             ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
             ",v1=" ST_HEX, NULL, NULL, S(ST_BODY))
       == SC_SIG_OK, "stripe: eight v1, the last matches");

    ok(check(SC_SIG_STANDARD, SW_SECRET,
             "v1," B64_32_A " v1a,bm90IG91cnM=  " SW_SIG " v2,x", SW_TS,
             SW_ID, S(SW_BODY))
       == SC_SIG_OK, "standard: v1a and v2 ignored, second v1 matches");

    ok(check(SC_SIG_STANDARD, SW_SECRET,
             "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE", SW_TS, SW_ID,
             S(SW_BODY))
       == SC_SIG_OK, "standard: unpadded base64 accepted");

    ok(check(SC_SIG_STANDARD, SW_SECRET,
             "v1," B64_32_A " v1," B64_32_A, SW_TS, SW_ID, S(SW_BODY))
       == SC_SIG_BAD, "standard: no v1 matches");
}


/* the negative cases: one byte changed anywhere */

static void
test_sig_flips(void)
{
    char  buf[256];

    /* body */

    ok(check(SC_SIG_GITHUB, GH_SECRET, GH_SIG, NULL, "d", S("Hello, World?"))
       == SC_SIG_BAD, "github: flipped body byte");
    ok(check(SC_SIG_SLACK, SL_SECRET, SL_SIG, SL_TS, NULL, S(SL_BODY) - 1)
       == SC_SIG_BAD, "slack: truncated body");
    ok(check(SC_SIG_STANDARD, SW_SECRET, SW_SIG, SW_TS, SW_ID,
             S("{\"test\": 2432232315}"))
       == SC_SIG_BAD, "standard: flipped body byte");
    ok(check(SC_SIG_STRIPE, ST_SECRET, ST_SIG, NULL, NULL,
             S("{\"id\":\"evt_test\",\"object\":\"Event\"}"))
       == SC_SIG_BAD, "stripe: flipped body byte");
    ok(check(SC_SIG_MINIAPP, MA_SECRET, MA_HEX, MA_TS, NULL,
             S("{\"hello\":\"world\"} "))
       == SC_SIG_BAD, "miniapp: extra body byte");
    ok(check(SC_SIG_MINIAPP, MA_SECRET, MA_HEX, MA_TS, NULL, S(""))
       == SC_SIG_BAD, "miniapp: empty body");

    /* signature */

    ok(check(SC_SIG_GITHUB, GH_SECRET,
             "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c"
             "8b043e16", NULL, "d", S(GH_BODY))
       == SC_SIG_BAD, "github: flipped signature digit");
    ok(check(SC_SIG_SLACK, SL_SECRET,
             "v0=b2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c"
             "69b503", SL_TS, NULL, S(SL_BODY))
       == SC_SIG_BAD, "slack: flipped signature digit");
    ok(check(SC_SIG_STANDARD, SW_SECRET,
             "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", SW_TS, SW_ID,
             S(SW_BODY))
       == SC_SIG_BAD, "standard: flipped signature byte");
    ok(check(SC_SIG_STRIPE, ST_SECRET,
             "t=1700000000,v1=8042376f6ca064adbe037642a718227dfd59047137eb4"
             "9497a54c49eb0cfb725", NULL, NULL, S(ST_BODY))
       == SC_SIG_BAD, "stripe: flipped signature digit");

    /* timestamp, id */

    ok(check(SC_SIG_SLACK, SL_SECRET, SL_SIG, "1531420619", NULL, S(SL_BODY))
       == SC_SIG_BAD, "slack: flipped timestamp digit");
    ok(check(SC_SIG_STANDARD, SW_SECRET, SW_SIG, "1614265331", SW_ID,
             S(SW_BODY))
       == SC_SIG_BAD, "standard: flipped timestamp digit");
    ok(check(SC_SIG_STANDARD, SW_SECRET, SW_SIG, SW_TS,
             "msg_p5jXN8AQM9LWM0D4loKWxJeK", S(SW_BODY))
       == SC_SIG_BAD, "standard: flipped webhook-id byte");
    ok(check(SC_SIG_STRIPE, ST_SECRET, "t=1700000001,v1=" ST_HEX, NULL,
             NULL, S(ST_BODY))
       == SC_SIG_BAD, "stripe: flipped timestamp digit");
    ok(check(SC_SIG_MINIAPP, MA_SECRET, MA_HEX, "1700000001", NULL,
             S(MA_BODY))
       == SC_SIG_BAD, "miniapp: flipped timestamp digit");
    ok(check(SC_SIG_GITHUB, GH_SECRET, GH_SIG, NULL, "another-delivery",
             S(GH_BODY))
       == SC_SIG_OK, "github: delivery id is not signed");

    /* secret */

    ok(check(SC_SIG_GITHUB, "It's a Secret to Everybodz", GH_SIG, NULL, "d",
             S(GH_BODY))
       == SC_SIG_BAD, "github: flipped secret byte");
    ok(check(SC_SIG_SLACK, "8f742231b10e8888abcd99yyyzzz85a6", SL_SIG, SL_TS,
             NULL, S(SL_BODY))
       == SC_SIG_BAD, "slack: flipped secret byte");
    ok(check(SC_SIG_STANDARD, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx",
             SW_SIG, SW_TS, SW_ID, S(SW_BODY))
       == SC_SIG_BAD, "standard: flipped secret, last digit");
    ok(check(SC_SIG_STANDARD, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSa",
             SW_SIG, SW_TS, SW_ID, S(SW_BODY))
       == SC_SIG_BAD, "standard: flipped secret byte");
    ok(check(SC_SIG_STRIPE, "whsec_test_secreT", ST_SIG, NULL, NULL,
             S(ST_BODY))
       == SC_SIG_BAD, "stripe: flipped secret byte");
    ok(check(SC_SIG_MINIAPP, "miniapp-test-secret-0123456789abcdeF", MA_HEX,
             MA_TS, NULL, S(MA_BODY))
       == SC_SIG_BAD, "miniapp: flipped secret byte");

    /* every single bit of the github signature */

    {
        int     bad;
        size_t  i, bit;
        char    c;

        bad = 0;
        memcpy(buf, GH_SIG, sizeof(GH_SIG));

        for (i = 7; i < sizeof(GH_SIG) - 1; i++) {
            for (bit = 0; bit < 4; bit++) {
                c = buf[i];
                /* another hex digit: swap digit classes carefully */
                buf[i] = "0123456789abcdef"[(((c <= '9') ? c - '0'
                                              : c - 'a' + 10) ^ (1 << bit))];
                bad += check(SC_SIG_GITHUB, GH_SECRET, buf, NULL, "d",
                             S(GH_BODY)) == SC_SIG_BAD;
                buf[i] = c;
            }
        }

        ok(bad == 64 * 4, "github: each of the 256 signature bits matters");
    }
}


typedef struct {
    sc_sig_scheme_t   scheme;
    const char       *sig;
    const char       *ts;
    const char       *id;
    int               rc;
    const char       *what;
} hdr_case_t;


static const hdr_case_t  hdr_cases[] = {

    { SC_SIG_MINIAPP, HEX64_A, "1", NULL, SC_SIG_OK, "minimal" },
    { SC_SIG_MINIAPP, NULL, "1", NULL, SC_SIG_MISSING, "no signature" },
    { SC_SIG_MINIAPP, "", "1", NULL, SC_SIG_MISSING, "empty signature" },
    { SC_SIG_MINIAPP, " \t ", "1", NULL, SC_SIG_MISSING, "blank signature" },
    { SC_SIG_MINIAPP, HEX64_A, NULL, NULL, SC_SIG_MISSING, "no timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "", NULL, SC_SIG_MISSING, "empty timestamp" },
    { SC_SIG_MINIAPP, HEX64_A "a", "1", NULL, SC_SIG_INVALID,
      "odd-length hex (65)" },
    { SC_SIG_MINIAPP, HEX63_A, "1", NULL, SC_SIG_INVALID,
      "odd-length hex (63)" },
    { SC_SIG_MINIAPP, HEX62_A, "1", NULL, SC_SIG_INVALID,
      "short hex (62)" },
    { SC_SIG_MINIAPP, HEX64_A "aa", "1", NULL, SC_SIG_INVALID,
      "long hex (66)" },
    { SC_SIG_MINIAPP, "g" HEX63_A, "1", NULL, SC_SIG_INVALID,
      "non-hex digit" },
    { SC_SIG_MINIAPP, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa aaaaaaaaaaaaaaaaaaaaa"
      "aaaaaaaaaaa", "1", NULL, SC_SIG_INVALID, "blank inside the hex" },
    { SC_SIG_MINIAPP, "sha256=" HEX64_A, "1", NULL, SC_SIG_INVALID,
      "unexpected prefix" },
    { SC_SIG_MINIAPP, HEX64_A, "-1", NULL, SC_SIG_INVALID,
      "negative timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "+1", NULL, SC_SIG_INVALID,
      "signed timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "17e8", NULL, SC_SIG_INVALID,
      "non-digit timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "1.5", NULL, SC_SIG_INVALID,
      "fractional timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "01", NULL, SC_SIG_INVALID,
      "leading zero" },
    { SC_SIG_MINIAPP, HEX64_A, "0", NULL, SC_SIG_OK, "timestamp 0" },
    { SC_SIG_MINIAPP, HEX64_A, "9223372036854775807", NULL, SC_SIG_OK,
      "timestamp INT64_MAX" },
    { SC_SIG_MINIAPP, HEX64_A, "9223372036854775808", NULL, SC_SIG_INVALID,
      "timestamp overflow" },
    { SC_SIG_MINIAPP, HEX64_A, "99999999999999999999", NULL, SC_SIG_INVALID,
      "timestamp of 20 digits" },
    { SC_SIG_MINIAPP, HEX64_A, "1 2", NULL, SC_SIG_INVALID,
      "blank inside the timestamp" },
    { SC_SIG_MINIAPP, HEX64_A, "17\x01", NULL, SC_SIG_INVALID,
      "control byte in the timestamp" },
    { SC_SIG_MINIAPP, HEX64_A "\r\nX-Foo: 1", "1", NULL, SC_SIG_INVALID,
      "CRLF in the signature" },
    { SC_SIG_MINIAPP, HEX64_A, "1\xc2\xa0", NULL, SC_SIG_INVALID,
      "non-ASCII byte" },

    { SC_SIG_GITHUB, "sha256=" HEX64_A, NULL, "d", SC_SIG_OK, "minimal" },
    { SC_SIG_GITHUB, NULL, NULL, "d", SC_SIG_MISSING, "no signature" },
    { SC_SIG_GITHUB, "sha256=" HEX64_A, NULL, NULL, SC_SIG_MISSING,
      "no delivery id" },
    { SC_SIG_GITHUB, "sha256=" HEX64_A, NULL, " ", SC_SIG_MISSING,
      "blank delivery id" },
    { SC_SIG_GITHUB, "sha256=" HEX64_A, NULL, "a b", SC_SIG_INVALID,
      "blank inside the delivery id" },
    { SC_SIG_GITHUB, HEX64_A, NULL, "d", SC_SIG_INVALID, "no sha256=" },
    { SC_SIG_GITHUB, "sha1=" HEX64_A, NULL, "d", SC_SIG_INVALID,
      "sha1=" },
    { SC_SIG_GITHUB, "SHA256=" HEX64_A, NULL, "d", SC_SIG_INVALID,
      "SHA256=" },
    { SC_SIG_GITHUB, "sha256=", NULL, "d", SC_SIG_INVALID, "sha256= only" },
    { SC_SIG_GITHUB, "sha256", NULL, "d", SC_SIG_INVALID, "sha256 only" },
    { SC_SIG_GITHUB, "sha256= " HEX64_A, NULL, "d", SC_SIG_INVALID,
      "blank after sha256=" },
    { SC_SIG_GITHUB, "sha256=" HEX63_A, NULL, "d", SC_SIG_INVALID,
      "odd-length hex" },

    { SC_SIG_SLACK, "v0=" HEX64_A, "1", NULL, SC_SIG_OK, "minimal" },
    { SC_SIG_SLACK, "v0=" HEX64_A, NULL, NULL, SC_SIG_MISSING,
      "no timestamp" },
    { SC_SIG_SLACK, "v1=" HEX64_A, "1", NULL, SC_SIG_INVALID, "v1=" },
    { SC_SIG_SLACK, HEX64_A, "1", NULL, SC_SIG_INVALID, "no v0=" },
    { SC_SIG_SLACK, "v0=" HEX64_A "z", "1", NULL, SC_SIG_INVALID,
      "trailing garbage" },
    { SC_SIG_SLACK, "v0=" HEX64_A, "x", NULL, SC_SIG_INVALID,
      "non-digit timestamp" },

    { SC_SIG_STRIPE, "t=1,v1=" HEX64_A, NULL, NULL, SC_SIG_OK, "minimal" },
    { SC_SIG_STRIPE, NULL, NULL, NULL, SC_SIG_MISSING, "no header" },
    { SC_SIG_STRIPE, "v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID, "no t=" },
    { SC_SIG_STRIPE, "t=1", NULL, NULL, SC_SIG_INVALID, "no v1=" },
    { SC_SIG_STRIPE, "t=1,v0=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "v0= only" },
    { SC_SIG_STRIPE, "t=1,t=1,v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "t= twice" },
    { SC_SIG_STRIPE, "t=,v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "empty t=" },
    { SC_SIG_STRIPE, "t=x,v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "non-digit t=" },
    { SC_SIG_STRIPE, "t=1,v1=" HEX63_A, NULL, NULL, SC_SIG_INVALID,
      "odd-length v1" },
    { SC_SIG_STRIPE, "t=1,v1=", NULL, NULL, SC_SIG_INVALID, "empty v1" },
    { SC_SIG_STRIPE, "t=1,,v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "empty item" },
    { SC_SIG_STRIPE, "t=1,v1=" HEX64_A ",", NULL, NULL, SC_SIG_INVALID,
      "trailing comma" },
    { SC_SIG_STRIPE, "t=1,v1", NULL, NULL, SC_SIG_INVALID, "item without =" },
    { SC_SIG_STRIPE, "t=1,=x,v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "empty key" },
    { SC_SIG_STRIPE, "t=1;v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "semicolon separator" },
    { SC_SIG_STRIPE, "t=1,v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
      ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A ",v1=" HEX64_A
      ",v1=" HEX64_A ",v1=" HEX64_A, NULL, NULL, SC_SIG_INVALID,
      "nine v1" },

    { SC_SIG_STANDARD, "v1," B64_32_A, "1", "i", SC_SIG_OK, "minimal" },
    { SC_SIG_STANDARD, NULL, "1", "i", SC_SIG_MISSING, "no signature" },
    { SC_SIG_STANDARD, "v1," B64_32_A, NULL, "i", SC_SIG_MISSING,
      "no timestamp" },
    { SC_SIG_STANDARD, "v1," B64_32_A, "1", NULL, SC_SIG_MISSING,
      "no webhook-id" },
    { SC_SIG_STANDARD, "v1," B64_32_A, "1", "", SC_SIG_MISSING,
      "empty webhook-id" },
    { SC_SIG_STANDARD, "v1," B64_32_A, "1", "a\x7f", SC_SIG_INVALID,
      "DEL in webhook-id" },
    { SC_SIG_STANDARD, "v1," B64_32_A, "1.5", "i", SC_SIG_INVALID,
      "fractional timestamp" },
    { SC_SIG_STANDARD, "v1a," B64_32_A, "1", "i", SC_SIG_INVALID,
      "no v1 entry" },
    { SC_SIG_STANDARD, "v1", "1", "i", SC_SIG_INVALID, "v1 without comma" },
    { SC_SIG_STANDARD, ",abc", "1", "i", SC_SIG_INVALID, "empty version" },
    { SC_SIG_STANDARD, "v1,", "1", "i", SC_SIG_INVALID, "empty base64" },
    { SC_SIG_STANDARD, "v1,qqqq!qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=", "1",
      "i", SC_SIG_INVALID, "bad base64 digit" },
    { SC_SIG_STANDARD, "v1,qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "1",
      "i", SC_SIG_INVALID, "30 bytes of base64" },
    { SC_SIG_STANDARD, "v1,qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
      "1", "i", SC_SIG_INVALID, "33 bytes of base64" },
    { SC_SIG_STANDARD, "v1,qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqr=", "1",
      "i", SC_SIG_INVALID, "non-canonical base64" },
    { SC_SIG_STANDARD, "v1,qq+qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq_qo=", "1",
      "i", SC_SIG_INVALID, "mixed base64 alphabets" },
    { SC_SIG_STANDARD, "v1," B64_32_A ",v1," B64_32_A, "1", "i",
      SC_SIG_INVALID, "comma instead of space" },
    { SC_SIG_STANDARD, "v1," B64_32_A " v1," B64_32_A " v1," B64_32_A
      " v1," B64_32_A " v1," B64_32_A " v1," B64_32_A " v1," B64_32_A
      " v1," B64_32_A " v1," B64_32_A, "1", "i", SC_SIG_INVALID,
      "nine v1" },
    { SC_SIG_STANDARD, "v1," B64_32_A " v1," B64_32_A " v1," B64_32_A
      " v1," B64_32_A " v1," B64_32_A " v1," B64_32_A " v1," B64_32_A
      " v1," B64_32_A, "1", "i", SC_SIG_OK, "eight v1" },
};


static void
test_sig_headers(void)
{
    int                    rc;
    char                   big[SC_SIG_HEADER_MAX + 2], id[SC_SIG_ID_MAX + 2];
    size_t                 i;
    sc_sig_req_t           req;
    sc_sig_headers_t       h;
    const hdr_case_t      *c;
    const sc_sig_scheme_info_t  *info;

    for (i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
        c = &hdr_cases[i];
        h = hdrs(c->sig, c->ts, c->id);
        rc = sc_sig_parse(&req, c->scheme, &h);
        info = sc_sig_scheme_info(c->scheme);

        ok(rc == c->rc
           && (rc == SC_SIG_OK || req.reason != NULL),
           "%s: %s -> %s (%s)", info->name, c->what, sc_sig_status_str(rc),
           req.reason ? req.reason : "");
    }

    /* NUL inside a header value */

    h = hdrs(HEX64_A, "1", NULL);
    h.timestamp = "1\0";
    h.timestamp_len = 2;
    ok(sc_sig_parse(&req, SC_SIG_MINIAPP, &h) == SC_SIG_INVALID,
       "miniapp: NUL in the timestamp");

    h = hdrs("t=1,v1=" HEX64_A, NULL, NULL);
    h.signature_len++;
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_INVALID,
       "stripe: NUL at the end of the header");

    /* lengths */

    memset(big, ' ', sizeof(big));
    memcpy(big, "t=1,v1=" HEX64_A ",x=", sizeof("t=1,v1=" HEX64_A ",x=") - 1);
    memset(big + 80, 'a', SC_SIG_HEADER_MAX - 80);
    h = hdrs(NULL, NULL, NULL);
    h.signature = big;
    h.signature_len = SC_SIG_HEADER_MAX;
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK,
       "stripe: header of SC_SIG_HEADER_MAX bytes");
    big[SC_SIG_HEADER_MAX] = 'a';
    h.signature_len = SC_SIG_HEADER_MAX + 1;
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_INVALID,
       "stripe: header too long");
    big[SC_SIG_HEADER_MAX] = ' ';
    h.signature_len = SC_SIG_HEADER_MAX + 2;
    ok(sc_sig_parse(&req, SC_SIG_STRIPE, &h) == SC_SIG_OK,
       "stripe: trailing blanks do not count");

    memset(id, 'x', sizeof(id));
    h = hdrs("sha256=" HEX64_A, NULL, NULL);
    h.id = id;
    h.id_len = SC_SIG_ID_MAX;
    ok(sc_sig_parse(&req, SC_SIG_GITHUB, &h) == SC_SIG_OK
       && req.id_len == SC_SIG_ID_MAX && req.id[SC_SIG_ID_MAX] == '\0',
       "github: delivery id of SC_SIG_ID_MAX bytes");
    h.id_len = SC_SIG_ID_MAX + 1;
    ok(sc_sig_parse(&req, SC_SIG_GITHUB, &h) == SC_SIG_INVALID,
       "github: delivery id too long");

    h = hdrs("v1," B64_32_A, "9223372036854775807", NULL);
    h.id = id;
    h.id_len = SC_SIG_ID_MAX;
    ok(sc_sig_parse(&req, SC_SIG_STANDARD, &h) == SC_SIG_OK
       && req.prefix_len == SC_SIG_PREFIX_MAX,
       "standard: the longest prefix fits");

    /* unknown scheme, names */

    h = hdrs(HEX64_A, "1", "i");
    ok(sc_sig_parse(&req, (sc_sig_scheme_t) 5, &h) == SC_SIG_INVALID,
       "unknown scheme rejected");
    ok(sc_sig_scheme_info((sc_sig_scheme_t) 5) == NULL,
       "sc_sig_scheme_info: out of range");

    {
        sc_sig_scheme_t  sch;

        ok(sc_sig_scheme_by_name(S("standard"), &sch) == SC_SIG_OK
           && sch == SC_SIG_STANDARD
           && sc_sig_scheme_by_name(S("miniapp"), &sch) == SC_SIG_OK
           && sch == SC_SIG_MINIAPP
           && sc_sig_scheme_by_name(S("stripe"), &sch) == SC_SIG_OK
           && sch == SC_SIG_STRIPE
           && sc_sig_scheme_by_name(S("mini"), &sch) == -1
           && sc_sig_scheme_by_name(S("GitHub"), &sch) == -1,
           "sc_sig_scheme_by_name");
    }

    info = sc_sig_scheme_info(SC_SIG_SLACK);
    ok(strcmp(info->signature, "X-Slack-Signature") == 0
       && strcmp(info->timestamp, "X-Slack-Request-Timestamp") == 0
       && info->id == NULL,
       "sc_sig_scheme_info: slack header names");
}


static void
test_sig_time(void)
{
    sc_sig_req_t      req;
    sc_sig_headers_t  h;

    h = hdrs(MA_HEX, MA_TS, NULL);
    (void) sc_sig_parse(&req, SC_SIG_MINIAPP, &h);

    ok(sc_sig_check_time(&req, 1700000000, 0) == SC_SIG_OK,
       "time: exact, tolerance 0");
    ok(sc_sig_check_time(&req, 1700000300, 300) == SC_SIG_OK,
       "time: 300 s old, tolerance 300");
    ok(sc_sig_check_time(&req, 1700000301, 300) == SC_SIG_STALE,
       "time: 301 s old, tolerance 300");
    ok(sc_sig_check_time(&req, 1699999700, 300) == SC_SIG_OK,
       "time: 300 s ahead, tolerance 300");
    ok(sc_sig_check_time(&req, 1699999699, 300) == SC_SIG_STALE,
       "time: 301 s ahead, tolerance 300");
    ok(sc_sig_check_time(&req, 1700000000, -1) == SC_SIG_STALE,
       "time: negative tolerance");

    h = hdrs(GH_SIG, NULL, "d");
    (void) sc_sig_parse(&req, SC_SIG_GITHUB, &h);
    ok(sc_sig_check_time(&req, 1700000000, 0) == SC_SIG_OK,
       "time: github has no timestamp");

    ok(sc_sig_check_ts(INT64_MAX, INT64_MIN, INT64_MAX) == SC_SIG_STALE
       && sc_sig_check_ts(INT64_MIN, INT64_MAX, INT64_MAX) == SC_SIG_STALE
       && sc_sig_check_ts(INT64_MAX, 0, INT64_MAX) == SC_SIG_OK
       && sc_sig_check_ts(0, INT64_MAX, INT64_MAX) == SC_SIG_OK
       && sc_sig_check_ts(INT64_MAX, INT64_MAX - 5, 4) == SC_SIG_STALE,
       "time: extremes do not overflow");
}


static int
secrets_err(sc_sig_scheme_t scheme, const char *text, size_t len,
    unsigned line, const char *msg)
{
    sc_error_t        err;
    sc_sig_secrets_t  s;

    if (sc_sig_secrets_parse(&s, scheme, text, len, &err) != SC_SIG_ERROR) {
        return 0;
    }

    printf("# %s\n", err.msg);

    return err.line == line && strstr(err.msg, msg) != NULL
           && s.nsecrets == 0;
}


static void
test_sig_secrets(void)
{
    char              buf[1024];
    size_t            i;
    sc_error_t        err;
    sc_sig_secrets_t  s;

    ok(sc_sig_secrets_parse(&s, SC_SIG_GITHUB,
                            S("# comment\n\n   \r\n  " GH_SECRET "  \r\n"
                              "\t# indented comment\nsecond\tsecret"),
                            &err) == SC_SIG_OK
       && s.nsecrets == 2
       && s.secrets[0].len == sizeof(GH_SECRET) - 1
       && memcmp(s.secrets[0].key, GH_SECRET, s.secrets[0].len) == 0
       && s.secrets[1].len == 13
       && memcmp(s.secrets[1].key, "second\tsecret", 13) == 0,
       "secrets: comments, blank lines, CRLF, blanks kept inside");

    ok(sc_sig_secrets_parse(&s, SC_SIG_STANDARD,
                            S(SW_SECRET "\nwhsec_AAAA\n"), &err)
       == SC_SIG_OK
       && s.nsecrets == 2 && s.secrets[0].len == 24
       && s.secrets[0].key[0] == 0x31 && s.secrets[1].len == 3,
       "secrets: standard, whsec_ decoded");

    ok(sc_sig_secrets_parse(&s, SC_SIG_STRIPE, S(ST_SECRET), &err)
       == SC_SIG_OK
       && s.secrets[0].len == sizeof(ST_SECRET) - 1,
       "secrets: stripe, whsec_ kept");

    ok(secrets_err(SC_SIG_GITHUB, S(""), 0, "no secret"),
       "secrets: empty file");
    ok(secrets_err(SC_SIG_GITHUB, S("# nothing\n\n"), 0, "no secret"),
       "secrets: comments only");
    ok(secrets_err(SC_SIG_GITHUB, S("a\nb\n\0c\n"), 3, "control byte"),
       "secrets: NUL byte, line 3");
    ok(secrets_err(SC_SIG_GITHUB, S("a\x01" "b\n"), 1, "control byte"),
       "secrets: control byte");
    ok(secrets_err(SC_SIG_GITHUB, S("a\rb\n"), 1, "control byte"),
       "secrets: CR inside a line");
    ok(secrets_err(SC_SIG_GITHUB, S("a\nb\na\n"), 3, "duplicate"),
       "secrets: duplicate");
    ok(secrets_err(SC_SIG_STANDARD, S("whsec_AAAA\nAAAA\n"), 2, "duplicate"),
       "secrets: duplicate after decoding");
    ok(secrets_err(SC_SIG_STANDARD, S("# x\nwhsec_A!AA\n"), 2, "base64"),
       "secrets: bad base64");
    ok(secrets_err(SC_SIG_STANDARD, S("whsec_\n"), 1, "base64"),
       "secrets: whsec_ and nothing");
    ok(secrets_err(SC_SIG_STANDARD, S("whsec_A\n"), 1, "base64"),
       "secrets: truncated base64");
    ok(secrets_err(SC_SIG_GITHUB, S("1\n2\n3\n4\n5\n6\n7\n8\n\n9\n"), 10,
                   "too many"),
       "secrets: nine secrets, line 10");

    memset(buf, 'k', sizeof(buf));
    ok(sc_sig_secrets_parse(&s, SC_SIG_GITHUB, buf, SC_SIG_SECRET_MAX, &err)
       == SC_SIG_OK && s.secrets[0].len == SC_SIG_SECRET_MAX,
       "secrets: SC_SIG_SECRET_MAX bytes");
    ok(secrets_err(SC_SIG_GITHUB, buf, SC_SIG_SECRET_MAX + 1, 1, "too long"),
       "secrets: too long");

    /* base64 of 256 and of 257 bytes */

    memcpy(buf, "whsec_", 6);

    for (i = 0; i < 344; i++) {
        buf[6 + i] = 'A';
    }

    buf[6 + 342] = '=';
    buf[6 + 343] = '=';
    ok(sc_sig_secrets_parse(&s, SC_SIG_STANDARD, buf, 6 + 344, &err)
       == SC_SIG_OK && s.secrets[0].len == 256,
       "secrets: standard, 256 bytes decoded");

    buf[6 + 342] = 'A';
    buf[6 + 343] = '=';
    ok(secrets_err(SC_SIG_STANDARD, buf, 6 + 344, 1, "too long"),
       "secrets: standard, 257 bytes decoded");

    sc_sig_secrets_wipe(&s);
    ok(s.nsecrets == 0 && s.secrets[0].len == 0 && s.secrets[0].key[0] == 0,
       "secrets: wipe");
}


static void
test_sig_ctx(void)
{
    sc_sig_ctx_t      ctx;
    sc_sig_req_t      req;
    sc_sig_headers_t  h;
    sc_sig_secrets_t  s;

    secrets(&s, SC_SIG_MINIAPP, "a\nb\nc\n" MA_SECRET);
    h = hdrs(MA_HEX, MA_TS, NULL);
    (void) sc_sig_parse(&req, SC_SIG_MINIAPP, &h);

    /* abandoned half way: cleanup frees (LeakSanitizer checks) */

    ok(sc_sig_init(&ctx, &s, &req) == SC_SIG_OK
       && sc_sig_update(&ctx, S("{\"hello\"")) == SC_SIG_OK
       && ctx.nmac == 4,
       "ctx: init and update");
    sc_sig_cleanup(&ctx);
    sc_sig_cleanup(&ctx);
    ok(ctx.nmac == 0 && ctx.mac[0] == NULL, "ctx: cleanup twice");

    ok(sc_sig_update(&ctx, S("x")) == SC_SIG_ERROR
       && sc_sig_final(&ctx, &req) == SC_SIG_ERROR,
       "ctx: update and final after cleanup fail");

    ok(sc_sig_init(&ctx, &s, &req) == SC_SIG_OK
       && sc_sig_update(&ctx, S(MA_BODY)) == SC_SIG_OK
       && sc_sig_final(&ctx, &req) == SC_SIG_OK
       && ctx.mac[0] == NULL && ctx.mac[3] == NULL,
       "ctx: final releases the contexts");
    sc_sig_cleanup(&ctx);
    ok(sc_sig_final(&ctx, &req) == SC_SIG_ERROR, "ctx: final twice fails");

    memset(&s, 0, sizeof(s));
    ok(sc_sig_init(&ctx, &s, &req) == SC_SIG_ERROR && ctx.mac[0] == NULL,
       "ctx: no secret");
    sc_sig_cleanup(&ctx);

    ok(strcmp(sc_sig_status_str(SC_SIG_STALE), "stale") == 0
       && strcmp(sc_sig_status_str(SC_SIG_BAD), "bad signature") == 0
       && strcmp(sc_sig_status_str(12345), "error") == 0,
       "sc_sig_status_str");
}


/* Telegram */

static int
starts(const char *buf, size_t n, const char *prefix)
{
    size_t  len;

    len = strlen(prefix);

    return n >= len && memcmp(buf, prefix, len) == 0;
}


static int
tg_parse(sc_tg_t *tg, const char *s)
{
    return sc_tg_parse(tg, s, strlen(s));
}


static void
test_tg_vectors(void)
{
    char      buf[SC_TG_DCS_MAX];
    size_t    n;
    int64_t   id;
    uint64_t  bot;
    sc_tg_t   tg, tg2;

    ok(tg_parse(&tg, TG_DATA1) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_OK,
       "tg: first party, docs example");
    ok(sc_tg_auth_date(&tg) == 1709144340, "tg: docs example auth_date");
    ok(sc_tg_user_id(&tg, &id) == SC_TG_OK && id == 279058397,
       "tg: docs example user id");
    ok(sc_tg_verify(&tg, S(TG_TOKEN2)) == SC_TG_BAD,
       "tg: docs example, another token");

    n = sc_tg_data_check_string(&tg, 0, 0, buf, sizeof(buf));
    ok(n != (size_t) -1
       && starts(buf, n, "auth_date=1709144340\nchat_instance=-37884753175"
                 "72404878\nchat_type=private\nuser={\"id\":279058397,")
       && buf[n - 1] == '}',
       "tg: docs example data-check-string");

    ok(tg_parse(&tg, TG_DATA2) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN2)) == SC_TG_OK
       && sc_tg_auth_date(&tg) == 1662771648
       && sc_tg_user_id(&tg, &id) == SC_TG_OK && id == 279058397,
       "tg: first party, widely reused library vector");
    ok(sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_BAD,
       "tg: same vector, wrong token");

    ok(tg_parse(&tg, TG_DATA3) == SC_TG_OK
       && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
          == SC_TG_OK,
       "tg: third party, production key");
    ok(sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_TEST) == SC_TG_BAD,
       "tg: third party, test key rejects it");
    ok(sc_tg_verify_third_party(&tg, TG_BOT3 + 1, SC_TG_PRODUCTION)
       == SC_TG_BAD,
       "tg: third party, another bot id");
    ok(sc_tg_auth_date(&tg) == 1733584787
       && sc_tg_user_id(&tg, &id) == SC_TG_OK && id == 279058397,
       "tg: third party vector auth_date and user id");

    n = sc_tg_user(&tg, buf, sizeof(buf));
    ok(n != (size_t) -1
       && starts(buf, n, "{\"id\":279058397,\"first_name\":"
                 "\"Vladislav + - ? \\/\""),
       "tg: user decoded, %%2B is \"+\", %%20 is a space");

    ok(sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_BAD,
       "tg: third party vector, first-party check with a wrong token");

    n = sc_tg_data_check_string(&tg, 1, TG_BOT3, buf, sizeof(buf));
    buf[n] = '\0';
    ok(n != (size_t) -1
       && starts(buf, n, "7342037359:WebAppData\nauth_date=1733584787\n")
       && strstr(buf, "hash=") == NULL && strstr(buf, "signature=") == NULL,
       "tg: third-party data-check-string, no hash, no signature");

    /* synthesized (python) */

    ok(tg_parse(&tg, TG_DATA4) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN4)) == SC_TG_OK,
       "tg: first party, signature field included, '+' is a space");
    n = sc_tg_data_check_string(&tg, 0, 0, buf, sizeof(buf));
    ok(n == sizeof(TG_DCS4) - 1 && memcmp(buf, TG_DCS4, n) == 0,
       "tg: data-check-string, sorted, decoded");
    ok(sc_tg_data_check_string(&tg, 0, 0, buf, n - 1) == (size_t) -1
       && sc_tg_data_check_string(&tg, 0, 0, buf, n) == n,
       "tg: data-check-string, exact buffer");
    n = sc_tg_start_param(&tg, buf, sizeof(buf));
    ok(n == 11 && memcmp(buf, "abc def+ghi", 11) == 0,
       "tg: start_param decoded");
    ok(sc_tg_start_param(&tg, buf, 10) == (size_t) -1,
       "tg: start_param, buffer too short");
    ok(sc_tg_user_id(&tg, &id) == SC_TG_OK && id == 42,
       "tg: user id, nested \"id\" ignored");
    ok(sc_tg_verify_third_party(&tg, 123456, SC_TG_PRODUCTION)
       == SC_TG_INVALID,
       "tg: third party, signature not 64 bytes of base64url");

    ok(tg_parse(&tg, TG_DATA5) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN4)) == SC_TG_OK
       && sc_tg_user_id(&tg, &id) == SC_TG_OK && id == 9007199254740993LL,
       "tg: user id, \"id\" inside a string ignored, > 2^53 exact");

    ok(tg_parse(&tg, TG_DATA1) == SC_TG_OK
       && sc_tg_start_param(&tg, buf, sizeof(buf)) == (size_t) -1
       && sc_tg_get(&tg, S("chat_type"), buf, sizeof(buf)) == 7
       && sc_tg_get(&tg, S("chat_typ"), buf, sizeof(buf)) == (size_t) -1,
       "tg: sc_tg_get");

    /* the struct holds offsets: a copy works */
    memcpy(&tg2, &tg, sizeof(tg));
    memset(&tg, 0xa5, sizeof(tg));
    ok(sc_tg_verify(&tg2, S(TG_TOKEN1)) == SC_TG_OK, "tg: copied struct");

    ok(sc_tg_bot_id(S("5768337691:AAGDAe6rjxu1cU"), &bot) == SC_TG_OK
       && bot == 5768337691ULL
       && sc_tg_bot_id(S("5768337691"), &bot) == SC_TG_INVALID
       && sc_tg_bot_id(S(":abc"), &bot) == SC_TG_INVALID
       && sc_tg_bot_id(S("0:abc"), &bot) == SC_TG_INVALID
       && sc_tg_bot_id(S("-1:abc"), &bot) == SC_TG_INVALID,
       "tg: sc_tg_bot_id");
}


/* one byte changed anywhere in the initData (but the hash) breaks it */

static void
test_tg_flips(void)
{
    int      bad, other;
    char     buf[sizeof(TG_DATA1)], c;
    char    *h;
    size_t   i, len;
    sc_tg_t  tg;

    len = sizeof(TG_DATA1) - 1;
    memcpy(buf, TG_DATA1, sizeof(TG_DATA1));
    h = strstr(buf, "&hash=");

    bad = 0;
    other = 0;

    for (i = 0; i < len; i++) {
        c = buf[i];

        /* 'a' -> 'A' would be the same hash digit */
        buf[i] = (c == 'A') ? 'B' : (c == 'a') ? 'b' : 'A';

        if (sc_tg_parse(&tg, buf, len) != SC_TG_OK
            || sc_tg_verify(&tg, S(TG_TOKEN1)) != SC_TG_OK)
        {
            bad++;

        } else {
            other++;
            printf("# flip at %zu verified\n", i);
        }

        buf[i] = c;
    }

    ok(bad == (int) len && other == 0,
       "tg: every single byte change fails (%d of %zu)", bad, len);

    /* the hash itself, digit by digit */

    bad = 0;

    for (i = 6; i < 6 + 64; i++) {
        c = h[i];

        h[i] = (c == '0') ? '1' : '0';
        bad += sc_tg_parse(&tg, buf, len) == SC_TG_OK
               && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_BAD;
        h[i] = c;
    }

    ok(bad == 64, "tg: each hash digit matters");

    /* uppercase hash digits are the same bytes */

    for (i = 6; i < 6 + 64; i++) {
        if (h[i] >= 'a' && h[i] <= 'f') {
            h[i] -= 32;
        }
    }

    ok(sc_tg_parse(&tg, buf, len) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_OK,
       "tg: uppercase hash accepted");

    /* the token */

    ok(tg_parse(&tg, TG_DATA1) == SC_TG_OK
       && sc_tg_verify(&tg, S("5768337691:AAGDAe6rjxu1cUgxK4BizYi--Utc3J9v5AV"))
          == SC_TG_BAD
       && sc_tg_verify(&tg, TG_TOKEN1, sizeof(TG_TOKEN1) - 2) == SC_TG_BAD
       && sc_tg_verify(&tg, "", 0) == SC_TG_INVALID,
       "tg: flipped, truncated, empty token");

    /* third party: signature and data */

    {
        char  d3[sizeof(TG_DATA3)];
        char *sig;

        memcpy(d3, TG_DATA3, sizeof(TG_DATA3));
        sig = strstr(d3, "&signature=") + 11;

        sig[0] = 'y';
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_BAD,
           "tg: third party, flipped signature");
        sig[0] = 'z';

        sig[85] = 'R';   /* "...ADQ" -> "...ADR": non-canonical */
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_INVALID,
           "tg: third party, non-canonical base64url");
        sig[85] = 'Q';

        sig[2] = '+';
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_INVALID,
           "tg: third party, not base64url");
        sig[2] = '-';

        memcpy(strstr(d3, "chat_type=private"), "chat_type=privatf", 17);
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_BAD,
           "tg: third party, flipped data byte");
        memcpy(strstr(d3, "chat_type=privatf"), "chat_type=private", 17);

        memcpy(strstr(d3, "&hash=") + 6, "3", 1);
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_OK,
           "tg: third party ignores hash");

        *strstr(d3, "&signature=") = '\0';
        ok(tg_parse(&tg, d3) == SC_TG_OK
           && sc_tg_verify_third_party(&tg, TG_BOT3, SC_TG_PRODUCTION)
              == SC_TG_INVALID,
           "tg: third party, no signature");
    }
}


typedef struct {
    const char  *in;
    int          rc;
    const char  *what;
} tg_case_t;


static const tg_case_t  tg_cases[] = {
    { "auth_date=1&hash=00", SC_TG_OK, "minimal" },
    { "auth_date=1", SC_TG_OK, "no hash still parses" },
    { "", SC_TG_MISSING, "empty" },
    { "hash=00", SC_TG_INVALID, "no auth_date" },
    { "auth_date=&hash=00", SC_TG_INVALID, "empty auth_date" },
    { "auth_date=-1&hash=00", SC_TG_INVALID, "negative auth_date" },
    { "auth_date=1.5&hash=00", SC_TG_INVALID, "fractional auth_date" },
    { "auth_date=01&hash=00", SC_TG_INVALID, "auth_date leading zero" },
    { "auth_date=1+&hash=00", SC_TG_INVALID, "auth_date with a space" },
    { "auth_date=9223372036854775808&hash=00", SC_TG_INVALID,
      "auth_date overflow" },
    { "auth_date=9223372036854775807&hash=00", SC_TG_OK,
      "auth_date INT64_MAX" },
    { "auth_date=1&hash=00&hash=00", SC_TG_INVALID, "duplicate hash" },
    { "auth_date=1&auth_date=1", SC_TG_INVALID, "duplicate auth_date" },
    { "auth_date=1&user=a&user=a", SC_TG_INVALID, "duplicate user" },
    { "auth_date=1&%75ser=a&user=b", SC_TG_INVALID,
      "duplicate key, one spelled %75" },
    { "auth_date=1&a=%", SC_TG_INVALID, "truncated escape" },
    { "auth_date=1&a=%4", SC_TG_INVALID, "truncated escape" },
    { "auth_date=1&a=%4g", SC_TG_INVALID, "non-hex escape" },
    { "auth_date=1&a=%%41", SC_TG_INVALID, "double percent" },
    { "auth_date=1&a=%0A", SC_TG_INVALID, "escaped LF in a value" },
    { "auth_date=1&a=%00", SC_TG_INVALID, "escaped NUL in a value" },
    { "auth_date=1&a=%7F", SC_TG_INVALID, "escaped DEL in a value" },
    { "auth_date=1&a=%09", SC_TG_INVALID, "escaped HT in a value" },
    { "auth_date=1&a=%C3%A9", SC_TG_OK, "UTF-8 in a value" },
    { "auth_date=1&a=b=c", SC_TG_OK, "= in a value" },
    { "auth_date=1&a=", SC_TG_OK, "empty value" },
    { "auth_date=1&=a", SC_TG_INVALID, "empty key" },
    { "auth_date=1&a", SC_TG_INVALID, "no =" },
    { "auth_date=1&&a=b", SC_TG_INVALID, "empty segment" },
    { "auth_date=1&", SC_TG_INVALID, "trailing &" },
    { "&auth_date=1", SC_TG_INVALID, "leading &" },
    { "auth_date=1&a%3Db=c", SC_TG_INVALID, "= in a key" },
    { "auth_date=1&a%0Ab=c", SC_TG_INVALID, "LF in a key" },
    { "auth_date=1&a+b=c", SC_TG_INVALID, "space in a key" },
    { "auth_date=1&a.b=c", SC_TG_INVALID, "dot in a key" },
    { "auth_date=1&A_z9=c", SC_TG_OK, "key of [A-Za-z0-9_]" },
    { "auth_date=1&a=b c", SC_TG_INVALID, "raw space" },
    { "auth_date=1&a=b\tc", SC_TG_INVALID, "raw HT" },
    { "auth_date=1&a=b\nc", SC_TG_INVALID, "raw LF" },
    { "auth_date=1&a=\xc3\xa9", SC_TG_INVALID, "raw non-ASCII" },
    { "auth_date=1;a=b", SC_TG_INVALID, "; is not a separator" },
};


static void
test_tg_parse(void)
{
    int                 rc;
    char                buf[SC_TG_INIT_DATA_MAX + 16], *p;
    char                out[SC_TG_INIT_DATA_MAX];
    size_t              i;
    sc_tg_t             tg;
    const char         *d;
    size_t              dlen;
    const tg_case_t    *c;

    for (i = 0; i < sizeof(tg_cases) / sizeof(tg_cases[0]); i++) {
        c = &tg_cases[i];
        rc = tg_parse(&tg, c->in);

        ok(rc == c->rc && (rc == SC_TG_OK || tg.reason != NULL),
           "tg parse: %s -> %d (%s)", c->what, rc,
           tg.reason ? tg.reason : "");
    }

    ok(sc_tg_parse(&tg, NULL, 0) == SC_TG_MISSING, "tg parse: NULL");
    ok(sc_tg_parse(&tg, "auth_date=1\0", 12) == SC_TG_INVALID,
       "tg parse: NUL byte");

    /* no hash, no signature */

    ok(tg_parse(&tg, "auth_date=1") == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_INVALID
       && sc_tg_verify_third_party(&tg, 1, SC_TG_PRODUCTION)
          == SC_TG_INVALID,
       "tg: no hash / no signature is invalid");
    ok(tg_parse(&tg, "auth_date=1&hash=abc") == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_INVALID,
       "tg: short hash is invalid");
    ok(tg_parse(&tg, "auth_date=1&hash=" HEX64_A "a") == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_INVALID,
       "tg: odd hash is invalid");
    ok(tg_parse(&tg, "auth_date=1&hash=g" HEX63_A) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_INVALID,
       "tg: non-hex hash is invalid");
    ok(tg_parse(&tg, "auth_date=1&hash=" HEX64_A) == SC_TG_OK
       && sc_tg_verify(&tg, S(TG_TOKEN1)) == SC_TG_BAD,
       "tg: wrong hash is bad");

    /* sizes */

    p = buf;
    p += sprintf(p, "auth_date=1&a=");
    memset(p, 'x', SC_TG_INIT_DATA_MAX - (p - buf));
    ok(sc_tg_parse(&tg, buf, SC_TG_INIT_DATA_MAX) == SC_TG_OK
       && sc_tg_get(&tg, S("a"), out, sizeof(out)) == 4082
       && sc_tg_get(&tg, S("a"), out, 4081) == (size_t) -1,
       "tg parse: SC_TG_INIT_DATA_MAX bytes");
    ok(sc_tg_parse(&tg, buf, SC_TG_INIT_DATA_MAX + 1) == SC_TG_INVALID,
       "tg parse: too long");

    p = buf;
    p += sprintf(p, "auth_date=1");

    for (i = 1; i < SC_TG_FIELDS_MAX; i++) {
        p += sprintf(p, "&k%zu=%zu", i, i);
    }

    ok(sc_tg_parse(&tg, buf, p - buf) == SC_TG_OK
       && tg.nfields == SC_TG_FIELDS_MAX,
       "tg parse: SC_TG_FIELDS_MAX fields");
    p += sprintf(p, "&z=1");
    ok(sc_tg_parse(&tg, buf, p - buf) == SC_TG_INVALID,
       "tg parse: too many fields");

    memset(buf, 'k', 65);
    memcpy(buf + 65, "=1&auth_date=1", 14);
    ok(sc_tg_parse(&tg, buf, 79) == SC_TG_INVALID
       && sc_tg_parse(&tg, buf + 1, 78) == SC_TG_OK,
       "tg parse: key of 65 / 64 bytes");

    /* Authorization */

    ok(sc_tg_authorization(S("tma auth_date=1"), &d, &dlen) == SC_TG_OK
       && dlen == 11 && memcmp(d, "auth_date=1", 11) == 0,
       "tg: Authorization tma");
    ok(sc_tg_authorization(S("  TMA\t \tx=1 "), &d, &dlen) == SC_TG_OK
       && dlen == 3 && memcmp(d, "x=1", 3) == 0,
       "tg: Authorization TMA, blanks");
    ok(sc_tg_authorization(S("Bearer x"), &d, &dlen) == SC_TG_MISSING
       && sc_tg_authorization(S("tma"), &d, &dlen) == SC_TG_MISSING
       && sc_tg_authorization(S("tma   "), &d, &dlen) == SC_TG_MISSING
       && sc_tg_authorization(S("tmax=1"), &d, &dlen) == SC_TG_MISSING
       && sc_tg_authorization(NULL, 0, &d, &dlen) == SC_TG_MISSING
       && sc_tg_authorization(S(""), &d, &dlen) == SC_TG_MISSING,
       "tg: Authorization, not tma");
}


static void
test_tg_time(void)
{
    sc_tg_t  tg;

    tg_parse(&tg, TG_DATA1);

    ok(sc_tg_check_auth_date(&tg, 1709144340, 3600, 60) == SC_TG_OK,
       "tg time: now");
    ok(sc_tg_check_auth_date(&tg, 1709144340 + 3600, 3600, 60) == SC_TG_OK,
       "tg time: exactly max_age old");
    ok(sc_tg_check_auth_date(&tg, 1709144340 + 3601, 3600, 60)
       == SC_TG_STALE, "tg time: older than max_age");
    ok(sc_tg_check_auth_date(&tg, 2000000000, SC_TG_NO_MAX_AGE, 60)
       == SC_TG_OK, "tg time: no max age");
    ok(sc_tg_check_auth_date(&tg, 1709144340 - 60, 3600, 60) == SC_TG_OK,
       "tg time: 60 s in the future, skew 60");
    ok(sc_tg_check_auth_date(&tg, 1709144340 - 61, 3600, 60)
       == SC_TG_INVALID, "tg time: 61 s in the future, skew 60");
    ok(sc_tg_check_auth_date(&tg, 1709144340 - 61, SC_TG_NO_MAX_AGE,
                             SC_TG_FUTURE_SKEW)
       == SC_TG_INVALID, "tg time: future even without max age");
    ok(sc_tg_check_auth_date(&tg, 1709144340 - 1, 3600, -5)
       == SC_TG_INVALID, "tg time: negative skew is 0");

    tg_parse(&tg, "auth_date=9223372036854775807");
    ok(sc_tg_check_auth_date(&tg, INT64_MIN, INT64_MAX, INT64_MAX - 1)
       == SC_TG_INVALID
       && sc_tg_check_auth_date(&tg, 0, 0, INT64_MAX) == SC_TG_OK,
       "tg time: extremes");

    tg_parse(&tg, "auth_date=0");
    ok(sc_tg_check_auth_date(&tg, INT64_MAX, INT64_MAX, 0) == SC_TG_OK
       && sc_tg_check_auth_date(&tg, INT64_MAX, INT64_MAX - 1, 0)
          == SC_TG_STALE,
       "tg time: extremes, old");
}


/* for test names: control bytes as '.' */

static const char *
printable(const char *s, char *buf, size_t size)
{
    size_t  i;

    for (i = 0; s[i] != '\0' && i < size - 1; i++) {
        buf[i] = ((unsigned char) s[i] < 0x20) ? '.' : s[i];
    }

    buf[i] = '\0';

    return buf;
}


typedef struct {
    const char  *json;
    int          rc;
    int64_t      id;
} json_case_t;


static const json_case_t  json_cases[] = {
    { "{\"id\":1}", SC_TG_OK, 1 },
    { " \r\n\t{ \"id\" : 279058397 } \n", SC_TG_OK, 279058397 },
    { "{\"a\":{\"id\":1},\"id\":2}", SC_TG_OK, 2 },
    { "{\"a\":[{\"id\":1}],\"id\":2}", SC_TG_OK, 2 },
    { "{\"a\":\"\\\"id\\\":1\",\"id\":2}", SC_TG_OK, 2 },
    { "{\"a\":\"{\\\"id\\\":1}\",\"b\":3}", SC_TG_MISSING, 0 },
    { "{\"\\u0069d\":5}", SC_TG_OK, 5 },
    { "{\"i\\u0064\":5}", SC_TG_OK, 5 },
    { "{\"\\u0069\\u0064\":5,\"id\":6}", SC_TG_INVALID, 0 },
    { "{\"id\":1,\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"idd\":1,\"i\":2,\"Id\":3,\"id \":4}", SC_TG_MISSING, 0 },
    { "{}", SC_TG_MISSING, 0 },
    { "{\"id\":9223372036854775807}", SC_TG_OK, INT64_MAX },
    { "{\"id\":9223372036854775808}", SC_TG_INVALID, 0 },
    { "{\"id\":0}", SC_TG_INVALID, 0 },
    { "{\"id\":-5}", SC_TG_INVALID, 0 },
    { "{\"id\":1.0}", SC_TG_INVALID, 0 },
    { "{\"id\":1e3}", SC_TG_INVALID, 0 },
    { "{\"id\":01}", SC_TG_INVALID, 0 },
    { "{\"id\":\"1\"}", SC_TG_INVALID, 0 },
    { "{\"id\":null}", SC_TG_INVALID, 0 },
    { "{\"id\":{\"id\":1}}", SC_TG_INVALID, 0 },
    { "{\"id\":1", SC_TG_INVALID, 0 },
    { "{\"id\":1}}", SC_TG_INVALID, 0 },
    { "{\"id\":1} x", SC_TG_INVALID, 0 },
    { "{\"id\":1,}", SC_TG_INVALID, 0 },
    { "{,\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"id\" 1}", SC_TG_INVALID, 0 },
    { "{id:1}", SC_TG_INVALID, 0 },
    { "{'id':1}", SC_TG_INVALID, 0 },
    { "[{\"id\":1}]", SC_TG_INVALID, 0 },
    { "\"id\"", SC_TG_INVALID, 0 },
    { "", SC_TG_INVALID, 0 },
    { "{\"a\":\"\\x\",\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":\"\\u12g4\",\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":\"tab\there\",\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":[1,2,],\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":tru,\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":-,\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":1.,\"id\":1}", SC_TG_INVALID, 0 },
    { "{\"a\":[true,false,null,-0.5e+3,\"x\",{},[]],\"id\":7}", SC_TG_OK, 7 },
    { "{\"a\":\"\xc3\xa9\",\"id\":8}", SC_TG_OK, 8 },
};


static void
test_tg_json(void)
{
    int                 rc;
    char                deep[200], buf[128], *p;
    size_t              i, n;
    int64_t             id;
    const json_case_t  *c;

    for (i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
        c = &json_cases[i];
        id = -1;
        rc = sc_tg_json_id(c->json, strlen(c->json), &id);

        ok(rc == c->rc && (rc != SC_TG_OK || id == c->id),
           "json id: %s -> %d", printable(c->json, buf, sizeof(buf)), rc);
    }

    /* nesting: 32 levels in all are fine, 33 are not */

    for (n = 32; n <= 33; n++) {
        p = deep;
        p += sprintf(p, "{\"id\":3,\"a\":");

        for (i = 0; i < n - 1; i++) {
            *p++ = '[';
        }

        for (i = 0; i < n - 1; i++) {
            *p++ = ']';
        }

        *p++ = '}';

        rc = sc_tg_json_id(deep, p - deep, &id);
        ok(n == 32 ? rc == SC_TG_OK && id == 3 : rc == SC_TG_INVALID,
           "json id: %zu levels", n);
    }
}


int
main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);

    ok(sc_init() == SC_OK, "sc_init");

    test_sig_vectors();
    test_sig_doc_example();
    test_sig_multi();
    test_sig_replay_rotation();
    test_sig_lenient();
    test_sig_flips();
    test_sig_headers();
    test_sig_time();
    test_sig_secrets();
    test_sig_ctx();

    test_tg_vectors();
    test_tg_flips();
    test_tg_parse();
    test_tg_time();
    test_tg_json();

    printf("1..%u\n", tests);
    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}
