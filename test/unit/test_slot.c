
/*
 * Unit tests of the Redis Cluster slot hashing and the Cluster key layout
 * (src/session_slot.c).  TAP lines as test_core.c.
 *
 * The slots below were read from a real redis-server 7.0 (CLUSTER
 * KEYSLOT); t/170-cluster.t checks the same function against the cluster
 * it starts.  The subject tag was computed with Python's hashlib.blake2b.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "session_core.h"
#include "session_slot.h"


#define S(s)  s, sizeof(s) - 1


static unsigned  tests, passed, failed;


static void
ok(int cond, const char *desc)
{
    tests++;

    if (cond) {
        passed++;
        printf("ok %u - %s\n", tests, desc);

    } else {
        failed++;
        printf("not ok %u - %s\n", tests, desc);
    }
}


int
main(void)
{
    size_t         n;
    unsigned       i;
    char           id[SC_HASH_HEX_LEN + 1], key[256], key2[256];
    unsigned char  token[SC_TOKEN_LEN], tag[SC_TAG_BYTES];

    static const struct {
        const char  *key;
        unsigned     slot;
    } slots[] = {
        { "foo", 12182 },
        { "bar", 5061 },
        { "{user1000}.following", 3443 },
        { "foo{}{bar}", 8363 },
        { "foo{{bar}}zap", 4015 },
        { "foo{bar}{zap}", 5061 },
        { "{}", 15257 },
        { "a{", 14311 },
        { "x}{y}", 12222 },
        { "", 0 },
    };

    if (sodium_init() < 0) {
        printf("not ok 1 - sodium_init\n");
        return 1;
    }

    ok(sc_crc16((const unsigned char *) S("123456789")) == 0x31c3,
       "crc16 check value of \"123456789\" is 0x31c3");

    for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        char  desc[128];

        snprintf(desc, sizeof(desc), "slot of \"%s\" is %u", slots[i].key,
                 slots[i].slot);
        ok(sc_key_slot(slots[i].key, strlen(slots[i].key)) == slots[i].slot,
           desc);
    }

    /* the subject tag, pinned */

    sc_subject_tag_hex(S("alice"), id);
    ok(memcmp(id, "6aab", 4) == 0, "subject tag of alice is 6aab");

    sc_subject_tag(S("alice"), tag);
    ok(tag[0] == 0x6a && tag[1] == 0xab, "subject tag bytes");

    /* record id: the token's tag bytes, then the record hash from digit 5 */

    for (i = 0; i < SC_TOKEN_LEN; i++) {
        token[i] = (unsigned char) i;
    }

    token[0] = 0x6a;
    token[1] = 0xab;

    sc_token_cluster_id(token, sizeof(token), id);
    id[SC_HASH_HEX_LEN] = '\0';

    {
        char  h[SC_HASH_HEX_LEN + 1];

        sc_token_hash_hex(token, h);
        h[SC_HASH_HEX_LEN] = '\0';

        ok(memcmp(id, "6aab", 4) == 0
           && memcmp(id + 4, h + 4, SC_HASH_HEX_LEN - 4) == 0,
           "cluster id = tag hex || record hash[4..]");
    }

    /* the session key and the subject's index key share one slot */

    n = sc_cluster_session_key(S("app:"), id, key, sizeof(key));
    ok(n == 4 + 3 + 4 + 1 + 64 && strncmp(key, "app:s:{6aab}6aab", 16) == 0,
       "session key layout");

    n = sc_cluster_subject_key(S("app:"), S("alice"), key2, sizeof(key2));
    ok(n == 4 + 3 + 4 + 1 + 5 && strcmp(key2, "app:u:{6aab}alice") == 0,
       "subject key layout");

    ok(sc_key_slot(key, strlen(key)) == sc_key_slot(key2, strlen(key2)),
       "a session of alice and alice's index share a slot");

    /* a subject with braces keeps its tag */

    n = sc_cluster_subject_key(S("p:"), S("{x}y"), key2, sizeof(key2));
    ok(n > 0 && strncmp(key2, "p:u:{", 5) == 0 && key2[9] == '}',
       "a subject with braces: the tag comes first");

    ok(sc_cluster_session_key(S("app:"), id, key, 20) == 0,
       "a too small buffer is refused");

    ok(sc_cluster_subject_key(S("app:"), S("alice"), key, 17) == 0,
       "a too small buffer is refused (subject)");

    printf("%u passed, %u failed\n", passed, failed);

    return failed ? 1 : 0;
}
