/*
 * error.h — error codes and the detailed-error struct shared by every module.
 *
 * Fallible library calls return int: 0 on success, a negative MTP_E* code on failure.
 * When the caller passes a non-NULL `mtp_error *`, the callee also writes one line of
 * context into it (which file, key, URL or block failed and why). The tools print that
 * line; the library never prints.
 *
 * The codes fall in three classes, which decide the exit status (mtp_exit_status):
 *   usage/config   MTP_ECONFIG: what the user wrote (config file, command line) is wrong or
 *                  asks for something not implemented; exit 2.
 *   runtime        everything else but MTP_EINVAL: the world failed or holds bad data (files,
 *                  disk, network, server, cache, release contents); exit 1.
 *   internal       MTP_EINVAL: a caller broke a function's contract (NULL, an index out of
 *                  range, a call out of order, a value the config loader guarantees). It is
 *                  a bug, never the user's input; exit 1, printed with "internal error: ".
 */
#ifndef MTP_ERROR_H
#define MTP_ERROR_H

#include <stddef.h>

enum {
    MTP_OK = 0,
    MTP_ENOMEM = -1,     /* allocation failed */
    MTP_EINVAL = -2,     /* internal error: a caller broke the contract (a bug) */
    MTP_ECONFIG = -3,    /* invalid config file or command line: exit 2 */
    MTP_EIO = -4,        /* file system error */
    MTP_ENET = -5,       /* network failed after every retry */
    MTP_ESERVER = -6,    /* the server refused (4xx) */
    MTP_ECORRUPT = -7,   /* data failed validation (body, cache file, checksum) */
    MTP_ERANGE = -8,     /* a size or value beyond its cap */
    MTP_EFORMAT = -9,    /* HDF5 or file-format error */
    MTP_ENOTFOUND = -10, /* the thing asked for does not exist (e.g. a cache miss) */
    MTP_ECANCEL = -11,   /* cancelled by the caller (e.g. a signal) */
    MTP_EDATA = -12,     /* source data violates the release's rules (e.g. unknown label code) */
    MTP_EBUSY = -13,     /* another process holds what this one needs (e.g. the output lock) */
};

#define MTP_ERROR_MSG_MAX 1024

typedef struct mtp_error {
    int code;                    /* the last MTP_E* code set, 0 if none */
    char msg[MTP_ERROR_MSG_MAX]; /* one line, no trailing newline */
} mtp_error;

#define MTP_ERROR_INIT                                                                             \
    {                                                                                              \
        .code = 0, .msg = { 0 }                                                                    \
    }

/* A static, human-readable name for an MTP_E* code ("out of memory", ...). */
const char *mtp_strerror(int code);

/*
 * Record `code` and a printf-style message in `err` (which may be NULL) and return
 * `code`, so that `return mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));`
 * is one statement.
 */
int mtp_error_set(mtp_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix the message already in `err` with "<prefix>: " and return err->code. */
int mtp_error_prefix(mtp_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Make text that came from outside (a crafted file's strings, a server's words) safe to print
 * on one terminal line, in place: control characters (below 0x20, and 0x7f) and bytes that
 * are not part of a well-formed UTF-8 sequence each become '?'. Valid text is unchanged.
 */
void mtp_text_printable(char *s);

/* The process exit status the tools use for a code: 0 ok, 2 usage/config (MTP_ECONFIG),
 * 1 runtime and internal. */
int mtp_exit_status(int code);

#endif
