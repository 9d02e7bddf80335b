/* faults.c — deterministic fault draws and the per-path request counter. */
#include "faults.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const FAULT_NAMES[MTP_FAULT_COUNT] = {
    "429",     "500",  "502",      "503", "504", "reset",     "truncate",
    "corrupt", "slow", "redirect", "204", "206", "bigheader",
};

const char *mtp_fault_name(mtp_fault fault)
{
    if (fault < 0 || fault >= MTP_FAULT_COUNT)
        return NULL;
    return FAULT_NAMES[fault];
}

int mtp_fault_parse_kinds(const char *list, unsigned *mask, mtp_error *err)
{
    if (list == NULL || mask == NULL)
        return mtp_error_set(err, MTP_EINVAL, "fault kinds: NULL argument");
    unsigned out = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        int found = -1;
        for (int k = 0; k < MTP_FAULT_COUNT; k++)
            if (strlen(FAULT_NAMES[k]) == n && strncmp(FAULT_NAMES[k], p, n) == 0)
                found = k;
        if (found < 0)
            return mtp_error_set(err, MTP_ECONFIG,
                                 "unknown fault kind '%.*s' (expected 429, 500, 502, 503, 504, "
                                 "reset, truncate, corrupt, slow, redirect, 204, 206 or "
                                 "bigheader)",
                                 (int)(n > 40 ? 40 : n), p);
        out |= 1u << found;
        if (end == NULL)
            break;
        p = end + 1;
    }
    *mask = out;
    return 0;
}

static uint64_t mix64(uint64_t z)
{
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(0x100000001b3);
    return h;
}

mtp_fault mtp_fault_draw(uint64_t seed, const char *path, uint64_t n, double rate, unsigned mask,
                         uint64_t *variant)
{
    uint64_t h = mix64(mix64(mix64(seed) ^ fnv1a(path != NULL ? path : "")) ^ n);
    if (variant != NULL)
        *variant = mix64(h ^ UINT64_C(0x5bd1e995));
    mask &= MTP_FAULT_ALL;
    if (!(rate > 0.0) || mask == 0)
        return MTP_FAULT_NONE;
    double u = (double)(h >> 11) * 0x1p-53; /* uniform in [0, 1) */
    if (u >= rate)
        return MTP_FAULT_NONE;
    int kinds = 0;
    for (int k = 0; k < MTP_FAULT_COUNT; k++)
        kinds += (mask >> k) & 1u;
    uint64_t pick = mix64(h ^ UINT64_C(0x27d4eb2f165667c5)) % (uint64_t)kinds;
    for (int k = 0; k < MTP_FAULT_COUNT; k++) {
        if (!((mask >> k) & 1u))
            continue;
        if (pick == 0)
            return (mtp_fault)k;
        pick--;
    }
    return MTP_FAULT_NONE; /* not reached */
}

/* ---- counter: a chained hash table under one lock ------------------------------------ */

enum { COUNTER_BUCKETS = 4096 };

typedef struct counter_entry {
    struct counter_entry *next;
    uint64_t count;
    char path[]; /* NUL-terminated */
} counter_entry;

struct mtp_fault_counter {
    pthread_mutex_t lock;
    counter_entry *buckets[COUNTER_BUCKETS];
};

int mtp_fault_counter_new(mtp_fault_counter **out, mtp_error *err)
{
    *out = NULL;
    mtp_fault_counter *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "fault counter: out of memory");
    pthread_mutex_init(&c->lock, NULL);
    *out = c;
    return 0;
}

uint64_t mtp_fault_counter_next(mtp_fault_counter *counter, const char *path)
{
    size_t b = (size_t)(fnv1a(path) % COUNTER_BUCKETS);
    uint64_t n = 0;
    pthread_mutex_lock(&counter->lock);
    counter_entry *e = counter->buckets[b];
    while (e != NULL && strcmp(e->path, path) != 0)
        e = e->next;
    if (e == NULL) {
        size_t len = strlen(path);
        e = malloc(sizeof *e + len + 1);
        if (e != NULL) {
            memcpy(e->path, path, len + 1);
            e->count = 0;
            e->next = counter->buckets[b];
            counter->buckets[b] = e;
        }
    }
    if (e != NULL)
        n = e->count++;
    pthread_mutex_unlock(&counter->lock);
    return n;
}

void mtp_fault_counter_free(mtp_fault_counter *counter)
{
    if (counter == NULL)
        return;
    for (size_t b = 0; b < COUNTER_BUCKETS; b++) {
        counter_entry *e = counter->buckets[b];
        while (e != NULL) {
            counter_entry *next = e->next;
            free(e);
            e = next;
        }
    }
    pthread_mutex_destroy(&counter->lock);
    free(counter);
}
