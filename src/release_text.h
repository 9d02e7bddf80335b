/*
 * release_text.h — private to the library: what the writers of a release's metadata files
 * share. release.c (the orchestration, the file list and the SUMS) calls one builder per
 * artefact: datasheet.c (README.md), citation.c (CITATION.cff), zenodo_json.c (.zenodo.json),
 * croissant.c (croissant.json), manifest.c (manifest.json); each appends its file's bytes to
 * an mtp_strbuf. The formats are in src/FORMAT.md; every value comes from the config, the
 * bundle summaries, mtp_release_info and the file list, so equal inputs give equal bytes.
 */
#ifndef MTP_RELEASE_TEXT_H
#define MTP_RELEASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mtp/config.h"
#include "mtp/digest.h"
#include "mtp/release.h"
#include "mtp/summary.h"

#define MTP_RELEASE_README "README.md"
#define MTP_RELEASE_CITATION "CITATION.cff"
#define MTP_RELEASE_ZENODO ".zenodo.json"
#define MTP_RELEASE_CROISSANT "croissant.json"

/* ---- a growing text buffer; allocation failure is latched in `failed` ----------------- */
typedef struct mtp_strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} mtp_strbuf;

void mtp_sb_append(mtp_strbuf *sb, const char *s, size_t n);
void mtp_sb_puts(mtp_strbuf *sb, const char *s);
void mtp_sb_printf(mtp_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the files of a release with their digests, sorted bytewise by path --------------- */
typedef struct mtp_release_file {
    char *path; /* owned, relative to the release directory */
    mtp_digest digest;
} mtp_release_file;

typedef struct mtp_release_files {
    mtp_release_file *items;
    int n;
} mtp_release_files;

/* True for the names of the metadata files mtp_release_write writes itself. */
bool mtp_release_is_metadata_name(const char *path);

/* ---- JSON construction: failures are latched in *bad (jansson frees `value` on failure) */
void mtp_jset(json_t *obj, const char *key, json_t *value, bool *bad);
void mtp_jpush(json_t *arr, json_t *value, bool *bad);
json_t *mtp_jstrings(const char (*items)[MTP_NAME_MAX], int n, bool *bad);
/* Serialise with the release's JSON flags (2-space indent, keys in insertion order, reals
 * with 10 significant digits) plus a trailing newline into sb. */
void mtp_json_to_sb(const json_t *root, mtp_strbuf *sb);

/* ---- values shared by several artefacts ------------------------------------------------ */
/* The config task a summary belongs to, or NULL. */
const mtp_task *mtp_release_task_of(const mtp_config *cfg, const mtp_bundle_summary *s);
/* The sum of a split's class counts. */
int64_t mtp_release_class_total(const mtp_split_summary *sp, int nclasses);
/* info->source_url, or the config's. */
const char *mtp_release_source_url(const mtp_config *cfg, const mtp_release_info *info);
/* A DOI without its resolver prefix; an ORCID iD without https://orcid.org/. */
const char *mtp_doi_bare(const char *doi);
const char *mtp_orcid_bare(const char *orcid);
/* The canonical URL of a well-known SPDX license id, else NULL. */
const char *mtp_license_url(const char *spdx);
bool mtp_has_suffix(const char *s, const char *suffix);

/* ---- one builder per artefact: append the file's bytes to sb --------------------------- */
/* README.md; `files` lists the data files. */
void mtp_datasheet_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                         int nsummaries, const mtp_release_info *info,
                         const mtp_release_files *files);
void mtp_citation_build(mtp_strbuf *sb, const mtp_config *cfg);
/* These return 0 or MTP_ENOMEM. */
int mtp_zenodo_json_build(mtp_strbuf *sb, const mtp_config *cfg);
int mtp_croissant_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_release_info *info,
                        const mtp_release_files *files);
int mtp_manifest_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                       int nsummaries, const mtp_release_info *info,
                       const mtp_release_files *files);

#endif
