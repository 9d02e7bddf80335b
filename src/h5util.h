/*
 * h5util.h — small HDF5 helpers shared by the modules that read or write HDF5 (h5bundle,
 * h5read, preview): the innermost message of the error stack, silencing HDF5's own
 * printing for the duration of a call, closing any identifier, and reading or writing one
 * slice of the slice-chunked uint8 datasets of the bundle format, and the one reader of
 * attributes (h5read and preview both read through it, with one set of caps).
 * Only those modules include this header (it exposes hid_t).
 */
#ifndef MTP_H5UTIL_H
#define MTP_H5UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "mtp/config.h"
#include "mtp/error.h"

/*
 * The message of the deepest frame of HDF5's error stack (the one that knows what went
 * wrong) into buf, "unknown HDF5 error" when the stack is empty; the stack is cleared.
 * Returns buf.
 */
const char *mtp_h5_reason(char *buf, size_t n);

/* HDF5's automatic error printing, saved so it can be given back. */
typedef struct mtp_h5_quiet {
    H5E_auto2_t func;
    void *data;
} mtp_h5_quiet;

/* The library never prints: silence HDF5 until mtp_h5_quiet_end(). */
void mtp_h5_quiet_begin(mtp_h5_quiet *q);
/* Clear the error stack and give the caller's handler back. */
void mtp_h5_quiet_end(const mtp_h5_quiet *q);

/* Close whatever kind of object *id is (file, group, dataset, type, space, attribute,
 * property list) and set it to H5I_INVALID_HID; a negative id is left alone. */
void mtp_h5_close(hid_t *id);

/*
 * Slice (i) of a rank-3 dataset (N, h, w), or slice (i, d) of a rank-4 one (N, D, h, w),
 * as h x w uint8 through `memspace` (a space of h * w elements), read into or written
 * from buf. Returns what H5Dread/H5Dwrite return (negative on failure).
 */
herr_t mtp_h5_read_slice(hid_t dset, hid_t memspace, int rank, hsize_t i, hsize_t d, hsize_t h,
                         hsize_t w, uint8_t *buf);
herr_t mtp_h5_write_slice(hid_t dset, hid_t memspace, int rank, hsize_t i, hsize_t d, hsize_t h,
                          hsize_t w, const uint8_t *buf);

/* ---- attributes ------------------------------------------------------------------------ */
/* The longest attribute string read (a fixed-length string type of more is MTP_ERANGE). */
#define MTP_H5_ATTR_STRING_MAX MTP_LONGTEXT_MAX

/*
 * Read the strings of attribute `name` of `obj` (scalar or 1-D, variable- or fixed-length,
 * in the file's character set) into out + i * width, at most `max` of them; *n gets how
 * many. `where` names obj in errors ("<path>: /<group>"). Errors, with err->msg:
 * "<where>: missing attribute <name>" (MTP_EFORMAT), "<where>: attribute <name> is not a
 * string" (MTP_EFORMAT), "... has N values (at most max)" and "... a string longer than
 * width-1 bytes" (MTP_ERANGE), MTP_ENOMEM.
 */
int mtp_h5_attr_strings(hid_t obj, const char *where, const char *name, char *out, size_t width,
                        size_t max, size_t *n, mtp_error *e);
/* Exactly one string (a scalar, or an array of one): "<where>: attribute <name> is empty". */
int mtp_h5_attr_string(hid_t obj, const char *where, const char *name, char *out, size_t width,
                       mtp_error *e);
/* Integer attribute values (scalar or 1-D, any integer type of 1-8 bytes) as int64, at most
 * `max`; "<where>: attribute <name> is not an integer" otherwise. */
int mtp_h5_attr_ints(hid_t obj, const char *where, const char *name, int64_t *out, size_t max,
                     size_t *n, mtp_error *e);
/* Exactly one integer. */
int mtp_h5_attr_int(hid_t obj, const char *where, const char *name, int64_t *out, mtp_error *e);

#endif
