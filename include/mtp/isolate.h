/*
 * isolate.h — run a reader of untrusted files in a child process, so that a crash inside a
 * foreign library (libhdf5 can crash or loop forever on a crafted file) becomes an error
 * line instead of the end of the tool.
 *
 * mtp_isolate_call forks. The child runs fn, which appends its result to an mtp_isolate_out
 * (a byte buffer with a cap) and returns an MTP_E* code with its message; the child sends
 * code, message and bytes back through a pipe and ends with _exit (no atexit handlers, so
 * no library's exit-time cleanup runs on state a crash may have left). The child's stderr
 * goes to /dev/null: a library's own diagnostics never reach the user. The parent reads the
 * answer, waits for the child, and returns fn's code and result — or, when the child died
 * by a signal, ran past the timeout or answered nothing whole, an error of its own.
 *
 * Use it from a single-threaded point of the program (fork copies only the calling
 * thread). The library uses it for verify's reads of HDF5 files it did not write; the
 * tools for inspect and preview.
 */
#ifndef MTP_ISOLATE_H
#define MTP_ISOLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "mtp/error.h"

/* How long a child may run before it is killed (reading a large volumes.h5 in full takes
 * minutes on a slow disk; an endless loop takes forever). */
#define MTP_ISOLATE_TIMEOUT_S 1800
/* Most result bytes a child may send. */
#define MTP_ISOLATE_MAX_RESULT ((size_t)64 << 20)

typedef struct mtp_isolate_out {
    char *data;
    size_t len, cap; /* cap: at most MTP_ISOLATE_MAX_RESULT */
} mtp_isolate_out;

/* Append `len` bytes to the child's result: 0, or MTP_ERANGE beyond the cap, MTP_ENOMEM. */
int mtp_isolate_append(mtp_isolate_out *out, const void *data, size_t len);

/* Runs in the child. Returns 0 or an MTP_E* code with err set. */
typedef int (*mtp_isolated_fn)(void *arg, mtp_isolate_out *out, mtp_error *err);

/*
 * Run fn(arg) in a child process with at most `timeout_s` seconds. On return *result is a
 * malloc'ed copy of what fn appended (caller frees; NULL when nothing) and *len its size.
 * Returns fn's code, with fn's message in err; or MTP_EFORMAT when the child did not end
 * normally, with err->msg exactly one of
 *   "the HDF5 library crashed: signal 11"       (any signal: "signal N")
 *   "no answer within 1800 s (the reader was stopped)"
 *   "the reader ended without an answer (exit status 3)"
 * (callers prefix the file: "<file>: unreadable HDF5 (<that>)"), and then *reader_failed
 * (optional) is true — it is false whenever the code is fn's own; MTP_EIO when no child or
 * pipe can be made; MTP_ENOMEM.
 */
int mtp_isolate_call(mtp_isolated_fn fn, void *arg, int timeout_s, char **result, size_t *len,
                     bool *reader_failed, mtp_error *err);

#endif
