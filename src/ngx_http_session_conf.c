
/*
 * ngx_http_session_module: helpers of configuration time.
 *
 * Reading a secret file (the key ring, password_file=, signature secrets,
 * bot tokens), parsing "on" or "off" in a parameter, and bounded TIME and
 * integer parameters (one error message for every "name=TIME").  The
 * bottom of the nginx glue: the directive parsers of every file, the Redis
 * layer's included, call it, and it calls only nginx.
 */


#include "ngx_http_session.h"


static void ngx_http_session_wipe(void *data);


/* "on" or "off" */

ngx_int_t
ngx_http_session_parse_flag(ngx_str_t *s, ngx_flag_t *flag)
{
    if (s->len == 2 && ngx_strncmp(s->data, "on", 2) == 0) {
        *flag = 1;
        return NGX_OK;
    }

    if (s->len == 3 && ngx_strncmp(s->data, "off", 3) == 0) {
        *flag = 0;
        return NGX_OK;
    }

    return NGX_ERROR;
}


/*
 * TIME as ngx_parse_time() reads it (seconds when is_sec, else
 * milliseconds), from min to max inclusive.  NGX_ERROR when s is not a
 * time or is out of bounds: the caller's message names the parameter.
 */

ngx_int_t
ngx_http_session_parse_bounded_time(ngx_str_t *s, ngx_uint_t is_sec,
    ngx_int_t min, ngx_int_t max, ngx_int_t *out)
{
    ngx_int_t  t;

    t = ngx_parse_time(s, is_sec);
    if (t == NGX_ERROR || t < min || t > max) {
        return NGX_ERROR;
    }

    *out = t;
    return NGX_OK;
}


/*
 * A "name=TIME" parameter of the directive being parsed, in seconds from
 * min to max: NGX_DECLINED when param is not "name=...", NGX_OK with *out
 * set, or NGX_ERROR once this error is logged:
 *   invalid "<directive>" parameter "<param>" (<name>=TIME, <range>)
 */

ngx_int_t
ngx_http_session_conf_time(ngx_conf_t *cf, ngx_str_t *param,
    const char *name, time_t min, time_t max, const char *range, time_t *out)
{
    size_t      len;
    ngx_int_t   t;
    ngx_str_t  *value, s;

    len = ngx_strlen(name);

    if (param->len <= len || param->data[len] != '='
        || ngx_strncmp(param->data, name, len) != 0)
    {
        return NGX_DECLINED;
    }

    s.data = param->data + len + 1;
    s.len = param->len - len - 1;

    if (ngx_http_session_parse_bounded_time(&s, 1, min, max, &t) != NGX_OK) {
        value = cf->args->elts;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"%V\" parameter \"%V\" (%s=TIME, %s)",
                           &value[0], param, name, range);
        return NGX_ERROR;
    }

    *out = (time_t) t;
    return NGX_OK;
}


/*
 * A decimal integer from min to max inclusive (ngx_atoi(): digits only,
 * NGX_ERROR on overflow).
 */

ngx_int_t
ngx_http_session_parse_bounded_int(u_char *p, size_t len, ngx_int_t min,
    ngx_int_t max, ngx_int_t *out)
{
    ngx_int_t  n;

    n = ngx_atoi(p, len);
    if (n == NGX_ERROR || n < min || n > max) {
        return NGX_ERROR;
    }

    *out = n;
    return NGX_OK;
}


/*
 * Reads a secret file at configuration time: the key ring, password_file=,
 * signature secrets, a bot token.  One set of checks and messages for all
 * of them: a regular file of 1 byte to 64 KB, a warning when group or
 * others may read it.  The content is NUL-terminated in cf->temp_pool and
 * wiped when that pool goes, whatever the caller's path; callers wipe what
 * they copy from it.  label is "" or, e.g., "password " (in messages:
 * "password file").
 */

static void
ngx_http_session_wipe(void *data)
{
    ngx_str_t  *s = data;

    ngx_explicit_memzero(s->data, s->len);
}


ngx_int_t
ngx_http_session_read_file(ngx_conf_t *cf, ngx_str_t *name,
    const char *directive, const char *label, ngx_str_t *out)
{
    off_t                size;
    ssize_t              n;
    ngx_str_t           *wipe;
    ngx_file_t           file;
    const char          *file_label;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    file_label = *label ? "password file " : "";

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%s\" cannot open %s\"%V\"", directive,
                           file_label, name);
        return NGX_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%s\" cannot stat %s\"%V\"", directive,
                           file_label, name);
        goto failed;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" %sfile \"%V\" is not a regular file",
                           directive, label, name);
        goto failed;
    }

    if (fi.st_mode & (S_IRWXG|S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%s\" %sfile \"%V\" is accessible by group or "
                           "others (mode 0%d%d%d), it should be 0600",
                           directive, label, name,
                           (int) ((fi.st_mode >> 6) & 7),
                           (int) ((fi.st_mode >> 3) & 7),
                           (int) (fi.st_mode & 7));
    }

    size = ngx_file_size(&fi);

    if (size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" %sfile \"%V\" is empty",
                           directive, label, name);
        goto failed;
    }

    if (size > 64 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%s\" %sfile \"%V\" is too large (at most "
                           "64 KB)", directive, label, name);
        goto failed;
    }

    out->len = (size_t) size;
    out->data = ngx_pnalloc(cf->temp_pool, out->len + 1);
    wipe = ngx_palloc(cf->temp_pool, sizeof(ngx_str_t));
    cln = ngx_pool_cleanup_add(cf->temp_pool, 0);

    if (out->data == NULL || wipe == NULL || cln == NULL) {
        goto failed;
    }

    *wipe = *out;
    cln->handler = ngx_http_session_wipe;
    cln->data = wipe;

    n = ngx_read_file(&file, out->data, out->len, 0);

    if (n != (ssize_t) out->len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"%s\" cannot read %s\"%V\"", directive,
                           file_label, name);
        goto failed;
    }

    ngx_close_file(file.fd);

    out->data[out->len] = '\0';

    return NGX_OK;

failed:

    ngx_close_file(file.fd);
    return NGX_ERROR;
}
