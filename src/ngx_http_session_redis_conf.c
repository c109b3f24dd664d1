
/*
 * ngx_http_session_module: session_redis, its parameters and addresses,
 * and the Lua scripts every link loads.  The bottom of the Redis layer:
 * it calls only the configuration helpers (ngx_http_session_conf.c).
 */


#include "ngx_http_session_redis.h"

#include <openssl/sha.h>


static ngx_array_t *ngx_http_session_resolve_list(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_array_t *list);
static ngx_int_t ngx_http_session_cluster_parse(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_str_t *value);


/*
 * The scripts, in NGX_HTTP_SESSION_SCRIPT_* order: loaded on every link
 * (SCRIPT LOAD) and run by EVALSHA.
 */

ngx_http_session_script_t  ngx_http_session_scripts[] = {
    { ngx_string(SS_SCRIPT_TOUCH), "" },
    { ngx_string(SS_SCRIPT_CREATE), "" },
    { ngx_string(SS_SCRIPT_REVOKE), "" },
    { ngx_string(SS_SCRIPT_REVOKE_ALL), "" },
    { ngx_string(SS_SCRIPT_REPLAY), "" },
    { ngx_string(SS_SCRIPT_LIST), "" },
    { ngx_string(SS_SCRIPT_REVOKE_ID), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_CREATE), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_REVOKE), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_REVOKE_ALL), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_RETIRE), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_LIST), "" },
    { ngx_string(SS_CLUSTER_SCRIPT_REVOKE_ID), "" }
};


/* EVALSHA names a script by the SHA1 of its text, as Redis does */

void
ngx_http_session_scripts_init(void)
{
    ngx_uint_t                  i;
    ngx_http_session_script_t  *s;
    u_char                      md[SHA_DIGEST_LENGTH];

    for (i = 0; i < NGX_HTTP_SESSION_NSCRIPTS; i++) {
        s = &ngx_http_session_scripts[i];
        SHA1(s->text.data, s->text.len, md);
        ngx_hex_dump(s->sha, md, SHA_DIGEST_LENGTH);
    }
}


/* session_redis ADDRESS [db=N] ...; */

char *
ngx_http_session_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_session_main_conf_t *smcf = conf;

    if (smcf->redis) {
        return "is duplicate";
    }

    smcf->redis = ngx_pcalloc(cf->pool, sizeof(ngx_http_session_redis_conf_t));
    if (smcf->redis == NULL) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_session_redis_parse(cf, smcf->redis, cf->args->elts,
                                        cf->args->nelts);
}


/*
 * "host:port": a literal IPv4 address, "[IPv6]", "localhost" (127.0.0.1)
 * or a host name, which ngx_http_session_redis_init_conf() resolves at
 * load time or leaves to the resolver; host is copied NUL-terminated.
 */

static ngx_int_t
ngx_http_session_parse_host_port(ngx_conf_t *cf, ngx_str_t *s,
    ngx_http_session_addr_t *sa)
{
    u_char      c, *p, *last;
    ngx_int_t   n;
    ngx_str_t   h;
    ngx_uint_t  i, name;
    u_char      addr6[16];

    last = s->data + s->len;
    name = 0;

    if (s->len && s->data[0] == '[') {
        p = ngx_strlchr(s->data, last, ']');
        if (p == NULL || p + 1 >= last || p[1] != ':') {
            return NGX_ERROR;
        }

        h.data = s->data + 1;
        h.len = p - h.data;
        p++;

        if (ngx_inet6_addr(h.data, h.len, addr6) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        p = ngx_strlchr(s->data, last, ':');
        if (p == NULL || p == s->data) {
            return NGX_ERROR;
        }

        h.data = s->data;
        h.len = p - h.data;

        if (h.len == 9
            && ngx_strncasecmp(h.data, (u_char *) "localhost", 9) == 0)
        {
            ngx_str_set(&h, "127.0.0.1");

        } else if (ngx_inet_addr(h.data, h.len) == INADDR_NONE) {

            /* a host name: letters, digits, '-', '_' and dots */

            if (h.len > NGX_HTTP_SESSION_HOST_LEN - 1) {
                return NGX_ERROR;
            }

            for (i = 0; i < h.len; i++) {
                c = h.data[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                      || (c >= '0' && c <= '9') || c == '-' || c == '_'
                      || c == '.'))
                {
                    return NGX_ERROR;
                }
            }

            name = 1;
        }
    }

    n = ngx_atoi(p + 1, last - p - 1);
    if (n < 1 || n > 65535) {
        return NGX_ERROR;
    }

    sa->port = (in_port_t) n;
    sa->name = name;

    sa->host.len = h.len;
    sa->host.data = ngx_pnalloc(cf->pool, h.len + 1);
    if (sa->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(sa->host.data, h.data, h.len + 1);

    return NGX_OK;
}


/* a literal IPv4 or IPv6 address, not a host name */

ngx_int_t
ngx_http_session_is_literal(u_char *host, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr6[16];

    if (ngx_inet6_addr(host, len, addr6) == NGX_OK) {
        return 1;
    }
#endif

    return ngx_inet_addr(host, len) != INADDR_NONE;
}


/*
 * cluster=HOST:PORT[,HOST:PORT...][,legacy]: the seeds the slot map is
 * first asked from (ngx_http_session_cluster.c), kept as the servers;
 * "legacy" also looks up records migrated from a single Redis.
 */

static ngx_int_t
ngx_http_session_cluster_parse(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_str_t *value)
{
    u_char                   *p, *last;
    ngx_str_t                 a;
    ngx_http_session_addr_t  *sa;

    rc->servers = ngx_array_create(cf->pool, 3,
                                   sizeof(ngx_http_session_addr_t));
    if (rc->servers == NULL) {
        return NGX_ERROR;
    }

    p = value->data + 8;
    last = value->data + value->len;

    while (p < last) {
        a.data = p;
        p = ngx_strlchr(p, last, ',');
        if (p == NULL) {
            p = last;
        }

        a.len = p - a.data;
        p++;

        if (a.len == 6 && ngx_strncmp(a.data, "legacy", 6) == 0) {
            rc->legacy = 1;
            continue;
        }

        sa = ngx_array_push(rc->servers);
        if (sa == NULL) {
            return NGX_ERROR;
        }

        if (ngx_http_session_parse_host_port(cf, &a, sa) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"session_redis\" cluster node "
                               "\"%V\": expected \"host:port\"", &a);
            return NGX_ERROR;
        }
    }

    if (rc->servers->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"session_redis\" parameter \"%V\": "
                           "no cluster node", value);
        return NGX_ERROR;
    }

    rc->cluster = 1;
    rc->addr_text = *value;

    return NGX_OK;
}


/*
 * Once http{} is parsed: with a "resolver" there, host names are resolved
 * by it in the worker, on every (re)connection and when their TTL runs
 * out.  Without one, they are resolved now, as nginx does for upstream
 * servers, and replaced by their addresses; a name that does not resolve
 * fails the configuration.
 */

ngx_int_t
ngx_http_session_redis_init_conf(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver && clcf->resolver->connections.nelts) {
        rc->resolver = clcf->resolver;
        rc->resolver_timeout = (clcf->resolver_timeout == NGX_CONF_UNSET_MSEC)
                               ? 30000 : clcf->resolver_timeout;
        return NGX_OK;
    }

    if (rc->servers) {
        rc->servers = ngx_http_session_resolve_list(cf, rc, rc->servers);
        if (rc->servers == NULL) {
            return NGX_ERROR;
        }
    }

    if (rc->sentinels) {
        rc->sentinels = ngx_http_session_resolve_list(cf, rc, rc->sentinels);
        if (rc->sentinels == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_array_t *
ngx_http_session_resolve_list(ngx_conf_t *cf,
    ngx_http_session_redis_conf_t *rc, ngx_array_t *list)
{
    size_t                    len;
    ngx_url_t                 u;
    ngx_uint_t                i, j;
    ngx_array_t              *a;
    ngx_http_session_addr_t  *sa, *na;
    u_char                    text[NGX_SOCKADDR_STRLEN];

    a = ngx_array_create(cf->pool, list->nelts,
                         sizeof(ngx_http_session_addr_t));
    if (a == NULL) {
        return NULL;
    }

    sa = list->elts;

    for (i = 0; i < list->nelts; i++) {

        if (!sa[i].name) {
            na = ngx_array_push(a);
            if (na == NULL) {
                return NULL;
            }

            *na = sa[i];
            continue;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));
        u.host = sa[i].host;
        u.port = sa[i].port;

        /* the master blocks here, before any worker exists */

        if (ngx_inet_resolve_host(cf->pool, &u) != NGX_OK
            || u.naddrs == 0)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"session_redis\" host \"%V\" not found "
                          "(names are resolved at load time unless http{} "
                          "has a \"resolver\") in %V:%ui",
                          &sa[i].host, &rc->conf_file, rc->conf_line);
            return NULL;
        }

        for (j = 0; j < u.naddrs; j++) {
            na = ngx_array_push(a);
            if (na == NULL) {
                return NULL;
            }

            len = ngx_sock_ntop(u.addrs[j].sockaddr, u.addrs[j].socklen,
                                text, NGX_SOCKADDR_STRLEN, 0);

            na->host.len = len;
            na->host.data = ngx_pnalloc(cf->pool, len + 1);
            if (na->host.data == NULL) {
                return NULL;
            }

            ngx_cpystrn(na->host.data, text, len + 1);
            na->port = sa[i].port;
            na->name = 0;

            ngx_log_debug3(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                           "session redis: \"%V\" is %V port %d",
                           &sa[i].host, &na->host, (int) na->port);
        }
    }

    return a;
}


/*
 * session_redis ADDRESS [db=N] [user=NAME] [password_file=FILE]
 *     [prefix=STR] [connect_timeout=TIME] [timeout=TIME];
 * session_redis sentinel=HOST:PORT[,HOST:PORT...] master=NAME [...];
 */

char *
ngx_http_session_redis_parse(ngx_conf_t *cf, ngx_http_session_redis_conf_t *rc,
    ngx_str_t *value, ngx_uint_t n)
{
    u_char                   *p, *last, *buf;
    ngx_int_t                 db, t;
    ngx_str_t                 s, file, a, content;
    ngx_uint_t                i;
    ngx_http_session_addr_t  *sa;

    rc->conf_file.data = cf->conf_file->file.name.data;
    rc->conf_file.len = cf->conf_file->file.name.len;
    rc->conf_line = cf->conf_file->line;

    rc->db = 0;
    ngx_str_set(&rc->prefix, "session:");
    rc->connect_timeout = 1000;
    rc->timeout = 200;

    for (i = 1; i < n; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            == NULL)
        {
            /* the address */

            if (rc->cluster) {
                goto combined;
            }

            if (rc->addr_text.len) {
                goto invalid;
            }

            rc->addr_text = value[i];

            if (value[i].len > 5
                && ngx_strncmp(value[i].data, "unix:", 5) == 0)
            {
                rc->unix_path.len = value[i].len - 5;
                rc->unix_path.data = ngx_pnalloc(cf->pool,
                                                 rc->unix_path.len + 1);
                if (rc->unix_path.data == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_cpystrn(rc->unix_path.data, value[i].data + 5,
                            rc->unix_path.len + 1);
                continue;
            }

            rc->servers = ngx_array_create(cf->pool, 1,
                                           sizeof(ngx_http_session_addr_t));
            if (rc->servers == NULL) {
                return NGX_CONF_ERROR;
            }

            sa = ngx_array_push(rc->servers);
            if (sa == NULL) {
                return NGX_CONF_ERROR;
            }

            if (ngx_http_session_parse_host_port(cf, &value[i], sa)
                != NGX_OK)
            {
                goto bad_address;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "sentinel=", 9) == 0) {
            rc->sentinels = ngx_array_create(cf->pool, 3,
                                             sizeof(ngx_http_session_addr_t));
            if (rc->sentinels == NULL) {
                return NGX_CONF_ERROR;
            }

            p = value[i].data + 9;
            last = value[i].data + value[i].len;

            while (p < last) {
                a.data = p;
                p = ngx_strlchr(p, last, ',');
                if (p == NULL) {
                    p = last;
                }

                a.len = p - a.data;
                p++;

                sa = ngx_array_push(rc->sentinels);
                if (sa == NULL) {
                    return NGX_CONF_ERROR;
                }

                if (ngx_http_session_parse_host_port(cf, &a, sa) != NGX_OK) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid \"session_redis\" sentinel "
                                       "\"%V\": expected \"host:port\"",
                                       &a);
                    return NGX_CONF_ERROR;
                }
            }

            if (rc->sentinels->nelts == 0) {
                goto invalid;
            }

            rc->addr_text = value[i];
            continue;
        }

        if (ngx_strncmp(value[i].data, "cluster=", 8) == 0) {
            if (rc->cluster) {
                goto invalid;
            }

            if (rc->addr_text.len) {
                goto combined;
            }

            if (ngx_http_session_cluster_parse(cf, rc, &value[i])
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "master=", 7) == 0) {
            rc->master.data = value[i].data + 7;
            rc->master.len = value[i].len - 7;

            if (rc->master.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            if (ngx_http_session_parse_bounded_int(value[i].data + 3,
                                                   value[i].len - 3, 0, 65535,
                                                   &db)
                != NGX_OK)
            {
                goto invalid;
            }

            rc->db = db;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rc->user.data = value[i].data + 5;
            rc->user.len = value[i].len - 5;

            if (rc->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rc->prefix.data = value[i].data + 7;
            rc->prefix.len = value[i].len - 7;

            if (rc->prefix.len == 0 || rc->prefix.len > SS_PREFIX_MAX) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            if (ngx_http_session_parse_bounded_time(&s, 0, 1,
                                                NGX_HTTP_SESSION_TIMEOUT_MAX,
                                                &t)
                != NGX_OK)
            {
                goto invalid_timeout;
            }

            rc->connect_timeout = (ngx_msec_t) t;

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            if (ngx_http_session_parse_bounded_time(&s, 0, 1,
                                                NGX_HTTP_SESSION_TIMEOUT_MAX,
                                                &t)
                != NGX_OK)
            {
                goto invalid_timeout;
            }

            rc->timeout = (ngx_msec_t) t;

            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            file.data = value[i].data + 14;
            file.len = value[i].len - 14;

            if (file.len == 0) {
                goto invalid;
            }

            if (ngx_http_session_read_file(cf, &file, "session_redis",
                                           "password ", &content)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            /* the first line, without its line ending */

            buf = content.data;

            for (p = buf; p < buf + content.len && *p != CR && *p != LF; p++)
            {
                /* void */
            }

            if (p == buf) {
                ngx_explicit_memzero(buf, content.len);
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"session_redis\" password file \"%V\" "
                                   "is empty", &file);
                return NGX_CONF_ERROR;
            }

            rc->password.len = p - buf;
            rc->password.data = ngx_pnalloc(cf->pool, rc->password.len + 1);
            if (rc->password.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_cpystrn(rc->password.data, buf, rc->password.len + 1);
            ngx_explicit_memzero(buf, content.len);

            continue;
        }

        goto invalid;
    }

    if (rc->cluster && rc->sentinels) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"cluster=\" cannot be "
                           "combined with an address or \"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinels && rc->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"sentinel=\" requires "
                           "\"master=\"");
        return NGX_CONF_ERROR;
    }

    if (rc->master.len && rc->sentinels == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"master=\" requires "
                           "\"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinels && (rc->servers || rc->unix_path.len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": an address and "
                           "\"sentinel=\" cannot be combined");
        return NGX_CONF_ERROR;
    }

    if (rc->cluster && rc->db) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": \"db=\" cannot be used "
                           "with \"cluster=\" (Redis Cluster has db 0 "
                           "only)");
        return NGX_CONF_ERROR;
    }

    if (rc->cluster && rc->prefix.len > SS_PREFIX_MAX - 6) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\": with \"cluster=\" the "
                           "prefix is at most %d bytes", SS_PREFIX_MAX - 6);
        return NGX_CONF_ERROR;
    }

    if (rc->addr_text.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"session_redis\" needs an address, "
                           "\"sentinel=\" or \"cluster=\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

bad_address:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" address \"%V\": expected "
                       "\"host:port\" or \"unix:/path\"", &value[i]);
    return NGX_CONF_ERROR;

combined:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"session_redis\": \"cluster=\" cannot be "
                       "combined with an address or \"sentinel=\"");
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;

invalid_timeout:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid \"session_redis\" parameter \"%V\" "
                       "(TIME from 1ms to 10m)", &value[i]);
    return NGX_CONF_ERROR;
}
