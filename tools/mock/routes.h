/*
 * routes.h — what bossdb-mock answers to a GET, independent of HTTP plumbing
 * (reference/bossdb-api.md §1–§4).
 *
 * Served: /v1/ and its alias /latest/, trailing slash optional:
 *   collection/{c}/experiment/{e}            experiment metadata
 *   collection/{c}/experiment/{e}/channel/{ch}  channel metadata
 *   coord/{frame}                            coordinate frame
 *   downsample/{c}/{e}/{ch}                  hierarchy levels
 *   cutout/{c}/{e}/{ch}/{res}/{x0}:{x1}/{y0}:{y1}/{z0}:{z1}[/{t0}:{t1}]
 * Resources: collection prasad; experiment prasad2020 (channel image, uint8) and
 * prasad_analysis (channels pixel_labels and roi_labels, uint64 annotation); frame
 * prasad_prasad2020. Anything else that does not match a route is an HTML 404, like
 * the real server's URL dispatcher (names are [A-Za-z0-9_-]+, res one digit, ranges
 * digits:digits).
 *
 * Cutouts are checked in the real server's order: resources (404/4000), resolution
 * (400/1002), box inside the level-0 frame with start < stop (400/1001), size cap
 * (413/2000). The mock serves level 0 only: resolutions 1..7 exist on the real server
 * but here answer 400/1002 "... within 0 and 1" (an honest statement of what the mock
 * serves); 8 and 9 get the real server's "... within 0 and 8". A box that passes the
 * 413 rule but is too large for one blosc1 chunk (possible for uint64) is an HTML 500,
 * which is what a server whose compressor fails would answer.
 */
#ifndef MTP_ROUTES_H
#define MTP_ROUTES_H

#include <stddef.h>

#include "mtp/error.h"
#include "synth.h"
#include "mtp/types.h"

#define MTP_MOCK_CUTOUT_CAP 545259520ull /* bytes, BossDB's "500MB" rule */

typedef struct mtp_mock_reply {
    int status;               /* HTTP status */
    const char *content_type; /* static string */
    char *body;               /* malloc'ed, owned by the reply; NULL for a cutout */
    size_t body_len;
    int is_cutout;   /* 1: a valid cutout; the body is made from channel + box */
    int retry_after; /* > 0: a Retry-After header with this many seconds */
    mtp_synth_channel channel;
    mtp_box box;
} mtp_mock_reply;

#define MTP_MOCK_REPLY_INIT                                                                        \
    {                                                                                              \
        .status = 0, .channel = MTP_SYNTH_IMAGE                                                    \
    }

/*
 * Answer a GET of `path` (no query string). auth_ok is 0 when the request carried a
 * wrong token: metadata routes then answer 401 {"detail": "Invalid token."} and cutouts
 * an HTML 500. Fills *out (release with mtp_mock_reply_clear). Fails only with
 * MTP_ENOMEM/MTP_EINVAL.
 */
int mtp_mock_route(const char *path, int auth_ok, mtp_mock_reply *out, mtp_error *err);

/* The server's 413 answer (code 2000) to a cutout over its size limit. */
int mtp_mock_too_large_reply(mtp_mock_reply *out, mtp_error *err);

/* A reply with an HTML (or JSON for 429) body for one of the status faults 429, 500,
 * 502, 503, 504. */
int mtp_mock_status_reply(int status, mtp_mock_reply *out, mtp_error *err);

/* 405 for methods other than GET and HEAD. */
int mtp_mock_method_reply(const char *method, mtp_mock_reply *out, mtp_error *err);

/* Free the body and reset *reply to MTP_MOCK_REPLY_INIT. Accepts NULL. */
void mtp_mock_reply_clear(mtp_mock_reply *reply);

#endif
