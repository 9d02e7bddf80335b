/*
 * summary.h — what a bundle file holds, as plain data: filled by reading a file
 * (h5read.h) and consumed by inspect, the manifest and the datasheet (release.h) and
 * verify. No HDF5 types here.
 */
#ifndef MTP_SUMMARY_H
#define MTP_SUMMARY_H

#include <stdint.h>

#include "mtp/config.h"

/* Added with h5read: one dataset as stored, for inspect's tree and the datasheet. */
typedef struct mtp_dataset_summary {
    char name[2 * MTP_NAME_MAX + 2]; /* relative to its group: "images", "regions";
                                        volumes: "<region>/<channel>" */
    char dtype[32];                  /* "uint8", "int64", "enum(uint8)", "compound" */
    int ndims;                       /* 1..4 */
    int64_t shape[4];
    uint64_t stored_bytes, raw_bytes; /* H5Dget_storage_size; elements * type size */
} mtp_dataset_summary;

#define MTP_SUMMARY_MAX_SPLIT_DATASETS 8 /* images masks labels region origin targets */
#define MTP_SUMMARY_MAX_DATASETS 64      /* file level: /regions (+ volumes' cubes) */

typedef struct mtp_split_summary {
    char name[MTP_NAME_MAX];
    int64_t count;      /* samples */
    int64_t z_range[2]; /* [start, stop) */
    int ndims;          /* rank of images: 3 (N,H,W) or 4 (N,D,H,W) */
    int64_t shape[4];   /* images shape */
    /* Class balance: classification = samples per class; segmentation = mask pixels per
     * class; features = unused (all 0). Indexed like mtp_bundle_summary.classes. */
    int64_t class_counts[MTP_MAX_CLASSES];
    /* Samples per region, indexed like mtp_bundle_summary.regions. */
    int64_t region_counts[MTP_MAX_REGIONS];
    /* Classification: samples whose reference label differs from their region (the split's
     * label_region_mismatches attribute); -1 for other kinds or when it is not recorded. */
    int64_t label_region_mismatches;
    int64_t target_rows; /* features: rows of /<split>/targets; else 0 */
    /* Compression: bytes stored for images (+ masks) vs their raw size. */
    uint64_t stored_bytes, raw_bytes;
    /* Added with h5read: the split's datasets in the order images, masks, labels, region,
     * origin, targets (those present). */
    int ndatasets;
    mtp_dataset_summary datasets[MTP_SUMMARY_MAX_SPLIT_DATASETS];
} mtp_split_summary;

typedef struct mtp_bundle_summary {
    char task[MTP_NAME_MAX];
    char kind[32]; /* classification | segmentation | features;
                      "volumes" for volumes.h5 (task "", no
                      classes, no splits) */
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
    /* Added with h5read: the title attribute, and the datasets outside the splits: /regions
     * then, in volumes.h5, every /<region>/<channel> in region then channel order. */
    char title[MTP_TEXT_MAX];
    int ndatasets;
    mtp_dataset_summary datasets[MTP_SUMMARY_MAX_DATASETS];
} mtp_bundle_summary;

#endif
