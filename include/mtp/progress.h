/*
 * progress.h — progress reports from long library work, drawn by the tools.
 * The library calls the callback; it never prints.
 */
#ifndef MTP_PROGRESS_H
#define MTP_PROGRESS_H

#include <stdint.h>

typedef enum mtp_phase {
    MTP_PHASE_METADATA = 1,
    MTP_PHASE_FETCH,
    MTP_PHASE_WRITE,
    MTP_PHASE_RELEASE,
} mtp_phase;

typedef struct mtp_progress {
    mtp_phase phase;
    const char *what;                 /* short label: "fetch", "task1.h5", ... (borrowed) */
    uint64_t done, total;             /* units of work (blocks, samples) */
    uint64_t bytes_done, bytes_total; /* uncompressed bytes */
    uint64_t requests;                /* HTTP requests made so far (fetch) */
    uint64_t retries;                 /* retried requests so far (fetch) */
    uint64_t concurrency;             /* transfers allowed in flight now (fetch) */
    double elapsed_s;                 /* since the phase started */
    const char *note;                 /* an event worth a line (a retry, a re-fetch), or NULL */
} mtp_progress;

/* Called from the thread doing the work; must be quick. */
typedef void (*mtp_progress_cb)(const mtp_progress *p, void *userdata);

#endif
