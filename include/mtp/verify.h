/*
 * verify.h — check a release directory, or a .tar.gz made by mtp_archive_write, against its
 * own manifest.json, SHA256SUMS and MD5SUMS, and check every HDF5 file's content.
 *
 * What is checked, each finding reported as one problem line (in this order):
 *  1. manifest.json exists, parses, has format "mtneuro-release" and manifest_version 1, and
 *     well-formed files/tasks lists:
 *       "manifest.json: missing"
 *       "manifest.json: not valid JSON: <reason> (line 3)"
 *       "manifest.json: format is \"x\", expected \"mtneuro-release\""
 *       "manifest.json: manifest_version 2 is not supported (this reader reads 1)"
 *       "manifest.json: files[3]: <what is wrong>"  "manifest.json: tasks[1]: <what is wrong>"
 *  2. every file the manifest lists exists with its size, SHA-256 and MD5, and every file
 *     present (but manifest.json, SHA256SUMS, MD5SUMS) is listed:
 *       "task2_2d_3class.h5: missing"
 *       "task1.h5: size mismatch (manifest 1234 bytes, file 1235 bytes)"
 *       "task1.h5: sha256 mismatch (manifest 3a7b05c3e1d2..., file 91c0aa8e0b7f...)"
 *       "task1.h5: md5 mismatch (manifest 52706966b615..., file 3761279e932b...)"
 *       "notes.txt: not listed in manifest.json"
 *     (the first that applies per file: size, then sha256, then md5; digests shown by their
 *     first 12 hex digits)
 *  3. SHA256SUMS, then MD5SUMS (lines "<hex>  <path>" or "<hex> *<path>"):
 *       "SHA256SUMS: missing"   "SHA256SUMS:4: malformed line"
 *       "SHA256SUMS: task1.h5: checksum mismatch"   "SHA256SUMS: task1.h5: missing"
 *       "SHA256SUMS: task1.h5: listed twice"        "SHA256SUMS: notes.txt: not listed"
 *  4. every .h5 file present, in path order: mtp_h5check_file (format and version known,
 *     shapes, counts, label/mask values in their class sets, recorded balance = data); its
 *     problem lines are passed on as they are ("task1.h5: /test/labels: ..."), and a file that
 *     cannot be opened gives "task1.h5: <reason>". Then every task of the manifest is compared
 *     with mtp_h5read_summary of its file:
 *       "manifest.json: task1: file task1.h5 is not in the release"
 *       "manifest.json: task1: kind classification in manifest, segmentation in file"
 *       "manifest.json: task1: classes [a, b] in manifest, [a, c] in file"
 *       "manifest.json: task1 /train: missing in file"
 *       "manifest.json: task1 /extra: in file, not in manifest"
 *       "manifest.json: task1 /train count 1076 in manifest, 1075 in file"
 *       (likewise shape, z_range, class_counts.<class>, region_counts.<region>,
 *       label_region_mismatches, target_rows)
 *
 * Directories: files are found with mtp_release_list_files (temporaries of atomic writes are
 * ignored, as the archive ignores them). Archives: digests come from mtp_archive_scan,
 * manifest.json and the SUMS files from mtp_archive_read_member. An archive whose stream is
 * damaged gives one problem line (the scan's message, e.g. "<archive>: corrupt gzip stream:
 * incorrect data check") and nothing else is checked, since its file list is incomplete.
 * For the HDF5 checks each .h5 member is extracted, one at a time, into a private temporary
 * directory (mkdtemp of "mtneuro-verify-XXXXXX" in $TMPDIR, else /tmp), checked and deleted;
 * the directory is removed before returning. A member larger than MTP_VERIFY_EXTRACT_MAX is
 * not extracted: "<path>: <n> bytes, too large to check inside an archive (extract it and
 * verify the directory)".
 *
 * Memory: manifest.json and each SUMS file are read whole, at most MTP_VERIFY_TEXT_MAX bytes
 * each ("manifest.json: larger than <cap> bytes" otherwise); an archive's .h5 member is held in
 * memory while it is written to the temporary directory.
 */
#ifndef MTP_VERIFY_H
#define MTP_VERIFY_H

#include <stdint.h>

#include "mtp/error.h"

#define MTP_VERIFY_TEXT_MAX ((size_t)64 << 20)   /* manifest.json, SHA256SUMS, MD5SUMS */
#define MTP_VERIFY_EXTRACT_MAX ((size_t)4 << 30) /* one .h5 member of an archive */

/* Receives one problem line (no newline); the line is borrowed for the call. */
typedef void (*mtp_verify_problem_fn)(void *userdata, const char *line);

typedef struct mtp_verify_result {
    int nfiles_checked; /* files whose size and digests were compared (SUMS files excluded) */
    int nhdf5_checked;  /* .h5 files whose content was read by mtp_h5check_file */
    int nproblems;      /* problem lines reported */
} mtp_verify_result;

/*
 * Verify the release directory or archive at `path`. `problem` (may be NULL) is called once
 * per finding; `result` (required) is zeroed first and then filled.
 * Returns 0 when verification ran, whatever it found (look at result->nproblems), or a
 * negative code when it could not run at all: MTP_EINVAL (NULL result or path), MTP_EIO
 * ("<path>: No such file or directory", an unreadable directory or archive, a temporary
 * directory that cannot be made), MTP_ENOMEM.
 */
int mtp_verify(const char *path, mtp_verify_problem_fn problem, void *userdata,
               mtp_verify_result *result, mtp_error *err);

#endif
