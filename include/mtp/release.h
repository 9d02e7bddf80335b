/*
 * release.h — the Zenodo-ready metadata of a release directory (DESIGN §7): the datasheet
 * README.md, CITATION.cff, .zenodo.json, croissant.json, manifest.json, SHA256SUMS, MD5SUMS.
 *
 * Every value comes from the config's `release` section, the bundle summaries, the caller's
 * mtp_release_info and the files found in the directory; nothing is invented and nothing reads
 * the clock, so the same inputs give byte-identical files (a date appears only when
 * release.date is set). The source URL is written as given in info (never a token).
 *
 * The formats (manifest.json, SHA256SUMS/MD5SUMS, CITATION.cff, .zenodo.json, croissant.json)
 * are specified in src/FORMAT.md §3; the builders of each artefact are private to the
 * library (src/release_text.h).
 */
#ifndef MTP_RELEASE_H
#define MTP_RELEASE_H

#include <stdint.h>

#include "mtp/config.h"
#include "mtp/digest.h"
#include "mtp/error.h"
#include "mtp/fsutil.h"
#include "mtp/summary.h"

#define MTP_RELEASE_FORMAT "mtneuro-release"
#define MTP_RELEASE_MANIFEST_VERSION 1

/* Fixed file names inside a release directory. */
#define MTP_RELEASE_MANIFEST "manifest.json"
#define MTP_RELEASE_SHA256SUMS "SHA256SUMS"
#define MTP_RELEASE_MD5SUMS "MD5SUMS"

/*
 * A release maps 1:1 to a Zenodo record, so it has a record's shape and limits (FORMAT.md §3):
 * every file at the top level (a record has no folders), at most MTP_RELEASE_MAX_FILES files
 * and MTP_RELEASE_MAX_BYTES bytes in all, SHA256SUMS and MD5SUMS included. These are the
 * only definitions of the limits; build and verify both check them with
 * mtp_release_check_limits().
 */
#define MTP_RELEASE_MAX_FILES 100
#define MTP_RELEASE_MAX_BYTES INT64_C(50000000000) /* 50 GB, Zenodo's default per record */
#define MTP_RELEASE_MAX_PATH MTP_PATH_MAX
/* The metadata files mtp_release_write adds: README.md, CITATION.cff, .zenodo.json,
 * croissant.json, manifest.json, SHA256SUMS, MD5SUMS. */
#define MTP_RELEASE_METADATA_FILES 7

/* What the config does not know. Strings are borrowed for the call only. */
typedef struct mtp_release_info {
    const char *builder;       /* "mtneuro-pack X.Y.Z" */
    int bundle_format_version; /* MTP_BUNDLE_FORMAT_VERSION */
    double voxel_size[3];      /* z, y, x, from the server's coordinate frame */
    const char *voxel_unit;    /* "micrometer" */
    const char *source_url;    /* the URL actually used (no token); NULL = cfg->source.url */
    /* Optional: digests the caller already has (e.g. computed while previews were drawn),
     * for paths relative to `dir`; those files are not read again. */
    int nknown;
    const char *const *known_paths;
    const mtp_digest *known_digests;
} mtp_release_info;

/*
 * Write the metadata files into `dir`, which already holds the task .h5 files (and
 * volumes.h5, config.yaml, preview_*.png): README.md, CITATION.cff, .zenodo.json,
 * croissant.json, then manifest.json, then SHA256SUMS and MD5SUMS, each atomically
 * (mtp_write_file_atomic). `summaries` holds one entry per task file written, in config task
 * order (tasks not built are simply absent); each summary's `task` must name a config task
 * (MTP_EINVAL otherwise), and its file is "<task>.h5". The file list is found by walking
 * `dir` (mtp_release_list_files); with the metadata files it must fit the record limits
 * (mtp_release_check_limits, checked before anything is written). Errors: MTP_EINVAL (NULL
 * arguments, unknown task), MTP_EFORMAT, MTP_EIO and MTP_ERANGE from the walk, the limits, digests
 * and writes (naming the path), MTP_ENOMEM.
 */
int mtp_release_write(const char *dir, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                      int nsummaries, const mtp_release_info *info, mtp_error *err);

/*
 * The files of the release directory `dir` ("task1.h5", "preview_task1_train.png"), sorted
 * bytewise, without SHA256SUMS and MD5SUMS: the release walk of fsutil.h (mtp_tree_list, the
 * one the archive uses too: temporaries of atomic writes skipped, anything but files and
 * directories MTP_EFORMAT "<path>: not a regular file or directory (symlink)"). A folder is
 * MTP_EFORMAT "<path>: a folder; a release is flat (a Zenodo record has no folders)".
 * On success *out is a malloc'ed array of *n malloc'ed strings, which the caller frees with
 * mtp_release_files_free(); on failure *out is NULL and *n is 0.
 */
int mtp_release_list_files(const char *dir, char ***out, int *n, mtp_error *err);

/*
 * The record limits: `nfiles` files (all of them, SUMS included) of `nbytes` bytes in all
 * fit a Zenodo record, else MTP_ERANGE "<dir>: 123 files; a release (one Zenodo record)
 * holds at most 100" or "<dir>: 51.20 GB; a release (one Zenodo record) holds at most 50 GB".
 */
int mtp_release_check_limits(const char *dir, int64_t nfiles, int64_t nbytes, mtp_error *err);

/*
 * One line of SHA256SUMS or MD5SUMS (len bytes, no newline), the format the release writes
 * and `sha256sum -c` / `md5sum -c` read: `hexlen` hex digits, a space, a space or '*' (binary
 * mode), then a name of at least one byte. Returns the name (inside `line`), or NULL if the
 * line is not that. The one reader of the format: verify and publish both use it.
 */
const char *mtp_release_sums_name(const char *line, size_t len, size_t hexlen);

/* Free a list from mtp_release_list_files(); NULL is fine. */
void mtp_release_files_free(char **files, int n);

#endif
