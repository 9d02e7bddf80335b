/*
 * manifest.c — manifest.json (format: src/FORMAT.md, "Manifest").
 */
#include "release_text.h"

#include "mtp/chunks.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* count / total rounded half away from zero to 6 decimals (0 when total is 0). */
static double rounded_fraction(int64_t count, int64_t total)
{
    if (total <= 0)
        return 0.0;
    return round((double)count / (double)total * 1e6) / 1e6;
}

static json_t *jint_pair(int64_t a, int64_t b, bool *bad)
{
    json_t *arr = json_array();
    mtp_jpush(arr, json_integer(a), bad);
    mtp_jpush(arr, json_integer(b), bad);
    return arr;
}

/* ---------------------------------------------------------------------------------------- */
/* manifest.json */

static json_t *manifest_split(const mtp_bundle_summary *s, const mtp_split_summary *sp, bool *bad)
{
    json_t *o = json_object();
    mtp_jset(o, "name", json_string(sp->name), bad);
    mtp_jset(o, "count", json_integer(sp->count), bad);
    mtp_jset(o, "z_range", jint_pair(sp->z_range[0], sp->z_range[1], bad), bad);
    json_t *shape = json_array();
    for (int d = 0; d < sp->ndims && d < 4; d++)
        mtp_jpush(shape, json_integer(sp->shape[d]), bad);
    mtp_jset(o, "shape", shape, bad);
    bool balance = strcmp(s->kind, "features") != 0;
    int64_t total = mtp_release_class_total(sp, s->nclasses);
    json_t *counts = json_object(), *fractions = json_object();
    for (int c = 0; balance && c < s->nclasses; c++) {
        mtp_jset(counts, s->classes[c], json_integer(sp->class_counts[c]), bad);
        mtp_jset(fractions, s->classes[c], json_real(rounded_fraction(sp->class_counts[c], total)),
                 bad);
    }
    mtp_jset(o, "class_counts", counts, bad);
    mtp_jset(o, "class_fraction", fractions, bad);
    json_t *regions = json_object();
    for (int r = 0; r < s->nregions; r++)
        mtp_jset(regions, s->regions[r], json_integer(sp->region_counts[r]), bad);
    mtp_jset(o, "region_counts", regions, bad);
    if (strcmp(s->kind, "classification") == 0 && sp->label_region_mismatches >= 0)
        mtp_jset(o, "label_region_mismatches", json_integer(sp->label_region_mismatches), bad);
    if (strcmp(s->kind, "features") == 0)
        mtp_jset(o, "target_rows", json_integer(sp->target_rows), bad);
    return o;
}

int mtp_manifest_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                       int nsummaries, const mtp_release_info *info, const mtp_release_files *files)
{
    bool bad = false;
    const mtp_release *rel = &cfg->release;
    json_t *root = json_object();
    mtp_jset(root, "format", json_string(MTP_RELEASE_FORMAT), &bad);
    mtp_jset(root, "manifest_version", json_integer(MTP_RELEASE_MANIFEST_VERSION), &bad);
    mtp_jset(root, "name", json_string(rel->name), &bad);
    mtp_jset(root, "version", json_string(rel->version), &bad);
    mtp_jset(root, "title", json_string(rel->title), &bad);
    mtp_jset(root, "license", json_string(rel->license), &bad);
    if (rel->date[0] != '\0')
        mtp_jset(root, "date", json_string(rel->date), &bad);
    mtp_jset(root, "builder", json_string(info->builder), &bad);
    char compressor[64];
    mtp_chunk_compressor(cfg->output.compression == MTP_COMPRESS_GZIP ? cfg->output.level : -1,
                         compressor, sizeof compressor);
    mtp_jset(root, "compressor", json_string(compressor), &bad);
    mtp_jset(root, "bundle_format_version", json_integer(info->bundle_format_version), &bad);
    mtp_jset(root, "config_sha256", json_string(cfg->sha256), &bad);

    json_t *source = json_object();
    mtp_jset(source, "url", json_string(mtp_release_source_url(cfg, info)), &bad);
    mtp_jset(source, "resolution", json_integer(cfg->source.resolution), &bad);
    json_t *channels = json_object();
    for (int c = 0; c < cfg->nchannels; c++)
        mtp_jset(channels, cfg->channels[c].name, json_string(cfg->channels[c].uri), &bad);
    mtp_jset(source, "channels", channels, &bad);
    mtp_jset(root, "source", source, &bad);

    json_t *voxel = json_array();
    for (int i = 0; i < 3; i++)
        mtp_jpush(voxel, json_real(info->voxel_size[i]), &bad);
    mtp_jset(root, "voxel_size", voxel, &bad);
    mtp_jset(root, "voxel_unit", json_string(info->voxel_unit), &bad);

    json_t *farr = json_array();
    for (int i = 0; i < files->n; i++) {
        const mtp_release_file *e = &files->items[i];
        json_t *f = json_object();
        mtp_jset(f, "path", json_string(e->path), &bad);
        mtp_jset(f, "size", json_integer((json_int_t)e->digest.size), &bad);
        mtp_jset(f, "sha256", json_string(e->digest.sha256), &bad);
        mtp_jset(f, "md5", json_string(e->digest.md5), &bad);
        mtp_jpush(farr, f, &bad);
    }
    mtp_jset(root, "files", farr, &bad);

    json_t *tasks = json_array();
    for (int t = 0; t < nsummaries; t++) {
        const mtp_bundle_summary *s = &summaries[t];
        char file[MTP_NAME_MAX + 8];
        snprintf(file, sizeof file, "%s.h5", s->task);
        json_t *o = json_object();
        mtp_jset(o, "name", json_string(s->task), &bad);
        mtp_jset(o, "file", json_string(file), &bad);
        mtp_jset(o, "kind", json_string(s->kind), &bad);
        mtp_jset(o, "classes", mtp_jstrings(s->classes, s->nclasses, &bad), &bad);
        json_t *splits = json_array();
        for (int i = 0; i < s->nsplits; i++)
            mtp_jpush(splits, manifest_split(s, &s->splits[i], &bad), &bad);
        mtp_jset(o, "splits", splits, &bad);
        mtp_jpush(tasks, o, &bad);
    }
    mtp_jset(root, "tasks", tasks, &bad);
    if (!bad)
        mtp_json_to_sb(root, sb);
    json_decref(root);
    return bad ? MTP_ENOMEM : 0;
}
