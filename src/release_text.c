/*
 * release_text.c — what the release metadata writers share: the text buffer, JSON
 * construction and the bare forms of identifiers (DOI, ORCID, license URL).
 */
#include "release_text.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reals in the JSON files: fractions are rounded to 6 decimals first, so 10 significant
 * digits print them exactly ("0.259294") and voxel sizes without binary noise ("1.17"). */
#define JSON_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))

/* ---------------------------------------------------------------------------------------- */
/* A growing text buffer. Allocation failure is latched and reported once, at the end. */

void mtp_sb_append(mtp_strbuf *sb, const char *s, size_t n)
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

void mtp_sb_puts(mtp_strbuf *sb, const char *s)
{
    mtp_sb_append(sb, s, strlen(s));
}

void mtp_sb_printf(mtp_strbuf *sb, const char *fmt, ...)
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
        mtp_sb_append(sb, small, (size_t)n);
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
    mtp_sb_append(sb, big, (size_t)n);
    free(big);
}

/* ---------------------------------------------------------------------------------------- */
/* Small helpers shared by the writers */

/* The task a summary belongs to, or NULL. */
const mtp_task *mtp_release_task_of(const mtp_config *cfg, const mtp_bundle_summary *s)
{
    int t = mtp_config_task(cfg, s->task);
    return t < 0 ? NULL : &cfg->tasks[t];
}

int64_t mtp_release_class_total(const mtp_split_summary *sp, int nclasses)
{
    int64_t total = 0;
    for (int c = 0; c < nclasses; c++)
        total += sp->class_counts[c];
    return total;
}

const char *mtp_release_source_url(const mtp_config *cfg, const mtp_release_info *info)
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
const char *mtp_doi_bare(const char *doi)
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
const char *mtp_orcid_bare(const char *orcid)
{
    static const char *const prefixes[] = {"https://orcid.org/", "http://orcid.org/", NULL};
    return strip_prefix(orcid, prefixes);
}

/* The license's canonical URL for well-known SPDX ids, else NULL. */
const char *mtp_license_url(const char *spdx)
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

/* ---------------------------------------------------------------------------------------- */
/* JSON construction: set failures are latched in *bad (jansson frees `value` on failure). */

void mtp_jset(json_t *obj, const char *key, json_t *value, bool *bad)
{
    if (value == NULL || obj == NULL || json_object_set_new(obj, key, value) != 0)
        *bad = true;
}

void mtp_jpush(json_t *arr, json_t *value, bool *bad)
{
    if (value == NULL || arr == NULL || json_array_append_new(arr, value) != 0)
        *bad = true;
}

json_t *mtp_jstrings(const char (*items)[MTP_NAME_MAX], int n, bool *bad)
{
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        mtp_jpush(arr, json_string(items[i]), bad);
    if (arr == NULL)
        *bad = true;
    return arr;
}

/* Serialize with the fixed flags plus a trailing newline into sb. */
void mtp_json_to_sb(const json_t *root, mtp_strbuf *sb)
{
    char *text = json_dumps(root, JSON_FLAGS);
    if (text == NULL) {
        sb->failed = true;
        return;
    }
    mtp_sb_puts(sb, text);
    mtp_sb_puts(sb, "\n");
    free(text);
}

bool mtp_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}
