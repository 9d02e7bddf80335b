#include "mtp/release.h"

/*
 * release.c — writing a release's metadata files (mtp_release_write): the file list with
 * digests, one builder per artefact (release_text.h), SHA256SUMS and MD5SUMS.
 */

#include "mtp/digest.h"
#include "mtp/fsutil.h"
#include "release_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write the buffer to dir/name atomically and release it. */
static int sb_write(mtp_strbuf *sb, const char *dir, const char *name, mtp_error *err)
{
    int rc = 0;
    char path[MTP_RELEASE_MAX_PATH];
    if (sb->failed) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s/%s: out of memory", dir, name);
        goto out;
    }
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", dir, name);
        goto out;
    }
    rc = mtp_write_file_atomic(path, sb->data ? sb->data : "", sb->len, err);
out:
    free(sb->data);
    memset(sb, 0, sizeof *sb);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Walking the directory */

static bool is_sums_name(const char *name)
{
    return strcmp(name, MTP_RELEASE_SHA256SUMS) == 0 || strcmp(name, MTP_RELEASE_MD5SUMS) == 0;
}

const char *mtp_release_sums_name(const char *line, size_t len, size_t hexlen)
{
    if (len <= hexlen + 2 || line[hexlen] != ' ' ||
        (line[hexlen + 1] != ' ' && line[hexlen + 1] != '*'))
        return NULL;
    for (size_t i = 0; i < hexlen; i++) {
        char c = line[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return NULL;
    }
    return line + hexlen + 2;
}

int mtp_release_check_limits(const char *dir, int64_t nfiles, int64_t nbytes, mtp_error *err)
{
    if (nfiles > MTP_RELEASE_MAX_FILES)
        return mtp_error_set(err, MTP_ERANGE,
                             "%s: %lld files; a release (one Zenodo record) holds at most %d", dir,
                             (long long)nfiles, MTP_RELEASE_MAX_FILES);
    if (nbytes > MTP_RELEASE_MAX_BYTES)
        return mtp_error_set(
            err, MTP_ERANGE, "%s: %.2f GB; a release (one Zenodo record) holds at most %lld GB",
            dir, (double)nbytes / 1e9, (long long)(MTP_RELEASE_MAX_BYTES / INT64_C(1000000000)));
    return 0;
}

void mtp_release_files_free(char **files, int n)
{
    if (files == NULL)
        return;
    for (int i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

int mtp_release_list_files(const char *dir, char ***out, int *n, mtp_error *err)
{
    if (out == NULL || n == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_release_list_files: NULL argument");
    *out = NULL;
    *n = 0;
    if (dir == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_release_list_files: NULL directory");
    mtp_tree_entry *tree = NULL;
    size_t count = 0;
    int rc = mtp_tree_list(dir, &tree, &count, err);
    if (rc < 0)
        return rc;
    char **files = calloc(count > 0 ? count : 1, sizeof *files);
    int nfiles = 0;
    if (files == NULL)
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", dir);
    /* Files only (the walk's order is kept); the SUMS cover the others. */
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (tree[i].is_dir) {
            rc = mtp_error_set(err, MTP_EFORMAT,
                               "%s/%s: a folder; a release is flat (a Zenodo record has no "
                               "folders)",
                               dir, tree[i].path);
            break;
        }
        if (is_sums_name(tree[i].path))
            continue;
        files[nfiles++] = tree[i].path;
        tree[i].path = NULL;
    }
    mtp_tree_free(tree, count);
    if (rc < 0) {
        mtp_release_files_free(files, nfiles);
        return rc;
    }
    *out = files;
    *n = nfiles;
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Files with their digests */

static void entries_free(mtp_release_files *es)
{
    for (int i = 0; i < es->n; i++)
        free(es->items[i].path);
    free(es->items);
    es->items = NULL;
    es->n = 0;
}

static const mtp_release_file *entries_find(const mtp_release_files *es, const char *path)
{
    for (int i = 0; i < es->n; i++)
        if (strcmp(es->items[i].path, path) == 0)
            return &es->items[i];
    return NULL;
}

/* True for the files mtp_release_write writes itself. */
bool mtp_release_is_metadata_name(const char *path)
{
    static const char *const names[] = {
        MTP_RELEASE_README,   MTP_RELEASE_CITATION,   MTP_RELEASE_ZENODO,  MTP_RELEASE_CROISSANT,
        MTP_RELEASE_MANIFEST, MTP_RELEASE_SHA256SUMS, MTP_RELEASE_MD5SUMS, NULL};
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(path, names[i]) == 0)
            return true;
    return false;
}

/* Put path with digest d into the (path-sorted) list, replacing the entry of that path. */
static int entries_put(mtp_release_files *es, const char *path, const mtp_digest *d, mtp_error *err)
{
    mtp_release_file *same = (mtp_release_file *)entries_find(es, path);
    if (same != NULL) {
        same->digest = *d;
        return 0;
    }
    mtp_release_file *grown = realloc(es->items, (size_t)(es->n + 1) * sizeof *grown);
    char *copy = strdup(path);
    if (grown != NULL)
        es->items = grown;
    if (grown == NULL || copy == NULL) {
        free(copy);
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", path);
    }
    int pos = es->n;
    while (pos > 0 && strcmp(es->items[pos - 1].path, path) > 0) {
        es->items[pos] = es->items[pos - 1];
        pos--;
    }
    es->items[pos].path = copy;
    es->items[pos].digest = *d;
    es->n++;
    return 0;
}

/* sb_write, and the file goes into `files` with the digest of the bytes written (no need
 * to read back what was just written). */
static int write_listed(mtp_strbuf *sb, const char *dir, const char *name, mtp_release_files *files,
                        mtp_error *err)
{
    mtp_digest d;
    if (!sb->failed && mtp_digest_buffer(sb->data ? sb->data : "", sb->len, &d) < 0)
        sb->failed = true;
    int rc = sb_write(sb, dir, name, err);
    if (rc == 0)
        rc = entries_put(files, name, &d, err);
    return rc;
}

/* The digest the caller already has for `path` (info->known_*), or NULL. */
static const mtp_digest *known_digest(const mtp_release_info *info, const char *path)
{
    for (int i = 0; i < info->nknown; i++)
        if (strcmp(info->known_paths[i], path) == 0)
            return &info->known_digests[i];
    return NULL;
}

/* Every file of the release except the ones this module writes (those are listed as they
 * are written, see write_listed), with digests: the caller's where it has them, else read. */
static int scan_dir(const char *dir, const mtp_release_info *info, mtp_release_files *out,
                    mtp_error *err)
{
    char **paths = NULL;
    int n = 0;
    int rc = mtp_release_list_files(dir, &paths, &n, err);
    if (rc < 0)
        return rc;
    out->items = calloc(n > 0 ? (size_t)n : 1, sizeof *out->items);
    if (out->items == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", dir);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (mtp_release_is_metadata_name(paths[i]))
            continue; /* an earlier build's, about to be replaced */
        mtp_release_file *e = &out->items[out->n];
        const mtp_digest *known = known_digest(info, paths[i]);
        if (known != NULL) {
            e->digest = *known;
        } else {
            char full[MTP_RELEASE_MAX_PATH];
            int len = snprintf(full, sizeof full, "%s/%s", dir, paths[i]);
            if (len < 0 || (size_t)len >= sizeof full) {
                rc = mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", dir, paths[i]);
                goto out;
            }
            rc = mtp_digest_file(full, &e->digest, err);
            if (rc < 0)
                goto out;
        }
        e->path = paths[i];
        paths[i] = NULL;
        out->n++;
    }
out:
    mtp_release_files_free(paths, n);
    if (rc < 0)
        entries_free(out);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* SHA256SUMS / MD5SUMS */

static int sums_build(mtp_strbuf *sb, const mtp_release_files *files, bool md5, mtp_error *err)
{
    for (int i = 0; i < files->n; i++) {
        const mtp_release_file *e = &files->items[i];
        char line[MTP_RELEASE_MAX_PATH + 80];
        int rc = mtp_digest_sums_line(line, sizeof line, md5 ? e->digest.md5 : e->digest.sha256,
                                      e->path, err);
        if (rc < 0)
            return rc;
        mtp_sb_puts(sb, line);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */

static int check_args(const char *dir, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                      int nsummaries, const mtp_release_info *info, mtp_error *err)
{
    if (dir == NULL || cfg == NULL || info == NULL || (summaries == NULL && nsummaries > 0) ||
        nsummaries < 0)
        return mtp_error_set(err, MTP_EINVAL, "mtp_release_write: NULL or invalid argument");
    if (info->builder == NULL || info->voxel_unit == NULL)
        return mtp_error_set(err, MTP_EINVAL,
                             "mtp_release_write: info needs builder and "
                             "voxel_unit");
    for (int i = 0; i < nsummaries; i++) {
        const mtp_bundle_summary *s = &summaries[i];
        if (strcmp(s->kind, "volumes") == 0)
            return mtp_error_set(err, MTP_EINVAL,
                                 "release: summaries are for task files only "
                                 "(volumes.h5 is listed from the directory)");
        if (mtp_release_task_of(cfg, s) == NULL)
            return mtp_error_set(err, MTP_EINVAL, "release: summary of unknown task \"%s\"",
                                 s->task);
        if (s->nclasses < 0 || s->nclasses > MTP_MAX_CLASSES || s->nregions < 0 ||
            s->nregions > MTP_MAX_REGIONS || s->nsplits < 0 || s->nsplits > MTP_MAX_SPLITS)
            return mtp_error_set(err, MTP_ERANGE, "release: summary of \"%s\" out of range",
                                 s->task);
    }
    return 0;
}

int mtp_release_write(const char *dir, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                      int nsummaries, const mtp_release_info *info, mtp_error *err)
{
    int rc = check_args(dir, cfg, summaries, nsummaries, info, err);
    if (rc < 0)
        return rc;
    mtp_release_files files = {NULL, 0};
    mtp_strbuf sb = {0};

    rc = scan_dir(dir, info, &files, err);
    if (rc < 0)
        goto out;
    /* Refuse what the record cannot hold, and names the SUMS files cannot carry, before
     * anything is written (the metadata files are a few kilobytes). */
    int64_t nbytes = 0;
    for (int i = 0; i < files.n; i++)
        nbytes += (int64_t)files.items[i].digest.size;
    rc = mtp_release_check_limits(dir, files.n + MTP_RELEASE_METADATA_FILES, nbytes, err);
    if (rc < 0)
        goto out;
    for (int i = 0; i < files.n; i++) {
        if (strpbrk(files.items[i].path, "\n\r\\") != NULL) {
            rc = mtp_error_set(err, MTP_EFORMAT,
                               "%s/%s: a file name with a newline or backslash cannot be listed "
                               "in SHA256SUMS",
                               dir, files.items[i].path);
            goto out;
        }
    }

    /* Each metadata file joins the list as it is written: the README and croissant.json
     * describe the data files only, the manifest also the metadata written before it, and
     * the SUMS everything. */
    mtp_datasheet_build(&sb, cfg, summaries, nsummaries, info, &files);
    rc = write_listed(&sb, dir, MTP_RELEASE_README, &files, err);
    if (rc == 0) {
        mtp_citation_build(&sb, cfg);
        rc = write_listed(&sb, dir, MTP_RELEASE_CITATION, &files, err);
    }
    if (rc == 0) {
        if (mtp_zenodo_json_build(&sb, cfg) < 0)
            sb.failed = true;
        rc = write_listed(&sb, dir, MTP_RELEASE_ZENODO, &files, err);
    }
    if (rc == 0) {
        if (mtp_croissant_build(&sb, cfg, info, &files) < 0)
            sb.failed = true;
        rc = write_listed(&sb, dir, MTP_RELEASE_CROISSANT, &files, err);
    }
    if (rc == 0) {
        if (mtp_manifest_build(&sb, cfg, summaries, nsummaries, info, &files) < 0)
            sb.failed = true;
        rc = write_listed(&sb, dir, MTP_RELEASE_MANIFEST, &files, err);
    }
    if (rc == 0)
        rc = sums_build(&sb, &files, false, err);
    if (rc == 0)
        rc = sb_write(&sb, dir, MTP_RELEASE_SHA256SUMS, err);
    if (rc == 0)
        rc = sums_build(&sb, &files, true, err);
    if (rc == 0)
        rc = sb_write(&sb, dir, MTP_RELEASE_MD5SUMS, err);

out:
    free(sb.data);
    entries_free(&files);
    return rc;
}
