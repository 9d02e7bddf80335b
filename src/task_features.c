#include "mtp/task_features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/tasks.h"

/* Run indices are uint32; this one never names a run. */
#define MAX_RUNS (UINT32_MAX - 1u)

static const mtp_task *task_at(const mtp_config *cfg, int t)
{
    if (cfg == NULL || t < 0 || t >= cfg->ntasks || cfg->ntasks > MTP_MAX_TASKS)
        return NULL;
    return &cfg->tasks[t];
}

/* The quadrant grid of a region; 0 when it is not one (quadrant < 1, extents not multiples). */
static int quadrant_grid(const mtp_config *cfg, const mtp_task *task, int region, size_t *h,
                         size_t *w, size_t *q)
{
    if (task->kind != MTP_TASK_FEATURES || task->quadrant < 1)
        return 0;
    if (region < 0 || region >= cfg->nregions || cfg->nregions > MTP_MAX_REGIONS)
        return 0;
    const mtp_region *r = &cfg->regions[region];
    int64_t rh = r->y.stop - r->y.start;
    int64_t rw = r->x.stop - r->x.start;
    if (rh < 1 || rw < 1 || rh > MTP_MAX_COORD || rw > MTP_MAX_COORD)
        return 0;
    if (rh % task->quadrant != 0 || rw % task->quadrant != 0)
        return 0;
    *h = (size_t)rh;
    *w = (size_t)rw;
    *q = (size_t)task->quadrant;
    return 1;
}

size_t mtp_features_rows_per_slice(const mtp_config *cfg, int t, int region)
{
    const mtp_task *task = task_at(cfg, t);
    size_t h, w, q;
    if (task == NULL || !quadrant_grid(cfg, task, region, &h, &w, &q))
        return 0;
    return (h / q) * (w / q);
}

/* ---- run-length labelling ------------------------------------------------------------ */

/* A horizontal run of cell pixels [x0, x1] (inclusive, so w = 65536 still fits in uint16). */
typedef struct cell_run {
    uint16_t x0, x1;
} cell_run;

/*
 * Runs in stack order (slice, row, x), the row boundaries and the union-find forest. The
 * forest keeps parent[i] <= i, so resolving labels in one forward pass is possible (see
 * resolve_labels); after it, parent[i] is run i's cell label.
 */
typedef struct run_set {
    cell_run *runs;
    uint32_t *parent;
    size_t nruns, cap;
    uint32_t *row_start; /* nrows + 1 entries: runs of row r are [row_start[r], row_start[r+1]) */
} run_set;

static void run_set_free(run_set *rs)
{
    free(rs->runs);
    free(rs->parent);
    free(rs->row_start);
}

static int add_run(run_set *rs, size_t x0, size_t x1, mtp_error *err)
{
    if (rs->nruns == rs->cap) {
        if (rs->cap >= MAX_RUNS)
            return mtp_error_set(err, MTP_ERANGE, "more than %u cell runs in a region stack",
                                 (unsigned)MAX_RUNS);
        size_t cap = rs->cap < 1024 ? 1024 : rs->cap * 2;
        if (cap > MAX_RUNS)
            cap = MAX_RUNS;
        cell_run *runs = realloc(rs->runs, cap * sizeof *runs);
        if (runs == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "cell runs: %zu entries", cap);
        rs->runs = runs;
        uint32_t *parent = realloc(rs->parent, cap * sizeof *parent);
        if (parent == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "cell runs: %zu entries", cap);
        rs->parent = parent;
        rs->cap = cap;
    }
    size_t i = rs->nruns++;
    rs->runs[i].x0 = (uint16_t)x0;
    rs->runs[i].x1 = (uint16_t)x1;
    rs->parent[i] = (uint32_t)i;
    return 0;
}

static uint32_t find_root(uint32_t *parent, uint32_t i)
{
    /* Path halving: every other node on the path skips to its grandparent. */
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void unite(uint32_t *parent, uint32_t a, uint32_t b)
{
    uint32_t ra = find_root(parent, a);
    uint32_t rb = find_root(parent, b);
    /* The smaller index becomes the root, keeping parent[i] <= i. */
    if (ra < rb)
        parent[rb] = ra;
    else if (rb < ra)
        parent[ra] = rb;
}

/*
 * Join the runs [a, a_end) of one row with the runs [b, b_end) of a face-adjacent row (the row
 * above, or the same row one slice up). Both lists are sorted and disjoint, so one merge pass
 * finds every pair that shares an x: that is exactly 6-connectivity across the two rows.
 */
static void join_rows(run_set *rs, uint32_t a, uint32_t a_end, uint32_t b, uint32_t b_end)
{
    while (a < a_end && b < b_end) {
        const cell_run *ra = &rs->runs[a];
        const cell_run *rb = &rs->runs[b];
        if (ra->x0 <= rb->x1 && rb->x0 <= ra->x1)
            unite(rs->parent, a, b);
        if (ra->x1 < rb->x1)
            a++;
        else
            b++;
    }
}

/* Rewrite parent[] into compact cell labels 0..n-1; returns n. */
static size_t resolve_labels(run_set *rs)
{
    size_t ncells = 0;
    for (size_t i = 0; i < rs->nruns; i++) {
        uint32_t p = rs->parent[i];
        /* p < i was already rewritten to its label, which is the label of its root. */
        rs->parent[i] = p == (uint32_t)i ? (uint32_t)ncells++ : rs->parent[p];
    }
    return ncells;
}

/* ---- per-quadrant cell statistics ---------------------------------------------------- */

/* One cell's part inside the current quadrant. */
typedef struct cell_part {
    uint32_t label;
    uint32_t slot; /* its position in the hash table, to clear it afterwards */
    uint64_t pixels;
    uint64_t sum_y, sum_x;
} cell_part;

/* A part's centroid, relative to the quadrant's corner, and its bucket in the search grid. */
typedef struct centroid {
    double y, x;
    uint32_t part, bucket;
} centroid;

/*
 * The cells of one quadrant: parts in order of first appearance (row-major), found by label
 * through an open-addressing table kept at most half full. Only used slots are cleared between
 * quadrants, so the cost follows the cells, not the table size.
 */
typedef struct quadrant_cells {
    cell_part *parts;
    centroid *points;       /* by part */
    centroid *bucketed;     /* the same, grouped by bucket */
    uint32_t *bucket_start; /* cap / 2 + 2 entries: bucket b is [start[b], start[b + 1]) */
    size_t nparts, cap;
    uint32_t *table; /* label + 1, 0 = empty */
    uint32_t *table_part;
    size_t table_mask;
} quadrant_cells;

static void quadrant_cells_free(quadrant_cells *qc)
{
    free(qc->parts);
    free(qc->points);
    free(qc->bucketed);
    free(qc->bucket_start);
    free(qc->table);
    free(qc->table_part);
}

static size_t table_home(const quadrant_cells *qc, uint32_t label)
{
    return (size_t)((label * 2654435761u) & qc->table_mask);
}

static void table_place(quadrant_cells *qc, size_t part)
{
    uint32_t label = qc->parts[part].label;
    size_t slot = table_home(qc, label);
    while (qc->table[slot] != 0)
        slot = (slot + 1) & qc->table_mask;
    qc->table[slot] = label + 1;
    qc->table_part[slot] = (uint32_t)part;
    qc->parts[part].slot = (uint32_t)slot;
}

/* Room for one more part: arrays double, the table stays at least twice the capacity. */
static int grow_parts(quadrant_cells *qc, mtp_error *err)
{
    size_t cap = qc->cap == 0 ? 256 : qc->cap * 2;
    if (cap > MAX_RUNS / 2)
        return mtp_error_set(err, MTP_ERANGE, "more than %zu cells in a quadrant", qc->cap);
    cell_part *parts = realloc(qc->parts, cap * sizeof *parts);
    if (parts == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "quadrant cells: %zu entries", cap);
    qc->parts = parts;
    centroid *points = realloc(qc->points, cap * sizeof *points);
    if (points == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "quadrant cells: %zu entries", cap);
    qc->points = points;
    centroid *bucketed = realloc(qc->bucketed, cap * sizeof *bucketed);
    if (bucketed == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "quadrant cells: %zu entries", cap);
    qc->bucketed = bucketed;
    uint32_t *bucket_start = realloc(qc->bucket_start, (cap / 2 + 2) * sizeof *bucket_start);
    if (bucket_start == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "quadrant cells: %zu entries", cap);
    qc->bucket_start = bucket_start;
    qc->cap = cap;

    size_t size = 2 * cap;
    uint32_t *table = calloc(size, sizeof *table);
    uint32_t *table_part = malloc(size * sizeof *table_part);
    if (table == NULL || table_part == NULL) {
        free(table);
        free(table_part);
        return mtp_error_set(err, MTP_ENOMEM, "quadrant cell table: %zu entries", size);
    }
    free(qc->table);
    free(qc->table_part);
    qc->table = table;
    qc->table_part = table_part;
    qc->table_mask = size - 1;
    for (size_t i = 0; i < qc->nparts; i++)
        table_place(qc, i);
    return 0;
}

static void quadrant_cells_clear(quadrant_cells *qc)
{
    for (size_t i = 0; i < qc->nparts; i++)
        qc->table[qc->parts[i].slot] = 0;
    qc->nparts = 0;
}

/* Add the pixels [x0, x1] of row y that belong to cell `label`. */
static int add_piece(quadrant_cells *qc, uint32_t label, size_t y, size_t x0, size_t x1,
                     mtp_error *err)
{
    size_t slot = table_home(qc, label);
    while (qc->table[slot] != 0 && qc->table[slot] != label + 1)
        slot = (slot + 1) & qc->table_mask;
    size_t part;
    if (qc->table[slot] != 0) {
        part = qc->table_part[slot];
    } else {
        if (qc->nparts == qc->cap) {
            int rc = grow_parts(qc, err);
            if (rc < 0)
                return rc;
        }
        part = qc->nparts++;
        qc->parts[part] = (cell_part){.label = label};
        table_place(qc, part);
    }
    uint64_t len = x1 - x0 + 1;
    cell_part *p = &qc->parts[part];
    p->pixels += len;
    p->sum_y += (uint64_t)y * len;
    /* (x0 + x1) * len is even: one of the two factors always is. */
    p->sum_x += (uint64_t)(x0 + x1) * len / 2;
    return 0;
}

/* Lower best (a squared distance) with the centroids of bucket b other than c itself. */
static void scan_bucket(const quadrant_cells *qc, size_t b, const centroid *c, double *best)
{
    for (uint32_t j = qc->bucket_start[b]; j < qc->bucket_start[b + 1]; j++) {
        const centroid *o = &qc->bucketed[j];
        if (o->part == c->part)
            continue;
        double dx = o->x - c->x;
        double dy = o->y - c->y;
        double d2 = dx * dx + dy * dy;
        if (d2 < *best)
            *best = d2;
    }
}

/* Scan the buckets at Chebyshev distance exactly r from (by, bx) in a g x g grid. */
static void scan_ring(const quadrant_cells *qc, size_t g, size_t by, size_t bx, size_t r,
                      const centroid *c, double *best)
{
    size_t y_lo = by >= r ? by - r : 0, y_hi = by + r < g ? by + r : g - 1;
    size_t x_lo = bx >= r ? bx - r : 0, x_hi = bx + r < g ? bx + r : g - 1;
    for (size_t y = y_lo; y <= y_hi; y++) {
        if (y + r == by || y == by + r) {
            for (size_t x = x_lo; x <= x_hi; x++)
                scan_bucket(qc, y * g + x, c, best);
            continue;
        }
        if (bx >= r)
            scan_bucket(qc, y * g + bx - r, c, best);
        if (r > 0 && bx + r < g)
            scan_bucket(qc, y * g + bx + r, c, best);
    }
}

/*
 * Mean nearest-neighbour distance of the parts' centroids in a q x q quadrant with corner
 * (y0, x0). Centroids go into a g x g grid of buckets (about two per bucket, by counting sort)
 * and each search widens ring by ring: after ring r, every centroid not yet seen is more than
 * r * q/g away, so the search stops once the best distance is below that (with a margin far
 * above rounding). Every squared distance is dx*dx + dy*dy of the same doubles a brute-force
 * pass would use, so the minimum is the same value bit for bit; cost is about linear in the
 * cells for any layout, where an x-sorted sweep degrades on lattices (checkerboards). The mean
 * sums in order of first appearance.
 */
static double mean_nn(quadrant_cells *qc, size_t q, size_t y0, size_t x0)
{
    size_t n = qc->nparts;
    if (n < 2)
        return MTP_FEATURES_NN_FILL;
    size_t g = (size_t)sqrt((double)n / 2.0); /* g * g <= n / 2 <= cap / 2 */
    if (g < 1)
        g = 1;
    if (g > q)
        g = q;
    double scale = (double)g / (double)q;
    double width = (double)q / (double)g;
    uint32_t *start = qc->bucket_start;
    memset(start, 0, (g * g + 2) * sizeof *start);
    for (size_t i = 0; i < n; i++) {
        const cell_part *p = &qc->parts[i];
        double y = (double)p->sum_y / (double)p->pixels - (double)y0;
        double x = (double)p->sum_x / (double)p->pixels - (double)x0;
        size_t by = (size_t)(y * scale), bx = (size_t)(x * scale);
        by = by < g ? by : g - 1;
        bx = bx < g ? bx : g - 1;
        qc->points[i] =
            (centroid){.y = y, .x = x, .part = (uint32_t)i, .bucket = (uint32_t)(by * g + bx)};
        start[by * g + bx + 2]++;
    }
    /* start[b + 1] becomes the fill cursor of bucket b, ending as its end = start of b + 1. */
    for (size_t b = 2; b < g * g + 2; b++)
        start[b] += start[b - 1];
    for (size_t i = 0; i < n; i++)
        qc->bucketed[start[qc->points[i].bucket + 1]++] = qc->points[i];

    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const centroid *c = &qc->points[i];
        size_t by = c->bucket / g, bx = c->bucket % g;
        double best = INFINITY;
        for (size_t r = 0; r < g; r++) {
            scan_ring(qc, g, by, bx, r, c, &best);
            if (best < INFINITY && sqrt(best) < (double)r * width - 1e-6)
                break;
        }
        sum += sqrt(best);
    }
    return sum / (double)n;
}

/* ---- the region stack ---------------------------------------------------------------- */

typedef struct stack_shape {
    size_t nz, h, w, q, nqy, nqx;
    int vessel, cell, axon;
} stack_shape;

static int check_args(const mtp_config *cfg, int t, int region, const uint8_t *labels, size_t nz,
                      size_t h, size_t w, int64_t z0, const mtp_feature_row *rows,
                      stack_shape *shape, mtp_error *err)
{
    const mtp_task *task = task_at(cfg, t);
    if (task == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task index %d out of range", t);
    if (labels == NULL || rows == NULL)
        return mtp_error_set(err, MTP_EINVAL, "task %s: NULL labels or rows", task->name);
    if (task->kind != MTP_TASK_FEATURES)
        return mtp_error_set(err, MTP_EINVAL, "task %s: not a features task", task->name);
    static const char *const names[3] = {"vessel", "cell", "axon"};
    int cls[3];
    for (int i = 0; i < 3; i++) {
        cls[i] = mtp_config_class(task, names[i]);
        if (cls[i] < 0)
            return mtp_error_set(err, MTP_EINVAL, "task %s: no class named \"%s\"", task->name,
                                 names[i]);
    }
    if (region < 0 || region >= cfg->nregions || cfg->nregions > MTP_MAX_REGIONS)
        return mtp_error_set(err, MTP_EINVAL, "task %s: region index %d out of range", task->name,
                             region);
    const mtp_region *r = &cfg->regions[region];
    if ((int64_t)h != r->y.stop - r->y.start || (int64_t)w != r->x.stop - r->x.start)
        return mtp_error_set(
            err, MTP_EINVAL, "region %s: tile %zux%zu is not the region's %lldx%lld", r->name, h, w,
            (long long)(r->y.stop - r->y.start), (long long)(r->x.stop - r->x.start));
    if (w > MTP_FEATURES_MAX_WIDTH)
        return mtp_error_set(err, MTP_ERANGE, "region %s: width %zu above %d for task %s", r->name,
                             w, MTP_FEATURES_MAX_WIDTH, task->name);
    size_t gh, gw, q;
    if (!quadrant_grid(cfg, task, region, &gh, &gw, &q))
        return mtp_error_set(err, MTP_EINVAL,
                             "task %s: region %s (%zux%zu) is not a grid of quadrants of %d",
                             task->name, r->name, h, w, task->quadrant);
    if (nz < 1 || nz > MTP_MAX_COORD || z0 < 0 || z0 > MTP_MAX_COORD - (int64_t)nz)
        return mtp_error_set(err, MTP_EINVAL, "region %s: %zu slices at z=%lld out of bounds",
                             r->name, nz, (long long)z0);
    if ((gh / q) * (gw / q) > INT32_MAX)
        return mtp_error_set(err, MTP_ERANGE, "task %s: region %s has more than %d quadrants",
                             task->name, r->name, INT32_MAX);
    *shape = (stack_shape){.nz = nz,
                           .h = h,
                           .w = w,
                           .q = q,
                           .nqy = h / q,
                           .nqx = w / q,
                           .vessel = cls[0],
                           .cell = cls[1],
                           .axon = cls[2]};
    return 0;
}

/*
 * Pass 1 over one slice of classes: vessel and axon counts per quadrant into the slice's rows,
 * cell runs appended row by row and joined with the row above and the same row one slice up.
 */
static int scan_slice(const stack_shape *sh, size_t k, const uint8_t *classes, run_set *rs,
                      uint64_t *vessel, uint64_t *axon, mtp_error *err)
{
    size_t nq = sh->nqy * sh->nqx;
    memset(vessel, 0, nq * sizeof *vessel);
    memset(axon, 0, nq * sizeof *axon);
    uint8_t cv = (uint8_t)sh->vessel, cc = (uint8_t)sh->cell, ca = (uint8_t)sh->axon;
    for (size_t y = 0; y < sh->h; y++) {
        const uint8_t *row = classes + y * sh->w;
        size_t qbase = (y / sh->q) * sh->nqx;
        for (size_t qx = 0; qx < sh->nqx; qx++) {
            uint64_t nv = 0, na = 0;
            for (size_t x = qx * sh->q; x < (qx + 1) * sh->q; x++) {
                nv += row[x] == cv;
                na += row[x] == ca;
            }
            vessel[qbase + qx] += nv;
            axon[qbase + qx] += na;
        }

        size_t rowno = k * sh->h + y;
        rs->row_start[rowno] = (uint32_t)rs->nruns;
        size_t x = 0;
        while (x < sh->w) {
            if (row[x] != cc) {
                x++;
                continue;
            }
            size_t x0 = x;
            while (x < sh->w && row[x] == cc)
                x++;
            int rc = add_run(rs, x0, x - 1, err);
            if (rc < 0)
                return rc;
        }
        /* nruns <= MAX_RUNS < UINT32_MAX, so every row boundary fits in uint32. */
        rs->row_start[rowno + 1] = (uint32_t)rs->nruns;
        uint32_t cur = rs->row_start[rowno], cur_end = (uint32_t)rs->nruns;
        if (y > 0)
            join_rows(rs, cur, cur_end, rs->row_start[rowno - 1], cur);
        if (k > 0)
            join_rows(rs, cur, cur_end, rs->row_start[rowno - sh->h],
                      rs->row_start[rowno - sh->h + 1]);
    }
    return 0;
}

/*
 * Pass 2 over one slice's runs: the cell fields of its rows. Quadrants are visited band by
 * band; within a band one cursor per row walks the sorted runs left to right, so a run crossing
 * a quadrant border contributes its clipped part to each quadrant it touches.
 */
static int slice_cells(const stack_shape *sh, size_t k, const run_set *rs, uint32_t *cursor,
                       quadrant_cells *qc, mtp_feature_row *rows, mtp_error *err)
{
    for (size_t qy = 0; qy < sh->nqy; qy++) {
        size_t y0 = qy * sh->q;
        for (size_t i = 0; i < sh->q; i++)
            cursor[i] = rs->row_start[k * sh->h + y0 + i];
        for (size_t qx = 0; qx < sh->nqx; qx++) {
            size_t xs = qx * sh->q, xe = xs + sh->q;
            quadrant_cells_clear(qc);
            uint64_t pixels = 0;
            for (size_t i = 0; i < sh->q; i++) {
                uint32_t j = cursor[i];
                uint32_t end = rs->row_start[k * sh->h + y0 + i + 1];
                while (j < end && rs->runs[j].x0 < xe) {
                    size_t lo = rs->runs[j].x0 > xs ? rs->runs[j].x0 : xs;
                    size_t hi = rs->runs[j].x1 < xe - 1 ? rs->runs[j].x1 : xe - 1;
                    int rc = add_piece(qc, rs->parent[j], y0 + i, lo, hi, err);
                    if (rc < 0)
                        return rc;
                    pixels += hi - lo + 1;
                    /* A run reaching past this quadrant is the row's last one here. */
                    if (rs->runs[j].x1 >= xe)
                        break;
                    j++;
                }
                cursor[i] = j;
            }
            mtp_feature_row *row = &rows[qy * sh->nqx + qx];
            row->cell_count = (int64_t)qc->nparts;
            row->mean_cell_area = qc->nparts > 0 ? (double)pixels / (double)qc->nparts : 0.0;
            row->mean_nn_distance = mean_nn(qc, sh->q, y0, xs);
        }
    }
    return 0;
}

int mtp_features_region(const mtp_config *cfg, int t, int region, const uint8_t *labels, size_t nz,
                        size_t h, size_t w, int64_t z0, int64_t first_slice_index,
                        mtp_feature_row *rows_out, mtp_error *err)
{
    stack_shape sh = {0};
    int rc = check_args(cfg, t, region, labels, nz, h, w, z0, rows_out, &sh, err);
    if (rc < 0)
        return rc;

    run_set rs = {0};
    quadrant_cells qc = {0};
    uint8_t *classes = NULL;
    uint64_t *counts = NULL;
    uint32_t *cursor = NULL;
    size_t plane = h * w; /* h, w <= MTP_MAX_COORD: no overflow */
    size_t nq = sh.nqy * sh.nqx;
    size_t nrows = nz * h; /* nz, h <= MTP_MAX_COORD */
    double area = (double)(sh.q * sh.q);

    rs.row_start = malloc((nrows + 1) * sizeof *rs.row_start);
    classes = malloc(plane);
    counts = malloc(2 * nq * sizeof *counts);
    cursor = malloc(sh.q * sizeof *cursor);
    if (rs.row_start == NULL || classes == NULL || counts == NULL || cursor == NULL) {
        rc =
            mtp_error_set(err, MTP_ENOMEM, "features: buffers for %zu slices of %zux%zu", nz, h, w);
        goto out;
    }
    rc = grow_parts(&qc, err);
    if (rc < 0)
        goto out;

    for (size_t k = 0; k < nz; k++) {
        /* Maps codes to classes and rejects undeclared codes with the tasks module's message. */
        rc = mtp_tasks_mask(cfg, t, region, z0 + (int64_t)k, labels + k * plane, classes, 1, h, w,
                            err);
        if (rc < 0)
            goto out;
        rc = scan_slice(&sh, k, classes, &rs, counts, counts + nq, err);
        if (rc < 0)
            goto out;
        mtp_feature_row *rows = rows_out + k * nq;
        for (size_t p = 0; p < nq; p++) {
            rows[p] = (mtp_feature_row){
                .region = region,
                .z = z0 + (int64_t)k,
                .quadrant = (int32_t)p,
                .slice_index = first_slice_index + (int64_t)k,
                .vessel_pct = 100.0 * (double)counts[p] / area,
                .axon_pct = 100.0 * (double)counts[nq + p] / area,
            };
        }
    }
    resolve_labels(&rs);
    for (size_t k = 0; k < nz; k++) {
        rc = slice_cells(&sh, k, &rs, cursor, &qc, rows_out + k * nq, err);
        if (rc < 0)
            goto out;
    }

out:
    run_set_free(&rs);
    quadrant_cells_free(&qc);
    free(classes);
    free(counts);
    free(cursor);
    return rc;
}
