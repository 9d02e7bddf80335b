/*
 * h5read_internal.h — private to the library: the bundle-reading helpers h5read.c shares with
 * h5check.c (the content check verify runs). Helpers report failures as "<object>: <what>"
 * without the file name; the public functions add it.
 */
#ifndef MTP_H5READ_INTERNAL_H
#define MTP_H5READ_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "mtp/config.h"
#include "mtp/error.h"
#include "mtp/summary.h"

typedef struct mtp_h5r_region {
    char name[MTP_NAME_MAX];
    int64_t x0, x1, y0, y1;
} mtp_h5r_region;

typedef enum mtp_h5r_format { MTP_H5R_BUNDLE, MTP_H5R_VOLUMES } mtp_h5r_format;

/* What summary and check both need from a task bundle's root. */
typedef struct mtp_h5r_bundle_root {
    mtp_h5r_region regions[MTP_MAX_REGIONS];
    char split_names[MTP_MAX_SPLITS][MTP_NAME_MAX];
    int64_t counts[MTP_MAX_SPLITS];
    int nsplits;
} mtp_h5r_bundle_root;

bool mtp_h5r_has_link(hid_t loc, const char *name);

/* Open dataset `name` in group loc (whose path is gwhere, "" for the root). */
int mtp_h5r_open_dataset(hid_t loc, const char *gwhere, const char *name, hid_t *dset,
                         mtp_error *e);

int mtp_h5r_open_group(hid_t loc, const char *name, hid_t *group, mtp_error *e);

/* Shape, type and sizes of an open dataset into ds (name given). Rank must be 1..4. */
int mtp_h5r_describe(hid_t dset, const char *where, const char *name, mtp_dataset_summary *ds,
                     mtp_error *e);

int mtp_h5r_read_regions(hid_t file, mtp_h5r_region *rows, int *nrows, mtp_dataset_summary *ds,
                         mtp_error *e);

const char *mtp_h5r_base_name(const char *path);

/* format and format_version of the root. */
int mtp_h5r_root_format(hid_t root, mtp_h5r_format *format, int *version, mtp_error *e);

int mtp_h5r_read_bundle_root(hid_t file, hid_t root, mtp_bundle_summary *out,
                             mtp_h5r_bundle_root *br, mtp_error *e);

/* Open the file read-only and its root group (open_file's errors, or "/: reason"). */
int mtp_h5r_open_root(const char *path, hid_t *file, hid_t *root, mtp_error *e);

/* Integer attribute `name` with exactly `want` entries, one per `what` (MTP_EFORMAT
 * "<where>: <name> does not have <want> entries (one per <what>)" otherwise). */
int mtp_h5r_read_counts(hid_t group, const char *where, const char *name, int64_t *out, int want,
                        const char *what, mtp_error *e);

#endif
