#include "mtp/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "mtp/tarball.h"
#include "mtp/digest.h"
#include "mtp/h5check.h"
#include "mtp/h5read.h"
#include "mtp/isolate.h"
#include "mtp/release.h"
#include "mtp/summary.h"

#define LINE_MAX_LEN 2048
#define SHOWN_HEX 12 /* digest digits shown in a mismatch line */

typedef struct file_rec {
    char *path; /* relative to the release's top, owned */
    mtp_digest digest;
    bool listed; /* in manifest.json's files */
} file_rec;

typedef struct verifier {
    const char *path; /* the directory or archive given */
    bool archive;
    mtp_verify_problem_fn fn;
    void *userdata;
    mtp_verify_result *result;
    file_rec *files; /* sorted by path; SUMS files excluded */
    int nfiles, cap;
    json_t *manifest;  /* NULL when missing, unparsable or of another format */
    char tmpdir[4096]; /* "" until an archive member needs extracting */
} verifier;

static void report(verifier *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(verifier *v, const char *fmt, ...)
{
    char line[LINE_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    v->result->nproblems++;
    if (v->fn != NULL)
        v->fn(v->userdata, line);
}

/* err->msg without a leading "<prefix>: " or "<prefix>/" (the library's messages name the
 * path they read, which for an archive member is a temporary file the user never sees, and
 * problem lines name files relative to the release). */
static const char *strip_prefix(const mtp_error *err, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(err->msg, prefix, n) != 0)
        return err->msg;
    if (strncmp(err->msg + n, ": ", 2) == 0)
        return err->msg + n + 2;
    if (err->msg[n] == '/')
        return err->msg + n + 1;
    return err->msg;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static bool is_sums(const char *rel)
{
    return strcmp(rel, MTP_RELEASE_SHA256SUMS) == 0 || strcmp(rel, MTP_RELEASE_MD5SUMS) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The files present, with digests */

static int add_file(verifier *v, const char *rel, const mtp_digest *d, mtp_error *err)
{
    if (v->nfiles >= MTP_TREE_MAX_ENTRIES)
        return mtp_error_set(err, MTP_ERANGE, "%s: more than %d files", v->path,
                             MTP_TREE_MAX_ENTRIES);
    if (v->nfiles == v->cap) {
        int cap = v->cap ? v->cap * 2 : 64;
        file_rec *p = realloc(v->files, (size_t)cap * sizeof *p);
        if (p == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", v->path);
        v->files = p;
        v->cap = cap;
    }
    char *copy = strdup(rel);
    if (copy == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", v->path);
    v->files[v->nfiles++] = (file_rec){copy, *d, false};
    return 0;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const file_rec *)a)->path, ((const file_rec *)b)->path);
}

static file_rec *find_file(verifier *v, const char *rel)
{
    file_rec key = {(char *)rel, {{0}, {0}, 0}, false};
    if (v->nfiles == 0)
        return NULL;
    return bsearch(&key, v->files, (size_t)v->nfiles, sizeof *v->files, cmp_file);
}

/* Directory: walk and digest. Returns < 0 only when verification cannot go on. */
static int collect_dir(verifier *v, bool *stop, mtp_error *err)
{
    char **paths = NULL;
    int n = 0;
    mtp_error local = MTP_ERROR_INIT;
    int rc = mtp_release_list_files(v->path, &paths, &n, &local);
    if (rc == MTP_EFORMAT) {
        /* A symlink, special file or unprintable name: a finding, and the listing is incomplete
         * without it. */
        report(v, "%s", strip_prefix(&local, v->path));
        *stop = true;
        return 0;
    }
    if (rc < 0) {
        *err = local;
        return rc;
    }
    for (int i = 0; i < n && rc == 0; i++) {
        char full[MTP_RELEASE_MAX_PATH + 8];
        snprintf(full, sizeof full, "%s/%s", v->path, paths[i]);
        mtp_digest d;
        rc = mtp_digest_file(full, &d, &local);
        if (rc == 0) {
            rc = add_file(v, paths[i], &d, err);
        } else if (rc == MTP_EIO || rc == MTP_EFORMAT) {
            report(v, "%s: %s", paths[i], strip_prefix(&local, full));
            rc = 0;
        } else {
            *err = local;
        }
    }
    mtp_release_files_free(paths, n);
    return rc;
}

typedef struct scan_ctx {
    verifier *v;
    mtp_error *err;
    int rc;
} scan_ctx;

static int on_entry(const char *path, const mtp_digest *digest, void *userdata)
{
    scan_ctx *sc = userdata;
    if (is_sums(path))
        return 0;
    if (strchr(path, '/') != NULL)
        report(sc->v, "%s: in a folder; a release is flat (a Zenodo record has no folders)", path);
    sc->rc = add_file(sc->v, path, digest, sc->err);
    return sc->rc < 0 ? 1 : 0;
}

static int collect_archive(verifier *v, bool *stop, mtp_error *err)
{
    mtp_error local = MTP_ERROR_INIT;
    scan_ctx sc = {v, err, 0};
    int rc = mtp_archive_scan(v->path, on_entry, &sc, &local);
    if (rc == 1)
        return sc.rc;
    if (rc == MTP_EIO || rc == MTP_ENOMEM) {
        *err = local;
        return rc;
    }
    if (rc < 0) {
        report(v, "%s", local.msg);
        *stop = true;
    }
    return 0;
}

/* The record limits, counted over what is there: the files found plus the two SUMS. */
static void check_limits(verifier *v)
{
    int64_t nbytes = 0;
    for (int i = 0; i < v->nfiles; i++)
        nbytes += (int64_t)v->files[i].digest.size;
    mtp_error e = MTP_ERROR_INIT;
    if (mtp_release_check_limits(base_name(v->path), v->nfiles + 2, nbytes, &e) < 0)
        report(v, "%s", e.msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Reading small text files (manifest.json, SUMS) from either form */

/* 0 with *out (caller frees), MTP_ENOTFOUND when absent, or another negative code with err. */
static int read_text(verifier *v, const char *name, char **out, size_t *len, mtp_error *err)
{
    *out = NULL;
    *len = 0;
    if (v->archive) {
        int rc = mtp_archive_read_member(v->path, name, out, len, MTP_VERIFY_TEXT_MAX, err);
        if (rc == MTP_ERANGE)
            mtp_error_set(err, rc, "%s: larger than %zu bytes", name, MTP_VERIFY_TEXT_MAX);
        return rc;
    }
    char full[MTP_RELEASE_MAX_PATH + 8];
    snprintf(full, sizeof full, "%s/%s", v->path, name);
    FILE *f = fopen(full, "rb");
    if (f == NULL) {
        if (errno == ENOENT)
            return MTP_ENOTFOUND;
        return mtp_error_set(err, MTP_EIO, "%s: cannot open: %s", name, strerror(errno));
    }
    int rc = 0;
    char *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = mtp_error_set(err, MTP_EIO, "%s: not a regular file", name);
        goto out;
    }
    if ((uint64_t)st.st_size > MTP_VERIFY_TEXT_MAX) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s: larger than %zu bytes", name, MTP_VERIFY_TEXT_MAX);
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    if (got != (size_t)st.st_size) {
        rc = mtp_error_set(err, MTP_EIO, "%s: read failed", name);
        goto out;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* manifest.json */

static bool is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Relative, no empty, "." or ".." component. */
static bool safe_path(const char *p)
{
    if (p[0] == '\0' || p[0] == '/')
        return false;
    const char *c = p;
    while (*c != '\0') {
        const char *end = strchr(c, '/');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        if (end == NULL)
            break;
        c = end + 1;
    }
    return true;
}

/* Check one files[] entry; a problem line and false if it is malformed. */
static bool valid_file_entry(verifier *v, size_t i, json_t *f)
{
    const char *what = NULL;
    json_t *path = json_object_get(f, "path"), *size = json_object_get(f, "size");
    json_t *sha = json_object_get(f, "sha256"), *md5 = json_object_get(f, "md5");
    if (!json_is_object(f))
        what = "not an object";
    else if (!json_is_string(path))
        what = "path missing or not a string";
    else if (!safe_path(json_string_value(path)))
        what = "unsafe path";
    else if (!json_is_integer(size) || json_integer_value(size) < 0)
        what = "size missing or not a non-negative integer";
    else if (!json_is_string(sha) || !is_hex(json_string_value(sha), MTP_SHA256_HEX_LEN))
        what = "sha256 missing or not 64 lowercase hex digits";
    else if (!json_is_string(md5) || !is_hex(json_string_value(md5), MTP_MD5_HEX_LEN))
        what = "md5 missing or not 32 lowercase hex digits";
    if (what != NULL)
        report(v, "manifest.json: files[%zu]: %s", i, what);
    return what == NULL;
}

static void load_manifest(verifier *v, mtp_error *err)
{
    char *text = NULL;
    size_t len = 0;
    mtp_error local = MTP_ERROR_INIT;
    int rc = read_text(v, MTP_RELEASE_MANIFEST, &text, &len, &local);
    if (rc == MTP_ENOTFOUND) {
        report(v, "manifest.json: missing");
        return;
    }
    if (rc < 0) {
        report(v, "%s", local.msg);
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (root == NULL) {
        report(v, "manifest.json: not valid JSON: %s (line %d)", jerr.text, jerr.line);
        return;
    }
    json_t *format = json_object_get(root, "format");
    json_t *version = json_object_get(root, "manifest_version");
    if (!json_is_string(format) || strcmp(json_string_value(format), MTP_RELEASE_FORMAT) != 0) {
        report(v, "manifest.json: format is \"%s\", expected \"%s\"",
               json_is_string(format) ? json_string_value(format) : "(missing)",
               MTP_RELEASE_FORMAT);
        json_decref(root);
        return;
    }
    if (!json_is_integer(version) || json_integer_value(version) != MTP_RELEASE_MANIFEST_VERSION) {
        if (json_is_integer(version))
            report(v,
                   "manifest.json: manifest_version %" JSON_INTEGER_FORMAT
                   " is not supported (this reader reads %d)",
                   json_integer_value(version), MTP_RELEASE_MANIFEST_VERSION);
        else
            report(v, "manifest.json: manifest_version missing or not an integer");
        json_decref(root);
        return;
    }
    if (!json_is_array(json_object_get(root, "files")))
        report(v, "manifest.json: files: missing or not a list");
    if (!json_is_array(json_object_get(root, "tasks")))
        report(v, "manifest.json: tasks: missing or not a list");
    v->manifest = root;
}

static void show_hex(char out[SHOWN_HEX + 4], const char *hex)
{
    snprintf(out, SHOWN_HEX + 4, "%.*s...", SHOWN_HEX, hex);
}

static void check_manifest_files(verifier *v)
{
    json_t *files = v->manifest ? json_object_get(v->manifest, "files") : NULL;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f)
    {
        if (!valid_file_entry(v, i, f))
            continue;
        const char *path = json_string_value(json_object_get(f, "path"));
        uint64_t size = (uint64_t)json_integer_value(json_object_get(f, "size"));
        const char *sha = json_string_value(json_object_get(f, "sha256"));
        const char *md5 = json_string_value(json_object_get(f, "md5"));
        file_rec *r = find_file(v, path);
        if (r == NULL) {
            report(v, "%s: missing", path);
            continue;
        }
        if (r->listed) {
            report(v, "manifest.json: files[%zu]: %s listed twice", i, path);
            continue;
        }
        r->listed = true;
        char a[SHOWN_HEX + 4], b[SHOWN_HEX + 4];
        if (size != r->digest.size) {
            report(v, "%s: size mismatch (manifest %" PRIu64 " bytes, file %" PRIu64 " bytes)",
                   path, size, r->digest.size);
        } else if (strcmp(sha, r->digest.sha256) != 0) {
            show_hex(a, sha);
            show_hex(b, r->digest.sha256);
            report(v, "%s: sha256 mismatch (manifest %s, file %s)", path, a, b);
        } else if (strcmp(md5, r->digest.md5) != 0) {
            show_hex(a, md5);
            show_hex(b, r->digest.md5);
            report(v, "%s: md5 mismatch (manifest %s, file %s)", path, a, b);
        }
    }
    if (v->manifest == NULL)
        return;
    for (int k = 0; k < v->nfiles; k++)
        if (!v->files[k].listed && strcmp(v->files[k].path, MTP_RELEASE_MANIFEST) != 0)
            report(v, "%s: not listed in manifest.json", v->files[k].path);
}

/* ---------------------------------------------------------------------------------------- */
/* SHA256SUMS / MD5SUMS */

static void check_sums(verifier *v, const char *name, bool md5)
{
    char *text = NULL;
    size_t len = 0;
    mtp_error local = MTP_ERROR_INIT;
    int rc = read_text(v, name, &text, &len, &local);
    if (rc == MTP_ENOTFOUND) {
        report(v, "%s: missing", name);
        return;
    }
    if (rc < 0) {
        report(v, "%s", local.msg);
        return;
    }
    size_t hexlen = md5 ? MTP_MD5_HEX_LEN : MTP_SHA256_HEX_LEN;
    bool *seen = calloc(v->nfiles > 0 ? (size_t)v->nfiles : 1, sizeof *seen);
    if (seen == NULL) {
        report(v, "%s: out of memory", name);
        free(text);
        return;
    }
    char *line = text;
    int lineno = 0;
    while (line < text + len) {
        char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (end == NULL)
            end = text + len;
        *end = '\0';
        lineno++;
        const char *file = mtp_release_sums_name(line, (size_t)(end - line), hexlen);
        if (file == NULL) {
            report(v, "%s:%d: malformed line", name, lineno);
        } else {
            file_rec *r = find_file(v, file);
            if (r == NULL) {
                report(v, "%s: %s: missing", name, file);
            } else if (seen[r - v->files]) {
                report(v, "%s: %s: listed twice", name, file);
            } else {
                seen[r - v->files] = true;
                const char *have = md5 ? r->digest.md5 : r->digest.sha256;
                if (strncasecmp(line, have, hexlen) != 0)
                    report(v, "%s: %s: checksum mismatch", name, file);
            }
        }
        line = end + 1;
    }
    for (int k = 0; k < v->nfiles; k++)
        if (!seen[k])
            report(v, "%s: %s: not listed", name, v->files[k].path);
    free(seen);
    free(text);
}

/* ---------------------------------------------------------------------------------------- */
/* Tasks: manifest against the files' summaries */

static void format_int_list(char *out, size_t n, json_t *arr, bool *ok)
{
    size_t used = 0, i;
    json_t *x;
    out[0] = '\0';
    *ok = json_is_array(arr);
    json_array_foreach(arr, i, x)
    {
        if (!json_is_integer(x))
            *ok = false;
        int w = snprintf(out + used, n - used, "%s%" JSON_INTEGER_FORMAT, i ? ", " : "",
                         json_integer_value(x));
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static void format_i64_list(char *out, size_t n, const int64_t *v, int count)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < count; i++) {
        int w = snprintf(out + used, n - used, "%s%" PRId64, i ? ", " : "", v[i]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

/* Compare a manifest integer with the file's; `what` names it ("count", "class_counts.vp"). */
static void compare_int(verifier *v, const char *task, const char *split, const char *what,
                        json_t *m, int64_t file_value)
{
    if (!json_is_integer(m)) {
        report(v, "manifest.json: %s /%s %s missing in manifest, %" PRId64 " in file", task, split,
               what, file_value);
        return;
    }
    if (json_integer_value(m) != file_value)
        report(v,
               "manifest.json: %s /%s %s %" JSON_INTEGER_FORMAT " in manifest, %" PRId64 " in file",
               task, split, what, json_integer_value(m), file_value);
}

static void compare_list(verifier *v, const char *task, const char *split, const char *what,
                         const char *open, const char *close, json_t *m, const int64_t *file,
                         int nfile)
{
    char a[256], b[256];
    bool ok;
    format_int_list(a, sizeof a, m, &ok);
    format_i64_list(b, sizeof b, file, nfile);
    if (!ok)
        report(v, "manifest.json: %s /%s %s missing or not a list of integers", task, split, what);
    else if (strcmp(a, b) != 0)
        report(v, "manifest.json: %s /%s %s %s%s%s in manifest, %s%s%s in file", task, split, what,
               open, a, close, open, b, close);
}

static void compare_split(verifier *v, const char *task, json_t *ms, const mtp_bundle_summary *s,
                          const mtp_split_summary *sp)
{
    const char *name = sp->name;
    char what[MTP_NAME_MAX + 32];
    compare_int(v, task, name, "count", json_object_get(ms, "count"), sp->count);
    compare_list(v, task, name, "z_range", "[", ")", json_object_get(ms, "z_range"), sp->z_range,
                 2);
    compare_list(v, task, name, "shape", "(", ")", json_object_get(ms, "shape"), sp->shape,
                 sp->ndims < 0   ? 0
                 : sp->ndims > 4 ? 4
                                 : sp->ndims);
    json_t *cc = json_object_get(ms, "class_counts");
    bool balance = strcmp(s->kind, "features") != 0; /* features carry targets instead */
    if (!balance)
        compare_int(v, task, name, "target_rows", json_object_get(ms, "target_rows"),
                    sp->target_rows);
    for (int c = 0; balance && c < s->nclasses; c++) {
        snprintf(what, sizeof what, "class_counts.%s", s->classes[c]);
        compare_int(v, task, name, what, json_object_get(cc, s->classes[c]), sp->class_counts[c]);
    }
    json_t *rc = json_object_get(ms, "region_counts");
    for (int r = 0; r < s->nregions; r++) {
        snprintf(what, sizeof what, "region_counts.%s", s->regions[r]);
        compare_int(v, task, name, what, json_object_get(rc, s->regions[r]), sp->region_counts[r]);
    }
    json_t *lrm = json_object_get(ms, "label_region_mismatches");
    if (lrm != NULL)
        compare_int(v, task, name, "label_region_mismatches", lrm, sp->label_region_mismatches);
    json_t *rows = json_object_get(ms, "target_rows");
    if (balance && rows != NULL) /* features compared it above */
        compare_int(v, task, name, "target_rows", rows, sp->target_rows);
}

static void compare_task(verifier *v, json_t *mt, const mtp_bundle_summary *s)
{
    const char *task = json_string_value(json_object_get(mt, "name"));
    const char *kind = json_string_value(json_object_get(mt, "kind"));
    if (kind == NULL || strcmp(kind, s->kind) != 0)
        report(v, "manifest.json: %s: kind %s in manifest, %s in file", task,
               kind ? kind : "(missing)", s->kind);
    char a[1024] = "", b[1024] = "";
    size_t i;
    json_t *x;
    size_t used = 0;
    json_array_foreach(json_object_get(mt, "classes"), i, x)
    {
        int w = snprintf(a + used, sizeof a - used, "%s%s", i ? ", " : "",
                         json_is_string(x) ? json_string_value(x) : "?");
        if (w < 0 || (size_t)w >= sizeof a - used)
            break;
        used += (size_t)w;
    }
    used = 0;
    for (int c = 0; c < s->nclasses; c++) {
        int w = snprintf(b + used, sizeof b - used, "%s%s", c ? ", " : "", s->classes[c]);
        if (w < 0 || (size_t)w >= sizeof b - used)
            break;
        used += (size_t)w;
    }
    if (strcmp(a, b) != 0)
        report(v, "manifest.json: %s: classes [%s] in manifest, [%s] in file", task, a, b);

    json_t *splits = json_object_get(mt, "splits");
    bool matched[MTP_MAX_SPLITS] = {false};
    json_array_foreach(splits, i, x)
    {
        const char *name = json_string_value(json_object_get(x, "name"));
        if (name == NULL) {
            report(v, "manifest.json: %s: splits[%zu]: name missing or not a string", task, i);
            continue;
        }
        int k = 0;
        while (k < s->nsplits && strcmp(s->splits[k].name, name) != 0)
            k++;
        if (k == s->nsplits) {
            report(v, "manifest.json: %s /%s: missing in file", task, name);
            continue;
        }
        matched[k] = true;
        compare_split(v, task, x, s, &s->splits[k]);
    }
    for (int k = 0; k < s->nsplits; k++)
        if (!matched[k])
            report(v, "manifest.json: %s /%s: in file, not in manifest", task, s->splits[k].name);
}

/* Problem lines of mtp_h5check_file, renamed when the file is nested (they carry its base
 * name) and counted. */
typedef struct forward_ctx {
    verifier *v;
    const char *rel;
    int n;
} forward_ctx;

static void forward_problem(void *userdata, const char *line)
{
    forward_ctx *fc = userdata;
    const char *base = base_name(fc->rel);
    size_t n = strlen(base);
    fc->n++;
    if (base != fc->rel && strncmp(line, base, n) == 0 && strncmp(line + n, ": ", 2) == 0)
        report(fc->v, "%s%s", fc->rel, line + n);
    else
        report(fc->v, "%s", line);
}

/* Valid task entries of the manifest: name, file and kind strings. */
static bool valid_task_entry(verifier *v, size_t i, json_t *t)
{
    const char *what = NULL;
    if (!json_is_object(t))
        what = "not an object";
    else if (!json_is_string(json_object_get(t, "name")))
        what = "name missing or not a string";
    else if (!json_is_string(json_object_get(t, "file")))
        what = "file missing or not a string";
    else if (!json_is_array(json_object_get(t, "splits")))
        what = "splits missing or not a list";
    if (what != NULL)
        report(v, "manifest.json: tasks[%zu]: %s", i, what);
    return what == NULL;
}

static const char *task_file(json_t *t)
{
    return json_string_value(json_object_get(t, "file"));
}

/* What the reader process sends back about one .h5 file: mtp_h5check_file's and
 * mtp_h5read_summary's outcomes, the summary, then the check's problem lines, each ending
 * in '\n'. */
typedef struct h5_answer {
    int32_t check_rc, summary_rc;
    char check_msg[MTP_ERROR_MSG_MAX], summary_msg[MTP_ERROR_MSG_MAX];
    mtp_bundle_summary summary;
} h5_answer;

static void collect_problem(void *userdata, const char *line)
{
    mtp_isolate_out *lines = userdata;
    /* Past the cap the answer is incomplete; the parent then says the reader failed. */
    if (mtp_isolate_append(lines, line, strlen(line)) == 0)
        mtp_isolate_append(lines, "\n", 1);
}

/* Runs in the reader process: libhdf5 may crash on a crafted file, the tool may not. */
static int read_h5_isolated(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    const char *local = arg;
    h5_answer *a = calloc(1, sizeof *a);
    mtp_isolate_out lines = {NULL, 0, 0};
    if (a == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", local);
    mtp_error check_err = MTP_ERROR_INIT, summary_err = MTP_ERROR_INIT;
    a->check_rc = mtp_h5check_file(local, collect_problem, &lines, NULL, &check_err);
    if (a->check_rc >= 0)
        a->summary_rc = mtp_h5read_summary(local, &a->summary, &summary_err);
    memcpy(a->check_msg, check_err.msg, sizeof a->check_msg);
    memcpy(a->summary_msg, summary_err.msg, sizeof a->summary_msg);
    int rc = mtp_isolate_append(out, a, sizeof *a);
    if (rc == 0 && lines.len > 0)
        rc = mtp_isolate_append(out, lines.data, lines.len);
    free(lines.data);
    free(a);
    return rc < 0 ? mtp_error_set(err, rc, "%s: answer too large", local) : 0;
}

/* Check one .h5 file on disk at `local` (its release path `rel`) and compare the manifest's
 * tasks stored in it (valid[i]: task entry i is well-formed). The file is read in a
 * reader process (isolate.h): a crash in libhdf5 is reported and verify goes on. */
static int check_h5_file(verifier *v, const char *rel, const char *local, const bool *valid,
                         mtp_error *err)
{
    char *answer = NULL;
    size_t len = 0;
    mtp_error local_err = MTP_ERROR_INIT;
    int rc = mtp_isolate_call(read_h5_isolated, (void *)local, MTP_ISOLATE_TIMEOUT_S, &answer, &len,
                              NULL, &local_err);
    if (rc == 0 && (len < sizeof(h5_answer) ||
                    !mtp_h5read_summary_sane(&((const h5_answer *)(void *)answer)->summary)))
        rc = mtp_error_set(&local_err, MTP_EFORMAT, "the reader ended without an answer");
    if (rc < 0) {
        free(answer);
        if (rc == MTP_ENOMEM || rc == MTP_EIO) {
            *err = local_err;
            return rc;
        }
        report(v, "%s: unreadable HDF5 (%s)", rel, local_err.msg);
        return 0;
    }
    h5_answer *a = (h5_answer *)(void *)answer;
    a->check_msg[sizeof a->check_msg - 1] = '\0'; /* whatever the child sent */
    a->summary_msg[sizeof a->summary_msg - 1] = '\0';
    forward_ctx fc = {v, rel, 0};
    for (char *line = answer + sizeof *a, *end = answer + len; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl == NULL)
            break;
        *nl = '\0';
        forward_problem(&fc, line);
        line = nl + 1;
    }
    if (a->check_rc < 0) {
        if (a->check_rc == MTP_ENOMEM) {
            rc = mtp_error_set(err, MTP_ENOMEM, "%s", a->check_msg);
            free(answer);
            return rc;
        }
        local_err.code = a->check_rc;
        snprintf(local_err.msg, sizeof local_err.msg, "%s", a->check_msg);
        report(v, "%s: %s", rel, strip_prefix(&local_err, local));
        free(answer);
        return 0;
    }
    v->result->nhdf5_checked++;
    json_t *tasks = v->manifest ? json_object_get(v->manifest, "tasks") : NULL;
    size_t i;
    json_t *t;
    bool reported = false;
    json_array_foreach(tasks, i, t)
    {
        if (!valid[i] || strcmp(task_file(t), rel) != 0)
            continue;
        if (a->summary_rc < 0) {
            /* The check above has already said what is wrong, unless it found nothing. */
            if (fc.n == 0 && !reported) {
                local_err.code = a->summary_rc;
                snprintf(local_err.msg, sizeof local_err.msg, "%s", a->summary_msg);
                report(v, "%s: %s", rel, strip_prefix(&local_err, local));
            }
            reported = true;
            continue;
        }
        compare_task(v, t, &a->summary);
    }
    free(answer);
    return 0;
}

static int make_tmpdir(verifier *v, mtp_error *err)
{
    if (v->tmpdir[0] != '\0')
        return 0;
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] != '/')
        base = "/tmp";
    int n = snprintf(v->tmpdir, sizeof v->tmpdir, "%s/mtneuro-verify-XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof v->tmpdir || mkdtemp(v->tmpdir) == NULL) {
        int saved = errno;
        v->tmpdir[0] = '\0';
        return mtp_error_set(err, MTP_EIO, "%s: cannot make a temporary directory: %s", base,
                             strerror(saved));
    }
    return 0;
}

/* Extract one archive member to the temporary directory. 1 when it was written to
 * `local`, 0 when it was reported and skipped, < 0 when verification cannot go on. */
static int extract_member(verifier *v, const char *rel, char *local, size_t n, mtp_error *err)
{
    int rc = make_tmpdir(v, err);
    if (rc < 0)
        return rc;
    char *data = NULL;
    size_t len = 0;
    mtp_error local_err = MTP_ERROR_INIT;
    rc = mtp_archive_read_member(v->path, rel, &data, &len, MTP_VERIFY_EXTRACT_MAX, &local_err);
    if (rc == MTP_ERANGE) {
        file_rec *r = find_file(v, rel);
        report(v,
               "%s: %" PRIu64 " bytes, too large to check inside an archive (extract it and "
               "verify the directory)",
               rel, r ? r->digest.size : 0);
        return 0;
    }
    if (rc == MTP_ENOMEM || rc == MTP_EIO) {
        *err = local_err;
        return rc;
    }
    if (rc < 0) {
        report(v, "%s", local_err.msg);
        return 0;
    }
    snprintf(local, n, "%s/%s", v->tmpdir, base_name(rel));
    FILE *f = fopen(local, "wb");
    size_t wrote = f ? fwrite(data, 1, len, f) : 0;
    int closed = f ? fclose(f) : EOF;
    free(data);
    if (f == NULL || wrote != len || closed != 0) {
        unlink(local);
        return mtp_error_set(err, MTP_EIO, "%s: cannot write a temporary copy", local);
    }
    return 1;
}

static int check_hdf5(verifier *v, mtp_error *err)
{
    json_t *tasks = v->manifest ? json_object_get(v->manifest, "tasks") : NULL;
    size_t ntasks = json_array_size(tasks);
    bool *valid = calloc(ntasks + 1, sizeof *valid);
    if (valid == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "%s: out of memory", v->path);
    int rc = 0;
    size_t i;
    json_t *t;
    json_array_foreach(tasks, i, t)
    {
        valid[i] = valid_task_entry(v, i, t);
    }
    for (int k = 0; k < v->nfiles && rc == 0; k++) {
        const char *rel = v->files[k].path;
        if (!has_suffix(rel, ".h5"))
            continue;
        char local[MTP_RELEASE_MAX_PATH + 8];
        if (v->archive) {
            rc = extract_member(v, rel, local, sizeof local, err);
            if (rc <= 0)
                continue;
        } else {
            snprintf(local, sizeof local, "%s/%s", v->path, rel);
        }
        rc = check_h5_file(v, rel, local, valid, err);
        if (v->archive)
            unlink(local);
    }
    json_array_foreach(tasks, i, t)
    {
        if (rc == 0 && valid[i] && find_file(v, task_file(t)) == NULL)
            report(v, "manifest.json: %s: file %s is not in the release",
                   json_string_value(json_object_get(t, "name")), task_file(t));
    }
    free(valid);
    return rc < 0 ? rc : 0;
}

/* ---------------------------------------------------------------------------------------- */

int mtp_verify(const char *path, mtp_verify_problem_fn problem, void *userdata,
               mtp_verify_result *result, mtp_error *err)
{
    if (result == NULL || path == NULL)
        return mtp_error_set(err, MTP_EINVAL, "mtp_verify: NULL argument");
    memset(result, 0, sizeof *result);
    struct stat st;
    if (stat(path, &st) != 0)
        return mtp_error_set(err, MTP_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return mtp_error_set(err, MTP_EIO, "%s: not a directory or an archive", path);

    verifier v;
    memset(&v, 0, sizeof v);
    v.path = path;
    v.archive = S_ISREG(st.st_mode);
    v.fn = problem;
    v.userdata = userdata;
    v.result = result;
    bool stop = false;
    int rc = v.archive ? collect_archive(&v, &stop, err) : collect_dir(&v, &stop, err);
    if (rc < 0 || stop)
        goto out;
    if (v.nfiles > 1)
        qsort(v.files, (size_t)v.nfiles, sizeof *v.files, cmp_file);
    result->nfiles_checked = v.nfiles;
    check_limits(&v);

    load_manifest(&v, err);
    check_manifest_files(&v);
    check_sums(&v, MTP_RELEASE_SHA256SUMS, false);
    check_sums(&v, MTP_RELEASE_MD5SUMS, true);
    rc = check_hdf5(&v, err);

out:
    if (v.tmpdir[0] != '\0')
        rmdir(v.tmpdir);
    json_decref(v.manifest);
    for (int i = 0; i < v.nfiles; i++)
        free(v.files[i].path);
    free(v.files);
    return rc;
}
