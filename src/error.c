#include "mtp/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *mtp_strerror(int code)
{
    switch (code) {
    case MTP_OK:
        return "success";
    case MTP_ENOMEM:
        return "out of memory";
    case MTP_EINVAL:
        return "internal error (invalid argument)";
    case MTP_ECONFIG:
        return "invalid configuration";
    case MTP_EIO:
        return "file system error";
    case MTP_ENET:
        return "network error";
    case MTP_ESERVER:
        return "server refused the request";
    case MTP_ECORRUPT:
        return "corrupt data";
    case MTP_ERANGE:
        return "value out of range";
    case MTP_EFORMAT:
        return "file format error";
    case MTP_ENOTFOUND:
        return "not found";
    case MTP_ECANCEL:
        return "cancelled";
    case MTP_EDATA:
        return "invalid source data";
    case MTP_EBUSY:
        return "in use by another process";
    default:
        return "unknown error";
    }
}

int mtp_error_set(mtp_error *err, int code, const char *fmt, ...)
{
    if (err == NULL)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Messages are one line: fold any newline a server or library put in. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return code;
}

int mtp_error_prefix(mtp_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return MTP_EINVAL;
    char prefix[MTP_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix);
    size_t olen = strnlen(err->msg, sizeof err->msg - 1);
    /* Keep the prefix whole when it fits; the tail of the old message gives way. */
    if (plen + 2 >= sizeof err->msg)
        plen = sizeof err->msg - 3;
    if (plen + 2 + olen >= sizeof err->msg)
        olen = sizeof err->msg - 1 - plen - 2;
    memmove(err->msg + plen + 2, err->msg, olen);
    memcpy(err->msg, prefix, plen);
    memcpy(err->msg + plen, ": ", 2);
    err->msg[plen + 2 + olen] = '\0';
    return err->code;
}

/* The length of the well-formed UTF-8 sequence at p (2-4), or 0 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static int utf8_sequence(const unsigned char *p)
{
    unsigned char c = p[0];
    int n = c >= 0xc2 && c <= 0xdf   ? 2
            : c >= 0xe0 && c <= 0xef ? 3
            : c >= 0xf0 && c <= 0xf4 ? 4
                                     : 0;
    if (n == 0)
        return 0;
    unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

void mtp_text_printable(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (p != NULL && *p != '\0') {
        if (*p < 0x80) {
            if (*p < 0x20 || *p == 0x7f)
                *p = '?';
            p++;
            continue;
        }
        int n = utf8_sequence(p);
        if (n == 0) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
}

int mtp_exit_status(int code)
{
    if (code == MTP_OK)
        return 0;
    if (code == MTP_ECONFIG)
        return 2;
    return 1;
}
