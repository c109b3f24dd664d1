
/*
 * ngx_http_session_module: helpers of configuration time.
 *
 * Reading a secret file (the key ring, password_file=, signature secrets,
 * bot tokens) and parsing "on" or "off" in a parameter.  The bottom of the
 * nginx glue: the directive parsers of every file, the Redis layer's
 * included, call it, and it calls only nginx.
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
