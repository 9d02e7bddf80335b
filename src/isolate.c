/* isolate.c — a reader in a child process (isolate.h). */
#include "mtp/isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtp/fsutil.h"

/*
 * The answer on the pipe: int32 code, uint32 message length, uint64 result length (host
 * order: the same binary reads it), the message, the result.
 */
typedef struct answer_header {
    int32_t code;
    uint32_t msg_len;
    uint64_t result_len;
} answer_header;

int mtp_isolate_append(mtp_isolate_out *out, const void *data, size_t len)
{
    if (len > MTP_ISOLATE_MAX_RESULT - out->len)
        return MTP_ERANGE;
    if (out->len + len > out->cap) {
        size_t cap = out->cap ? out->cap : 4096;
        while (cap < out->len + len)
            cap *= 2;
        if (cap > MTP_ISOLATE_MAX_RESULT)
            cap = MTP_ISOLATE_MAX_RESULT;
        char *grown = realloc(out->data, cap);
        if (grown == NULL)
            return MTP_ENOMEM;
        out->data = grown;
        out->cap = cap;
    }
    memcpy(out->data + out->len, data, len);
    out->len += len;
    return 0;
}

static void run_child(int fd, mtp_isolated_fn fn, void *arg)
{
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, STDERR_FILENO);
        close(devnull);
    }
    signal(SIGINT, SIG_IGN); /* the parent decides what an interrupt means */
    /* A crash ends the child by its own signal, also where a sanitizer or a debugger
     * installed handlers: that signal is what the parent reports. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);
    mtp_isolate_out out = {NULL, 0, 0};
    mtp_error err = MTP_ERROR_INIT;
    int code = fn(arg, &out, &err);
    answer_header h = {code, (uint32_t)strnlen(err.msg, sizeof err.msg), out.len};
    int failed = mtp_write_all(fd, &h, sizeof h) != 0 ||
                 mtp_write_all(fd, err.msg, h.msg_len) != 0 ||
                 mtp_write_all(fd, out.data != NULL ? out.data : "", out.len) != 0;
    _exit(failed ? 3 : 0);
}

/* Read everything the child sends until it closes the pipe or the deadline passes.
 * 0 done; 1 timed out; -1 out of memory. */
static int read_answer(int fd, const struct timespec *deadline, mtp_isolate_out *got)
{
    char buf[65536];
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left_ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
                            (deadline->tv_nsec - now.tv_nsec) / 1000000;
        if (left_ms <= 0)
            return 1;
        struct pollfd p = {fd, POLLIN, 0};
        int ready = poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        int rc = mtp_isolate_append(got, buf, (size_t)n);
        if (rc == MTP_ENOMEM)
            return -1;
        /* Over the cap: keep reading (the child must not block), drop the rest. */
    }
}

int mtp_isolate_call(mtp_isolated_fn fn, void *arg, int timeout_s, char **result, size_t *len,
                     bool *reader_failed, mtp_error *err)
{
    *result = NULL;
    *len = 0;
    bool failed_dummy;
    if (reader_failed == NULL)
        reader_failed = &failed_dummy;
    *reader_failed = false;
    int fds[2];
    if (pipe(fds) != 0)
        return mtp_error_set(err, MTP_EIO, "cannot make a pipe: %s", strerror(errno));
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        return mtp_error_set(err, MTP_EIO, "cannot start a reader process: %s", strerror(saved));
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(fds[1], fn, arg);
    }
    close(fds[1]);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    mtp_isolate_out got = {NULL, 0, 0};
    int r = read_answer(fds[0], &deadline, &got);
    close(fds[0]);
    if (r != 0)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = 0;
    answer_header h;
    if (r < 0) {
        rc = mtp_error_set(err, MTP_ENOMEM, "out of memory for a reader's answer");
    } else if (r > 0) {
        *reader_failed = true;
        rc = mtp_error_set(err, MTP_EFORMAT, "no answer within %d s (the reader was stopped)",
                           timeout_s);
    } else if (WIFSIGNALED(status)) {
        *reader_failed = true;
        rc = mtp_error_set(err, MTP_EFORMAT, "the HDF5 library crashed: signal %d",
                           WTERMSIG(status));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || got.len < sizeof h) {
        *reader_failed = true;
        rc = mtp_error_set(err, MTP_EFORMAT, "the reader ended without an answer (exit status %d)",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else {
        memcpy(&h, got.data, sizeof h);
        if (h.msg_len >= MTP_ERROR_MSG_MAX || h.result_len != got.len - sizeof h - h.msg_len) {
            *reader_failed = true;
            rc = mtp_error_set(err, MTP_EFORMAT,
                               "the reader ended without an answer (exit status 0)");
        } else {
            rc = h.code;
            if (rc < 0)
                mtp_error_set(err, rc, "%.*s", (int)h.msg_len, got.data + sizeof h);
            if (h.result_len > 0) {
                *result = malloc(h.result_len);
                if (*result == NULL)
                    rc = mtp_error_set(err, MTP_ENOMEM, "out of memory for a reader's answer");
                else
                    memcpy(*result, got.data + sizeof h + h.msg_len, h.result_len);
                *len = *result != NULL ? h.result_len : 0;
            }
        }
    }
    free(got.data);
    return rc;
}
