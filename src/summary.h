/*
 * summary.h — what a bundle file holds, as plain data: filled by reading a file
 * (h5read.h) and consumed by inspect, the manifest and the datasheet (release.h) and
 * verify. No HDF5 types here.
 */
#ifndef MTP_SUMMARY_H
#define MTP_SUMMARY_H

#include <stdint.h>

#include "config.h"

typedef struct mtp_split_summary {
    char name[MTP_NAME_MAX];
    int64_t count;                            /* samples */
    int64_t z_range[2];                       /* [start, stop) */
    int ndims;                                /* rank of images: 3 (N,H,W) or 4 (N,D,H,W) */
    int64_t shape[4];                         /* images shape */
    /* Class balance: classification = samples per class; segmentation = mask pixels per
     * class; features = unused (all 0). Indexed like mtp_bundle_summary.classes. */
    int64_t class_counts[MTP_MAX_CLASSES];
    /* Samples per region, indexed like mtp_bundle_summary.regions. */
    int64_t region_counts[MTP_MAX_REGIONS];
    /* Classification: samples whose reference label differs from their region; else -1. */
    int64_t label_region_mismatches;
    int64_t target_rows;                      /* features: rows of /<split>/targets; else 0 */
    /* Compression: bytes stored for images (+ masks) vs their raw size. */
    uint64_t stored_bytes, raw_bytes;
} mtp_split_summary;

typedef struct mtp_bundle_summary {
    char task[MTP_NAME_MAX];
    char kind[32];                            /* classification | segmentation | features */
    int format_version;
    char builder[MTP_NAME_MAX];
    char config_sha256[65];
    char source[MTP_TEXT_MAX];
    int nclasses;
    char classes[MTP_MAX_CLASSES][MTP_NAME_MAX];
    int nregions;
    char regions[MTP_MAX_REGIONS][MTP_NAME_MAX];
    int nsplits;
    mtp_split_summary splits[MTP_MAX_SPLITS];
} mtp_bundle_summary;

#endif
