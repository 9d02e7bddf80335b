#include "mtp/plan.h"

#include <stdlib.h>
#include <string.h>

/*
 * The plan is built per channel in three steps:
 *  1. collect the distinct boxes the channel needs (task boxes and, for volumes.h5,
 *     every region over the whole z range);
 *  2. clip every box to each grid cell it touches ("pieces"), sort pieces by cell;
 *  3. per cell, decompose the union of its pieces into disjoint blocks.
 * Step 3 compresses coordinates inside the cell, so its grid has at most one line per
 * distinct box edge: with the config caps (64 regions, 16 splits + z) that is at most
 * ~130 × 130 × 36 sub-cells, whatever the voxel sizes.
 */

/* A sane cap on blocks (and on box pieces, which bound the work before the blocks exist). */
#define PLAN_MAX_BLOCKS 10000000ull
/* Cap on the compressed sub-grid of one cell (bytes of the mark array). */
#define PLAN_MAX_SUBGRID (1ull << 26)

typedef struct box_list {
    mtp_box *items;
    size_t n, cap;
} box_list;

static int box_list_push(box_list *list, const mtp_box *box)
{
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        mtp_box *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL)
            return MTP_ENOMEM;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = *box;
    return 0;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

/* Block order: (z0, y0, x0, z1, y1, x1). */
static int cmp_box_order(const mtp_box *a, const mtp_box *b)
{
    int c = cmp_i64(a->z0, b->z0);
    if (c == 0)
        c = cmp_i64(a->y0, b->y0);
    if (c == 0)
        c = cmp_i64(a->x0, b->x0);
    if (c == 0)
        c = cmp_i64(a->z1, b->z1);
    if (c == 0)
        c = cmp_i64(a->y1, b->y1);
    if (c == 0)
        c = cmp_i64(a->x1, b->x1);
    return c;
}

static int cmp_box_qsort(const void *pa, const void *pb)
{
    return cmp_box_order(pa, pb);
}

static int cmp_block_qsort(const void *pa, const void *pb)
{
    const mtp_block *a = pa, *b = pb;
    return cmp_box_order(&a->box, &b->box);
}

/* The grid's cell size (source.block), x y z. */
typedef struct cell_size {
    int64_t x, y, z;
} cell_size;

typedef struct piece {
    int64_t cz, cy, cx; /* cell index */
    mtp_box box;        /* clipped to the cell */
} piece;

static int cmp_piece_qsort(const void *pa, const void *pb)
{
    const piece *a = pa, *b = pb;
    int c = cmp_i64(a->cz, b->cz);
    if (c == 0)
        c = cmp_i64(a->cy, b->cy);
    if (c == 0)
        c = cmp_i64(a->cx, b->cx);
    if (c == 0)
        c = cmp_box_order(&a->box, &b->box);
    return c;
}

static int range_ok(const mtp_range *r)
{
    return r->start >= 0 && r->start < r->stop && r->stop <= MTP_MAX_COORD;
}

/* Append the box region × z for channel use; checks the ranges first. */
static int add_box(box_list *boxes, const mtp_region *region, const mtp_range *z, const char *what,
                   mtp_error *err)
{
    if (!range_ok(&region->x) || !range_ok(&region->y))
        return mtp_error_set(err, MTP_EINVAL, "plan: region %s: empty or out-of-range box",
                             region->name);
    if (!range_ok(z))
        return mtp_error_set(err, MTP_EINVAL, "plan: %s: empty or out-of-range z range", what);
    mtp_box box = {region->x.start, region->x.stop, region->y.start,
                   region->y.stop,  z->start,       z->stop};
    if (box_list_push(boxes, &box) < 0)
        return mtp_error_set(err, MTP_ENOMEM, "plan: out of memory");
    return 0;
}

/* The distinct boxes channel c needs, sorted; boxes->n == 0 if no stage uses it. */
static int collect_boxes(const mtp_config *cfg, int c, box_list *boxes, mtp_error *err)
{
    int rc = 0;
    for (int t = 0; t < cfg->ntasks && rc == 0; t++) {
        const mtp_task *task = &cfg->tasks[t];
        if (task->image_channel != c && task->label_channel != c)
            continue;
        for (int s = 0; s < task->nsplits && rc == 0; s++) {
            int si = task->splits[s];
            if (si < 0 || si >= cfg->nsplits)
                return mtp_error_set(err, MTP_EINVAL, "plan: task %s: split index %d invalid",
                                     task->name, si);
            for (int r = 0; r < cfg->nregions && rc == 0; r++) {
                if (task->excluded[r])
                    continue;
                rc =
                    add_box(boxes, &cfg->regions[r], &cfg->splits[si].z, cfg->splits[si].name, err);
            }
        }
    }
    if (cfg->output.volumes) {
        for (int r = 0; r < cfg->nregions && rc == 0; r++)
            rc = add_box(boxes, &cfg->regions[r], &cfg->z, "z", err);
    }
    if (rc < 0)
        return rc;
    if (boxes->n > 1) {
        qsort(boxes->items, boxes->n, sizeof *boxes->items, cmp_box_qsort);
        size_t kept = 1;
        for (size_t i = 1; i < boxes->n; i++)
            if (cmp_box_order(&boxes->items[i], &boxes->items[kept - 1]) != 0)
                boxes->items[kept++] = boxes->items[i];
        boxes->n = kept;
    }
    return 0;
}

static int64_t cells_on_axis(int64_t start, int64_t stop, int64_t size)
{
    return (stop - 1) / size - start / size + 1;
}

/* Clip every box to the cells it touches. */
static int cut_pieces(const box_list *boxes, cell_size cs, piece **out, size_t *npieces,
                      const char *chan, mtp_error *err)
{
    /* Count first, so a huge request is refused before anything is allocated. */
    uint64_t total = 0;
    for (size_t i = 0; i < boxes->n; i++) {
        const mtp_box *b = &boxes->items[i];
        /* Each factor is <= MTP_MAX_COORD (1e6), so the product of two fits; check the
         * running total against the cap after each multiplication. */
        uint64_t nx = (uint64_t)cells_on_axis(b->x0, b->x1, cs.x);
        uint64_t ny = (uint64_t)cells_on_axis(b->y0, b->y1, cs.y);
        uint64_t nz = (uint64_t)cells_on_axis(b->z0, b->z1, cs.z);
        uint64_t nxy = nx * ny;
        if (nxy > PLAN_MAX_BLOCKS || nxy * nz > PLAN_MAX_BLOCKS ||
            total + nxy * nz > PLAN_MAX_BLOCKS)
            return mtp_error_set(err, MTP_ERANGE,
                                 "plan: channel %s: more than %llu blocks (source.block too "
                                 "small?)",
                                 chan, (unsigned long long)PLAN_MAX_BLOCKS);
        total += nxy * nz;
    }
    piece *pieces = malloc((total ? total : 1) * sizeof *pieces);
    if (pieces == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "plan: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < boxes->n; i++) {
        const mtp_box *b = &boxes->items[i];
        for (int64_t cz = b->z0 / cs.z; cz * cs.z < b->z1; cz++)
            for (int64_t cy = b->y0 / cs.y; cy * cs.y < b->y1; cy++)
                for (int64_t cx = b->x0 / cs.x; cx * cs.x < b->x1; cx++) {
                    mtp_box cell = {cx * cs.x,       (cx + 1) * cs.x, cy * cs.y,
                                    (cy + 1) * cs.y, cz * cs.z,       (cz + 1) * cs.z};
                    piece *p = &pieces[n++];
                    p->cz = cz;
                    p->cy = cy;
                    p->cx = cx;
                    mtp_box_intersect(b, &cell, &p->box);
                }
    }
    qsort(pieces, n, sizeof *pieces, cmp_piece_qsort);
    *out = pieces;
    *npieces = n;
    return 0;
}

typedef struct block_list {
    mtp_block *items;
    size_t n, cap;
} block_list;

static int block_list_push(block_list *list, int channel, const mtp_box *box)
{
    if (list->n >= PLAN_MAX_BLOCKS)
        return MTP_ERANGE;
    if (list->n == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        mtp_block *items = realloc(list->items, cap * sizeof *items);
        if (items == NULL)
            return MTP_ENOMEM;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n].channel = channel;
    list->items[list->n].box = *box;
    list->n++;
    return 0;
}

static int cmp_i64_qsort(const void *pa, const void *pb)
{
    return cmp_i64(*(const int64_t *)pa, *(const int64_t *)pb);
}

/* Sort and deduplicate; returns the new count. */
static size_t sort_unique(int64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_i64_qsort);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || v[i] != v[kept - 1])
            v[kept++] = v[i];
    return kept;
}

static size_t edge_index(const int64_t *edges, size_t n, int64_t value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (edges[mid] < value)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum { SUB_EMPTY = 0, SUB_NEEDED = 1, SUB_TAKEN = 2 };

/*
 * Decompose the union of the k pieces (all in one cell, sorted, distinct) into disjoint
 * boxes: mark the covered sub-cells of the compressed grid, then grow each block from
 * its first free sub-cell along x, then y, then z.
 */
static int decompose_cell(const piece *pieces, size_t k, int channel, block_list *blocks)
{
    if (k == 1)
        return block_list_push(blocks, channel, &pieces[0].box);

    int rc = 0;
    int64_t *xs = malloc(2 * k * sizeof *xs);
    int64_t *ys = malloc(2 * k * sizeof *ys);
    int64_t *zs = malloc(2 * k * sizeof *zs);
    unsigned char *grid = NULL;
    if (xs == NULL || ys == NULL || zs == NULL) {
        rc = MTP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < k; i++) {
        const mtp_box *b = &pieces[i].box;
        xs[2 * i] = b->x0;
        xs[2 * i + 1] = b->x1;
        ys[2 * i] = b->y0;
        ys[2 * i + 1] = b->y1;
        zs[2 * i] = b->z0;
        zs[2 * i + 1] = b->z1;
    }
    size_t nx = sort_unique(xs, 2 * k) - 1;
    size_t ny = sort_unique(ys, 2 * k) - 1;
    size_t nz = sort_unique(zs, 2 * k) - 1;
    if ((uint64_t)nx * ny > PLAN_MAX_SUBGRID || (uint64_t)nx * ny * nz > PLAN_MAX_SUBGRID) {
        rc = MTP_ERANGE;
        goto out;
    }
    grid = calloc(nx * ny * nz, 1);
    if (grid == NULL) {
        rc = MTP_ENOMEM;
        goto out;
    }
#define AT(x, y, z) grid[((z)*ny + (y)) * nx + (x)]
    for (size_t i = 0; i < k; i++) {
        const mtp_box *b = &pieces[i].box;
        size_t ix0 = edge_index(xs, nx + 1, b->x0), ix1 = edge_index(xs, nx + 1, b->x1);
        size_t iy0 = edge_index(ys, ny + 1, b->y0), iy1 = edge_index(ys, ny + 1, b->y1);
        size_t iz0 = edge_index(zs, nz + 1, b->z0), iz1 = edge_index(zs, nz + 1, b->z1);
        for (size_t z = iz0; z < iz1; z++)
            for (size_t y = iy0; y < iy1; y++)
                memset(&AT(ix0, y, z), SUB_NEEDED, ix1 - ix0);
    }
    for (size_t z = 0; z < nz && rc == 0; z++)
        for (size_t y = 0; y < ny && rc == 0; y++)
            for (size_t x = 0; x < nx && rc == 0; x++) {
                if (AT(x, y, z) != SUB_NEEDED)
                    continue;
                size_t x1 = x + 1, y1 = y + 1, z1 = z + 1;
                while (x1 < nx && AT(x1, y, z) == SUB_NEEDED)
                    x1++;
                for (int grow = 1; grow && y1 < ny;) {
                    for (size_t xi = x; xi < x1 && grow; xi++)
                        grow = AT(xi, y1, z) == SUB_NEEDED;
                    if (grow)
                        y1++;
                }
                for (int grow = 1; grow && z1 < nz;) {
                    for (size_t yi = y; yi < y1 && grow; yi++)
                        for (size_t xi = x; xi < x1 && grow; xi++)
                            grow = AT(xi, yi, z1) == SUB_NEEDED;
                    if (grow)
                        z1++;
                }
                for (size_t zi = z; zi < z1; zi++)
                    for (size_t yi = y; yi < y1; yi++)
                        memset(&AT(x, yi, zi), SUB_TAKEN, x1 - x);
                mtp_box box = {xs[x], xs[x1], ys[y], ys[y1], zs[z], zs[z1]};
                rc = block_list_push(blocks, channel, &box);
            }
#undef AT
out:
    free(xs);
    free(ys);
    free(zs);
    free(grid);
    return rc;
}

static int plan_channel(mtp_plan *plan, block_list *blocks, const mtp_config *cfg, int c,
                        mtp_error *err)
{
    int rc = 0;
    box_list boxes = {0};
    piece *pieces = NULL;
    size_t npieces = 0;
    const char *chan = cfg->channels[c].name;
    cell_size cs = {cfg->source.block[0], cfg->source.block[1], cfg->source.block[2]};

    plan->first_block[c] = blocks->n;
    rc = collect_boxes(cfg, c, &boxes, err);
    if (rc < 0 || boxes.n == 0)
        goto out;
    plan->used[c] = true;
    rc = cut_pieces(&boxes, cs, &pieces, &npieces, chan, err);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < npieces && rc == 0;) {
        size_t j = i + 1;
        while (j < npieces && pieces[j].cx == pieces[i].cx && pieces[j].cy == pieces[i].cy &&
               pieces[j].cz == pieces[i].cz)
            j++;
        /* Distinct boxes may clip to the same piece: keep one of each. */
        size_t k = 1;
        for (size_t m = i + 1; m < j; m++)
            if (cmp_box_order(&pieces[m].box, &pieces[i + k - 1].box) != 0)
                pieces[i + k++] = pieces[m];
        rc = decompose_cell(&pieces[i], k, c, blocks);
        i = j;
    }
    if (rc == MTP_ENOMEM) {
        mtp_error_set(err, rc, "plan: out of memory");
        goto out;
    }
    if (rc == MTP_ERANGE) {
        mtp_error_set(err, rc, "plan: channel %s: more than %llu blocks or too complex a cell",
                      chan, (unsigned long long)PLAN_MAX_BLOCKS);
        goto out;
    }
    size_t first = plan->first_block[c];
    plan->nblocks_of[c] = blocks->n - first;
    qsort(blocks->items + first, plan->nblocks_of[c], sizeof *blocks->items, cmp_block_qsort);
    for (size_t i = first; i < blocks->n; i++) {
        const mtp_box *b = &blocks->items[i].box;
        uint64_t voxels = mtp_box_voxels(b);
        /* dtype is unknown here: assume the worst, 8 bytes/voxel with the ÷4 rule. */
        if (voxels * 8 > 4 * MTP_SERVER_CUTOUT_CAP) {
            rc = mtp_error_set(err, MTP_ERANGE,
                               "plan: channel %s: block x%lld-%lld_y%lld-%lld_z%lld-%lld "
                               "has %llu voxels, over the server's cutout cap",
                               chan, (long long)b->x0, (long long)b->x1, (long long)b->y0,
                               (long long)b->y1, (long long)b->z0, (long long)b->z1,
                               (unsigned long long)voxels);
            goto out;
        }
        plan->voxels_of[c] += voxels;
    }
out:
    free(boxes.items);
    free(pieces);
    return rc;
}

int mtp_plan_new(mtp_plan **out, const mtp_config *cfg, mtp_error *err)
{
    int rc = 0;
    mtp_plan *plan = NULL;
    block_list blocks = {0};

    if (out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "plan: no output pointer");
    *out = NULL;
    if (cfg == NULL)
        return mtp_error_set(err, MTP_EINVAL, "plan: no config");
    if (cfg->nchannels < 0 || cfg->nchannels > MTP_MAX_CHANNELS || cfg->nregions < 0 ||
        cfg->nregions > MTP_MAX_REGIONS || cfg->nsplits < 0 || cfg->nsplits > MTP_MAX_SPLITS ||
        cfg->ntasks < 0 || cfg->ntasks > MTP_MAX_TASKS)
        return mtp_error_set(err, MTP_EINVAL, "plan: config counts out of range");
    for (int a = 0; a < 3; a++)
        if (cfg->source.block[a] < 1 || cfg->source.block[a] > MTP_MAX_BLOCK)
            return mtp_error_set(err, MTP_EINVAL, "plan: source.block[%d] = %lld out of range", a,
                                 (long long)cfg->source.block[a]);
    for (int t = 0; t < cfg->ntasks; t++) {
        const mtp_task *task = &cfg->tasks[t];
        /* A negative index means the task has no such channel. */
        if (task->image_channel >= cfg->nchannels || task->label_channel >= cfg->nchannels)
            return mtp_error_set(err, MTP_EINVAL, "plan: task %s: channel index invalid",
                                 task->name);
        if (task->nsplits < 0 || task->nsplits > MTP_MAX_SPLITS)
            return mtp_error_set(err, MTP_EINVAL, "plan: task %s: split count invalid", task->name);
    }

    plan = calloc(1, sizeof *plan);
    if (plan == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "plan: out of memory");
    for (int c = 0; c < cfg->nchannels && rc == 0; c++)
        rc = plan_channel(plan, &blocks, cfg, c, err);
    if (rc < 0)
        goto out;
    plan->nblocks = blocks.n;
    plan->blocks = blocks.items;
    blocks.items = NULL;
    *out = plan;
    plan = NULL;
out:
    free(blocks.items);
    mtp_plan_free(plan);
    return rc;
}

void mtp_plan_free(mtp_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->blocks);
    free(plan);
}

/* ---- requests: blocks grouped into fewer cutouts ---------------------------------------- */

uint64_t mtp_plan_request_voxels(const mtp_config *cfg, size_t elem_size)
{
    uint64_t cell = 1;
    for (int a = 0; a < 3; a++)
        cell *= cfg->source.block[a] > 0 ? (uint64_t)cfg->source.block[a] : 1;
    uint64_t cap = MTP_SERVER_CUTOUT_CAP / mtp_cutout_weight(1, elem_size);
    uint64_t most = cell < MTP_PLAN_REQUEST_VOXELS ? cell : MTP_PLAN_REQUEST_VOXELS;
    return most < cap ? most : cap;
}

/* A request being formed: a box exactly tiled by its blocks, which are a linked list of
 * positions in the caller's block list (next[]). */
typedef struct group {
    int channel;
    mtp_box box;
    size_t head, tail, first; /* first: the smallest position */
    bool live;
} group;

/* The sort key of a group for merging along one axis: the two other axes' extents, then
 * the start on the axis. */
typedef struct group_key {
    int channel;
    int64_t other[4];
    int64_t lo;
    size_t id;
} group_key;

static int64_t *box_axis(mtp_box *b, int axis, int end)
{
    int64_t *v[3][2] = {{&b->x0, &b->x1}, {&b->y0, &b->y1}, {&b->z0, &b->z1}};
    return v[axis][end];
}

static int cmp_group_key(const void *pa, const void *pb)
{
    const group_key *a = pa, *b = pb;
    int c = (a->channel > b->channel) - (a->channel < b->channel);
    for (int i = 0; i < 4 && c == 0; i++)
        c = cmp_i64(a->other[i], b->other[i]);
    return c != 0 ? c : cmp_i64(a->lo, b->lo);
}

static int cmp_group_first(const void *pa, const void *pb)
{
    const group *a = pa, *b = pb;
    return (a->first > b->first) - (a->first < b->first);
}

static int cmp_size(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    return (a > b) - (a < b);
}

/* One pass: merge runs of touching groups along `axis` while the union stays in bounds. */
static void merge_along(group *g, size_t ng, group_key *keys, size_t *next, int axis,
                        const uint64_t max_voxels[MTP_MAX_CHANNELS])
{
    size_t nk = 0;
    for (size_t i = 0; i < ng; i++) {
        if (!g[i].live)
            continue;
        group_key *k = &keys[nk++];
        k->channel = g[i].channel;
        for (int a = 0, o = 0; a < 3; a++) {
            if (a == axis)
                continue;
            k->other[o++] = *box_axis(&g[i].box, a, 0);
            k->other[o++] = *box_axis(&g[i].box, a, 1);
        }
        k->lo = *box_axis(&g[i].box, axis, 0);
        k->id = i;
    }
    qsort(keys, nk, sizeof *keys, cmp_group_key);
    for (size_t i = 0; i < nk;) {
        group *cur = &g[keys[i].id];
        size_t j = i + 1;
        for (; j < nk && memcmp(keys[j].other, keys[i].other, sizeof keys[i].other) == 0 &&
               keys[j].channel == keys[i].channel;
             j++) {
            group *nb = &g[keys[j].id];
            uint64_t limit = max_voxels[cur->channel];
            if (*box_axis(&cur->box, axis, 1) != *box_axis(&nb->box, axis, 0) ||
                mtp_box_voxels(&cur->box) + mtp_box_voxels(&nb->box) > limit)
                break;
            *box_axis(&cur->box, axis, 1) = *box_axis(&nb->box, axis, 1);
            next[cur->tail] = nb->head;
            cur->tail = nb->tail;
            if (nb->first < cur->first)
                cur->first = nb->first;
            nb->live = false;
        }
        i = j;
    }
}

int mtp_plan_requests(const mtp_plan *plan, const size_t *blocks, size_t n,
                      const uint64_t max_voxels[MTP_MAX_CHANNELS], mtp_request **requests,
                      size_t *nrequests, size_t **members, mtp_error *err)
{
    *requests = NULL;
    *nrequests = 0;
    *members = NULL;
    int rc = 0;
    group *g = calloc(n > 0 ? n : 1, sizeof *g);
    group_key *keys = calloc(n > 0 ? n : 1, sizeof *keys);
    size_t *next = calloc(n > 0 ? n : 1, sizeof *next);
    size_t *pos = calloc(n > 0 ? n : 1, sizeof *pos);
    mtp_request *req = calloc(n > 0 ? n : 1, sizeof *req);
    size_t *mem = calloc(n > 0 ? n : 1, sizeof *mem);
    if (g == NULL || keys == NULL || next == NULL || pos == NULL || req == NULL || mem == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "plan: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (blocks[i] >= plan->nblocks) {
            rc = mtp_error_set(err, MTP_EINVAL, "plan: block %zu of %zu", blocks[i], plan->nblocks);
            goto out;
        }
        const mtp_block *b = &plan->blocks[blocks[i]];
        if (b->channel < 0 || b->channel >= MTP_MAX_CHANNELS) {
            rc = mtp_error_set(err, MTP_EINVAL, "plan: block %zu: channel %d", blocks[i],
                               b->channel);
            goto out;
        }
        g[i] = (group){b->channel, b->box, i, i, i, true};
        next[i] = SIZE_MAX;
    }
    for (int axis = 0; axis < 3; axis++)
        merge_along(g, n, keys, next, axis, max_voxels);

    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (g[i].live)
            g[nr++] = g[i];
    qsort(g, nr, sizeof *g, cmp_group_first);
    size_t m = 0;
    for (size_t r = 0; r < nr; r++) {
        size_t count = 0;
        for (size_t p = g[r].head; p != SIZE_MAX; p = next[p])
            pos[count++] = p;
        qsort(pos, count, sizeof *pos, cmp_size);
        req[r] = (mtp_request){g[r].channel, g[r].box, m, count};
        for (size_t k = 0; k < count; k++)
            mem[m++] = blocks[pos[k]];
    }
    *requests = req;
    *nrequests = nr;
    *members = mem;
    req = NULL;
    mem = NULL;
out:
    free(g);
    free(keys);
    free(next);
    free(pos);
    free(req);
    free(mem);
    return rc;
}
