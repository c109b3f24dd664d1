
/*
 * ngx_http_session_module: who hears the revocation channel.  session_cache
 * (ngx_http_session_cache.c) and the live connections of session_live_close
 * (ngx_http_session_live.c) register a handler; the subscriber link
 * (ngx_http_session_redis.c) calls them all for every revoked session's
 * hash, and with NULL ("any session") when messages may have been missed.
 * The Redis layer calls up into neither: they register from above.
 */


#include "ngx_http_session_redis.h"


#define NGX_HTTP_SESSION_REVOKED_MAX  4

static ngx_http_session_revoked_pt
    ngx_http_session_redis_revoked[NGX_HTTP_SESSION_REVOKED_MAX];


/* session_cache and session_live_close register here */

void
ngx_http_session_redis_on_revoked(ngx_http_session_revoked_pt handler)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_SESSION_REVOKED_MAX; i++) {
        if (ngx_http_session_redis_revoked[i] == NULL
            || ngx_http_session_redis_revoked[i] == handler)
        {
            ngx_http_session_redis_revoked[i] = handler;
            return;
        }
    }
}


void
ngx_http_session_channel_revoked(ngx_http_session_main_conf_t *smcf,
    u_char *hash)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_SESSION_REVOKED_MAX; i++) {
        if (ngx_http_session_redis_revoked[i]) {
            ngx_http_session_redis_revoked[i](smcf, hash);
        }
    }
}
