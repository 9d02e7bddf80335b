/*
 * h5check.h — the content check of a bundle or volumes.h5 file, for verify: every dataset read
 * back and every recorded count compared with the data. Reads untrusted files; verify runs it
 * in a reader process (isolate.h).
 */
#ifndef MTP_H5CHECK_H
#define MTP_H5CHECK_H

#include "mtp/error.h"

/* Receives one problem line (no newline) of mtp_h5check_file; the line is borrowed. */
typedef void (*mtp_h5check_problem_fn)(void *userdata, const char *line);

/*
 * Full check for verify. Reads every dataset of every split slice by slice (memory: one
 * slice, plus labels and regions of one split) and checks, per split: the count attribute
 * equals the root `counts` entry; every dataset has count samples; masks have the images'
 * shape; images and masks are uint8; label and mask values are classes; region values are
 * rows of /regions; each origin is its region's corner inside the split's z range;
 * class_counts, region_counts and (when recorded) label_region_mismatches equal the values
 * recomputed from the data. Features: targets has count x rows_per_slice (its attribute)
 * rows, and row r has a region that is a row of /regions and its slice's region, quadrant in
 * 0..rows_per_slice-1, slice_index in 0..count-1 with slice_index * rows_per_slice + quadrant
 * = r, and z inside the split's z range (one line for the first bad row, "(N rows in all)").
 * volumes.h5: every /<region>/<channel> exists, is uint8 of shape (nz, region height, region width)
 * with one nz for all, has origin (z0, region y0, region x0) with one z0 for all, and reads fully.
 *
 * Every problem is one call of problem(userdata, line) (problem may be NULL), the line being
 * "<file name>: <object>: <what>" with the file's base name, e.g.
 *   "task1.h5: /test/labels: value 7 at sample 12 outside classes 0-3"
 *   "task1.h5: /train: class_counts[2] (vp) is 5, the data has 2"
 * A dataset with several bad values gives one line for the first, ending
 * "(N values in all)" when there are more. Structural problems (wrong format attribute,
 * missing attributes, groups or datasets) are problem lines too; the check goes on with
 * what can still be checked.
 *
 * Returns 0 when the file could be opened (problems or not) with *nproblems (optional) set,
 * or a negative code when it could not be opened at all: MTP_EIO (missing or unreadable),
 * MTP_EFORMAT (not HDF5), with err->msg as for mtp_h5read_summary (h5read.h).
 */
int mtp_h5check_file(const char *path, mtp_h5check_problem_fn problem, void *userdata,
                     int *nproblems, mtp_error *err);

#endif
