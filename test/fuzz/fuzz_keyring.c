
/*
 * libFuzzer target: the key file parser.
 *
 * Invariants checked (beyond the sanitizers, which catch any read past the
 * input: libFuzzer hands over an exactly sized heap copy):
 *   - on success: 1..SC_MAX_KEYS keys, valid, NUL terminated and distinct
 *     key ids, no NUL byte in the input, and each key signs a cookie that
 *     the ring verifies with the right key_index;
 *   - on error: the ring is wiped, the message is a non-empty NUL
 *     terminated string, "line N: " prefixed when err.line is N > 0, and N
 *     is a line of the input;
 *   - line endings do not matter: the same file with LF turned into CRLF,
 *     or with one more newline at the end, parses to the same keys or to
 *     the same error.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_core.h"
#include "fuzz.h"


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
all_zero(const void *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (((const unsigned char *) p)[i]) {
            return 0;
        }
    }

    return 1;
}


static void
check_result(int rc, const sc_keyring_t *kr, const sc_error_t *err,
    const char *in, size_t len)
{
    char           prefix[32], c[SC_COOKIE_MAX];
    size_t         i, j, n, lines, idx;
    sc_keyring_t   one;
    unsigned char  token[SC_TOKEN_LEN], out[SC_TOKEN_LEN];

    CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);

    if (rc != SC_OK) {
        CHECK(rc == SC_ERROR);
        CHECK(all_zero(kr, sizeof(*kr)));
        CHECK(err->msg[0] != '\0');

        lines = 1;

        for (i = 0; i < len; i++) {
            lines += in[i] == '\n';
        }

        CHECK(err->line <= lines);

        if (err->line) {
            snprintf(prefix, sizeof(prefix), "line %u: ", err->line);
            CHECK(strncmp(err->msg, prefix, strlen(prefix)) == 0);

        } else {
            CHECK(strcmp(err->msg, "no key found") == 0);
        }

        return;
    }

    CHECK(memchr(in, '\0', len) == NULL);
    CHECK(kr->nkeys >= 1 && kr->nkeys <= SC_MAX_KEYS);
    CHECK(err->line == 0 && err->msg[0] == '\0');

    for (i = 0; i < kr->nkeys; i++) {
        CHECK(kr->keys[i].kid_len >= 1 && kr->keys[i].kid_len <= SC_KID_MAX);
        CHECK(strlen(kr->keys[i].kid) == kr->keys[i].kid_len);
        CHECK(strspn(kr->keys[i].kid, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "abcdefghijklmnopqrstuvwxyz0123456789_-")
              == kr->keys[i].kid_len);
        CHECK(!all_zero(kr->keys[i].mac_key, 32));

        for (j = 0; j < i; j++) {
            CHECK(strcmp(kr->keys[i].kid, kr->keys[j].kid) != 0);
        }

        memset(token, (int) i, sizeof(token));

        one.keys[0] = kr->keys[i];
        one.nkeys = 1;

        n = sc_cookie_encode(&one, token, c, sizeof(c));
        CHECK(n == kr->keys[i].kid_len + 2 + 2 * SC_B64_32_LEN);

        idx = (size_t) -1;
        CHECK(sc_cookie_decode(kr, c, n, out, &idx) == SC_OK);
        CHECK(idx == i && memcmp(out, token, sizeof(token)) == 0);
    }

    sc_keyring_wipe(&one);
}


static void
check_same(int rc, const sc_keyring_t *kr, const sc_error_t *err,
    int rc2, const sc_keyring_t *kr2, const sc_error_t *err2)
{
    CHECK(rc == rc2);
    CHECK(err->line == err2->line);
    CHECK(strcmp(err->msg, err2->msg) == 0);
    CHECK(memcmp(kr, kr2, sizeof(*kr)) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, rc2;
    char          *crlf;
    size_t         i, n;
    sc_error_t     err, err2;
    sc_keyring_t   kr, kr2;
    const char    *in;

    in = (const char *) data;

    memset(&err, 0xa5, sizeof(err));
    rc = sc_keyring_parse(&kr, in, size, &err);
    check_result(rc, &kr, &err, in, size);

    crlf = malloc(2 * size + 2);

    if (crlf == NULL) {
        abort();
    }

    /* LF -> CRLF */

    n = 0;

    for (i = 0; i < size; i++) {
        if (in[i] == '\n') {
            crlf[n++] = '\r';
        }

        crlf[n++] = in[i];
    }

    rc2 = sc_keyring_parse(&kr2, crlf, n, &err2);
    check_same(rc, &kr, &err, rc2, &kr2, &err2);

    /* one more newline at the end */

    memcpy(crlf, in, size);
    crlf[size] = '\n';

    rc2 = sc_keyring_parse(&kr2, crlf, size + 1, &err2);
    check_same(rc, &kr, &err, rc2, &kr2, &err2);

    free(crlf);

    sc_keyring_wipe(&kr);
    sc_keyring_wipe(&kr2);

    return 0;
}
