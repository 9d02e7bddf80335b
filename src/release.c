#include "mtp/release.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "mtp/digest.h"
#include "mtp/fsutil.h"

#define README_NAME "README.md"
#define CFF_NAME "CITATION.cff"
#define ZENODO_NAME ".zenodo.json"
#define CROISSANT_NAME "croissant.json"

/* Reals in the JSON files: fractions are rounded to 6 decimals first, so 10 significant
 * digits print them exactly ("0.259294") and voxel sizes without binary noise ("1.17"). */
#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

/* ---------------------------------------------------------------------------------------- */
/* A growing text buffer. Allocation failure is latched and reported once, at the end. */

typedef struct strbuf {
    char *data;
    size_t len, cap;
    bool failed;
} strbuf;

static void sb_append(strbuf *sb, const char *s, size_t n)
{
    if (sb->failed)
        return;
    if (sb->len + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 4096;
        while (cap < sb->len + n + 1)
            cap *= 2;
        char *p = realloc(sb->data, cap);
        if (p == NULL) {
            sb->failed = true;
            return;
        }
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
    sb_append(sb, s, strlen(s));
}

static void sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *sb, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        sb_append(sb, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        sb->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_append(sb, big, (size_t)n);
    free(big);
}

/* Write the buffer to dir/name atomically and release it. */
static int sb_write(strbuf *sb, const char *dir, const char *name, mtp_error *err)
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
    /* Files only (the walk's order is kept); the SUMS at the top cover the others. */
    for (size_t i = 0; rc == 0 && i < count; i++) {
        if (tree[i].is_dir || is_sums_name(tree[i].path))
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

typedef struct entry {
    char *path; /* owned */
    mtp_digest digest;
} entry;

typedef struct entries {
    entry *items;
    int n;
} entries;

static void entries_free(entries *es)
{
    for (int i = 0; i < es->n; i++)
        free(es->items[i].path);
    free(es->items);
    es->items = NULL;
    es->n = 0;
}

static const entry *entries_find(const entries *es, const char *path)
{
    for (int i = 0; i < es->n; i++)
        if (strcmp(es->items[i].path, path) == 0)
            return &es->items[i];
    return NULL;
}

/* True for the files this module writes itself. */
static bool is_metadata_name(const char *path)
{
    static const char *const names[] = {README_NAME,          CFF_NAME,
                                        ZENODO_NAME,          CROISSANT_NAME,
                                        MTP_RELEASE_MANIFEST, MTP_RELEASE_SHA256SUMS,
                                        MTP_RELEASE_MD5SUMS,  NULL};
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(path, names[i]) == 0)
            return true;
    return false;
}

/* List and digest the files of dir. Digests in `reuse` are taken as they are for every path
 * found there that this module does not write (the data files do not change during a call,
 * and digesting gigabytes twice is the cost that matters here). */
/* Put path with digest d into the (path-sorted) list, replacing an entry of that path. */
static int entries_put(entries *es, const char *path, const mtp_digest *d, mtp_error *err)
{
    entry *same = (entry *)entries_find(es, path);
    if (same != NULL) {
        same->digest = *d;
        return 0;
    }
    entry *grown = realloc(es->items, (size_t)(es->n + 1) * sizeof *grown);
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
static int write_listed(strbuf *sb, const char *dir, const char *name, entries *files,
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
static int scan_dir(const char *dir, const mtp_release_info *info, entries *out, mtp_error *err)
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
        if (is_metadata_name(paths[i]))
            continue; /* an earlier build's, about to be replaced */
        entry *e = &out->items[out->n];
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
/* Small helpers shared by the writers */

/* The task a summary belongs to, or NULL. */
static const mtp_task *summary_task(const mtp_config *cfg, const mtp_bundle_summary *s)
{
    int t = mtp_config_task(cfg, s->task);
    return t < 0 ? NULL : &cfg->tasks[t];
}

static int64_t class_total(const mtp_split_summary *sp, int nclasses)
{
    int64_t total = 0;
    for (int c = 0; c < nclasses; c++)
        total += sp->class_counts[c];
    return total;
}

/* count / total rounded half away from zero to 6 decimals (0 when total is 0). */
static double rounded_fraction(int64_t count, int64_t total)
{
    if (total <= 0)
        return 0.0;
    return round((double)count / (double)total * 1e6) / 1e6;
}

static const char *source_url(const mtp_config *cfg, const mtp_release_info *info)
{
    return info->source_url != NULL ? info->source_url : cfg->source.url;
}

/* s without the first of `prefixes` (NULL-terminated) it starts with. */
static const char *strip_prefix(const char *s, const char *const *prefixes)
{
    for (int i = 0; prefixes[i] != NULL; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(s, prefixes[i], n) == 0)
            return s + n;
    }
    return s;
}

/* A DOI without a resolver prefix ("https://doi.org/10.1/x" -> "10.1/x"). */
static const char *doi_bare(const char *doi)
{
    static const char *const prefixes[] = {"https://doi.org/",
                                           "http://doi.org/",
                                           "https://dx.doi.org/",
                                           "http://dx.doi.org/",
                                           "doi:",
                                           NULL};
    return strip_prefix(doi, prefixes);
}

/* An ORCID iD without the https://orcid.org/ prefix. */
static const char *orcid_bare(const char *orcid)
{
    static const char *const prefixes[] = {"https://orcid.org/", "http://orcid.org/", NULL};
    return strip_prefix(orcid, prefixes);
}

/* The license's canonical URL for well-known SPDX ids, else NULL. */
static const char *license_url(const char *spdx)
{
    static const char *const map[][2] = {
        {"CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"},
        {"CC-BY-SA-4.0", "https://creativecommons.org/licenses/by-sa/4.0/"},
        {"CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/"},
        {"CC-BY-NC-SA-4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/"},
        {"CC-BY-ND-4.0", "https://creativecommons.org/licenses/by-nd/4.0/"},
        {"CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/"},
        {"ODbL-1.0", "https://opendatacommons.org/licenses/odbl/1-0/"},
        {"PDDL-1.0", "https://opendatacommons.org/licenses/pddl/1-0/"},
        {"MIT", "https://opensource.org/licenses/MIT"},
        {"Apache-2.0", "https://www.apache.org/licenses/LICENSE-2.0"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(spdx, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* Split "Family, Given" at the first comma: true with both parts trimmed and non-empty. */
static bool split_name(const char *name, char *family, size_t fn, char *given, size_t gn)
{
    const char *comma = strchr(name, ',');
    if (comma == NULL)
        return false;
    const char *f0 = name, *f1 = comma;
    while (*f0 == ' ')
        f0++;
    while (f1 > f0 && f1[-1] == ' ')
        f1--;
    const char *g0 = comma + 1, *g1 = name + strlen(name);
    while (*g0 == ' ')
        g0++;
    while (g1 > g0 && g1[-1] == ' ')
        g1--;
    if (f1 == f0 || g1 == g0 || (size_t)(f1 - f0) >= fn || (size_t)(g1 - g0) >= gn)
        return false;
    memcpy(family, f0, (size_t)(f1 - f0));
    family[f1 - f0] = '\0';
    memcpy(given, g0, (size_t)(g1 - g0));
    given[g1 - g0] = '\0';
    return true;
}

static bool venue_is_conference(const char *venue)
{
    static const char *const words[] = {"Conference", "Proceedings", "NeurIPS",
                                        "Workshop",   "Symposium",   NULL};
    for (int i = 0; words[i] != NULL; i++)
        if (strstr(venue, words[i]) != NULL)
            return true;
    return false;
}

/* ---------------------------------------------------------------------------------------- */
/* JSON construction: set failures are latched in *bad (jansson frees `value` on failure). */

static void jset(json_t *obj, const char *key, json_t *value, bool *bad)
{
    if (value == NULL || obj == NULL || json_object_set_new(obj, key, value) != 0)
        *bad = true;
}

static void jpush(json_t *arr, json_t *value, bool *bad)
{
    if (value == NULL || arr == NULL || json_array_append_new(arr, value) != 0)
        *bad = true;
}

static json_t *jstrings(const char (*items)[MTP_NAME_MAX], int n, bool *bad)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        jpush(arr, json_string(items[i]), bad);
    if (arr == NULL)
        *bad = true;
    return arr;
}

static json_t *jint_pair(int64_t a, int64_t b, bool *bad)
{
    json_t *arr = json_array();
    jpush(arr, json_integer(a), bad);
    jpush(arr, json_integer(b), bad);
    return arr;
}

/* Serialize with the fixed flags plus a trailing newline into sb. */
static void json_to_sb(const json_t *root, strbuf *sb)
{
    char *text = json_dumps(root, JSON_FLAGS);
    if (text == NULL) {
        sb->failed = true;
        return;
    }
    sb_puts(sb, text);
    sb_puts(sb, "\n");
    free(text);
}

/* ---------------------------------------------------------------------------------------- */
/* manifest.json */

static json_t *manifest_split(const mtp_bundle_summary *s, const mtp_split_summary *sp, bool *bad)
{
    json_t *o = json_object();
    jset(o, "name", json_string(sp->name), bad);
    jset(o, "count", json_integer(sp->count), bad);
    jset(o, "z_range", jint_pair(sp->z_range[0], sp->z_range[1], bad), bad);
    json_t *shape = json_array();
    for (int d = 0; d < sp->ndims && d < 4; d++)
        jpush(shape, json_integer(sp->shape[d]), bad);
    jset(o, "shape", shape, bad);
    bool balance = strcmp(s->kind, "features") != 0;
    int64_t total = class_total(sp, s->nclasses);
    json_t *counts = json_object(), *fractions = json_object();
    for (int c = 0; balance && c < s->nclasses; c++) {
        jset(counts, s->classes[c], json_integer(sp->class_counts[c]), bad);
        jset(fractions, s->classes[c], json_real(rounded_fraction(sp->class_counts[c], total)),
             bad);
    }
    jset(o, "class_counts", counts, bad);
    jset(o, "class_fraction", fractions, bad);
    json_t *regions = json_object();
    for (int r = 0; r < s->nregions; r++)
        jset(regions, s->regions[r], json_integer(sp->region_counts[r]), bad);
    jset(o, "region_counts", regions, bad);
    if (strcmp(s->kind, "classification") == 0 && sp->label_region_mismatches >= 0)
        jset(o, "label_region_mismatches", json_integer(sp->label_region_mismatches), bad);
    if (strcmp(s->kind, "features") == 0)
        jset(o, "target_rows", json_integer(sp->target_rows), bad);
    return o;
}

static int manifest_build(strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                          int nsummaries, const mtp_release_info *info, const entries *files)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    jset(root, "format", json_string(MTP_RELEASE_FORMAT), &bad);
    jset(root, "manifest_version", json_integer(MTP_RELEASE_MANIFEST_VERSION), &bad);
    jset(root, "name", json_string(rel->name), &bad);
    jset(root, "version", json_string(rel->version), &bad);
    jset(root, "title", json_string(rel->title), &bad);
    jset(root, "license", json_string(rel->license), &bad);
    if (rel->date[0] != '\0')
        jset(root, "date", json_string(rel->date), &bad);
    jset(root, "builder", json_string(info->builder), &bad);
    jset(root, "bundle_format_version", json_integer(info->bundle_format_version), &bad);
    jset(root, "config_sha256", json_string(cfg->sha256), &bad);

    json_t *source = json_object();
    jset(source, "url", json_string(source_url(cfg, info)), &bad);
    jset(source, "resolution", json_integer(cfg->source.resolution), &bad);
    json_t *channels = json_object();
    for (int c = 0; c < cfg->nchannels; c++)
        jset(channels, cfg->channels[c].name, json_string(cfg->channels[c].uri), &bad);
    jset(source, "channels", channels, &bad);
    jset(root, "source", source, &bad);

    json_t *voxel = json_array();
    for (int i = 0; i < 3; i++)
        jpush(voxel, json_real(info->voxel_size[i]), &bad);
    jset(root, "voxel_size", voxel, &bad);
    jset(root, "voxel_unit", json_string(info->voxel_unit), &bad);

    json_t *farr = json_array();
    for (int i = 0; i < files->n; i++) {
        const entry *e = &files->items[i];
        json_t *f = json_object();
        jset(f, "path", json_string(e->path), &bad);
        jset(f, "size", json_integer((json_int_t)e->digest.size), &bad);
        jset(f, "sha256", json_string(e->digest.sha256), &bad);
        jset(f, "md5", json_string(e->digest.md5), &bad);
        jpush(farr, f, &bad);
    }
    jset(root, "files", farr, &bad);

    json_t *tasks = json_array();
    for (int t = 0; t < nsummaries; t++) {
        const mtp_bundle_summary *s = &summaries[t];
        char file[MTP_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.h5", s->task);
        json_t *o = json_object();
        jset(o, "name", json_string(s->task), &bad);
        jset(o, "file", json_string(file), &bad);
        jset(o, "kind", json_string(s->kind), &bad);
        jset(o, "classes", jstrings(s->classes, s->nclasses, &bad), &bad);
        json_t *splits = json_array();
        for (int i = 0; i < s->nsplits; i++)
            jpush(splits, manifest_split(s, &s->splits[i], &bad), &bad);
        jset(o, "splits", splits, &bad);
        jpush(tasks, o, &bad);
    }
    jset(root, "tasks", tasks, &bad);
    if (!bad)
        json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* .zenodo.json */

static void html_escape(strbuf *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            sb_puts(sb, "&amp;");
            break;
        case '<':
            sb_puts(sb, "&lt;");
            break;
        case '>':
            sb_puts(sb, "&gt;");
            break;
        case '"':
            sb_puts(sb, "&quot;");
            break;
        case '\n':
            sb_puts(sb, " ");
            break;
        default:
            sb_append(sb, &s[i], 1);
            break;
        }
    }
}

/* The description as HTML: one <p> per paragraph (paragraphs end at blank lines). */
static void description_html(strbuf *sb, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        while (*p == '\n' || *p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *end = strstr(p, "\n\n");
        if (end == NULL)
            end = p + strlen(p);
        size_t n = (size_t)(end - p);
        while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == ' '))
            n--;
        sb_puts(sb, "<p>");
        html_escape(sb, p, n);
        sb_puts(sb, "</p>");
        p = end;
    }
}

static int zenodo_build(strbuf *sb, const mtp_config *cfg)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    jset(root, "title", json_string(rel->title), &bad);
    jset(root, "upload_type", json_string("dataset"), &bad);
    strbuf html = {0};
    description_html(&html, rel->description);
    if (html.failed)
        bad = true;
    jset(root, "description", json_string(html.data ? html.data : ""), &bad);
    free(html.data);

    json_t *creators = json_array();
    for (int i = 0; i < rel->ncreators; i++) {
        const mtp_person *p = &rel->creators[i];
        json_t *o = json_object();
        jset(o, "name", json_string(p->name), &bad);
        if (p->affiliation[0] != '\0')
            jset(o, "affiliation", json_string(p->affiliation), &bad);
        if (p->orcid[0] != '\0')
            jset(o, "orcid", json_string(orcid_bare(p->orcid)), &bad);
        jpush(creators, o, &bad);
    }
    jset(root, "creators", creators, &bad);

    char license[MTP_NAME_MAX];
    size_t i = 0;
    for (; rel->license[i] != '\0' && i + 1 < sizeof license; i++)
        license[i] =
            (char)(rel->license[i] >= 'A' && rel->license[i] <= 'Z' ? rel->license[i] - 'A' + 'a'
                                                                    : rel->license[i]);
    license[i] = '\0';
    jset(root, "license", json_string(license), &bad);
    jset(root, "keywords", jstrings(rel->keywords, rel->nkeywords, &bad), &bad);
    jset(root, "version", json_string(rel->version), &bad);
    if (rel->date[0] != '\0')
        jset(root, "publication_date", json_string(rel->date), &bad);

    json_t *related = json_array();
    int ndoi = 0;
    for (int c = 0; c < rel->ncitations; c++) {
        const mtp_citation *cit = &rel->citations[c];
        if (cit->doi[0] == '\0')
            continue;
        json_t *o = json_object();
        jset(o, "identifier", json_string(doi_bare(cit->doi)), &bad);
        jset(o, "relation", json_string(ndoi == 0 ? "isSupplementTo" : "cites"), &bad);
        jset(o, "scheme", json_string("doi"), &bad);
        jpush(related, o, &bad);
        ndoi++;
    }
    if (ndoi > 0)
        jset(root, "related_identifiers", related, &bad);
    else
        json_decref(related);

    json_t *refs = json_array();
    for (int c = 0; c < rel->ncitations; c++)
        jpush(refs, json_string(rel->citations[c].text), &bad);
    jset(root, "references", refs, &bad);
    if (!bad)
        json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* croissant.json (Croissant 1.0) */

static json_t *croissant_context(bool *bad)
{
    /* The context of the Croissant 1.0 specification, in its order. */
    static const char *const terms[][2] = {
        {"@language", "en"},
        {"@vocab", "https://schema.org/"},
        {"citeAs", "cr:citeAs"},
        {"column", "cr:column"},
        {"conformsTo", "dct:conformsTo"},
        {"cr", "http://mlcommons.org/croissant/"},
        {"rai", "http://mlcommons.org/croissant/RAI/"},
        {"data", NULL},
        {"dataType", NULL},
        {"dct", "http://purl.org/dc/terms/"},
        {"examples", NULL},
        {"extract", "cr:extract"},
        {"field", "cr:field"},
        {"fileProperty", "cr:fileProperty"},
        {"fileObject", "cr:fileObject"},
        {"fileSet", "cr:fileSet"},
        {"format", "cr:format"},
        {"includes", "cr:includes"},
        {"isLiveDataset", "cr:isLiveDataset"},
        {"jsonPath", "cr:jsonPath"},
        {"key", "cr:key"},
        {"md5", "cr:md5"},
        {"parentField", "cr:parentField"},
        {"path", "cr:path"},
        {"recordSet", "cr:recordSet"},
        {"references", "cr:references"},
        {"regex", "cr:regex"},
        {"repeated", "cr:repeated"},
        {"replace", "cr:replace"},
        {"sc", "https://schema.org/"},
        {"separator", "cr:separator"},
        {"source", "cr:source"},
        {"subField", "cr:subField"},
        {"transform", "cr:transform"},
    };
    json_t *ctx = json_object();
    for (size_t i = 0; i < sizeof terms / sizeof terms[0]; i++) {
        if (terms[i][1] != NULL) {
            jset(ctx, terms[i][0], json_string(terms[i][1]), bad);
            continue;
        }
        /* data and examples are JSON literals; dataType values are vocabulary terms. */
        bool vocab = strcmp(terms[i][0], "dataType") == 0;
        char id[64];
        snprintf(id, sizeof id, "cr:%s", terms[i][0]);
        json_t *o = json_object();
        jset(o, "@id", json_string(id), bad);
        jset(o, "@type", json_string(vocab ? "@vocab" : "@json"), bad);
        jset(ctx, terms[i][0], o, bad);
    }
    return ctx;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int croissant_build(strbuf *sb, const mtp_config *cfg, const mtp_release_info *info,
                           const entries *files)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    jset(root, "@context", croissant_context(&bad), &bad);
    jset(root, "@type", json_string("sc:Dataset"), &bad);
    jset(root, "conformsTo", json_string("http://mlcommons.org/croissant/1.0"), &bad);
    jset(root, "name", json_string(rel->name), &bad);
    jset(root, "description", json_string(rel->description), &bad);
    const char *lic = license_url(rel->license);
    jset(root, "license", json_string(lic != NULL ? lic : rel->license), &bad);
    jset(root, "url", json_string(rel->url[0] != '\0' ? rel->url : source_url(cfg, info)), &bad);
    if (rel->ncitations > 0)
        jset(root, "citeAs", json_string(rel->citations[0].text), &bad);
    jset(root, "version", json_string(rel->version), &bad);
    if (rel->date[0] != '\0')
        jset(root, "datePublished", json_string(rel->date), &bad);
    json_t *creators = json_array();
    for (int i = 0; i < rel->ncreators; i++) {
        const mtp_person *p = &rel->creators[i];
        json_t *o = json_object();
        jset(o, "@type", json_string("sc:Person"), &bad);
        jset(o, "name", json_string(p->name), &bad);
        if (p->affiliation[0] != '\0')
            jset(o, "affiliation", json_string(p->affiliation), &bad);
        if (p->orcid[0] != '\0') {
            char url[128];
            snprintf(url, sizeof url, "https://orcid.org/%s", orcid_bare(p->orcid));
            jset(o, "identifier", json_string(url), &bad);
        }
        jpush(creators, o, &bad);
    }
    jset(root, "creator", creators, &bad);
    jset(root, "keywords", jstrings(rel->keywords, rel->nkeywords, &bad), &bad);
    json_t *dist = json_array();
    for (int i = 0; i < files->n; i++) {
        const entry *e = &files->items[i];
        if (!has_suffix(e->path, ".h5"))
            continue;
        char size[32];
        snprintf(size, sizeof size, "%llu B", (unsigned long long)e->digest.size);
        json_t *o = json_object();
        jset(o, "@type", json_string("cr:FileObject"), &bad);
        jset(o, "@id", json_string(e->path), &bad);
        jset(o, "name", json_string(e->path), &bad);
        jset(o, "contentUrl", json_string(e->path), &bad);
        jset(o, "encodingFormat", json_string("application/x-hdf5"), &bad);
        jset(o, "contentSize", json_string(size), &bad);
        jset(o, "sha256", json_string(e->digest.sha256), &bad);
        jpush(dist, o, &bad);
    }
    jset(root, "distribution", dist, &bad);
    if (!bad)
        json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}

/* ---------------------------------------------------------------------------------------- */
/* CITATION.cff: YAML written by hand, every string double-quoted and escaped. */

static void yaml_quoted(strbuf *sb, const char *s)
{
    sb_puts(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            sb_puts(sb, "\\\"");
            break;
        case '\\':
            sb_puts(sb, "\\\\");
            break;
        case '\n':
            sb_puts(sb, "\\n");
            break;
        case '\t':
            sb_puts(sb, "\\t");
            break;
        case '\r':
            sb_puts(sb, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                sb_printf(sb, "\\x%02x", *p);
            else
                sb_append(sb, (const char *)p, 1);
        }
    }
    sb_puts(sb, "\"");
}

static void yaml_key_str(strbuf *sb, const char *indent, const char *key, const char *value)
{
    sb_printf(sb, "%s%s: ", indent, key);
    yaml_quoted(sb, value);
    sb_puts(sb, "\n");
}

/* One CFF person (or entity, when the name is not "Family, Given") as a list item. */
static void cff_person(strbuf *sb, const char *indent, const char *name, const char *affiliation,
                       const char *orcid)
{
    char family[MTP_TEXT_MAX], given[MTP_TEXT_MAX];
    char inner[32];
    snprintf(inner, sizeof inner, "%s  ", indent);
    if (split_name(name, family, sizeof family, given, sizeof given)) {
        yaml_key_str(sb, indent, "- family-names", family);
        yaml_key_str(sb, inner, "given-names", given);
    } else {
        yaml_key_str(sb, indent, "- name", name);
    }
    if (affiliation != NULL && affiliation[0] != '\0')
        yaml_key_str(sb, inner, "affiliation", affiliation);
    if (orcid != NULL && orcid[0] != '\0') {
        char url[128];
        snprintf(url, sizeof url, "https://orcid.org/%s", orcid_bare(orcid));
        yaml_key_str(sb, inner, "orcid", url);
    }
}

static void cff_build(strbuf *sb, const mtp_config *cfg)
{
    const mtp_release *rel = &cfg->release;
    sb_puts(sb,
            "# This CITATION.cff file was generated by mtneuro-pack from the release config.\n");
    sb_puts(sb, "cff-version: 1.2.0\n");
    yaml_key_str(sb, "", "message",
                 "If you use this dataset, please cite it using the metadata from this file, "
                 "and cite the papers listed under references.");
    sb_puts(sb, "type: dataset\n");
    yaml_key_str(sb, "", "title", rel->title);
    yaml_key_str(sb, "", "version", rel->version);
    yaml_key_str(sb, "", "license", rel->license);
    if (rel->date[0] != '\0')
        yaml_key_str(sb, "", "date-released", rel->date);
    if (rel->url[0] != '\0')
        yaml_key_str(sb, "", "url", rel->url);
    yaml_key_str(sb, "", "abstract", rel->description);
    sb_puts(sb, "authors:\n");
    for (int i = 0; i < rel->ncreators; i++)
        cff_person(sb, "  ", rel->creators[i].name, rel->creators[i].affiliation,
                   rel->creators[i].orcid);
    if (rel->nkeywords > 0) {
        sb_puts(sb, "keywords:\n");
        for (int i = 0; i < rel->nkeywords; i++) {
            sb_puts(sb, "  - ");
            yaml_quoted(sb, rel->keywords[i]);
            sb_puts(sb, "\n");
        }
    }
    int nrefs = 0;
    for (int c = 0; c < rel->ncitations; c++) {
        const mtp_citation *cit = &rel->citations[c];
        if (cit->title[0] == '\0' || cit->nauthors == 0)
            continue; /* CFF requires both; the text still goes to README and .zenodo.json */
        if (nrefs++ == 0)
            sb_puts(sb, "references:\n");
        bool conference = cit->venue[0] != '\0' && venue_is_conference(cit->venue);
        sb_printf(sb, "  - type: %s\n", conference ? "conference-paper" : "article");
        yaml_key_str(sb, "    ", "title", cit->title);
        sb_puts(sb, "    authors:\n");
        for (int a = 0; a < cit->nauthors; a++)
            cff_person(sb, "      ", cit->authors[a], NULL, NULL);
        if (cit->year > 0)
            sb_printf(sb, "    year: %d\n", cit->year);
        if (cit->venue[0] != '\0' && conference) {
            sb_puts(sb, "    conference:\n");
            yaml_key_str(sb, "      ", "name", cit->venue);
        } else if (cit->venue[0] != '\0') {
            yaml_key_str(sb, "    ", "journal", cit->venue);
        }
        if (cit->doi[0] != '\0')
            yaml_key_str(sb, "    ", "doi", doi_bare(cit->doi));
    }
}

/* ---------------------------------------------------------------------------------------- */
/* README.md: the datasheet */

/* A table cell: '|' would end the cell, newlines the row. */
static void md_cell(strbuf *sb, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '|')
            sb_puts(sb, "\\|");
        else if (*p == '\n')
            sb_puts(sb, " ");
        else
            sb_append(sb, p, 1);
    }
}

/* "270 (25.09 %)": integer arithmetic, so no locale can turn the point into a comma. */
static void md_percent(strbuf *sb, int64_t count, int64_t total)
{
    int64_t bp = 0; /* basis points, rounded half up */
    if (total > 0 && count >= 0 && count <= INT64_MAX / 20000)
        bp = (count * 20000 + total) / (2 * total);
    else if (total > 0)
        bp = (int64_t)llround((double)count / (double)total * 10000.0);
    sb_printf(sb, "%" PRId64 " (%" PRId64 ".%02" PRId64 " %%)", count, bp / 100, bp % 100);
}

/* A real as %g with a '.' whatever LC_NUMERIC says (the tool may call setlocale). */
static void sb_real(strbuf *sb, double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%g", x);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == ',')
            *p = '.';
    sb_puts(sb, buf);
}

static void readme_source(strbuf *sb, const mtp_config *cfg, const mtp_release_info *info)
{
    sb_puts(sb, "## Where the data came from\n\n");
    sb_printf(sb, "- Source: %s (BossDB API), resolution level %d\n", source_url(cfg, info),
              cfg->source.resolution);
    sb_puts(sb, "- Voxel size (z, y, x): ");
    for (int i = 0; i < 3; i++) {
        sb_real(sb, info->voxel_size[i]);
        sb_puts(sb, i < 2 ? " × " : " ");
    }
    sb_printf(sb, "%s\n", info->voxel_unit);
    sb_printf(sb, "- Config: `config.yaml`, the exact file used (token removed), SHA-256 `%s`\n",
              cfg->sha256);
    sb_printf(sb, "- Built by %s, bundle format version %d\n\n", info->builder,
              info->bundle_format_version);
    sb_puts(sb, "| channel | BossDB URI |\n|---|---|\n");
    for (int c = 0; c < cfg->nchannels; c++) {
        sb_puts(sb, "| ");
        md_cell(sb, cfg->channels[c].name);
        sb_printf(sb, " | `%s` |\n", cfg->channels[c].uri);
    }
    sb_puts(sb, "\nArrays keep BossDB's orientation: (z, y, x), so a slice is indexed [y, x].\n\n");
}

static void readme_regions(strbuf *sb, const mtp_config *cfg)
{
    sb_puts(sb, "## Regions\n\n");
    sb_printf(sb,
              "Boxes in voxel coordinates at resolution %d, half-open ranges; every task uses "
              "them over z [%" PRId64 ", %" PRId64 ").\n\n",
              cfg->source.resolution, cfg->z.start, cfg->z.stop);
    sb_puts(sb, "| region | x | y |\n|---|---|---|\n");
    for (int r = 0; r < cfg->nregions; r++) {
        const mtp_region *reg = &cfg->regions[r];
        sb_puts(sb, "| ");
        md_cell(sb, reg->name);
        sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | [%" PRId64 ", %" PRId64 ") |\n",
                  reg->x.start, reg->x.stop, reg->y.start, reg->y.stop);
    }
    sb_puts(sb, "\n");
}

/* True when split a's range holds another split's range entirely (e.g. "all"). */
static bool split_contains_other(const mtp_config *cfg, int a)
{
    for (int b = 0; b < cfg->nsplits; b++) {
        if (b == a)
            continue;
        const mtp_range *ra = &cfg->splits[a].z, *rb = &cfg->splits[b].z;
        if (ra->start <= rb->start && rb->stop <= ra->stop &&
            !(ra->start == rb->start && ra->stop == rb->stop))
            return true;
    }
    return false;
}

static void readme_splits(strbuf *sb, const mtp_config *cfg)
{
    sb_puts(sb, "## Splits\n\nFixed z ranges, half-open; no randomness.\n\n");
    sb_puts(sb, "| split | z | slices per region |\n|---|---|---|\n");
    for (int i = 0; i < cfg->nsplits; i++) {
        const mtp_split *sp = &cfg->splits[i];
        sb_puts(sb, "| ");
        md_cell(sb, sp->name);
        sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | %" PRId64 " |\n", sp->z.start, sp->z.stop,
                  sp->z.stop - sp->z.start);
    }
    /* Gaps: between consecutive splits that do not hold other splits, sorted by start. */
    int order[MTP_MAX_SPLITS], n = 0;
    for (int i = 0; i < cfg->nsplits; i++)
        if (!split_contains_other(cfg, i))
            order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && cfg->splits[order[j]].z.start < cfg->splits[order[j - 1]].z.start;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int ngaps = 0;
    for (int i = 1; i < n; i++) {
        const mtp_split *a = &cfg->splits[order[i - 1]], *b = &cfg->splits[order[i]];
        if (a->z.stop >= b->z.start)
            continue;
        sb_puts(sb, ngaps++ == 0 ? "\nSlices in no split: " : ", ");
        if (b->z.start - a->z.stop == 1)
            sb_printf(sb, "z %" PRId64, a->z.stop);
        else
            sb_printf(sb, "z %" PRId64 "–%" PRId64, a->z.stop, b->z.start - 1);
        sb_printf(sb, " (between %s and %s)", a->name, b->name);
    }
    if (ngaps > 0)
        sb_puts(sb, ". These gaps keep neighbouring splits structurally apart, so no sample "
                    "of one split is a neighbouring slice of a sample of another.\n");
    sb_puts(sb, "\n");
}

static void readme_class_list(strbuf *sb, const mtp_task *t)
{
    for (int c = 0; c < t->nclasses; c++)
        sb_printf(sb, "%s%d %s", c ? ", " : "", c, t->classes[c]);
}

static void readme_task_splits(strbuf *sb, const mtp_bundle_summary *s)
{
    sb_puts(sb, "| split | z | samples | images shape |\n|---|---|---|---|\n");
    for (int i = 0; i < s->nsplits; i++) {
        const mtp_split_summary *sp = &s->splits[i];
        sb_puts(sb, "| ");
        md_cell(sb, sp->name);
        sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | %" PRId64 " | (", sp->z_range[0],
                  sp->z_range[1], sp->count);
        for (int d = 0; d < sp->ndims && d < 4; d++)
            sb_printf(sb, "%s%" PRId64, d ? ", " : "", sp->shape[d]);
        sb_puts(sb, ") |\n");
    }
    sb_puts(sb, "\n");
}

static void readme_classification(strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                                  const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    if (strcmp(t->rule, "roi_mode") == 0)
        sb_printf(
            sb,
            "Label rule `roi_mode` (as in the reference): the most frequent code of `%s` "
            "(`%s`) in the tile, ties going to the smallest code, then mapped to a class:\n\n",
            ch->name, ch->uri);
    else
        sb_printf(sb, "Label rule `%s` on `%s` (`%s`), then mapped to a class:\n\n", t->rule,
                  ch->name, ch->uri);
    sb_puts(sb, "| class | source codes |\n|---|---|\n");
    for (int c = 0; c < t->nclasses; c++) {
        sb_printf(sb, "| %d ", c);
        md_cell(sb, t->classes[c]);
        sb_puts(sb, " | ");
        int n = 0;
        for (int code = 0; code < MTP_MAX_CODES; code++)
            if (t->code_class[code] == c)
                sb_printf(sb, "%s%d", n++ ? ", " : "", code);
        sb_puts(sb, " |\n");
    }
    sb_puts(sb, "\n");
    if (strcmp(t->rule, "roi_mode") != 0)
        return;
    sb_puts(sb, "Known quirk of the source: the ROI annotation is empty (code 0) for z ≥ ~460, so "
                "tiles there get code 0");
    if (t->code_class[0] >= 0 && t->code_class[0] < t->nclasses)
        sb_printf(sb, " and hence class \"%s\"", t->classes[t->code_class[0]]);
    sb_puts(sb, " whatever region they come from. This release keeps that reference label in "
                "`labels` (so published numbers stay comparable) and stores each tile's true "
                "region in `region`. Tiles whose label is not their region:");
    for (int i = 0; i < s->nsplits; i++) {
        const mtp_split_summary *sp = &s->splits[i];
        sb_printf(sb, "%s %s ", i ? "," : "", sp->name);
        if (sp->label_region_mismatches >= 0)
            sb_printf(sb, "%" PRId64 " of %" PRId64, sp->label_region_mismatches, sp->count);
        else
            sb_puts(sb, "not recorded");
    }
    sb_puts(sb, ".\n\n");
}

/* "33" when every listed region has the same count, else "cortex 33, striatum 32". */
static void readme_region_counts(strbuf *sb, const mtp_bundle_summary *s,
                                 const mtp_split_summary *sp)
{
    int64_t first = -1;
    bool same = true;
    for (int r = 0; r < s->nregions; r++) {
        if (sp->region_counts[r] == 0)
            continue;
        if (first < 0)
            first = sp->region_counts[r];
        else if (sp->region_counts[r] != first)
            same = false;
    }
    if (same) {
        sb_printf(sb, "%" PRId64, first < 0 ? 0 : first);
        return;
    }
    int n = 0;
    for (int r = 0; r < s->nregions; r++)
        if (sp->region_counts[r] != 0)
            sb_printf(sb, "%s%s %" PRId64, n++ ? ", " : "", s->regions[r], sp->region_counts[r]);
}

static void readme_segmentation(strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                                const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    sb_printf(sb,
              "Target: `masks`, one class per pixel, from `%s` (`%s`), code by code:\n\n"
              "| source code | class |\n|---|---|\n",
              ch->name, ch->uri);
    for (int code = 0; code < MTP_MAX_CODES; code++) {
        int c = t->code_class[code];
        if (c < 0 || c >= t->nclasses)
            continue;
        sb_printf(sb, "| %d | %d ", code, c);
        md_cell(sb, t->classes[c]);
        sb_puts(sb, code == c ? " |\n" : " (remapped) |\n");
    }
    sb_puts(sb, "\n");
    if (t->depth <= 1)
        return;
    sb_printf(sb,
              "3-D samples: each region's part of a split is cut into windows of %d consecutive "
              "slices, starting at the split's first slice; a window never leaves its region or "
              "its split, and a last partial window is dropped. Windows per region:",
              t->depth);
    for (int i = 0; i < s->nsplits; i++) {
        sb_printf(sb, "%s %s ", i ? "," : "", s->splits[i].name);
        readme_region_counts(sb, s, &s->splits[i]);
    }
    sb_printf(sb,
              ". The reference loader instead steps by %d over the regions' slices one after "
              "another and lets the last window of a region run into the next region's data; "
              "this release does not mix regions.\n\n",
              t->depth);
}

static void readme_features(strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                            const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    sb_printf(sb,
              "Targets: `targets`, one row per quadrant of %d × %d pixels of each slice, from "
              "`%s` (`%s`): vessel_pct and axon_pct (percent of the quadrant's pixels), "
              "cell_count, mean_cell_area (pixels), mean_nn_distance (pixels between cell "
              "centroids; 64 when the quadrant has fewer than 2 cells). Cells are 3-D connected "
              "components of class \"cell\" (6-connectivity) over each region's stack of slices; "
              "a quadrant's cells are those with a voxel in it. Rows:",
              t->quadrant, t->quadrant, ch->name, ch->uri);
    for (int i = 0; i < s->nsplits; i++)
        sb_printf(sb, "%s %s %" PRId64, i ? "," : "", s->splits[i].name, s->splits[i].target_rows);
    sb_puts(sb, ".\n\n");
    sb_puts(sb, "Where this differs from the reference code (which computes these targets at "
                "evaluation time): the reference labels connected components over all regions "
                "stacked into one volume, so a cell touching the edge of one region's stack can "
                "join a cell of the next region; here each region's stack is labelled on its own. "
                "The reference's nearest-neighbour distance averages in each cell's zero distance "
                "to itself, which roughly halves the value; here each cell's distance is to the "
                "nearest other cell. The R² of a linear readout is unaffected by such a scaling, "
                "but absolute values are not comparable.\n\n");
}

static void readme_tasks(strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                         int nsummaries)
{
    sb_puts(sb, "## Tasks and how labels were derived\n\n");
    sb_puts(sb, "Samples are ordered region by region (config order), z ascending within a "
                "region. Every split group holds `images` (uint8), `region` (enum: the region "
                "each sample came from) and `origin` (absolute (z, y, x) corner of each sample); "
                "classification tasks add `labels` (enum), segmentation tasks `masks` (uint8, "
                "same shape as `images`). Images are stored as uint8; the reference feeds models "
                "images / 255 as float32.\n\n");
    for (int i = 0; i < nsummaries; i++) {
        const mtp_bundle_summary *s = &summaries[i];
        const mtp_task *t = summary_task(cfg, s);
        sb_printf(sb, "### %s (%s): `%s.h5`\n\n", s->task, s->kind, s->task);
        const mtp_region *r0 = NULL;
        for (int r = 0; r < cfg->nregions && r0 == NULL; r++)
            if (!t->excluded[r])
                r0 = &cfg->regions[r];
        int64_t h = r0 ? r0->y.stop - r0->y.start : 0, w = r0 ? r0->x.stop - r0->x.start : 0;
        if (t->depth > 1)
            sb_printf(sb,
                      "Input: a window of %d consecutive slices (%d × %" PRId64 " × %" PRId64 "). ",
                      t->depth, t->depth, h, w);
        else
            sb_printf(sb, "Input: one %" PRId64 " × %" PRId64 " slice. ", h, w);
        sb_puts(sb, "Classes: ");
        readme_class_list(sb, t);
        sb_puts(sb, ". Regions: ");
        int nex = 0;
        for (int r = 0; r < cfg->nregions; r++)
            if (t->excluded[r])
                nex++;
        if (nex == 0) {
            sb_puts(sb, "all.\n\n");
        } else {
            sb_puts(sb, "all but ");
            int k = 0;
            for (int r = 0; r < cfg->nregions; r++)
                if (t->excluded[r])
                    sb_printf(sb, "%s%s", k++ ? ", " : "", cfg->regions[r].name);
            sb_puts(sb, " (left out).\n\n");
        }
        readme_task_splits(sb, s);
        if (t->kind == MTP_TASK_CLASSIFICATION)
            readme_classification(sb, cfg, t, s);
        else if (t->kind == MTP_TASK_SEGMENTATION)
            readme_segmentation(sb, cfg, t, s);
        else
            readme_features(sb, cfg, t, s);
    }
}

static void file_role(strbuf *sb, const char *path, const mtp_bundle_summary *summaries, int n)
{
    for (int i = 0; i < n; i++) {
        char name[MTP_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.h5", summaries[i].task);
        if (strcmp(path, name) != 0)
            continue;
        const mtp_bundle_summary *s = &summaries[i];
        sb_printf(sb, ": %s, %s", s->task, s->kind);
        for (int k = 0; k < s->nsplits; k++)
            sb_printf(sb, "%s %s %" PRId64, k ? "," : ";", s->splits[k].name, s->splits[k].count);
        if (s->nsplits > 0)
            sb_puts(sb, " samples");
        return;
    }
    if (strcmp(path, "volumes.h5") == 0)
        sb_puts(sb, ": raw region cubes of every channel, (z, y, x), for defining your own tasks");
    else if (strcmp(path, "config.yaml") == 0)
        sb_puts(sb, ": the config this release was built from (token removed)");
    else if (strncmp(path, "previews/", 9) == 0 && has_suffix(path, ".png"))
        sb_puts(sb, ": preview montage");
}

static void readme_files(strbuf *sb, const entries *files, const mtp_bundle_summary *summaries,
                         int nsummaries)
{
    sb_puts(sb, "## Files\n\n");
    for (int i = 0; i < files->n; i++) {
        const entry *e = &files->items[i];
        if (is_metadata_name(e->path))
            continue;
        sb_printf(sb, "- `%s` (%llu bytes)", e->path, (unsigned long long)e->digest.size);
        file_role(sb, e->path, summaries, nsummaries);
        sb_puts(sb, "\n");
    }
    sb_puts(sb, "- `README.md`: this datasheet\n"
                "- `manifest.json`: every file's size, SHA-256 and MD5; tasks, splits, counts "
                "and class balance\n"
                "- `SHA256SUMS`, `MD5SUMS`: checksums of every other file; check with "
                "`sha256sum -c SHA256SUMS` or `mtneuro-pack verify .`\n"
                "- `CITATION.cff`, `.zenodo.json`, `croissant.json`: citation and catalogue "
                "metadata\n\n");
}

static void readme_reading(strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                           int nsummaries)
{
    sb_puts(sb, "## How to read it\n\n");
    sb_puts(sb, "The files are plain HDF5 (deflate compression where compressed), readable "
                "with h5py, h5dump, HDFView or any HDF5 library without plugins.\n\n");
    const mtp_bundle_summary *cls = NULL, *seg = NULL;
    for (int i = 0; i < nsummaries; i++) {
        if (cls == NULL && strcmp(summaries[i].kind, "classification") == 0 &&
            summaries[i].nsplits > 0)
            cls = &summaries[i];
        if (seg == NULL && strcmp(summaries[i].kind, "segmentation") == 0 &&
            summaries[i].nsplits > 0)
            seg = &summaries[i];
    }
    sb_puts(sb, "```python\nimport h5py\nimport numpy as np\n");
    if (cls != NULL) {
        const mtp_split_summary *sp = &cls->splits[0];
        sb_printf(sb,
                  "\nwith h5py.File(\"%s.h5\", \"r\") as f:\n"
                  "    images = f[\"%s/images\"][:]   # uint8, shape (%" PRId64 ", %" PRId64
                  ", %" PRId64 ")\n"
                  "    labels = f[\"%s/labels\"][:]   # class index per sample\n"
                  "    region = f[\"%s/region\"][:]   # region index per sample\n"
                  "    print(h5py.check_enum_dtype(f[\"%s/labels\"].dtype))  # class name -> "
                  "index\n"
                  "    x = images.astype(np.float32) / 255  # model input as in the reference\n",
                  cls->task, sp->name, sp->shape[0], sp->shape[1], sp->shape[2], sp->name, sp->name,
                  sp->name);
    }
    if (seg != NULL) {
        const mtp_split_summary *sp = &seg->splits[0];
        sb_printf(sb,
                  "\nwith h5py.File(\"%s.h5\", \"r\") as f:\n"
                  "    images = f[\"%s/images\"][:]   # uint8\n"
                  "    masks = f[\"%s/masks\"][:]     # class index per pixel, same shape\n"
                  "    print(images.shape, list(f[\"%s/masks\"].attrs[\"classes\"]))\n"
                  "    print(h5py.check_enum_dtype(f[\"%s/region\"].dtype))  # region name -> "
                  "index\n",
                  seg->task, sp->name, sp->name, sp->name, sp->name);
    }
    sb_puts(sb, "```\n\n"
                "`h5dump -H FILE.h5` shows every dataset with its attributes (axes, units, "
                "descriptions); the root attributes repeat the source, license and citation.\n\n");
}

static void readme_balance(strbuf *sb, const mtp_bundle_summary *summaries, int nsummaries)
{
    sb_puts(sb, "## Class balance\n\n");
    for (int i = 0; i < nsummaries; i++) {
        const mtp_bundle_summary *s = &summaries[i];
        if (strcmp(s->kind, "features") == 0 || s->nsplits == 0)
            continue;
        bool cls = strcmp(s->kind, "classification") == 0;
        sb_printf(sb, "### %s (%s per class)\n\n| class |", s->task,
                  cls ? "samples" : "mask pixels");
        for (int k = 0; k < s->nsplits; k++) {
            sb_puts(sb, " ");
            md_cell(sb, s->splits[k].name);
            sb_puts(sb, " |");
        }
        sb_puts(sb, "\n|---|");
        for (int k = 0; k < s->nsplits; k++)
            sb_puts(sb, "---|");
        sb_puts(sb, "\n");
        for (int c = 0; c < s->nclasses; c++) {
            sb_puts(sb, "| ");
            md_cell(sb, s->classes[c]);
            sb_puts(sb, " |");
            for (int k = 0; k < s->nsplits; k++) {
                const mtp_split_summary *sp = &s->splits[k];
                sb_puts(sb, " ");
                md_percent(sb, sp->class_counts[c], class_total(sp, s->nclasses));
                sb_puts(sb, " |");
            }
            sb_puts(sb, "\n");
        }
        sb_puts(sb, "\n");
    }
}

static void readme_baselines(strbuf *sb)
{
    sb_puts(sb, "## Published baseline results\n\n"
                "For comparison, the numbers the MTNeuro paper (Quesada et al., NeurIPS 2022 "
                "Datasets and Benchmarks) reports on the real prasad2020 data. They are the "
                "paper's numbers, not measured on this release; a release built from other data "
                "(such as the demo's synthetic volume) will not reproduce them.\n\n"
                "| task | metric | model | result |\n|---|---|---|---|\n"
                "| Task 1 (region classification) | accuracy (ROI-C1) | supervised | 0.88 |\n"
                "| Task 1 (region classification) | accuracy (ROI-C1) | MYOW-m | 0.94 |\n"
                "| Task 2 2D, 3-class | mean F1 | U-Net | 0.87 |\n"
                "| Task 2 2D, 4-class | mean F1 | U-Net | 0.90 |\n"
                "| Task 3 | R² vessels (ROI-C1) | BYOL | 0.85 |\n"
                "| Task 3 | R² axons (ROI-C1) | BYOL | 0.94 |\n"
                "| Task 3 | R² cell count (ROI-C1) | BYOL | 0.75 |\n\n");
}

static void readme_license_cite(strbuf *sb, const mtp_config *cfg)
{
    const mtp_release *rel = &cfg->release;
    const char *url = license_url(rel->license);
    sb_printf(sb, "## License\n\nThe data are licensed under %s", rel->license);
    if (url != NULL)
        sb_printf(sb, " (%s)", url);
    sb_puts(sb, ".\n\n## How to cite\n\n");
    if (rel->ncitations > 0) {
        sb_puts(sb, "If you use these data, cite:\n\n");
        for (int c = 0; c < rel->ncitations; c++) {
            sb_printf(sb, "- %s", rel->citations[c].text);
            if (rel->citations[c].doi[0] != '\0')
                sb_printf(sb, " https://doi.org/%s", doi_bare(rel->citations[c].doi));
            sb_puts(sb, "\n");
        }
        sb_puts(sb, "\n");
    }
    sb_puts(sb, "Cite this release: ");
    for (int i = 0; i < rel->ncreators; i++)
        sb_printf(sb, "%s%s", i ? "; " : "", rel->creators[i].name);
    if (rel->date[0] != '\0')
        sb_printf(sb, " (%.4s)", rel->date);
    sb_printf(sb, ". %s (version %s) [Data set].", rel->title, rel->version);
    if (rel->url[0] != '\0')
        sb_printf(sb, " %s", rel->url);
    sb_puts(sb, "\n\n`CITATION.cff` and `.zenodo.json` carry the same information in machine-"
                "readable form.\n");
}

static void readme_build(strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                         int nsummaries, const mtp_release_info *info, const entries *files)
{
    const mtp_release *rel = &cfg->release;
    sb_printf(sb, "# %s\n\n", rel->title);
    sb_printf(sb,
              "Release `%s` version %s. This datasheet was generated by %s from the files "
              "it describes; every count in it is read from them.\n\n",
              rel->name, rel->version, info->builder);
    sb_printf(sb, "## What this is\n\n%s", rel->description);
    if (rel->description[0] != '\0' && !has_suffix(rel->description, "\n"))
        sb_puts(sb, "\n");
    sb_puts(sb, "\n");
    readme_source(sb, cfg, info);
    readme_regions(sb, cfg);
    readme_splits(sb, cfg);
    readme_tasks(sb, cfg, summaries, nsummaries);
    readme_files(sb, files, summaries, nsummaries);
    readme_reading(sb, cfg, summaries, nsummaries);
    readme_balance(sb, summaries, nsummaries);
    readme_baselines(sb);
    readme_license_cite(sb, cfg);
}

/* ---------------------------------------------------------------------------------------- */
/* SHA256SUMS / MD5SUMS */

static int sums_build(strbuf *sb, const entries *files, bool md5, mtp_error *err)
{
    for (int i = 0; i < files->n; i++) {
        const entry *e = &files->items[i];
        char line[MTP_RELEASE_MAX_PATH + 80];
        int rc = mtp_digest_sums_line(line, sizeof line, md5 ? e->digest.md5 : e->digest.sha256,
                                      e->path, err);
        if (rc < 0)
            return rc;
        sb_puts(sb, line);
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
        if (summary_task(cfg, s) == NULL)
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
    entries files = {NULL, 0};
    strbuf sb = {0};

    rc = scan_dir(dir, info, &files, err);
    if (rc < 0)
        goto out;
    /* Refuse names the SUMS files cannot carry before anything is written. */
    for (int i = 0; i < files.n; i++) {
        if (strpbrk(files.items[i].path, "\n\r\\") != NULL) {
            rc = mtp_error_set(err, MTP_EINVAL,
                               "%s/%s: a file name with a newline or backslash cannot be listed "
                               "in SHA256SUMS",
                               dir, files.items[i].path);
            goto out;
        }
    }

    /* Each metadata file joins the list as it is written: the README and croissant.json
     * describe the data files only, the manifest also the metadata written before it, and
     * the SUMS everything. */
    readme_build(&sb, cfg, summaries, nsummaries, info, &files);
    rc = write_listed(&sb, dir, README_NAME, &files, err);
    if (rc == 0) {
        cff_build(&sb, cfg);
        rc = write_listed(&sb, dir, CFF_NAME, &files, err);
    }
    if (rc == 0) {
        if (zenodo_build(&sb, cfg) < 0)
            sb.failed = true;
        rc = write_listed(&sb, dir, ZENODO_NAME, &files, err);
    }
    if (rc == 0) {
        if (croissant_build(&sb, cfg, info, &files) < 0)
            sb.failed = true;
        rc = write_listed(&sb, dir, CROISSANT_NAME, &files, err);
    }
    if (rc == 0) {
        if (manifest_build(&sb, cfg, summaries, nsummaries, info, &files) < 0)
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
