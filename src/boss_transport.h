/*
 * boss_transport.h — private to the library: what the BossDB client's two halves share, the
 * cutout engine (boss.c) and the metadata requests (boss_meta.c): the client handle, the
 * clock, and the rules that make a server's words safe to show. The libcurl boundary:
 * only boss.c and boss_meta.c include this.
 */
#ifndef MTP_BOSS_TRANSPORT_H
#define MTP_BOSS_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "boss_internal.h"

#define URL_MAX 2048
#define TICK_MS 100
#define DESCR_MAX 512
#define META_ANSWERS 32 /* metadata answers a client remembers */

struct mtp_boss {
    mtp_boss_options opt;
    char url[MTP_TEXT_MAX];
    char auth_header[MTP_TEXT_MAX + 32];
    struct curl_slist *cutout_headers;
    struct curl_slist *meta_headers;
    CURLM *multi;
    CURL *meta_easy;
    CURL **easy; /* opt.max_jobs cutout handles */
    /* The server's cutout cap as this client learned it, in the bytes the server counts
     * (mtp_cutout_weight), for every dtype at once: parts are cut to at most max_weight
     * (half the lightest refused part; 0 = no 413 seen yet), and no part heavier than ok_weight
     * (the heaviest answered 200) goes out while another such "probe" is in flight, once a 413 was
     * seen or for parts over a quarter of the documented cap. So a lower cap costs one refused
     * request per halving, not one per transfer in flight. */
    uint64_t max_weight, ok_weight;
    int limit; /* the adaptive concurrency, carried from one run to the next */
    /* Metadata answers already received, by URL: channels of one experiment share its
     * experiment and coordinate-frame answers (on a distant server each GET is a round trip). */
    struct meta_answer {
        char *url, *body;
        size_t len;
    } answers[META_ANSWERS];
    int nanswers;
    bool grown; /* a sign of load was seen: probing by one from now on */
    uint64_t rng;
    mtp_boss_stats stats;
};

/* Counts response header bytes (CURLOPT_HEADERFUNCTION): over MTP_BOSS_HEADER_MAX is no
 * server this client talks to. */
struct header_count {
    size_t bytes;
    bool too_large;
    double retry_after_s; /* a Retry-After header's seconds, 0 if none */
};

/* Monotonic seconds; milliseconds left until a monotonic deadline, at least 1. */
double mtp_boss_now_s(void);
long mtp_boss_ms_until(double deadline);

/* Seconds below MTP_BOSS_STALL_BYTES per second that make a transfer a stall:
 * source.timeout_s / 4, at most 30, at least 1. */
long mtp_boss_stall_s(const mtp_boss *b);

/* Mask every copy of the client's token in `text` (which came from the server) with '*'. */
void mtp_boss_scrub(const mtp_boss *b, char *text, size_t len);

/* CURLOPT_HEADERFUNCTION with a struct header_count: counts the bytes (over
 * MTP_BOSS_HEADER_MAX aborts) and keeps a Retry-After. */
size_t mtp_boss_count_header(char *ptr, size_t size, size_t nmemb, void *userdata);

/* The reason an answer of `status` is not used, for messages: the server's own error text,
 * a redirect with its target (without the query), or the name of an unexpected status.
 * `body` (the whole error body) is masked in place first; the token never survives into
 * buf, not even in part where the text is cut. */
void mtp_boss_describe_answer(const mtp_boss *b, CURL *easy, long status, char *body, size_t len,
                              char *buf, size_t n);

/* A transport failure in words; the reasons libcurl names vaguely are said plainly. */
void mtp_boss_describe_failure(const mtp_boss *b, CURLcode cc, const char *errbuf,
                               const struct header_count *headers, char *buf, size_t n);

#endif
