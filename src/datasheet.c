/*
 * datasheet.c — README.md, the release's datasheet.
 */
#include "release_text.h"

#include "mtp/chunks.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* README.md: the datasheet */

/* A table cell: '|' would end the cell, newlines the row. */
static void md_cell(mtp_strbuf *sb, const char *s)
{
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '|')
            mtp_sb_puts(sb, "\\|");
        else if (*p == '\n')
            mtp_sb_puts(sb, " ");
        else
            mtp_sb_append(sb, p, 1);
    }
}

/* "270 (25.09 %)": integer arithmetic, so no locale can turn the point into a comma. */
static void md_percent(mtp_strbuf *sb, int64_t count, int64_t total)
{
    int64_t bp = 0; /* basis points, rounded half up */
    if (total > 0 && count >= 0 && count <= INT64_MAX / 20000)
        bp = (count * 20000 + total) / (2 * total);
    else if (total > 0)
        bp = (int64_t)llround((double)count / (double)total * 10000.0);
    mtp_sb_printf(sb, "%" PRId64 " (%" PRId64 ".%02" PRId64 " %%)", count, bp / 100, bp % 100);
}

/* A real as %g with a '.' whatever LC_NUMERIC says (the tool may call setlocale). */
static void sb_real(mtp_strbuf *sb, double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%g", x);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == ',')
            *p = '.';
    mtp_sb_puts(sb, buf);
}

static void readme_source(mtp_strbuf *sb, const mtp_config *cfg, const mtp_release_info *info)
{
    mtp_sb_puts(sb, "## Where the data came from\n\n");
    mtp_sb_printf(sb, "- Source: %s (BossDB API), resolution level %d\n",
                  mtp_release_source_url(cfg, info), cfg->source.resolution);
    mtp_sb_puts(sb, "- Voxel size (z, y, x): ");
    for (int i = 0; i < 3; i++) {
        sb_real(sb, info->voxel_size[i]);
        mtp_sb_puts(sb, i < 2 ? " × " : " ");
    }
    mtp_sb_printf(sb, "%s\n", info->voxel_unit);
    mtp_sb_printf(sb,
                  "- Config: `config.yaml`, the exact file used (token removed), SHA-256 `%s`\n",
                  cfg->sha256);
    mtp_sb_printf(sb, "- Built by %s, bundle format version %d\n\n", info->builder,
                  info->bundle_format_version);
    mtp_sb_puts(sb, "| channel | BossDB URI |\n|---|---|\n");
    for (int c = 0; c < cfg->nchannels; c++) {
        mtp_sb_puts(sb, "| ");
        md_cell(sb, cfg->channels[c].name);
        mtp_sb_printf(sb, " | `%s` |\n", cfg->channels[c].uri);
    }
    mtp_sb_puts(sb,
                "\nArrays keep BossDB's orientation: (z, y, x), so a slice is indexed [y, x].\n\n");
}

static void readme_regions(mtp_strbuf *sb, const mtp_config *cfg)
{
    mtp_sb_puts(sb, "## Regions\n\n");
    mtp_sb_printf(sb,
                  "Boxes in voxel coordinates at resolution %d, half-open ranges; every task uses "
                  "them over z [%" PRId64 ", %" PRId64 ").\n\n",
                  cfg->source.resolution, cfg->z.start, cfg->z.stop);
    mtp_sb_puts(sb, "| region | x | y |\n|---|---|---|\n");
    for (int r = 0; r < cfg->nregions; r++) {
        const mtp_region *reg = &cfg->regions[r];
        mtp_sb_puts(sb, "| ");
        md_cell(sb, reg->name);
        mtp_sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | [%" PRId64 ", %" PRId64 ") |\n",
                      reg->x.start, reg->x.stop, reg->y.start, reg->y.stop);
    }
    mtp_sb_puts(sb, "\n");
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

static void readme_splits(mtp_strbuf *sb, const mtp_config *cfg)
{
    mtp_sb_puts(sb, "## Splits\n\nFixed z ranges, half-open; no randomness.\n\n");
    mtp_sb_puts(sb, "| split | z | slices per region |\n|---|---|---|\n");
    for (int i = 0; i < cfg->nsplits; i++) {
        const mtp_split *sp = &cfg->splits[i];
        mtp_sb_puts(sb, "| ");
        md_cell(sb, sp->name);
        mtp_sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | %" PRId64 " |\n", sp->z.start,
                      sp->z.stop, sp->z.stop - sp->z.start);
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
        mtp_sb_puts(sb, ngaps++ == 0 ? "\nSlices in no split: " : ", ");
        if (b->z.start - a->z.stop == 1)
            mtp_sb_printf(sb, "z %" PRId64, a->z.stop);
        else
            mtp_sb_printf(sb, "z %" PRId64 "–%" PRId64, a->z.stop, b->z.start - 1);
        mtp_sb_printf(sb, " (between %s and %s)", a->name, b->name);
    }
    if (ngaps > 0)
        mtp_sb_puts(sb, ". These gaps keep neighbouring splits structurally apart, so no sample "
                        "of one split is a neighbouring slice of a sample of another.\n");
    mtp_sb_puts(sb, "\n");
}

static void readme_class_list(mtp_strbuf *sb, const mtp_task *t)
{
    for (int c = 0; c < t->nclasses; c++)
        mtp_sb_printf(sb, "%s%d %s", c ? ", " : "", c, t->classes[c]);
}

static void readme_task_splits(mtp_strbuf *sb, const mtp_bundle_summary *s)
{
    mtp_sb_puts(sb, "| split | z | samples | images shape |\n|---|---|---|---|\n");
    for (int i = 0; i < s->nsplits; i++) {
        const mtp_split_summary *sp = &s->splits[i];
        mtp_sb_puts(sb, "| ");
        md_cell(sb, sp->name);
        mtp_sb_printf(sb, " | [%" PRId64 ", %" PRId64 ") | %" PRId64 " | (", sp->z_range[0],
                      sp->z_range[1], sp->count);
        for (int d = 0; d < sp->ndims && d < 4; d++)
            mtp_sb_printf(sb, "%s%" PRId64, d ? ", " : "", sp->shape[d]);
        mtp_sb_puts(sb, ") |\n");
    }
    mtp_sb_puts(sb, "\n");
}

static void readme_classification(mtp_strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                                  const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    if (strcmp(t->rule, "roi_mode") == 0)
        mtp_sb_printf(
            sb,
            "Label rule `roi_mode` (as in the reference): the most frequent code of `%s` "
            "(`%s`) in the tile, ties going to the smallest code, then mapped to a class:\n\n",
            ch->name, ch->uri);
    else
        mtp_sb_printf(sb, "Label rule `%s` on `%s` (`%s`), then mapped to a class:\n\n", t->rule,
                      ch->name, ch->uri);
    mtp_sb_puts(sb, "| class | source codes |\n|---|---|\n");
    for (int c = 0; c < t->nclasses; c++) {
        mtp_sb_printf(sb, "| %d ", c);
        md_cell(sb, t->classes[c]);
        mtp_sb_puts(sb, " | ");
        int n = 0;
        for (int code = 0; code < MTP_MAX_CODES; code++)
            if (t->code_class[code] == c)
                mtp_sb_printf(sb, "%s%d", n++ ? ", " : "", code);
        mtp_sb_puts(sb, " |\n");
    }
    mtp_sb_puts(sb, "\n");
    if (strcmp(t->rule, "roi_mode") != 0)
        return;
    mtp_sb_puts(sb,
                "Known quirk of the source: the ROI annotation is empty (code 0) for z ≥ ~460, so "
                "tiles there get code 0");
    if (t->code_class[0] >= 0 && t->code_class[0] < t->nclasses)
        mtp_sb_printf(sb, " and hence class \"%s\"", t->classes[t->code_class[0]]);
    mtp_sb_puts(sb, " whatever region they come from. This release keeps that reference label in "
                    "`labels` (so published numbers stay comparable) and stores each tile's true "
                    "region in `region`. Tiles whose label is not their region:");
    for (int i = 0; i < s->nsplits; i++) {
        const mtp_split_summary *sp = &s->splits[i];
        mtp_sb_printf(sb, "%s %s ", i ? "," : "", sp->name);
        if (sp->label_region_mismatches >= 0)
            mtp_sb_printf(sb, "%" PRId64 " of %" PRId64, sp->label_region_mismatches, sp->count);
        else
            mtp_sb_puts(sb, "not recorded");
    }
    mtp_sb_puts(sb, ".\n\n");
}

/* "33" when every listed region has the same count, else "cortex 33, striatum 32". */
static void readme_region_counts(mtp_strbuf *sb, const mtp_bundle_summary *s,
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
        mtp_sb_printf(sb, "%" PRId64, first < 0 ? 0 : first);
        return;
    }
    int n = 0;
    for (int r = 0; r < s->nregions; r++)
        if (sp->region_counts[r] != 0)
            mtp_sb_printf(sb, "%s%s %" PRId64, n++ ? ", " : "", s->regions[r],
                          sp->region_counts[r]);
}

static void readme_segmentation(mtp_strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                                const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    mtp_sb_printf(sb,
                  "Target: `masks`, one class per pixel, from `%s` (`%s`), code by code:\n\n"
                  "| source code | class |\n|---|---|\n",
                  ch->name, ch->uri);
    for (int code = 0; code < MTP_MAX_CODES; code++) {
        int c = t->code_class[code];
        if (c < 0 || c >= t->nclasses)
            continue;
        mtp_sb_printf(sb, "| %d | %d ", code, c);
        md_cell(sb, t->classes[c]);
        mtp_sb_puts(sb, code == c ? " |\n" : " (remapped) |\n");
    }
    mtp_sb_puts(sb, "\n");
    if (t->depth <= 1)
        return;
    mtp_sb_printf(
        sb,
        "3-D samples: each region's part of a split is cut into windows of %d consecutive "
        "slices, starting at the split's first slice; a window never leaves its region or "
        "its split, and a last partial window is dropped. Windows per region:",
        t->depth);
    for (int i = 0; i < s->nsplits; i++) {
        mtp_sb_printf(sb, "%s %s ", i ? "," : "", s->splits[i].name);
        readme_region_counts(sb, s, &s->splits[i]);
    }
    mtp_sb_printf(sb,
                  ". The reference loader instead steps by %d over the regions' slices one after "
                  "another and lets the last window of a region run into the next region's data; "
                  "this release does not mix regions.\n\n",
                  t->depth);
}

static void readme_features(mtp_strbuf *sb, const mtp_config *cfg, const mtp_task *t,
                            const mtp_bundle_summary *s)
{
    const mtp_channel *ch = &cfg->channels[t->label_channel];
    mtp_sb_printf(
        sb,
        "Targets: `targets`, one row per quadrant of %d × %d pixels of each slice, from "
        "`%s` (`%s`): vessel_pct and axon_pct (percent of the quadrant's pixels), "
        "cell_count, mean_cell_area (pixels), mean_nn_distance (pixels between cell "
        "centroids; 64 when the quadrant has fewer than 2 cells). Cells are 3-D connected "
        "components of class \"cell\" (6-connectivity) over each region's stack of slices; "
        "a quadrant's cells are those with a voxel in it. Rows:",
        t->quadrant, t->quadrant, ch->name, ch->uri);
    for (int i = 0; i < s->nsplits; i++)
        mtp_sb_printf(sb, "%s %s %" PRId64, i ? "," : "", s->splits[i].name,
                      s->splits[i].target_rows);
    mtp_sb_puts(sb, ".\n\n");
    mtp_sb_puts(sb,
                "Where this differs from the reference code (which computes these targets at "
                "evaluation time): the reference labels connected components over all regions "
                "stacked into one volume, so a cell touching the edge of one region's stack can "
                "join a cell of the next region; here each region's stack is labelled on its own. "
                "The reference's nearest-neighbour distance averages in each cell's zero distance "
                "to itself, which roughly halves the value; here each cell's distance is to the "
                "nearest other cell. The R² of a linear readout is unaffected by such a scaling, "
                "but absolute values are not comparable.\n\n");
}

static void readme_tasks(mtp_strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                         int nsummaries)
{
    mtp_sb_puts(sb, "## Tasks and how labels were derived\n\n");
    mtp_sb_puts(sb,
                "Samples are ordered region by region (config order), z ascending within a "
                "region. Every split group holds `images` (uint8), `region` (enum: the region "
                "each sample came from) and `origin` (absolute (z, y, x) corner of each sample); "
                "classification tasks add `labels` (enum), segmentation tasks `masks` (uint8, "
                "same shape as `images`). Images are stored as uint8; the reference feeds models "
                "images / 255 as float32.\n\n");
    for (int i = 0; i < nsummaries; i++) {
        const mtp_bundle_summary *s = &summaries[i];
        const mtp_task *t = mtp_release_task_of(cfg, s);
        mtp_sb_printf(sb, "### %s (%s): `%s.h5`\n\n", s->task, s->kind, s->task);
        const mtp_region *r0 = NULL;
        for (int r = 0; r < cfg->nregions && r0 == NULL; r++)
            if (!t->excluded[r])
                r0 = &cfg->regions[r];
        int64_t h = r0 ? r0->y.stop - r0->y.start : 0, w = r0 ? r0->x.stop - r0->x.start : 0;
        if (t->depth > 1)
            mtp_sb_printf(
                sb, "Input: a window of %d consecutive slices (%d × %" PRId64 " × %" PRId64 "). ",
                t->depth, t->depth, h, w);
        else
            mtp_sb_printf(sb, "Input: one %" PRId64 " × %" PRId64 " slice. ", h, w);
        mtp_sb_puts(sb, "Classes: ");
        readme_class_list(sb, t);
        mtp_sb_puts(sb, ". Regions: ");
        int nex = 0;
        for (int r = 0; r < cfg->nregions; r++)
            if (t->excluded[r])
                nex++;
        if (nex == 0) {
            mtp_sb_puts(sb, "all.\n\n");
        } else {
            mtp_sb_puts(sb, "all but ");
            int k = 0;
            for (int r = 0; r < cfg->nregions; r++)
                if (t->excluded[r])
                    mtp_sb_printf(sb, "%s%s", k++ ? ", " : "", cfg->regions[r].name);
            mtp_sb_puts(sb, " (left out).\n\n");
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

static void file_role(mtp_strbuf *sb, const char *path, const mtp_bundle_summary *summaries, int n)
{
    for (int i = 0; i < n; i++) {
        char name[MTP_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.h5", summaries[i].task);
        if (strcmp(path, name) != 0)
            continue;
        const mtp_bundle_summary *s = &summaries[i];
        mtp_sb_printf(sb, ": %s, %s", s->task, s->kind);
        for (int k = 0; k < s->nsplits; k++)
            mtp_sb_printf(sb, "%s %s %" PRId64, k ? "," : ";", s->splits[k].name,
                          s->splits[k].count);
        if (s->nsplits > 0)
            mtp_sb_puts(sb, " samples");
        return;
    }
    if (strcmp(path, "volumes.h5") == 0)
        mtp_sb_puts(sb,
                    ": raw region cubes of every channel, (z, y, x), for defining your own tasks");
    else if (strcmp(path, "config.yaml") == 0)
        mtp_sb_puts(sb, ": the config this release was built from (token removed)");
    else if (strncmp(path, "preview_", 8) == 0 && mtp_has_suffix(path, ".png"))
        mtp_sb_puts(sb, ": preview montage");
}

static void readme_files(mtp_strbuf *sb, const mtp_release_files *files,
                         const mtp_bundle_summary *summaries, int nsummaries)
{
    mtp_sb_puts(sb, "## Files\n\n");
    for (int i = 0; i < files->n; i++) {
        const mtp_release_file *e = &files->items[i];
        if (mtp_release_is_metadata_name(e->path))
            continue;
        mtp_sb_printf(sb, "- `%s` (%llu bytes)", e->path, (unsigned long long)e->digest.size);
        file_role(sb, e->path, summaries, nsummaries);
        mtp_sb_puts(sb, "\n");
    }
    mtp_sb_puts(sb, "- `README.md`: this datasheet\n"
                    "- `manifest.json`: every file's size, SHA-256 and MD5; tasks, splits, counts "
                    "and class balance\n"
                    "- `SHA256SUMS`, `MD5SUMS`: checksums of every other file; check with "
                    "`sha256sum -c SHA256SUMS` or `mtneuro-pack verify .`\n"
                    "- `CITATION.cff`, `.zenodo.json`, `croissant.json`: citation and catalogue "
                    "metadata\n\n");
}

static void readme_reading(mtp_strbuf *sb, const mtp_config *cfg,
                           const mtp_bundle_summary *summaries, int nsummaries)
{
    mtp_sb_puts(sb, "## How to read it\n\n");
    mtp_sb_puts(sb, "The files are plain HDF5 (deflate compression where compressed), readable "
                    "with h5py, h5dump, HDFView or any HDF5 library without plugins.");
    if (cfg->output.compression == MTP_COMPRESS_GZIP) {
        char compressor[64];
        mtp_chunk_compressor(cfg->output.level, compressor, sizeof compressor);
        mtp_sb_printf(sb,
                      " Their compressed chunks were made by %s (the `compressor` attribute of "
                      "each file and of `manifest.json`); rebuilding them byte-identically from "
                      "the same config needs the same compressor version.",
                      compressor);
    }
    mtp_sb_puts(sb, "\n\n");
    const mtp_bundle_summary *cls = NULL, *seg = NULL;
    for (int i = 0; i < nsummaries; i++) {
        if (cls == NULL && strcmp(summaries[i].kind, "classification") == 0 &&
            summaries[i].nsplits > 0)
            cls = &summaries[i];
        if (seg == NULL && strcmp(summaries[i].kind, "segmentation") == 0 &&
            summaries[i].nsplits > 0)
            seg = &summaries[i];
    }
    mtp_sb_puts(sb, "```python\nimport h5py\nimport numpy as np\n");
    if (cls != NULL) {
        const mtp_split_summary *sp = &cls->splits[0];
        mtp_sb_printf(
            sb,
            "\nwith h5py.File(\"%s.h5\", \"r\") as f:\n"
            "    images = f[\"%s/images\"][:]   # uint8, shape (%" PRId64 ", %" PRId64 ", %" PRId64
            ")\n"
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
        mtp_sb_printf(sb,
                      "\nwith h5py.File(\"%s.h5\", \"r\") as f:\n"
                      "    images = f[\"%s/images\"][:]   # uint8\n"
                      "    masks = f[\"%s/masks\"][:]     # class index per pixel, same shape\n"
                      "    print(images.shape, list(f[\"%s/masks\"].attrs[\"classes\"]))\n"
                      "    print(h5py.check_enum_dtype(f[\"%s/region\"].dtype))  # region name -> "
                      "index\n",
                      seg->task, sp->name, sp->name, sp->name, sp->name);
    }
    mtp_sb_puts(sb,
                "```\n\n"
                "`h5dump -H FILE.h5` shows every dataset with its attributes (axes, units, "
                "descriptions); the root attributes repeat the source, license and citation.\n\n");
}

static void readme_balance(mtp_strbuf *sb, const mtp_bundle_summary *summaries, int nsummaries)
{
    mtp_sb_puts(sb, "## Class balance\n\n");
    for (int i = 0; i < nsummaries; i++) {
        const mtp_bundle_summary *s = &summaries[i];
        if (strcmp(s->kind, "features") == 0 || s->nsplits == 0)
            continue;
        bool cls = strcmp(s->kind, "classification") == 0;
        mtp_sb_printf(sb, "### %s (%s per class)\n\n| class |", s->task,
                      cls ? "samples" : "mask pixels");
        for (int k = 0; k < s->nsplits; k++) {
            mtp_sb_puts(sb, " ");
            md_cell(sb, s->splits[k].name);
            mtp_sb_puts(sb, " |");
        }
        mtp_sb_puts(sb, "\n|---|");
        for (int k = 0; k < s->nsplits; k++)
            mtp_sb_puts(sb, "---|");
        mtp_sb_puts(sb, "\n");
        for (int c = 0; c < s->nclasses; c++) {
            mtp_sb_puts(sb, "| ");
            md_cell(sb, s->classes[c]);
            mtp_sb_puts(sb, " |");
            for (int k = 0; k < s->nsplits; k++) {
                const mtp_split_summary *sp = &s->splits[k];
                mtp_sb_puts(sb, " ");
                md_percent(sb, sp->class_counts[c], mtp_release_class_total(sp, s->nclasses));
                mtp_sb_puts(sb, " |");
            }
            mtp_sb_puts(sb, "\n");
        }
        mtp_sb_puts(sb, "\n");
    }
}

static void readme_baselines(mtp_strbuf *sb)
{
    mtp_sb_puts(sb,
                "## Published baseline results\n\n"
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

static void readme_license_cite(mtp_strbuf *sb, const mtp_config *cfg)
{
    const mtp_release *rel = &cfg->release;
    const char *url = mtp_license_url(rel->license);
    mtp_sb_printf(sb, "## License\n\nThe data are licensed under %s", rel->license);
    if (url != NULL)
        mtp_sb_printf(sb, " (%s)", url);
    mtp_sb_puts(sb, ".\n\n## How to cite\n\n");
    if (rel->ncitations > 0) {
        mtp_sb_puts(sb, "If you use these data, cite:\n\n");
        for (int c = 0; c < rel->ncitations; c++) {
            mtp_sb_printf(sb, "- %s", rel->citations[c].text);
            if (rel->citations[c].doi[0] != '\0')
                mtp_sb_printf(sb, " https://doi.org/%s", mtp_doi_bare(rel->citations[c].doi));
            mtp_sb_puts(sb, "\n");
        }
        mtp_sb_puts(sb, "\n");
    }
    mtp_sb_puts(sb, "Cite this release: ");
    for (int i = 0; i < rel->ncreators; i++)
        mtp_sb_printf(sb, "%s%s", i ? "; " : "", rel->creators[i].name);
    if (rel->date[0] != '\0')
        mtp_sb_printf(sb, " (%.4s)", rel->date);
    mtp_sb_printf(sb, ". %s (version %s) [Data set].", rel->title, rel->version);
    if (rel->url[0] != '\0')
        mtp_sb_printf(sb, " %s", rel->url);
    mtp_sb_puts(sb, "\n\n`CITATION.cff` and `.zenodo.json` carry the same information in machine-"
                    "readable form.\n");
}

void mtp_datasheet_build(mtp_strbuf *sb, const mtp_config *cfg, const mtp_bundle_summary *summaries,
                         int nsummaries, const mtp_release_info *info,
                         const mtp_release_files *files)
{
    const mtp_release *rel = &cfg->release;
    mtp_sb_printf(sb, "# %s\n\n", rel->title);
    mtp_sb_printf(sb,
                  "Release `%s` version %s. This datasheet was generated by %s from the files "
                  "it describes; every count in it is read from them.\n\n",
                  rel->name, rel->version, info->builder);
    mtp_sb_printf(sb, "## What this is\n\n%s", rel->description);
    if (rel->description[0] != '\0' && !mtp_has_suffix(rel->description, "\n"))
        mtp_sb_puts(sb, "\n");
    mtp_sb_puts(sb, "\n");
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
