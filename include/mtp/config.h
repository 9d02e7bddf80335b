/*
 * config.h — the release description (DESIGN §4), parsed from YAML with libyaml.
 *
 * Everything later stages need is in one plain struct with fixed-size fields, so the
 * rest of the library reads it without allocation or ownership questions. The parser
 * validates everything it can without the network: unknown keys, types, ranges, caps,
 * cross references (task -> channel, region, split), label code sets. Checks that need
 * the server's metadata (boxes inside the frame, dtypes) happen in the fetch stage.
 *
 * Errors: MTP_ECONFIG with err->msg = "FILE:LINE:COL: key.path: what is wrong".
 */
#ifndef MTP_CONFIG_H
#define MTP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "mtp/error.h"
#include "mtp/types.h"

/* Caps on every list and string in a config; exceeding one is a config error. */
#define MTP_NAME_MAX 64       /* names of regions, splits, tasks, channels, classes */
#define MTP_TEXT_MAX 512      /* titles, URLs, URIs, citation lines */
#define MTP_LONGTEXT_MAX 8192 /* descriptions */
#define MTP_MAX_CHANNELS 8
#define MTP_MAX_REGIONS 64
#define MTP_MAX_SPLITS 16
#define MTP_MAX_TASKS 32
#define MTP_MAX_CLASSES 32
#define MTP_MAX_CODES 256 /* label codes are 0..255 (they are stored as uint8) */
#define MTP_MAX_CREATORS 64
#define MTP_MAX_CITATIONS 16
#define MTP_MAX_KEYWORDS 32
#define MTP_MAX_COORD 1000000 /* cap on any voxel coordinate */
/* Caps on a region (checked when the config is loaded): its x and y extent (a tile is a
 * region's cross-section), and its voxels with the z range, since a build holds one
 * region's cube of every channel in memory (a byte per voxel each): 2^30 voxels = 1 GiB
 * per channel. MTNeuro's regions are 256 x 256 x 360. */
#define MTP_MAX_REGION_EDGE 16384
#define MTP_MAX_REGION_VOXELS (1ull << 30)
/* The server's storage cuboid (x, y, z) at every level: blocks tile it, splits follow it. */
#define MTP_CUBOID_X 512
#define MTP_CUBOID_Y 512
#define MTP_CUBOID_Z 16
#define MTP_MAX_BLOCK 4096 /* cap on source.block per axis */
#define MTP_MAX_JOBS 64
#define MTP_MAX_RETRIES 100

typedef struct mtp_person {
    char name[MTP_TEXT_MAX];        /* "Family, Given" or a full name */
    char affiliation[MTP_TEXT_MAX]; /* "" if not given */
    char orcid[64];                 /* "" if not given */
} mtp_person;

typedef struct mtp_citation {
    char text[MTP_LONGTEXT_MAX]; /* the full reference, as printed in the datasheet */
    char doi[MTP_TEXT_MAX];      /* "" if not given */
    char title[MTP_TEXT_MAX];    /* for CITATION.cff references; "" if not given */
    int year;                    /* 0 if not given */
    char venue[MTP_TEXT_MAX];    /* journal or conference; "" if not given */
    int nauthors;
    char authors[MTP_MAX_CREATORS][MTP_NAME_MAX * 2];
} mtp_citation;

typedef struct mtp_release {
    char name[MTP_NAME_MAX]; /* file-name safe: [A-Za-z0-9._-] */
    char version[MTP_NAME_MAX];
    char title[MTP_TEXT_MAX];
    char description[MTP_LONGTEXT_MAX];
    char license[MTP_NAME_MAX]; /* SPDX id, e.g. "CC-BY-4.0" */
    char date[32];              /* publication date "YYYY-MM-DD", "" if not given */
    char url[MTP_TEXT_MAX];     /* landing page, "" if not given */
    int ncreators;
    mtp_person creators[MTP_MAX_CREATORS];
    int ncitations;
    mtp_citation citations[MTP_MAX_CITATIONS];
    int nkeywords;
    char keywords[MTP_MAX_KEYWORDS][MTP_NAME_MAX];
} mtp_release;

typedef struct mtp_source {
    char url[MTP_TEXT_MAX];       /* scheme://host[:port], no trailing slash */
    char token[MTP_TEXT_MAX];     /* default "public"; never printed */
    char token_env[MTP_NAME_MAX]; /* if set, the token is read from this variable */
    int resolution;               /* 0..9 */
    int64_t block[3];             /* max block size per axis, x y z */
    int jobs;                     /* concurrent transfers at the start, 1..MTP_MAX_JOBS */
    int max_jobs;                 /* politeness cap of the adaptive concurrency, jobs..
                                     MTP_MAX_JOBS, default 16 */
    int retries;                  /* retries per block, 0..MTP_MAX_RETRIES */
    int timeout_s;                /* deadline of one block's whole retry sequence, seconds
                                     (a transfer below 1 KB/s for min(30, timeout_s / 4) s
                                     is a stall, retried within it) */
    int backoff_ms;               /* first retry delay; doubles up to backoff_max_ms */
    int backoff_max_ms;
} mtp_source;

typedef struct mtp_channel {
    char name[MTP_NAME_MAX]; /* the key in `channels:` ("image", "roi_labels", ...) */
    char uri[MTP_TEXT_MAX];  /* "bossdb://coll/exp/chan" */
    char collection[MTP_NAME_MAX];
    char experiment[MTP_NAME_MAX];
    char channel[MTP_NAME_MAX];
} mtp_channel;

typedef struct mtp_region {
    char name[MTP_NAME_MAX];
    mtp_range x, y; /* half-open voxel ranges at the configured resolution */
} mtp_region;

typedef struct mtp_split {
    char name[MTP_NAME_MAX];
    mtp_range z;
} mtp_split;

typedef enum mtp_task_kind {
    MTP_TASK_CLASSIFICATION = 1,
    MTP_TASK_SEGMENTATION,
    MTP_TASK_FEATURES,
} mtp_task_kind;

typedef struct mtp_task {
    char name[MTP_NAME_MAX];
    mtp_task_kind kind;
    int image_channel;       /* index into config.channels (key `images`, default "image") */
    int label_channel;       /* index into config.channels (key `labels`) */
    char rule[MTP_NAME_MAX]; /* classification rule, "roi_mode" */
    int nclasses;
    char classes[MTP_MAX_CLASSES][MTP_NAME_MAX];
    /*
     * code_class[c]: the class index a source label code c becomes, or -1 when c is
     * not in the task's declared set (finding it in the data is an error).
     * classification: from `map` (class name -> list of codes).
     * segmentation/features: identity for 0..nclasses-1, then `remap` applied.
     */
    int code_class[MTP_MAX_CODES];
    bool excluded[MTP_MAX_REGIONS]; /* by region index, from `exclude` */
    int depth;                      /* slices per sample: 1 (2D) or more (3D windows) */
    int nsplits;
    int splits[MTP_MAX_SPLITS]; /* indices into config.splits, in the task's order */
    int quadrant;               /* features: quadrant edge in pixels (128) */
} mtp_task;

typedef enum mtp_compression {
    MTP_COMPRESS_GZIP = 1, /* deflate, readable everywhere */
    MTP_COMPRESS_NONE,
} mtp_compression;

typedef struct mtp_output {
    mtp_compression compression; /* default gzip */
    int level;                   /* 0..9, default 4: libdeflate levels 1-9, 0 = stored (zlib) */
    bool volumes;                /* also write volumes.h5 (default false) */
    bool previews;               /* also write preview_*.png (default true) */
    int64_t mtime;               /* archive entry mtime, default 0 */
} mtp_output;

typedef struct mtp_config {
    char path[MTP_TEXT_MAX]; /* the file it was read from */
    char sha256[65];         /* hex SHA-256 of the file's bytes */
    mtp_release release;
    mtp_source source;
    int nchannels;
    mtp_channel channels[MTP_MAX_CHANNELS];
    int nregions;
    mtp_region regions[MTP_MAX_REGIONS];
    mtp_range z;
    int nsplits;
    mtp_split splits[MTP_MAX_SPLITS];
    int ntasks;
    mtp_task tasks[MTP_MAX_TASKS];
    mtp_output output;
    /* The file's text with any token value blanked out; what config.yaml in a release is. */
    char *redacted_text;
    size_t redacted_len;
} mtp_config;

/*
 * Read and validate the YAML file at `path`. On success *out is a new config the caller
 * frees with mtp_config_free(); on failure *out is NULL and err says where and why.
 * The token is resolved here: source.token_env (when set) names the environment
 * variable to read; an unset or empty variable is a config error.
 */
int mtp_config_load(mtp_config **out, const char *path, mtp_error *err);

/*
 * Load a release's copy of its config (config.yaml, token redacted): the same checks,
 * except that the token is neither validated nor read from source.token_env; the
 * returned source.token is empty. For commands that only read a release (archive).
 */
int mtp_config_load_copy(mtp_config **out, const char *path, mtp_error *err);

/* The same from a string (for tests); `name` stands for the file name in errors. */
int mtp_config_parse(mtp_config **out, const char *name, const char *text, size_t len,
                     mtp_error *err);

/*
 * Command-line overrides: a non-NULL `source_url` replaces source.url (validated like
 * the file's); a non-NULL `token_env` names the variable the token is read from.
 * Errors are MTP_ECONFIG naming the option.
 */
int mtp_config_override(mtp_config *cfg, const char *source_url, const char *token_env,
                        mtp_error *err);

/* Index of the channel/region/split/task with that name, or -1. */
int mtp_config_channel(const mtp_config *cfg, const char *name);
int mtp_config_region(const mtp_config *cfg, const char *name);
int mtp_config_split(const mtp_config *cfg, const char *name);
int mtp_config_task(const mtp_config *cfg, const char *name);

/* Index of task t's class with that name, or -1. */
int mtp_config_class(const mtp_task *t, const char *name);

/* "classification", "segmentation" or "features". */
const char *mtp_task_kind_name(mtp_task_kind kind);

/* Whether some task takes its images from channel c. */
bool mtp_config_channel_is_image(const mtp_config *cfg, int c);

/* Free a config; NULL is fine. */
void mtp_config_free(mtp_config *cfg);

#endif
