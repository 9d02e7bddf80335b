/*
 * inspect.c — `mtneuro-pack inspect FILE.h5`. Everything printed comes from
 * mtp_h5read_summary(); this file only lays it out. The layout is a contract with
 * tests/integration/test_inspect.sh: change both together.
 */
#include "inspect.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/error.h"
#include "mtp/h5read.h"
#include "mtp/summary.h"

#define PROG "mtneuro-pack inspect"
#define WIDTH 100 /* wrap lists before this column */
#define LABEL_WIDTH 10

static const char *file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

/* "  label     a, b, c" wrapped at WIDTH with continuation lines under the first item. */
static void print_list(const char *label, const char items[][MTP_NAME_MAX], int n)
{
    int col = printf("  %-*s ", LABEL_WIDTH, label);
    const int indent = col;
    for (int i = 0; i < n; i++) {
        int len = (int)strlen(items[i]) + (i + 1 < n ? 1 : 0);
        if (i > 0 && col + 1 + len > WIDTH) {
            printf("\n%*s", indent, "");
            col = indent;
        } else if (i > 0) {
            col += printf(" ");
        }
        col += printf("%s%s", items[i], i + 1 < n ? "," : "");
    }
    printf("\n");
}

static void human_size(char *buf, size_t cap, uint64_t bytes, bool exact)
{
    if (exact || bytes < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
        return;
    }
    const char *units[3] = {"KiB", "MiB", "GiB"};
    double v = (double)bytes / 1024.0;
    int u = 0;
    while (v >= 1024.0 && u < 2) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, units[u]);
}

static void shape_text(char *buf, size_t cap, const mtp_dataset_summary *ds)
{
    int len = snprintf(buf, cap, "(");
    for (int i = 0; i < ds->ndims && len >= 0 && (size_t)len < cap; i++)
        len +=
            snprintf(buf + len, cap - (size_t)len, "%s%" PRId64, i > 0 ? ", " : "", ds->shape[i]);
    if (len >= 0 && (size_t)len < cap)
        snprintf(buf + len, cap - (size_t)len, ")");
}

static void print_dataset(const char *group, const mtp_dataset_summary *ds, bool verbose)
{
    char path[3 * MTP_NAME_MAX + 8], shape[96], stored[32], raw[32], ratio[16];
    snprintf(path, sizeof path, "%s/%s", group, ds->name);
    shape_text(shape, sizeof shape, ds);
    human_size(stored, sizeof stored, ds->stored_bytes, verbose);
    human_size(raw, sizeof raw, ds->raw_bytes, verbose);
    if (ds->raw_bytes > 0)
        snprintf(ratio, sizeof ratio, "%.2f", (double)ds->stored_bytes / (double)ds->raw_bytes);
    else
        snprintf(ratio, sizeof ratio, "-");
    printf("  %-26s %-12s %-22s %11s %11s %6s\n", path, ds->dtype, shape, stored, raw, ratio);
}

static void print_tree(const mtp_bundle_summary *s, bool verbose)
{
    printf("\n%-28s %-12s %-22s %11s %11s %6s\n", "datasets", "dtype", "shape", "stored", "raw",
           "ratio");
    for (int i = 0; i < s->ndatasets; i++)
        print_dataset("", &s->datasets[i], verbose);
    for (int k = 0; k < s->nsplits; k++) {
        const mtp_split_summary *sp = &s->splits[k];
        char group[MTP_NAME_MAX + 2];
        snprintf(group, sizeof group, "/%s", sp->name);
        for (int i = 0; i < sp->ndatasets; i++)
            print_dataset(group, &sp->datasets[i], verbose);
    }
}

static double percent(int64_t part, double total)
{
    return total > 0 ? 100.0 * (double)part / total : 0.0;
}

/* A name / count / % table; `unit` heads the count column. */
static void print_counts(const char *heading, const char *unit, const char names[][MTP_NAME_MAX],
                         const int64_t *counts, int n)
{
    /* In double: a crafted file's counts near INT64_MAX must not overflow the sum. */
    double total = 0;
    for (int i = 0; i < n; i++)
        total += (double)counts[i];
    printf("  %-24s %12s %7s\n", heading, unit, "%");
    for (int i = 0; i < n; i++)
        printf("  %-24s %12" PRId64 " %7.1f\n", names[i], counts[i], percent(counts[i], total));
}

static void print_split(const mtp_bundle_summary *s, const mtp_split_summary *sp)
{
    printf("\nsplit %s: %" PRId64 " samples", sp->name, sp->count);
    if (sp->ndims == 4)
        printf(" of %" PRId64 " slices", sp->shape[1]);
    printf(", z [%" PRId64 ", %" PRId64 ")\n", sp->z_range[0], sp->z_range[1]);
    if (strcmp(s->kind, "classification") == 0)
        print_counts("class", "samples", s->classes, sp->class_counts, s->nclasses);
    else if (strcmp(s->kind, "segmentation") == 0)
        print_counts("class", "voxels", s->classes, sp->class_counts, s->nclasses);
    print_counts("region", "samples", s->regions, sp->region_counts, s->nregions);
    if (strcmp(s->kind, "features") == 0)
        printf("  targets: %" PRId64 " rows\n", sp->target_rows);
    if (strcmp(s->kind, "classification") != 0)
        return;
    /* The reason is MTNeuro's: tiles near the top of the volume have no ROI annotation, so
     * their reference label is cortex whatever region they come from (mtneuro.md). */
    if (sp->label_region_mismatches < 0)
        printf("  label != region: not recorded\n");
    else if (sp->label_region_mismatches == 0)
        printf("  label != region: 0 samples\n");
    else
        printf("  label != region: %" PRId64 " samples (reference label kept; MTNeuro's ROI "
               "annotation is empty at z >= ~460)\n",
               sp->label_region_mismatches);
}

int cli_inspect(const char *path, bool verbose)
{
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "%s: usage: mtneuro-pack inspect FILE.h5\n", PROG);
        return 2;
    }
    mtp_bundle_summary *s = malloc(sizeof *s);
    if (s == NULL) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return 1;
    }
    mtp_error err = MTP_ERROR_INIT;
    /* A file from anywhere: read in a reader process, so a libhdf5 crash is a line. */
    int rc = mtp_h5read_summary_isolated(path, s, &err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", PROG, err.msg);
        free(s);
        return 1;
    }
    bool volumes = strcmp(s->kind, "volumes") == 0;
    printf("%s: %s, format version %d\n", file_name(path),
           volumes ? "mtneuro-volumes" : "mtneuro-bundle", s->format_version);
    if (!volumes)
        printf("  %-*s %s\n", LABEL_WIDTH, "task", s->task);
    printf("  %-*s %s\n", LABEL_WIDTH, "kind", volumes ? "volumes (raw region cubes)" : s->kind);
    printf("  %-*s %s\n", LABEL_WIDTH, "title", s->title);
    printf("  %-*s %s\n", LABEL_WIDTH, "builder", s->builder);
    printf("  %-*s %s\n", LABEL_WIDTH, "source", s->source);
    printf("  %-*s sha256 %s\n", LABEL_WIDTH, "config", s->config_sha256);
    if (s->nclasses > 0)
        print_list("classes", s->classes, s->nclasses);
    print_list("regions", s->regions, s->nregions);
    print_tree(s, verbose);
    for (int k = 0; k < s->nsplits; k++)
        print_split(s, &s->splits[k]);
    free(s);
    return fflush(stdout) == 0 ? 0 : 1;
}
