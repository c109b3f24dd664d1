
/*
 * sessionctl: errors, text output of untrusted strings, the JSON writer.
 */


#include "sessionctl.h"


int  sctl_json_output;
int  sctl_quiet;         /* cluster reconnections */




void
sctl_error(const char *fmt, ...)
{
    va_list  args;

    if (sctl_quiet) {
        return;
    }

    fflush(stdout);
    fputs("sessionctl: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}


int
sctl_usage_error(const char *fmt, ...)
{
    va_list  args;

    fputs("sessionctl: ", stderr);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputs("\nTry 'sessionctl --help'.\n", stderr);

    return SCTL_USAGE;
}


/*
 * Text output of untrusted strings (subjects, claims) reaches a terminal:
 * C0 controls, DEL and bytes that are not UTF-8 are written as \xNN; C1
 * controls (U+0080..U+009F, which some terminals obey as CSI, OSC, ...)
 * and the characters that reorder or break lines (bidi controls, U+2028,
 * U+2029) as \uNNNN; a backslash is doubled, so the output is unambiguous.
 */


/* the code point of a valid n-byte sequence if it must be escaped, or 0 */

uint32_t
sctl_unsafe_cp(const unsigned char *p, size_t n)
{
    size_t    i;
    uint32_t  cp;

    cp = p[0] & (0xff >> (n + 1));

    for (i = 1; i < n; i++) {
        cp = (cp << 6) | (p[i] & 0x3f);
    }

    if ((cp >= 0x80 && cp <= 0x9f)
        || cp == 0x200e || cp == 0x200f
        || (cp >= 0x2028 && cp <= 0x202e)
        || (cp >= 0x2066 && cp <= 0x2069))
    {
        return cp;
    }

    return 0;
}

void
sctl_text(const char *s, size_t len)
{
    size_t                n;
    uint32_t              cp;
    const unsigned char  *p, *end;

    p = (const unsigned char *) s;
    end = p + len;

    while (p < end) {

        if (*p < 0x20 || *p == 0x7f) {
            printf("\\x%02x", *p);
            p++;
            continue;
        }

        if (*p == '\\') {
            fputs("\\\\", stdout);
            p++;
            continue;
        }

        n = sctl_utf8_len(p, (size_t) (end - p));

        if (n == 0) {
            printf("\\x%02x", *p);
            p++;
            continue;
        }

        if (n == 1) {
            putchar(*p);
            p++;
            continue;
        }

        cp = sctl_unsafe_cp(p, n);

        if (cp) {
            printf("\\u%04x", (unsigned) cp);

        } else {
            fwrite(p, 1, n, stdout);
        }

        p += n;
    }
}


void
sctl_text_time(const char *label, long long t)
{
    char       buf[32];
    time_t     tt;
    struct tm  tm;

    tt = (time_t) t;

    if (gmtime_r(&tt, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        strcpy(buf, "?");
    }

    if (label) {
        printf("%-12s%s (%lld)\n", label, buf, t);

    } else {
        printf("%-22s", buf);
    }
}


/* JSON output; invalid UTF-8 becomes U+FFFD */

size_t
sctl_utf8_len(const unsigned char *p, size_t len)
{
    size_t          n, i;
    unsigned char   c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c < 0x80) {
        return 1;

    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return 0;
    }

    if (len < n || p[1] < lo || p[1] > hi) {
        return 0;
    }

    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }

    return n;
}


void
sctl_json_raw_string(const char *s, size_t len)
{
    size_t                n;
    const unsigned char  *p, *end;

    p = (const unsigned char *) s;
    end = p + len;

    putchar('"');

    while (p < end) {
        if (*p == '"' || *p == '\\') {
            printf("\\%c", *p);
            p++;
            continue;
        }

        if (*p < 0x20 || *p == 0x7f) {
            printf("\\u%04x", *p);
            p++;
            continue;
        }

        n = sctl_utf8_len(p, (size_t) (end - p));

        if (n == 0) {
            fputs("\\ufffd", stdout);
            p++;
            continue;
        }

        if (n > 1 && sctl_unsafe_cp(p, n)) {
            printf("\\u%04x", (unsigned) sctl_unsafe_cp(p, n));
            p += n;
            continue;
        }

        fwrite(p, 1, n, stdout);
        p += n;
    }

    putchar('"');
}


void
sctl_json_key(sctl_json_t *j, const char *key)
{
    if (!j->first[j->depth]) {
        putchar(',');
    }

    j->first[j->depth] = 0;

    if (key) {
        sctl_json_raw_string(key, strlen(key));
        putchar(':');
    }
}


void
sctl_json_open(sctl_json_t *j, const char *key, int ch)
{
    if (j->depth > 0) {
        sctl_json_key(j, key);
    }

    putchar(ch);
    j->depth++;
    j->first[j->depth] = 1;
}


void
sctl_json_close(sctl_json_t *j, int ch)
{
    putchar(ch);
    j->depth--;

    if (j->depth == 0) {
        putchar('\n');
    }
}


void
sctl_json_str(sctl_json_t *j, const char *key, const char *s, size_t len)
{
    sctl_json_key(j, key);
    sctl_json_raw_string(s, len);
}


void
sctl_json_int(sctl_json_t *j, const char *key, long long v)
{
    sctl_json_key(j, key);
    printf("%lld", v);
}


void
sctl_json_bool(sctl_json_t *j, const char *key, int v)
{
    sctl_json_key(j, key);
    fputs(v ? "true" : "false", stdout);
}


void
sctl_json_null(sctl_json_t *j, const char *key)
{
    sctl_json_key(j, key);
    fputs("null", stdout);
}


/* argument checks */
