
/*
 * sessionctl: one function per command.
 */


#include "sessionctl.h"


int
sctl_build_claims(sctl_ctx_t *ctx, char *out, size_t size, size_t *len)
{
    int          i, k, n;
    char        *eq;
    size_t       nlen, o;
    const char  *arg, *p;
    sc_claim_t   claims[SC_CLAIMS_MAX + 1];

    static const char  hex[] = "0123456789ABCDEF";

    *len = 0;
    o = 0;
    n = ctx->nargs - 1;

    if (n > SC_CLAIMS_MAX) {
        return sctl_usage_error("more than %d claims", SC_CLAIMS_MAX);
    }

    for (i = 0; i < n; i++) {
        arg = ctx->args[i + 1];
        eq = strchr(arg, '=');

        if (eq == NULL) {
            return sctl_usage_error("claim \"%s\" is not NAME=VALUE", arg);
        }

        nlen = (size_t) (eq - arg);

        if (!sctl_claim_name_valid(arg, nlen)) {
            return sctl_usage_error("claim name \"%.*s\" is not 1..%d of "
                                    "[A-Za-z0-9_]", (int) nlen, arg,
                                    SC_CLAIM_NAME_MAX);
        }

        /* names compare case-insensitively, as in sc_claims_parse() */
        for (k = 0; k < i; k++) {
            if (strncasecmp(ctx->args[k + 1], arg, nlen + 1) == 0) {
                return sctl_usage_error("claim \"%.*s\" given twice",
                                        (int) nlen, arg);
            }
        }

        if (i > 0) {
            if (o + 2 > size) {
                goto too_long;
            }

            out[o++] = ';';
            out[o++] = ' ';
        }

        if (o + nlen + 1 > size) {
            goto too_long;
        }

        memcpy(out + o, arg, nlen + 1);
        o += nlen + 1;

        for (p = eq + 1; *p; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                || (*p >= '0' && *p <= '9')
                || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            {
                if (o + 1 > size) {
                    goto too_long;
                }

                out[o++] = *p;
                continue;
            }

            if (o + 3 > size) {
                goto too_long;
            }

            out[o++] = '%';
            out[o++] = hex[(unsigned char) *p >> 4];
            out[o++] = hex[(unsigned char) *p & 0xf];
        }
    }

    if (sc_claims_parse(out, o, claims, SC_CLAIMS_MAX + 1) != n) {
        return sctl_usage_error("the claims are not valid");
    }

    *len = o;

    return SCTL_OK;

too_long:

    return sctl_usage_error("the claims are longer than %d bytes",
                            SC_CLAIMS_BYTES);
}


void
sctl_print_claims_json(sctl_json_t *j, const char *cl, size_t len)
{
    int          i, n;
    char         name[SC_CLAIM_NAME_MAX + 1];
    size_t       vlen;
    sc_claim_t   claims[SC_CLAIMS_MAX];
    static char  value[SC_CLAIMS_BYTES];

    n = sc_claims_parse(cl, len, claims, SC_CLAIMS_MAX);

    if (n < 0) {
        sctl_json_null(j, "claims");
        return;
    }

    sctl_json_open(j, "claims", '{');

    for (i = 0; i < n; i++) {
        vlen = sc_pct_decode(claims[i].value, claims[i].value_len, value,
                             sizeof(value));

        if (claims[i].name_len > SC_CLAIM_NAME_MAX) {
            continue;
        }

        memcpy(name, claims[i].name, claims[i].name_len);
        name[claims[i].name_len] = '\0';

        if (vlen == (size_t) -1) {
            sctl_json_null(j, name);

        } else {
            sctl_json_str(j, name, value, vlen);
        }
    }

    sctl_json_close(j, '}');
}


/* commands */

int
sctl_cmd_create(sctl_ctx_t *ctx)
{
    int            rc;
    char           skey[SCTL_KEY_MAX], ukey[SCTL_KEY_MAX];
    char           snow[24], sabs[24], sidle[24];
    char           cookie[SC_COOKIE_MAX + 1];
    char           hash[SC_HASH_HEX_LEN], pid[SC_PUBLIC_ID_LEN];
    long           idle, absolute;
    size_t         clen, cookie_len, argvlen[19];
    time_t         now;
    const char    *argv[19];
    redisReply    *r;
    sctl_json_t    j;
    unsigned char  token[SC_TOKEN_LEN];
    static char    claims[SC_CLAIMS_BYTES];

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    idle = SCTL_DEFAULT_IDLE;
    absolute = SCTL_DEFAULT_ABSOLUTE;

    if (ctx->idle && sctl_parse_time(ctx->idle, &idle) != 0) {
        return sctl_usage_error("--idle: \"%s\" is not a time", ctx->idle);
    }

    if (ctx->absolute && sctl_parse_time(ctx->absolute, &absolute) != 0) {
        return sctl_usage_error("--absolute: \"%s\" is not a time",
                                ctx->absolute);
    }

    rc = sctl_build_claims(ctx, claims, sizeof(claims), &clen);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    now = time(NULL);

    sc_random(token, SC_TOKEN_LEN);

    if (ctx->cluster_seeds) {
        /* the subject's tag first: the record on its index's slot */
        sc_subject_tag(ctx->args[0], strlen(ctx->args[0]), token);
        sc_token_cluster_id(token, SC_TOKEN_LEN, hash);

    } else {
        sc_token_hash_hex(token, hash);
    }

    sc_public_id(token, pid);

    cookie_len = sc_cookie_encode(&ctx->keyring, token, cookie,
                                  sizeof(cookie));
    sodium_memzero(token, SC_TOKEN_LEN);

    if (cookie_len == 0) {
        sctl_error("cannot encode the cookie");
        return SCTL_RUNTIME;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_CREATE;
    argvlen[1] = sizeof(SS_SCRIPT_CREATE) - 1;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = skey;
    argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, hash, SC_HASH_HEX_LEN);
    argv[4] = ukey;
    argvlen[4] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[5] = ctx->args[0];
    argvlen[5] = strlen(ctx->args[0]);
    argv[6] = snow;
    argvlen[6] = (size_t) snprintf(snow, sizeof(snow), "%lld",
                                   (long long) now);
    argv[7] = sabs;
    argvlen[7] = (size_t) snprintf(sabs, sizeof(sabs), "%lld",
                                   (long long) now + absolute);
    argv[8] = sidle;
    argvlen[8] = (size_t) snprintf(sidle, sizeof(sidle), "%ld", idle);
    argv[9] = claims;
    argvlen[9] = clen;
    argv[10] = hash;
    argvlen[10] = SC_HASH_HEX_LEN;

    /* no renewal; the metadata: public id, no address or agent, "via" */
    argv[11] = ctx->prefix;
    argvlen[11] = ctx->prefix_len;
    argv[12] = "";
    argvlen[12] = 0;
    argv[13] = "";
    argvlen[13] = 0;
    argv[14] = "0";
    argvlen[14] = 1;
    argv[15] = pid;
    argvlen[15] = SC_PUBLIC_ID_LEN;
    argv[16] = "";
    argvlen[16] = 0;
    argv[17] = "";
    argvlen[17] = 0;
    argv[18] = "sessionctl";
    argvlen[18] = 10;

    if (ctx->cluster_seeds) {
        /* the same arguments; the reply is { 1, 0 } without a limit */
        argv[1] = SS_CLUSTER_SCRIPT_CREATE;
        argvlen[1] = sizeof(SS_CLUSTER_SCRIPT_CREATE) - 1;
    }

    r = sctl_redis_command(ctx, 19, argv, argvlen);

    if (r == NULL) {
        sodium_memzero(cookie, sizeof(cookie));
        return SCTL_RUNTIME;
    }

    freeReplyObject(r);

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "cookie", cookie, cookie_len);
        sctl_json_str(&j, "id", pid, SC_PUBLIC_ID_LEN);
        sctl_json_int(&j, "expires", (long long) now + absolute);
        sctl_json_close(&j, '}');

    } else {
        fwrite(cookie, 1, cookie_len, stdout);
        putchar('\n');
    }

    sodium_memzero(cookie, sizeof(cookie));

    return SCTL_OK;
}


int
sctl_cmd_show(sctl_ctx_t *ctx)
{
    int             rc;
    char            skey[SCTL_KEY_MAX];
    char            in[SC_COOKIE_MAX + 2];
    size_t          i, argvlen[4];
    long long       v[6];
    const char     *argv[4];
    redisReply     *r, *e;
    sctl_json_t     j;
    sctl_cookie_t   c;

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    r = NULL;

    if (c.status == SC_OK) {
        /* ask Redis first: nothing is printed if it fails */

        rc = sctl_redis_connect(ctx);
        if (rc != SCTL_OK) {
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return rc;
        }

        argv[0] = "EVAL";
        argvlen[0] = 4;
        argv[1] = SCTL_SCRIPT_SHOW;
        argvlen[1] = sizeof(SCTL_SCRIPT_SHOW) - 1;
        argv[2] = "1";
        argvlen[2] = 1;
        argv[3] = skey;
        argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, c.hash,
                              SC_HASH_HEX_LEN);

        r = sctl_redis_command(ctx, 4, argv, argvlen);
        if (r == NULL) {
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return SCTL_RUNTIME;
        }

        if (ctx->cluster_seeds && r->type == REDIS_REPLY_INTEGER) {
            /* a session migrated from a single Redis (sessionctl migrate) */
            freeReplyObject(r);

            argvlen[3] = sctl_key(ctx, skey, SS_KEY_SESSION, c.legacy,
                                  SC_HASH_HEX_LEN);

            r = sctl_redis_command(ctx, 4, argv, argvlen);
            if (r == NULL) {
                sodium_memzero(&c, sizeof(sctl_cookie_t));
                return SCTL_RUNTIME;
            }

            if (r->type != REDIS_REPLY_INTEGER) {
                /* found there: its ref is that hash */
                memcpy(c.hash, c.legacy, SC_HASH_HEX_LEN);
            }
        }

        if (r->type != REDIS_REPLY_INTEGER
            && (r->type != REDIS_REPLY_ARRAY || r->elements != 6
                || r->element[0]->type != REDIS_REPLY_STRING))
        {
            sctl_error("redis %s: unexpected reply to the show script",
                       ctx->redis_addr);
            freeReplyObject(r);
            sodium_memzero(&c, sizeof(sctl_cookie_t));
            return SCTL_RUNTIME;
        }
    }

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
    }

    rc = sctl_print_cookie(&j, &c);

    if (rc != SCTL_OK) {
        if (sctl_json_output) {
            sctl_json_close(&j, '}');
        }

        if (c.status != SC_MALFORMED) {
            sctl_error("invalid cookie: %s", sctl_mac_status(&c));
        }

        sodium_memzero(&c, sizeof(sctl_cookie_t));
        return rc;
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    if (r->type == REDIS_REPLY_INTEGER) {
        if (sctl_json_output) {
            sctl_json_bool(&j, "found", 0);
            sctl_json_close(&j, '}');

        } else {
            printf("%-12snot found\n", "record:");
        }

        freeReplyObject(r);
        return SCTL_NOT_FOUND;
    }

    for (i = 1; i < 6; i++) {
        if (i != 4) {
            sctl_reply_number(r->element[i], &v[i]);
        }
    }

    e = r->element[0];

    if (sctl_json_output) {
        sctl_json_bool(&j, "found", 1);
        sctl_json_str(&j, "subject", e->str, e->len);
        sctl_json_int(&j, "created", v[1]);
        sctl_json_int(&j, "last", v[3]);
        sctl_json_int(&j, "expires", v[2]);
        sctl_json_int(&j, "ttl", v[5]);

        e = r->element[4];

        if (e->type == REDIS_REPLY_STRING) {
            sctl_print_claims_json(&j, e->str, e->len);
            sctl_json_str(&j, "claims_raw", e->str, e->len);

        } else {
            sctl_print_claims_json(&j, "", 0);
            sctl_json_str(&j, "claims_raw", "", 0);
        }

        sctl_json_close(&j, '}');

    } else {
        printf("%-12s", "subject:");
        sctl_text(e->str, e->len);
        putchar('\n');

        sctl_text_time("created:", v[1]);
        sctl_text_time("last seen:", v[3]);
        sctl_text_time("expires:", v[2]);
        printf("%-12s%lld\n", "ttl:", v[5]);

        e = r->element[4];
        printf("%-12s", "claims:");

        if (e->type == REDIS_REPLY_STRING && e->len) {
            sctl_text(e->str, e->len);

        } else {
            fputs("(none)", stdout);
        }

        putchar('\n');
    }

    freeReplyObject(r);

    return SCTL_OK;
}


int
sctl_cmd_revoke(sctl_ctx_t *ctx)
{
    int             rc, n;
    char            in[SC_COOKIE_MAX + 2];
    sctl_cookie_t   c;

    if (ctx->given & SCTL_OPT_ID) {
        return sctl_revoke_id(ctx);
    }

    rc = sctl_load_keys(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    if (c.status != SC_OK) {
        sctl_error("invalid cookie: %s", sctl_mac_status(&c));
        sodium_memzero(&c, sizeof(sctl_cookie_t));
        return SCTL_NOT_FOUND;
    }

    rc = sctl_redis_connect(ctx);

    if (rc == SCTL_OK) {
        n = sctl_revoke_hash(ctx, c.hash);

        if (n == 0 && ctx->cluster_seeds) {
            /* a session migrated from a single Redis (sessionctl migrate) */
            n = sctl_revoke_hash(ctx, c.legacy);
        }

        switch (n) {

        case 1:
            rc = SCTL_OK;
            break;

        case 0:
            sctl_error("session %s not found", c.public_id);
            rc = SCTL_NOT_FOUND;
            break;

        default:
            rc = SCTL_RUNTIME;
            break;
        }
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    return rc;
}


/* revoke SUBJECT --id ID: SS_SCRIPT_REVOKE_ID, as session_revoke does */

int
sctl_revoke_id(sctl_ctx_t *ctx)
{
    int           rc;
    char          ukey[SCTL_KEY_MAX];
    size_t        i, argvlen[6];
    const char   *argv[6];
    redisReply   *r;

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    if (strlen(ctx->id) != SC_PUBLIC_ID_LEN) {
        return sctl_usage_error("--id: not a public id (%d hex digits)",
                                SC_PUBLIC_ID_LEN);
    }

    for (i = 0; i < SC_PUBLIC_ID_LEN; i++) {
        if (!((ctx->id[i] >= '0' && ctx->id[i] <= '9')
              || (ctx->id[i] >= 'a' && ctx->id[i] <= 'f')))
        {
            return sctl_usage_error("--id: not a public id (%d hex digits)",
                                    SC_PUBLIC_ID_LEN);
        }
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    if (ctx->cluster_seeds) {
        return sctl_cluster_revoke_id(ctx);
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SS_SCRIPT_REVOKE_ID;
    argvlen[1] = sizeof(SS_SCRIPT_REVOKE_ID) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = ctx->id;
    argvlen[5] = SC_PUBLIC_ID_LEN;

    r = sctl_redis_command(ctx, 6, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type == REDIS_REPLY_NIL) {
        sctl_error("session %s of that subject not found", ctx->id);
        rc = SCTL_NOT_FOUND;

    } else if (r->type == REDIS_REPLY_STRING) {
        rc = SCTL_OK;
        sctl_redis_delivered(ctx, ukey, argvlen[3]);

    } else {
        sctl_error("redis %s: unexpected reply to the revoke script",
                   ctx->redis_addr);
        rc = SCTL_RUNTIME;
    }

    freeReplyObject(r);

    return rc;
}


int
sctl_cmd_list(sctl_ctx_t *ctx)
{
    int           rc;
    char          ukey[SCTL_KEY_MAX], tag[SC_TAG_HEX_LEN];
    size_t        i, k, n, argvlen[7];
    long long     pruned, v[5];
    const char   *argv[7];
    size_t        nrows, nextra;
    redisReply   *r, *list, *e, *e2, **rows, **extra;
    sctl_json_t   j;

    static const size_t  cols[] = { 5, 8, 6, 7 };    /* id via ip ua */

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = SCTL_SCRIPT_LIST;
    argvlen[1] = sizeof(SCTL_SCRIPT_LIST) - 1;
    argv[2] = "1";
    argvlen[2] = 1;
    argv[3] = ukey;
    argvlen[3] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));
    argv[4] = ctx->prefix;
    argvlen[4] = ctx->prefix_len;
    argv[5] = ctx->args[0];
    argvlen[5] = strlen(ctx->args[0]);

    if (ctx->cluster_seeds) {
        argv[1] = SCTL_CLUSTER_SCRIPT_LIST;
        argvlen[1] = sizeof(SCTL_CLUSTER_SCRIPT_LIST) - 1;
        sc_subject_tag_hex(ctx->args[0], strlen(ctx->args[0]), tag);
        argv[6] = tag;
        argvlen[6] = SC_TAG_HEX_LEN;
    }

    r = sctl_redis_command(ctx, ctx->cluster_seeds ? 7 : 6, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type != REDIS_REPLY_ARRAY
        || r->elements != (ctx->cluster_seeds ? 3u : 2u)
        || r->element[0]->type != REDIS_REPLY_INTEGER
        || r->element[1]->type != REDIS_REPLY_ARRAY
        || (ctx->cluster_seeds
            && r->element[2]->type != REDIS_REPLY_ARRAY))
    {
        goto unexpected;
    }

    pruned = r->element[0]->integer;
    list = r->element[1];

    for (i = 0; i < list->elements; i++) {
        e = list->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 9
            || e->element[0]->type != REDIS_REPLY_STRING
            || e->element[0]->len < SCTL_REF_LEN)
        {
            goto unexpected;
        }

        for (k = 5; k < 9; k++) {
            if (e->element[k]->type != REDIS_REPLY_STRING) {
                goto unexpected;
            }
        }
    }

    rows = list->element;
    nrows = list->elements;
    extra = NULL;
    nextra = 0;

    if (ctx->cluster_seeds) {
        /* sessions migrated from a single Redis: on their own slots */
        rc = sctl_cluster_list_far(ctx, ukey, argvlen[3], r, &rows, &nrows,
                                   &extra, &nextra, &pruned);
        if (rc != SCTL_OK) {
            sctl_free_rows(extra, nextra);
            free(rows);
            freeReplyObject(r);
            return rc;
        }
    }

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "subject", ctx->args[0], strlen(ctx->args[0]));
        sctl_json_open(&j, "sessions", '[');

    } else if (nrows) {
        printf("%-18s%-22s%-22s%-22s%-8s%s\n",
               "REF", "CREATED", "LAST SEEN", "EXPIRES", "TTL",
               "ID  VIA  IP  USER AGENT");
    }

    for (i = 0; i < nrows; i++) {
        e = rows[i];

        for (k = 1; k < 5; k++) {
            sctl_reply_number(e->element[k], &v[k]);
        }

        if (sctl_json_output) {
            sctl_json_open(&j, NULL, '{');
            sctl_json_str(&j, "ref", e->element[0]->str, SCTL_REF_LEN);
            sctl_json_str(&j, "hash", e->element[0]->str,
                          e->element[0]->len);
            sctl_json_int(&j, "created", v[1]);
            sctl_json_int(&j, "last", v[3]);
            sctl_json_int(&j, "expires", v[2]);
            sctl_json_int(&j, "ttl", v[4]);
            sctl_json_str(&j, "id", e->element[5]->str,
                          e->element[5]->len);
            sctl_json_str(&j, "via", e->element[8]->str,
                          e->element[8]->len);
            sctl_json_str(&j, "ip", e->element[6]->str,
                          e->element[6]->len);
            sctl_json_str(&j, "user_agent", e->element[7]->str,
                          e->element[7]->len);
            sctl_json_close(&j, '}');

        } else {
            /* an index member is whatever was written to Redis */
            n = e->element[0]->len < SCTL_REF_LEN ? e->element[0]->len
                                                   : SCTL_REF_LEN;
            sctl_text(e->element[0]->str, n);
            printf("%*s", (int) (18 - n), "");
            sctl_text_time(NULL, v[1]);
            sctl_text_time(NULL, v[3]);
            sctl_text_time(NULL, v[2]);
            printf("%-8lld", v[4]);

            /* id, via, ip, User-Agent: untrusted, escaped; "-" if none */

            for (k = 0; k < 4; k++) {
                e2 = e->element[cols[k]];

                if (k) {
                    fputs("  ", stdout);
                }

                if (e2->len == 0) {
                    putchar('-');

                } else {
                    sctl_text(e2->str, e2->len);
                }
            }

            putchar('\n');
        }
    }

    if (sctl_json_output) {
        sctl_json_close(&j, ']');
        sctl_json_int(&j, "pruned", pruned);
        sctl_json_close(&j, '}');

    } else if (pruned) {
        sctl_error("pruned %lld stale index entr%s", pruned,
                   pruned == 1 ? "y" : "ies");
    }

    if (ctx->cluster_seeds) {
        sctl_free_rows(extra, nextra);
        free(rows);
    }

    freeReplyObject(r);

    return SCTL_OK;

unexpected:

    sctl_error("redis %s: unexpected reply to the list script",
               ctx->redis_addr);
    freeReplyObject(r);

    return SCTL_RUNTIME;
}


int
sctl_hash_valid(const redisReply *e)
{
    size_t  i;

    if (e->type != REDIS_REPLY_STRING || e->len != SC_HASH_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < e->len; i++) {
        if (!((e->str[i] >= '0' && e->str[i] <= '9')
              || (e->str[i] >= 'a' && e->str[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


int
sctl_cmd_revoke_all(sctl_ctx_t *ctx)
{
    int           rc, n;
    char          ukey[SCTL_KEY_MAX], hash[SC_HASH_HEX_LEN + 1];
    size_t        i, argvlen[3];
    long long     count;
    const char   *argv[3];
    redisReply   *r, *e, *s;
    sctl_json_t   j;

    rc = sctl_check_subject(ctx->args[0]);
    if (rc != SCTL_OK) {
        return rc;
    }

    rc = sctl_redis_connect(ctx);
    if (rc != SCTL_OK) {
        return rc;
    }

    argv[0] = "SMEMBERS";
    argvlen[0] = 8;
    argv[1] = ukey;
    argvlen[1] = sctl_key(ctx, ukey, SS_KEY_SUBJECT, ctx->args[0],
                          strlen(ctx->args[0]));

    r = sctl_redis_command(ctx, 2, argv, argvlen);
    if (r == NULL) {
        return SCTL_RUNTIME;
    }

    if (r->type != REDIS_REPLY_ARRAY) {
        sctl_error("redis %s: unexpected reply to SMEMBERS",
                   ctx->redis_addr);
        freeReplyObject(r);
        return SCTL_RUNTIME;
    }

    count = 0;

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];
        n = 0;

        if (sctl_hash_valid(e)) {
            memcpy(hash, e->str, SC_HASH_HEX_LEN);
            hash[SC_HASH_HEX_LEN] = '\0';

            n = sctl_revoke_hash(ctx, hash);

            if (n == -1) {
                freeReplyObject(r);
                return SCTL_RUNTIME;
            }

            count += n;
        }

        if (n == 0 || ctx->cluster_seeds) {
            /*
             * a stale or foreign entry: the script removed nothing; on a
             * cluster, a migrated record's chain cannot reach its
             * subject's index on another slot (session_store.h): the
             * entry goes here
             */
            argv[0] = "SREM";
            argvlen[0] = 4;
            argv[2] = e->str;
            argvlen[2] = e->len;

            s = sctl_redis_command(ctx, 3, argv, argvlen);
            if (s == NULL) {
                freeReplyObject(r);
                return SCTL_RUNTIME;
            }

            freeReplyObject(s);
        }
    }

    freeReplyObject(r);

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "subject", ctx->args[0], strlen(ctx->args[0]));
        sctl_json_int(&j, "revoked", count);
        sctl_json_close(&j, '}');

    } else {
        printf("%lld\n", count);
    }

    return SCTL_OK;
}


int
sctl_print_kid(const char *kid, const char *file, long long nkeys)
{
    sctl_json_t  j;

    if (sctl_json_output) {
        memset(&j, 0, sizeof(sctl_json_t));
        sctl_json_open(&j, NULL, '{');
        sctl_json_str(&j, "kid", kid, strlen(kid));
        sctl_json_str(&j, "file", file, strlen(file));
        sctl_json_int(&j, "keys", nkeys);
        sctl_json_close(&j, '}');

    } else {
        printf("%s\n", kid);
    }

    return SCTL_OK;
}


int
sctl_cmd_keygen(sctl_ctx_t *ctx)
{
    int            rc;
    char           kid[SC_KID_MAX + 1];
    char           line[SC_KID_MAX + 1 + SC_B64_32_LEN + 2];
    size_t         n;
    sc_keyring_t   kr;

    rc = sctl_new_kid(ctx, NULL, kid);
    if (rc != SCTL_OK) {
        return rc;
    }

    n = sctl_new_key_line(kid, line);

    rc = sctl_parse_keys("the new key", &kr, line, n);

    if (rc == SCTL_OK) {
        sc_keyring_wipe(&kr);
        rc = sctl_write_file(ctx->args[0], line, n,
                             (ctx->given & SCTL_OPT_FORCE) != 0, NULL);
    }

    sodium_memzero(line, sizeof(line));

    if (rc != SCTL_OK) {
        return rc;
    }

    return sctl_print_kid(kid, ctx->args[0], 1);
}


int
sctl_cmd_rotate(sctl_ctx_t *ctx)
{
    int            rc;
    char           kid[SC_KID_MAX + 1], *path;
    size_t         n, len, nkeys;
    struct stat    st;
    sc_keyring_t   kr;
    static char    buf[SCTL_FILE_MAX + SC_KID_MAX + SC_B64_32_LEN + 2];

    /* replace the file a symbolic link points to, not the link */
    path = realpath(ctx->args[0], NULL);

    if (path == NULL) {
        sctl_error("%s: %s", ctx->args[0], strerror(errno));
        return SCTL_RUNTIME;
    }

    n = SC_KID_MAX + 1 + SC_B64_32_LEN + 1;

    rc = sctl_read_file(path, buf + n, SCTL_FILE_MAX, &len);

    if (rc == SCTL_OK) {
        rc = sctl_parse_keys(ctx->args[0], &kr, buf + n, len);
    }

    if (rc != SCTL_OK) {
        goto done;
    }

    nkeys = kr.nkeys;

    if (nkeys >= SC_MAX_KEYS) {
        sctl_error("%s: already %d keys, remove old ones first",
                   ctx->args[0], SC_MAX_KEYS);
        sc_keyring_wipe(&kr);
        rc = SCTL_RUNTIME;
        goto done;
    }

    rc = sctl_new_kid(ctx, &kr, kid);
    sc_keyring_wipe(&kr);

    if (rc != SCTL_OK) {
        goto done;
    }

    /* the new line goes right before the old contents */
    {
        char    line[SC_KID_MAX + 1 + SC_B64_32_LEN + 2];
        size_t  ln;

        ln = sctl_new_key_line(kid, line);
        memcpy(buf + n - ln, line, ln);
        sodium_memzero(line, sizeof(line));

        rc = sctl_parse_keys(ctx->args[0], &kr, buf + n - ln, ln + len);

        if (rc == SCTL_OK) {
            sc_keyring_wipe(&kr);

            if (stat(path, &st) == -1) {
                sctl_error("%s: %s", path, strerror(errno));
                rc = SCTL_RUNTIME;

            } else {
                rc = sctl_write_file(path, buf + n - ln, ln + len, 1, &st);
            }
        }
    }

done:

    sodium_memzero(buf, sizeof(buf));
    free(path);

    if (rc != SCTL_OK) {
        return rc;
    }

    return sctl_print_kid(kid, ctx->args[0], (long long) nkeys + 1);
}


int
sctl_cmd_assertion_keygen(sctl_ctx_t *ctx)
{
    sctl_assertion_keys = 1;
    return sctl_cmd_keygen(ctx);
}


int
sctl_cmd_assertion_rotate(sctl_ctx_t *ctx)
{
    sctl_assertion_keys = 1;
    return sctl_cmd_rotate(ctx);
}


int
sctl_cmd_inspect(sctl_ctx_t *ctx)
{
    int             rc;
    char            in[SC_COOKIE_MAX + 2];
    sctl_json_t     j;
    sctl_cookie_t   c;

    if (ctx->keys_file) {
        rc = sctl_load_keys(ctx);
        if (rc != SCTL_OK) {
            return rc;
        }
    }

    sctl_read_cookie_arg(ctx->args[0], in, sizeof(in));
    sctl_cookie_analyze(ctx, in, &c);
    sodium_memzero(in, sizeof(in));

    memset(&j, 0, sizeof(sctl_json_t));

    if (sctl_json_output) {
        sctl_json_open(&j, NULL, '{');
    }

    rc = sctl_print_cookie(&j, &c);

    if (sctl_json_output) {
        sctl_json_close(&j, '}');
    }

    if (rc != SCTL_OK && c.status != SC_MALFORMED) {
        sctl_error("invalid cookie: %s", sctl_mac_status(&c));
    }

    sodium_memzero(&c, sizeof(sctl_cookie_t));

    return rc;
}
