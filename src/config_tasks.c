/*
 * config_tasks.c — the config's `tasks` section (pass 2 of the loader, config_yaml.h): each
 * task's kind, channels, classes, label map and remap, excluded regions, splits, depth and
 * quadrant, checked against the sections parsed before it (channels, regions, splits).
 */
#include "config_yaml.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MAX_DEPTH_SLICES 64

/* ---- tasks --------------------------------------------------------------------------- */

enum { KIND_CLS = 1, KIND_SEG = 2, KIND_FEA = 4, KIND_ANY = 7 };

static const struct task_key {
    const char *key;
    unsigned kinds; /* which task kinds may use it */
} task_keys[] = {
    {"kind", KIND_ANY},    {"labels", KIND_ANY},           {"images", KIND_ANY},
    {"rule", KIND_CLS},    {"classes", KIND_ANY},          {"map", KIND_CLS},
    {"exclude", KIND_ANY}, {"remap", KIND_SEG | KIND_FEA}, {"depth", KIND_ANY},
    {"splits", KIND_ANY},  {"quadrant", KIND_FEA},
};

static const char *const default_feature_classes[] = {"background", "vessel", "cell", "axon"};
static const char *const default_task_splits[] = {"train", "val", "test"};

static int task_kind(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    enum { NKEYS = sizeof task_keys / sizeof task_keys[0] };
    const char *known[NKEYS + 1];
    for (size_t k = 0; k < NKEYS; k++)
        known[k] = task_keys[k].key;
    known[NKEYS] = NULL;
    static const char *const required[] = {"kind", "labels", NULL};
    char sub[PATH_LEN], kind[MTP_NAME_MAX];
    int err = mtp_cfg_check_keys(pc, n, path, known, required);
    mtp_cfg_join_key(sub, sizeof sub, path, "kind");
    if (err == 0)
        err = mtp_cfg_get_str(pc, mtp_cfg_map_value(n, "kind"), sub, kind, sizeof kind, STR_NAME);
    if (err < 0)
        return err;
    static const mtp_task_kind kinds[] = {MTP_TASK_CLASSIFICATION, MTP_TASK_SEGMENTATION,
                                          MTP_TASK_FEATURES};
    static const unsigned kind_bits[] = {KIND_CLS, KIND_SEG, KIND_FEA};
    unsigned kind_bit = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(kind, mtp_task_kind_name(kinds[k])) == 0) {
            t->kind = kinds[k];
            kind_bit = kind_bits[k];
        }
    if (kind_bit == 0)
        return mtp_cfg_fail(
            pc, mtp_cfg_map_value(n, "kind"), sub,
            "unknown kind \"%s\" (expected classification, segmentation or features)", kind);
    for (size_t i = 0; i < n->nkids; i += 2)
        for (size_t k = 0; k < NKEYS; k++)
            if (strcmp(n->kids[i]->value, task_keys[k].key) == 0 &&
                (task_keys[k].kinds & kind_bit) == 0) {
                mtp_cfg_join_key(sub, sizeof sub, path, task_keys[k].key);
                return mtp_cfg_fail(pc, n->kids[i], sub, "not allowed in a %s task",
                                    mtp_task_kind_name(t->kind));
            }
    return 0;
}

/* `labels` (required) and `images` (default "image") name channels. */
static int task_channel(const parse_ctx *pc, const node *n, const char *path, const char *key,
                        const char *fallback, int *out)
{
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    mtp_cfg_join_key(sub, sizeof sub, path, key);
    const node *v = mtp_cfg_map_value(n, key);
    if (v == NULL) {
        *out = mtp_config_channel(pc->cfg, fallback);
        if (*out < 0)
            return mtp_cfg_fail(pc, n, sub, "unknown channel \"%s\" (the default)", fallback);
        return 0;
    }
    int err = mtp_cfg_get_str(pc, v, sub, name, sizeof name, STR_NAME);
    if (err < 0)
        return err;
    *out = mtp_config_channel(pc->cfg, name);
    if (*out < 0)
        return mtp_cfg_fail(pc, v, sub, "unknown channel \"%s\"", name);
    return 0;
}

static int task_classes(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], item[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, "classes");
    const node *v = mtp_cfg_map_value(n, "classes");
    if (v == NULL) {
        if (t->kind != MTP_TASK_FEATURES)
            return mtp_cfg_fail(pc, n, path, "missing required key \"classes\"");
        t->nclasses = 4;
        for (int i = 0; i < 4; i++)
            snprintf(t->classes[i], sizeof t->classes[i], "%s", default_feature_classes[i]);
        return 0;
    }
    int err = mtp_cfg_expect_seq(pc, v, sub, 1, MTP_MAX_CLASSES, "classes");
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        mtp_cfg_join_index(item, sizeof item, sub, i);
        char *name = t->classes[i];
        err = mtp_cfg_get_str(pc, v->kids[i], item, name, MTP_NAME_MAX, STR_NAME);
        if (err == 0 && mtp_config_class(t, name) >= 0)
            err = mtp_cfg_fail(pc, v->kids[i], item, "duplicate class \"%s\"", name);
        if (err == 0)
            t->nclasses = (int)i + 1;
    }
    return err;
}

/* classification: `map` class name -> list of source codes; each code once, each class. */
static int task_map(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], cls_path[PATH_LEN], name[MTP_NAME_MAX];
    mtp_cfg_join_key(sub, sizeof sub, path, "map");
    const node *map = mtp_cfg_map_value(n, "map");
    if (map == NULL)
        return mtp_cfg_fail(pc, n, path, "missing required key \"map\"");
    int err = mtp_cfg_expect_map(pc, map, sub);
    bool seen[MTP_MAX_CLASSES] = {false};
    for (size_t i = 0; err == 0 && i < map->nkids; i += 2) {
        const node *key = map->kids[i], *codes = map->kids[i + 1];
        mtp_cfg_join_key(cls_path, sizeof cls_path, sub, key->value);
        err = mtp_cfg_get_str(pc, key, cls_path, name, sizeof name, STR_NAME);
        int cls = err == 0 ? mtp_config_class(t, name) : -1;
        if (err == 0 && cls < 0)
            err = mtp_cfg_fail(pc, key, cls_path, "unknown class \"%s\"", name);
        if (err == 0)
            err = mtp_cfg_expect_seq(pc, codes, cls_path, 1, MTP_MAX_CODES, "codes");
        for (size_t k = 0; err == 0 && k < codes->nkids; k++) {
            int code = 0;
            err = mtp_cfg_get_code(pc, codes->kids[k], cls_path, &code);
            if (err == 0 && t->code_class[code] >= 0)
                err = mtp_cfg_fail(pc, codes->kids[k], cls_path,
                                   "code %d is already mapped to class \"%s\"", code,
                                   t->classes[t->code_class[code]]);
            if (err == 0)
                t->code_class[code] = cls;
        }
        if (err == 0)
            seen[cls] = true;
    }
    for (int c = 0; err == 0 && c < t->nclasses; c++)
        if (!seen[c])
            err = mtp_cfg_fail(pc, map, sub, "missing class \"%s\"", t->classes[c]);
    return err;
}

/* segmentation/features: identity for the declared classes, then `remap` code -> class. */
static int task_remap(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    for (int c = 0; c < t->nclasses; c++)
        t->code_class[c] = c;
    const node *remap = mtp_cfg_map_value(n, "remap");
    if (remap == NULL)
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, "remap");
    int err = mtp_cfg_expect_map(pc, remap, sub);
    bool seen[MTP_MAX_CODES] = {false};
    for (size_t i = 0; err == 0 && i < remap->nkids; i += 2) {
        int code = 0;
        int64_t cls = 0;
        err = mtp_cfg_get_code(pc, remap->kids[i], sub, &code);
        if (err == 0 && seen[code])
            err = mtp_cfg_fail(pc, remap->kids[i], sub, "code %d appears twice", code);
        if (err == 0)
            err = mtp_cfg_get_int(pc, remap->kids[i + 1], sub, INT64_MIN, INT64_MAX, &cls);
        if (err == 0 && (cls < 0 || cls >= t->nclasses))
            err = mtp_cfg_fail(pc, remap->kids[i + 1], sub, "class %" PRId64 " out of range 0..%d",
                               cls, t->nclasses - 1);
        if (err == 0) {
            seen[code] = true;
            t->code_class[code] = (int)cls;
        }
    }
    return err;
}

static int task_exclude(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    const node *v = mtp_cfg_map_value(n, "exclude");
    if (v == NULL)
        return 0;
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    mtp_cfg_join_key(sub, sizeof sub, path, "exclude");
    int err = mtp_cfg_expect_seq(pc, v, sub, 0, MTP_MAX_REGIONS, "regions");
    int nexcluded = 0;
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        err = mtp_cfg_get_str(pc, v->kids[i], sub, name, sizeof name, STR_NAME);
        int r = err == 0 ? mtp_config_region(pc->cfg, name) : -1;
        if (err == 0 && r < 0)
            err = mtp_cfg_fail(pc, v->kids[i], sub, "unknown region \"%s\"", name);
        if (err == 0 && t->excluded[r])
            err = mtp_cfg_fail(pc, v->kids[i], sub, "duplicate region \"%s\"", name);
        if (err == 0) {
            t->excluded[r] = true;
            nexcluded++;
        }
    }
    if (err == 0 && nexcluded == pc->cfg->nregions)
        err = mtp_cfg_fail(pc, v, sub, "every region is excluded");
    return err;
}

static int task_splits(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    char sub[PATH_LEN], name[MTP_NAME_MAX];
    mtp_cfg_join_key(sub, sizeof sub, path, "splits");
    const node *v = mtp_cfg_map_value(n, "splits");
    if (v == NULL) {
        for (int i = 0; i < 3; i++) {
            t->splits[i] = mtp_config_split(pc->cfg, default_task_splits[i]);
            if (t->splits[i] < 0)
                return mtp_cfg_fail(pc, n, sub,
                                    "unknown split \"%s\" (the default is [train, val, test])",
                                    default_task_splits[i]);
        }
        t->nsplits = 3;
        return 0;
    }
    int err = mtp_cfg_expect_seq(pc, v, sub, 1, MTP_MAX_SPLITS, "splits");
    for (size_t i = 0; err == 0 && i < v->nkids; i++) {
        err = mtp_cfg_get_str(pc, v->kids[i], sub, name, sizeof name, STR_NAME);
        int s = err == 0 ? mtp_config_split(pc->cfg, name) : -1;
        if (err == 0 && s < 0)
            err = mtp_cfg_fail(pc, v->kids[i], sub, "unknown split \"%s\"", name);
        for (size_t k = 0; err == 0 && k < i; k++)
            if (t->splits[k] == s)
                err = mtp_cfg_fail(pc, v->kids[i], sub, "duplicate split \"%s\"", name);
        if (err == 0) {
            t->splits[i] = s;
            t->nsplits = (int)i + 1;
        }
    }
    return err;
}

static int task_quadrant(const parse_ctx *pc, const node *n, const char *path, mtp_task *t)
{
    t->quadrant = 128;
    if (t->kind != MTP_TASK_FEATURES)
        return 0;
    char sub[PATH_LEN];
    mtp_cfg_join_key(sub, sizeof sub, path, "quadrant");
    const node *v = mtp_cfg_map_value(n, "quadrant");
    int err = v != NULL ? mtp_cfg_get_int32(pc, v, sub, 1, MTP_MAX_COORD, &t->quadrant) : 0;
    if (err < 0)
        return err;
    const mtp_region *r = &pc->cfg->regions[0];
    int64_t w = r->x.stop - r->x.start, h = r->y.stop - r->y.start;
    if (w % t->quadrant != 0 || h % t->quadrant != 0)
        return mtp_cfg_fail(pc, v != NULL ? v : n, sub,
                            "%d does not divide the region size %" PRId64 " x %" PRId64,
                            t->quadrant, w, h);
    return 0;
}

static int parse_task(const parse_ctx *pc, const node *key, const node *n, mtp_task *t)
{
    char path[PATH_LEN], sub[PATH_LEN];
    mtp_cfg_join_key(path, sizeof path, "tasks", key->value);
    for (int c = 0; c < MTP_MAX_CODES; c++)
        t->code_class[c] = -1;
    int err = mtp_cfg_get_str(pc, key, path, t->name, sizeof t->name, STR_NAME);
    if (err == 0)
        err = task_kind(pc, n, path, t);
    if (err == 0)
        err = task_channel(pc, n, path, "images", "image", &t->image_channel);
    if (err == 0)
        err = task_channel(pc, n, path, "labels", "", &t->label_channel);
    snprintf(t->rule, sizeof t->rule, "%s", t->kind == MTP_TASK_CLASSIFICATION ? "roi_mode" : "");
    const node *rule = mtp_cfg_map_value(n, "rule");
    mtp_cfg_join_key(sub, sizeof sub, path, "rule");
    if (err == 0 && rule != NULL) {
        err = mtp_cfg_get_str(pc, rule, sub, t->rule, sizeof t->rule, STR_NAME);
        if (err == 0 && strcmp(t->rule, "roi_mode") != 0)
            err = mtp_cfg_fail(pc, rule, sub, "unknown rule \"%s\" (expected roi_mode)", t->rule);
    }
    if (err == 0)
        err = task_classes(pc, n, path, t);
    if (err == 0)
        err = t->kind == MTP_TASK_CLASSIFICATION ? task_map(pc, n, path, t)
                                                 : task_remap(pc, n, path, t);
    if (err == 0)
        err = task_exclude(pc, n, path, t);
    t->depth = 1;
    if (err == 0)
        err = mtp_cfg_opt_int(pc, n, path, "depth", 1, MAX_DEPTH_SLICES, &t->depth);
    /* classification labels and feature targets are per slice */
    if (err == 0 && t->depth != 1 && t->kind != MTP_TASK_SEGMENTATION) {
        mtp_cfg_join_key(sub, sizeof sub, path, "depth");
        err = mtp_cfg_fail(pc, mtp_cfg_map_value(n, "depth"), sub, "%s tasks need depth 1",
                           mtp_task_kind_name(t->kind));
    }
    if (err == 0)
        err = task_splits(pc, n, path, t);
    if (err == 0)
        err = task_quadrant(pc, n, path, t);
    return err;
}

int mtp_cfg_parse_tasks(const parse_ctx *pc, const node *n, mtp_config *cfg)
{
    int err = mtp_cfg_expect_named_map(pc, n, "tasks", MTP_MAX_TASKS, "task");
    for (size_t i = 0; err == 0 && i < n->nkids; i += 2) {
        err = parse_task(pc, n->kids[i], n->kids[i + 1], &cfg->tasks[i / 2]);
        cfg->ntasks = (int)(i / 2) + 1;
    }
    return err;
}
