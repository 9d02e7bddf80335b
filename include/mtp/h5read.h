/*
 * h5read.h — reading bundle files back (DESIGN §6, format: src/FORMAT.md §1-2): a cheap
 * structural summary for inspect, the manifest and the datasheet. The full check of every
 * byte for verify is h5check.h, which reads through the same helpers.
 *
 * Files: task bundles (format "mtneuro-bundle") and volumes.h5 ("mtneuro-volumes"), format
 * version 1. Strings in attributes may be variable- or fixed-length. Every size read from a
 * file is checked against the caps of h5bundle.h and config.h before anything is allocated
 * (samples <= MTP_BUNDLE_MAX_SAMPLES, slice edges <= MTP_BUNDLE_MAX_EDGE, a slice <=
 * MTP_BUNDLE_MAX_CHUNK_BYTES, depth <= MTP_BUNDLE_MAX_DEPTH, z extent <= MTP_MAX_COORD,
 * classes/regions/splits/strings <= the config caps).
 *
 * HDF5's automatic error printing is switched off during each call and the previous
 * handler restored afterwards. Like the writer, this module is not thread-safe (Debian's
 * HDF5 is built without thread safety): one thread at a time.
 */
#ifndef MTP_H5READ_H
#define MTP_H5READ_H

#include <stdbool.h>

#include "mtp/error.h"
#include "mtp/summary.h"

/*
 * Read a file's structure and recorded metadata into *out (zeroed first): root attributes,
 * /regions, and per split its count, z_range, images shape, class_counts, region_counts,
 * label_region_mismatches, target rows and every dataset's shape, dtype and storage size
 * (H5Dget_storage_size). Cheap: reads no pixel data, labels or regions.
 *
 * Task bundles: every attribute and dataset of the format is required; features files need
 * images, region, origin and targets, and no class_counts; their classes are read when the
 * attribute is there (the writer writes it), else nclasses is 0.
 * volumes.h5: filled with kind "volumes", task "", no classes and no splits; `datasets`
 * lists /regions and every /<region>/<channel> (more than MTP_SUMMARY_MAX_DATASETS:
 * MTP_ERANGE).
 *
 * Errors (err->msg always starts with "<path>: "):
 *   MTP_EIO      the file cannot be stat'ed ("<path>: No such file or directory");
 *   MTP_EFORMAT  not HDF5 ("<path>: not an HDF5 file"), a format attribute other than the
 *                two above ("<path>: format is 'x', not mtneuro-bundle or mtneuro-volumes"),
 *                format_version other than 1 ("<path>: format_version 2 is not supported
 *                (this reader reads 1)"), anything missing or of the wrong type or shape
 *                ("<path>: /train: missing attribute class_counts",
 *                "<path>: /train/masks: missing dataset");
 *   MTP_ERANGE   a size beyond its cap; MTP_ENOMEM.
 */
int mtp_h5read_summary(const char *path, mtp_bundle_summary *out, mtp_error *err);

/*
 * mtp_h5read_summary for a file that may be crafted: the file is read in a reader process
 * (isolate.h), so that a crash or an endless loop inside libhdf5 becomes MTP_EFORMAT
 * "<path>: unreadable HDF5 (the HDF5 library crashed: signal 11)" (or "(no answer within
 * 1800 s ...)"); otherwise the same results as mtp_h5read_summary.
 */
int mtp_h5read_summary_isolated(const char *path, mtp_bundle_summary *out, mtp_error *err);

/* Whether a summary that came from a reader process can be used: every count within its
 * array, every string NUL-terminated (a child whose memory a crafted file corrupted may send
 * anything). */
bool mtp_h5read_summary_sane(const mtp_bundle_summary *s);

/*
 * The process-wide HDF5 policy of a tool, called once at the start of main(), before any
 * other call into this library: HDF5 never prints (failures come back through mtp_error),
 * and it registers no exit handler. Without the handler a file that could not be closed
 * (its flush failed on a full disk) is not closed a second time at exit — HDF5 1.10 crashes
 * there — and nothing is lost: the library removes its temporaries itself, and a file it
 * finished is already closed. Defined in h5util.c.
 */
void mtp_h5_policy_init(void);

#endif
