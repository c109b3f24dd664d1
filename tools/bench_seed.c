
/*
 * bench_seed: writes N sessions for scripts/bench-scale, fast.
 *
 *   bench_seed KEYFILE N PREFIX COOKIES [SLOTMAP OUTDIR]
 *
 * For each session: a random token (on a cluster, starting with its
 * subject's tag, as sessionctl create does), its cookie (one per line in
 * COOKIES) and the Redis commands that store it with the module's layout
 * (session_store.h; the fields of a login with typical claims), in the
 * Redis protocol for "redis-cli --pipe": on stdout, or, with SLOTMAP (a
 * file of "START END PORT" lines, from CLUSTER SLOTS), in OUTDIR/PORT for
 * the master of each key's slot.  Subjects are user0 .. user<N-1>.
 * BENCH_SEED_CLAIM_BYTES=B (environment) pads the claims with a "pad"
 * claim to about B bytes (at most SC_CLAIMS_BYTES).
 * A benchmark tool: the cookies it writes are live credentials of the
 * benchmark's Redis only.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "session_core.h"
#include "session_store.h"
#include "session_slot.h"


#define BS_PORTS_MAX  64
#define BS_IDLE       86400
#define BS_ABSOLUTE   86400


typedef struct {
    int     port;
    FILE   *out;
} bs_port_t;


static bs_port_t   bs_ports[BS_PORTS_MAX];
static int         bs_nports;
static short       bs_map[SC_CLUSTER_SLOTS];


static void
bs_arg(FILE *f, const char *s, size_t len)
{
    fprintf(f, "$%zu\r\n", len);
    fwrite(s, 1, len, f);
    fputs("\r\n", f);
}


static void
bs_cmd(FILE *f, int argc, const char **argv, const size_t *len)
{
    int  i;

    fprintf(f, "*%d\r\n", argc);

    for (i = 0; i < argc; i++) {
        bs_arg(f, argv[i], len[i]);
    }
}


static FILE *
bs_out(const char *key, size_t len)
{
    if (bs_nports == 0) {
        return stdout;
    }

    return bs_ports[bs_map[sc_key_slot(key, len)]].out;
}


static int
bs_load_map(const char *file, const char *dir)
{
    int    i, start, end, port;
    char   path[4096];
    FILE  *f;

    memset(bs_map, 0xff, sizeof(bs_map));

    f = fopen(file, "r");
    if (f == NULL) {
        perror(file);
        return -1;
    }

    while (fscanf(f, "%d %d %d", &start, &end, &port) == 3) {
        for (i = 0; i < bs_nports; i++) {
            if (bs_ports[i].port == port) {
                break;
            }
        }

        if (i == bs_nports) {
            if (bs_nports == BS_PORTS_MAX) {
                fclose(f);
                return -1;
            }

            snprintf(path, sizeof(path), "%s/%d", dir, port);
            bs_ports[i].port = port;
            bs_ports[i].out = fopen(path, "w");

            if (bs_ports[i].out == NULL) {
                perror(path);
                fclose(f);
                return -1;
            }

            bs_nports++;
        }

        for (; start <= end && start < SC_CLUSTER_SLOTS; start++) {
            bs_map[start] = (short) i;
        }
    }

    fclose(f);

    for (i = 0; i < SC_CLUSTER_SLOTS; i++) {
        if (bs_map[i] < 0) {
            fprintf(stderr, "%s: slot %d has no master\n", file, i);
            return -1;
        }
    }

    return 0;
}


int
main(int argc, char **argv)
{
    int             i, cluster;
    long            n, k;
    char           *buf;
    char            hash[SC_HASH_HEX_LEN], pid[SC_PUBLIC_ID_LEN];
    char            sub[32], cookie[SC_COOKIE_MAX + 1];
    static char     cl[SC_CLAIMS_BYTES + 1];
    static char     lk[SC_CLAIMS_BYTES + 512];
    long            pad;
    const char     *e;
    char            now_s[24], abs_s[24], ttl_s[24];
    char            skey[SS_PREFIX_MAX + 80], ukey[SS_PREFIX_MAX + 80];
    size_t          len, plen, clen, slen, lklen, alen[20];
    sc_field_t      fl[SC_RECORD_FIELDS];
    long            fsize;
    FILE           *f, *cookies, *out;
    time_t          now;
    const char     *av[20];
    sc_error_t      err;
    sc_keyring_t    kr;
    unsigned char   token[SC_TOKEN_LEN];

    if (argc != 5 && argc != 7) {
        fprintf(stderr, "usage: bench_seed KEYFILE N PREFIX COOKIES "
                "[SLOTMAP OUTDIR]\n");
        return 1;
    }

    if (sc_init() != SC_OK) {
        return 1;
    }

    f = fopen(argv[1], "r");
    if (f == NULL) {
        perror(argv[1]);
        return 1;
    }

    fseek(f, 0, SEEK_END);
    fsize = ftell(f);
    rewind(f);
    buf = malloc(fsize + 1);

    if (buf == NULL || fread(buf, 1, fsize, f) != (size_t) fsize) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 1;
    }

    fclose(f);

    memset(&err, 0, sizeof(sc_error_t));

    if (sc_keyring_parse(&kr, buf, fsize, &err) != SC_OK) {
        fprintf(stderr, "%s:%u: %s\n", argv[1], err.line, err.msg);
        return 1;
    }

    n = atol(argv[2]);
    plen = strlen(argv[3]);

    if (n <= 0 || plen > SS_PREFIX_MAX) {
        fprintf(stderr, "bench_seed: bad N or PREFIX\n");
        return 1;
    }

    cookies = fopen(argv[4], "w");
    if (cookies == NULL) {
        perror(argv[4]);
        return 1;
    }

    cluster = argc == 7;

    e = getenv("BENCH_SEED_CLAIM_BYTES");
    pad = e ? atol(e) : 0;

    if (pad < 0 || pad > SC_CLAIMS_BYTES) {
        fprintf(stderr, "bench_seed: BENCH_SEED_CLAIM_BYTES: 0..%d\n",
                SC_CLAIMS_BYTES);
        return 1;
    }

    if (cluster && bs_load_map(argv[5], argv[6]) != 0) {
        return 1;
    }

    now = time(NULL);
    snprintf(now_s, sizeof(now_s), "%lld", (long long) now);
    snprintf(abs_s, sizeof(abs_s), "%lld", (long long) now + BS_ABSOLUTE);
    snprintf(ttl_s, sizeof(ttl_s), "%d", BS_IDLE);

    for (k = 0; k < n; k++) {
        slen = (size_t) snprintf(sub, sizeof(sub), "user%ld", k);

        /* typical claims: a role, a name and an e-mail address */
        clen = (size_t) snprintf(cl, sizeof(cl),
                                 "role=member; name=User%%20%ld; "
                                 "email=user%ld%%40example.com", k, k);

        if (pad > (long) clen + 6) {
            memcpy(cl + clen, "; pad=", 6);
            memset(cl + clen + 6, 'x', pad - clen - 6);
            clen = pad;
        }

        sc_random(token, SC_TOKEN_LEN);

        if (cluster) {
            sc_subject_tag(sub, slen, token);
            sc_token_cluster_id(token, SC_TOKEN_LEN, hash);
            len = sc_cluster_session_key(argv[3], plen, hash, skey,
                                         sizeof(skey));
            sc_cluster_subject_key(argv[3], plen, sub, slen, ukey,
                                   sizeof(ukey));

        } else {
            sc_token_hash_hex(token, hash);
            len = (size_t) snprintf(skey, sizeof(skey), "%s" SS_KEY_SESSION
                                    "%.*s", argv[3], SC_HASH_HEX_LEN, hash);
            snprintf(ukey, sizeof(ukey), "%s" SS_KEY_SUBJECT "%s", argv[3],
                     sub);
        }

        sc_public_id(token, pid);

        i = (int) sc_cookie_encode(&kr, token, cookie, sizeof(cookie));
        fwrite(cookie, 1, (size_t) i, cookies);
        fputc('\n', cookies);

        out = bs_out(skey, len);

        i = 0;
        av[i] = "HSET"; alen[i++] = 4;
        av[i] = skey; alen[i++] = len;
        av[i] = "sub"; alen[i++] = 3;
        av[i] = sub; alen[i++] = slen;
        av[i] = "cre"; alen[i++] = 3;
        av[i] = now_s; alen[i++] = strlen(now_s);
        av[i] = "abs"; alen[i++] = 3;
        av[i] = abs_s; alen[i++] = strlen(abs_s);
        av[i] = "last"; alen[i++] = 4;
        av[i] = now_s; alen[i++] = strlen(now_s);
        av[i] = "cl"; alen[i++] = 2;
        av[i] = cl; alen[i++] = clen;
        av[i] = "pid"; alen[i++] = 3;
        av[i] = pid; alen[i++] = SC_PUBLIC_ID_LEN;
        av[i] = "ip"; alen[i++] = 2;
        av[i] = "198.51.100.7"; alen[i++] = 12;
        av[i] = "via"; alen[i++] = 3;
        av[i] = "login"; alen[i++] = 5;

        /* the lookup's copy, as the module's scripts write it */
        memset(fl, 0, sizeof(fl));
        fl[0].data = sub; fl[0].len = slen;
        fl[1].data = abs_s; fl[1].len = strlen(abs_s);
        fl[2].data = now_s; fl[2].len = strlen(now_s);
        fl[3].data = clen ? cl : NULL; fl[3].len = clen;
        fl[6].data = now_s; fl[6].len = strlen(now_s);
        lklen = sc_record_pack(lk, sizeof(lk), hash, fl, SC_RECORD_FIELDS);

        if (lklen == 0) {
            fprintf(stderr, "bench_seed: the record does not pack\n");
            return 1;
        }

        av[i] = "lk"; alen[i++] = 2;
        av[i] = lk; alen[i++] = lklen;
        bs_cmd(out, i, av, alen);

        av[0] = "EXPIRE"; alen[0] = 6;
        av[2] = ttl_s; alen[2] = strlen(ttl_s);
        bs_cmd(out, 3, av, alen);

        av[0] = "SADD"; alen[0] = 4;
        av[1] = ukey; alen[1] = strlen(ukey);
        av[2] = hash; alen[2] = SC_HASH_HEX_LEN;
        bs_cmd(out, 3, av, alen);

        av[0] = "EXPIRE"; alen[0] = 6;
        av[2] = ttl_s; alen[2] = strlen(ttl_s);
        bs_cmd(out, 3, av, alen);
    }

    sc_keyring_wipe(&kr);

    for (i = 0; i < bs_nports; i++) {
        fclose(bs_ports[i].out);
    }

    if (fclose(cookies) != 0 || fflush(stdout) != 0) {
        perror("bench_seed");
        return 1;
    }

    return 0;
}
