/*
 * synth.c — the synthetic prasad2020 volume (rules in synth.h).
 *
 * Filling a box rasterises the structures that can reach it instead of asking, per
 * voxel, which structure it is in: the grid cells near the box are enumerated, each
 * present structure is drawn clipped to the box, and priorities are kept by drawing in
 * increasing priority (axons, then cells, then vessels overwrite). The result depends
 * only on the rules, never on the box, so any two boxes agree where they overlap.
 * Everything is integer arithmetic, so the volume is the same on every machine.
 */
#include "synth.h"

#include <stdlib.h>
#include <string.h>

#include "mtp/codec.h"

enum { SALT_CELL = 1, SALT_IMAGE = 2, SALT_ROI = 3, SALT_TUBE = 16 };

static uint64_t mix64(uint64_t z)
{
    /* splitmix64's finaliser: every input bit reaches every output bit. */
    z += UINT64_C(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t family_key(uint64_t seed, uint64_t salt)
{
    return mix64(mix64(seed) ^ (salt * UINT64_C(0x2545f4914f6cdd1d)));
}

static uint64_t hash3(uint64_t key, int64_t a, int64_t b, int64_t c)
{
    return mix64(mix64(mix64(key ^ (uint64_t)a) ^ (uint64_t)b) ^ (uint64_t)c);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* A knot value in [-amp, amp] for knot index k. */
static int64_t knot(uint64_t key, int64_t k, int64_t amp)
{
    return (int64_t)(mix64(key ^ mix64((uint64_t)k)) % (uint64_t)(2 * amp + 1)) - amp;
}

/* Piecewise-linear hashed offset in [-amp, amp], knots every `period` along t. */
static int64_t wobble(uint64_t key, int64_t t, int64_t period, int64_t amp)
{
    int64_t k = floor_div(t, period);
    int64_t f = t - k * period;
    int64_t a = knot(key, k, amp), b = knot(key, k + 1, amp);
    return a + (b - a) * f / period;
}

static int64_t isqrt_small(int64_t n)
{
    int64_t w = 0;
    while ((w + 1) * (w + 1) <= n)
        w++;
    return w;
}

/* ---- the box being filled ----------------------------------------------------------- */

typedef struct grid_box {
    int64_t org[3]; /* x0, y0, z0 of the buffer */
    int64_t lo[3];  /* drawable range: the box, z clipped to the tissue */
    int64_t hi[3];
    int64_t stride[3]; /* 1, nx, nx*ny */
    uint8_t *cls;      /* one class code per voxel, Z,Y,X */
} grid_box;

enum { TISSUE_Z0 = 15, TISSUE_Z1 = 680 };

/* ---- tubes: vessels and axons -------------------------------------------------------- */

typedef struct tube_family {
    uint64_t salt;
    int axis;          /* long axis: 0 x, 1 y, 2 z */
    int64_t cell;      /* grid period in the plane across the axis */
    uint64_t permille; /* presence probability x 1000 */
    int64_t rmin, rmax;
    int64_t period, amp; /* wandering of the centre */
    uint8_t code;
} tube_family;

static const tube_family TUBES_AXON[] = {
    {SALT_TUBE + 0, 0, 18, 350, 1, 1, 40, 8, MTP_SYNTH_AXON},
    {SALT_TUBE + 1, 1, 18, 350, 1, 1, 40, 8, MTP_SYNTH_AXON},
    {SALT_TUBE + 2, 2, 30, 200, 1, 1, 40, 8, MTP_SYNTH_AXON},
};

static const tube_family TUBES_VESSEL[] = {
    {SALT_TUBE + 3, 2, 100, 600, 3, 6, 48, 20, MTP_SYNTH_VESSEL},
    {SALT_TUBE + 4, 0, 140, 500, 3, 6, 48, 20, MTP_SYNTH_VESSEL},
    {SALT_TUBE + 5, 1, 140, 500, 3, 6, 48, 20, MTP_SYNTH_VESSEL},
};

/* Draw one tube, whose cross-axes are u and v, into the box. */
static void draw_tube(const grid_box *g, const tube_family *f, int64_t bu, int64_t bv, int64_t r,
                      uint64_t ku, uint64_t kv)
{
    int a = f->axis, u = (a + 1) % 3, v = (a + 2) % 3;
    int64_t lim = r * r + r;
    for (int64_t t = g->lo[a]; t < g->hi[a]; t++) {
        int64_t cu = bu + wobble(ku, t, f->period, f->amp);
        int64_t cv = bv + wobble(kv, t, f->period, f->amp);
        if (cu + r < g->lo[u] || cu - r >= g->hi[u] || cv + r < g->lo[v] || cv - r >= g->hi[v])
            continue;
        int64_t base_t = (t - g->org[a]) * g->stride[a];
        for (int64_t dv = -r; dv <= r; dv++) {
            int64_t pv = cv + dv;
            if (pv < g->lo[v] || pv >= g->hi[v])
                continue;
            int64_t w = isqrt_small(lim - dv * dv);
            int64_t us = max64(cu - w, g->lo[u]), ue = min64(cu + w + 1, g->hi[u]);
            int64_t base = base_t + (pv - g->org[v]) * g->stride[v];
            for (int64_t pu = us; pu < ue; pu++)
                g->cls[base + (pu - g->org[u]) * g->stride[u]] = f->code;
        }
    }
}

static void draw_tube_family(const grid_box *g, uint64_t seed, const tube_family *f)
{
    int a = f->axis, u = (a + 1) % 3, v = (a + 2) % 3;
    uint64_t key = family_key(seed, f->salt);
    int64_t reach = f->amp + f->rmax + 1;
    int64_t gu0 = floor_div(g->lo[u] - reach, f->cell), gu1 = floor_div(g->hi[u] + reach, f->cell);
    int64_t gv0 = floor_div(g->lo[v] - reach, f->cell), gv1 = floor_div(g->hi[v] + reach, f->cell);
    for (int64_t gu = gu0; gu <= gu1; gu++) {
        for (int64_t gv = gv0; gv <= gv1; gv++) {
            uint64_t h = hash3(key, gu, gv, 0);
            if (h % 1000 >= f->permille)
                continue;
            int64_t bu = gu * f->cell + (int64_t)((h >> 10) % (uint64_t)f->cell);
            int64_t bv = gv * f->cell + (int64_t)((h >> 26) % (uint64_t)f->cell);
            int64_t r = f->rmin + (int64_t)((h >> 42) % (uint64_t)(f->rmax - f->rmin + 1));
            int64_t far = f->amp + r;
            if (bu + far < g->lo[u] || bu - far >= g->hi[u] || bv + far < g->lo[v] ||
                bv - far >= g->hi[v])
                continue;
            draw_tube(g, f, bu, bv, r, mix64(h ^ 0x75), mix64(h ^ 0x76));
        }
    }
}

/* ---- cells --------------------------------------------------------------------------- */

enum { CELL_GRID = 24, CELL_RMAX = 10, CELL_PERMILLE = 450 };

static void draw_cell(const grid_box *g, int64_t c[3], int64_t rad[3])
{
    /* Inside: dx^2 (ry rz)^2 + dy^2 (rx rz)^2 + dz^2 (rx ry)^2 <= (rx ry rz)^2 */
    int64_t ca = rad[1] * rad[2] * rad[1] * rad[2];
    int64_t cb = rad[0] * rad[2] * rad[0] * rad[2];
    int64_t cc = rad[0] * rad[1] * rad[0] * rad[1];
    int64_t all = ca * rad[0] * rad[0];
    int64_t z0 = max64(c[2] - rad[2], g->lo[2]), z1 = min64(c[2] + rad[2] + 1, g->hi[2]);
    int64_t y0 = max64(c[1] - rad[1], g->lo[1]), y1 = min64(c[1] + rad[1] + 1, g->hi[1]);
    for (int64_t z = z0; z < z1; z++) {
        int64_t remz = all - (z - c[2]) * (z - c[2]) * cc;
        for (int64_t y = y0; y < y1; y++) {
            int64_t rem = remz - (y - c[1]) * (y - c[1]) * cb;
            if (rem < 0)
                continue;
            int64_t w = 0;
            while ((w + 1) * (w + 1) * ca <= rem)
                w++;
            int64_t xs = max64(c[0] - w, g->lo[0]), xe = min64(c[0] + w + 1, g->hi[0]);
            if (xs >= xe)
                continue;
            int64_t row = (z - g->org[2]) * g->stride[2] + (y - g->org[1]) * g->stride[1];
            memset(g->cls + row + (xs - g->org[0]), MTP_SYNTH_CELL, (size_t)(xe - xs));
        }
    }
}

static void draw_cells(const grid_box *g, uint64_t seed)
{
    uint64_t key = family_key(seed, SALT_CELL);
    int64_t g0[3], g1[3];
    for (int i = 0; i < 3; i++) {
        g0[i] = floor_div(g->lo[i] - CELL_RMAX, CELL_GRID);
        g1[i] = floor_div(g->hi[i] - 1 + CELL_RMAX, CELL_GRID);
    }
    for (int64_t gz = g0[2]; gz <= g1[2]; gz++)
        for (int64_t gy = g0[1]; gy <= g1[1]; gy++)
            for (int64_t gx = g0[0]; gx <= g1[0]; gx++) {
                uint64_t h = hash3(key, gx, gy, gz);
                if (h % 1000 >= CELL_PERMILLE)
                    continue;
                int64_t c[3] = {gx * CELL_GRID + (int64_t)((h >> 10) % CELL_GRID),
                                gy * CELL_GRID + (int64_t)((h >> 20) % CELL_GRID),
                                gz * CELL_GRID + (int64_t)((h >> 30) % CELL_GRID)};
                int64_t r = 4 + (int64_t)((h >> 40) % 6);
                int64_t rad[3] = {r - 1 + (int64_t)((h >> 44) % 3),
                                  r - 1 + (int64_t)((h >> 48) % 3),
                                  r - 1 + (int64_t)((h >> 52) % 3)};
                int skip = 0;
                for (int i = 0; i < 3; i++)
                    if (c[i] + rad[i] < g->lo[i] || c[i] - rad[i] >= g->hi[i])
                        skip = 1;
                if (!skip)
                    draw_cell(g, c, rad);
            }
}

/* Class codes (pixel_labels) of the box into cls (nx*ny*nz bytes). */
static void fill_classes(uint64_t seed, const mtp_box *box, uint8_t *cls)
{
    int64_t nx = box->x1 - box->x0, ny = box->y1 - box->y0, nz = box->z1 - box->z0;
    memset(cls, MTP_SYNTH_BACKGROUND, (size_t)(nx * ny * nz));
    grid_box g = {.org = {box->x0, box->y0, box->z0},
                  .lo = {box->x0, box->y0, max64(box->z0, TISSUE_Z0)},
                  .hi = {box->x1, box->y1, min64(box->z1, TISSUE_Z1)},
                  .stride = {1, nx, nx * ny},
                  .cls = cls};
    if (g.lo[2] >= g.hi[2])
        return;
    for (size_t i = 0; i < sizeof TUBES_AXON / sizeof TUBES_AXON[0]; i++)
        draw_tube_family(&g, seed, &TUBES_AXON[i]);
    draw_cells(&g, seed);
    for (size_t i = 0; i < sizeof TUBES_VESSEL / sizeof TUBES_VESSEL[0]; i++)
        draw_tube_family(&g, seed, &TUBES_VESSEL[i]);
}

/* ---- image --------------------------------------------------------------------------- */

static void fill_image(uint64_t seed, const mtp_box *box, uint8_t *img)
{
    static const int base[4] = {130, 40, 200, 90};
    fill_classes(seed, box, img);
    uint64_t key = family_key(seed, SALT_IMAGE);
    int64_t nx = box->x1 - box->x0;
    uint8_t *p = img;
    for (int64_t z = box->z0; z < box->z1; z++) {
        int tissue = z >= TISSUE_Z0 && z < TISSUE_Z1;
        for (int64_t y = box->y0; y < box->y1; y++) {
            uint64_t row = mix64(key ^ ((uint64_t)z * UINT64_C(0x9fb21c651e98df25)) ^
                                 ((uint64_t)y * UINT64_C(0xc2b2ae3d27d4eb4f)));
            for (int64_t i = 0; i < nx; i++) {
                uint64_t h = mix64(row ^ ((uint64_t)(box->x0 + i) * UINT64_C(0x165667b19e3779f9)));
                int noise = (int)(((h >> 32) * 41) >> 32) - 20;
                int v = tissue ? base[p[i] & 3] + noise : 10 + noise / 4;
                p[i] = (uint8_t)v;
            }
            p += nx;
        }
    }
}

/* ---- roi_labels ---------------------------------------------------------------------- */

enum {
    ROI_CLEAR = 0,
    ROI_CORTEX = 1,
    ROI_STRIATUM = 2,
    ROI_TRN = 3,
    ROI_VP = 4,
    ROI_ZI = 5,
    ROI_IC = 6,
    ROI_HYPO = 7,
    ROI_CC = 8
};

/* One boundary: centre + wobble(key_i, t, period, amp) with t along the boundary. */
typedef struct roi_edge {
    int64_t centre, period, amp;
} roi_edge;

/* Boundaries across x (functions of y): zi, ic, vp, striatum, cc, cortex starts. */
static const roi_edge ROI_X_EDGES[6] = {
    {1300, 96, 30}, {1760, 64, 12}, {2900, 96, 40}, {3450, 96, 40}, {4300, 96, 30}, {4420, 96, 30},
};
/* Boundaries across y (functions of x): tissue top, tissue bottom, hypothalamus under the
 * left part, hypothalamus under zi, trn under vp. */
static const roi_edge ROI_Y_EDGES[5] = {
    {60, 128, 20}, {1370, 128, 20}, {700, 96, 20}, {680, 64, 12}, {880, 64, 15},
};

static int64_t roi_edge_at(uint64_t key, int i, const roi_edge *e, int64_t t, int64_t z)
{
    /* The pattern drifts a quarter voxel per slice: boundaries move slowly with z. */
    return e->centre + wobble(mix64(key ^ (uint64_t)i), t + floor_div(z, 4), e->period, e->amp);
}

static uint8_t roi_code(int64_t x, int64_t y, const int64_t *ex, const int64_t *ey)
{
    if (y < ey[0] || y >= ey[1])
        return ROI_CLEAR;
    if (x < ex[0])
        return y < ey[2] ? ROI_HYPO : ROI_CLEAR;
    if (x < ex[1])
        return y < ey[3] ? ROI_HYPO : ROI_ZI;
    if (x < ex[2])
        return ROI_IC;
    if (x < ex[3])
        return y < ey[4] ? ROI_TRN : ROI_VP;
    if (x < ex[4])
        return ROI_STRIATUM;
    if (x < ex[5])
        return ROI_CC;
    return ROI_CORTEX;
}

/* roi codes of the box into out (nx*ny*nz bytes); edges is scratch of 5*nx int64. */
static void fill_roi(uint64_t seed, const mtp_box *box, uint8_t *out, int64_t *edges)
{
    uint64_t key = family_key(seed, SALT_ROI);
    int64_t nx = box->x1 - box->x0, ny = box->y1 - box->y0;
    uint8_t *p = out;
    for (int64_t z = box->z0; z < box->z1; z++) {
        if (z >= MTP_SYNTH_ROI_Z_STOP) {
            memset(p, ROI_CLEAR, (size_t)(nx * ny));
            p += nx * ny;
            continue;
        }
        for (int64_t i = 0; i < nx; i++)
            for (int k = 0; k < 5; k++)
                edges[i * 5 + k] = roi_edge_at(key, 10 + k, &ROI_Y_EDGES[k], box->x0 + i, z);
        for (int64_t y = box->y0; y < box->y1; y++) {
            int64_t ex[6];
            for (int k = 0; k < 6; k++)
                ex[k] = roi_edge_at(key, k, &ROI_X_EDGES[k], y, z);
            for (int64_t i = 0; i < nx; i++)
                p[i] = roi_code(box->x0 + i, y, ex, edges + i * 5);
            p += nx;
        }
    }
}

/* ---- public -------------------------------------------------------------------------- */

int mtp_synth_bits(mtp_synth_channel channel)
{
    return channel == MTP_SYNTH_IMAGE ? 8 : 64;
}

int mtp_synth_box_bytes(mtp_synth_channel channel, const mtp_box *box, size_t *out, mtp_error *err)
{
    if (box == NULL || out == NULL)
        return mtp_error_set(err, MTP_EINVAL, "synth: NULL argument");
    *out = 0;
    const int64_t lo[3] = {box->x0, box->y0, box->z0}, hi[3] = {box->x1, box->y1, box->z1};
    for (int i = 0; i < 3; i++) {
        if (lo[i] < -MTP_SYNTH_COORD_MAX || hi[i] > MTP_SYNTH_COORD_MAX || lo[i] >= hi[i])
            return mtp_error_set(err, MTP_EINVAL,
                                 "synth: box %lld:%lld/%lld:%lld/%lld:%lld is empty or too far",
                                 (long long)box->x0, (long long)box->x1, (long long)box->y0,
                                 (long long)box->y1, (long long)box->z0, (long long)box->z1);
    }
    /* Each extent is below 2^41; multiply step by step against the cap. */
    unsigned long long limit = MTP_BLOSC_MAX_NBYTES;
    unsigned long long bytes = (unsigned long long)mtp_synth_bits(channel) / 8;
    for (int i = 0; i < 3; i++) {
        unsigned long long n = (unsigned long long)(hi[i] - lo[i]);
        if (n > limit / bytes)
            return mtp_error_set(err, MTP_ERANGE,
                                 "synth: box %lld:%lld/%lld:%lld/%lld:%lld is over the blosc1 "
                                 "chunk limit %llu bytes",
                                 (long long)box->x0, (long long)box->x1, (long long)box->y0,
                                 (long long)box->y1, (long long)box->z0, (long long)box->z1, limit);
        bytes *= n;
    }
    *out = (size_t)bytes;
    return 0;
}

int mtp_synth_fill(uint64_t seed, mtp_synth_channel channel, const mtp_box *box, void *dst,
                   size_t dst_len, mtp_error *err)
{
    size_t need = 0;
    int rc = mtp_synth_box_bytes(channel, box, &need, err);
    if (rc < 0)
        return rc;
    if (dst == NULL || dst_len != need)
        return mtp_error_set(err, MTP_EINVAL, "synth: buffer of %zu bytes, box needs %zu", dst_len,
                             need);
    if (channel == MTP_SYNTH_IMAGE) {
        fill_image(seed, box, dst);
        return 0;
    }
    size_t n = need / 8;
    uint8_t *codes = dst; /* codes first, in the buffer's first n bytes */
    if (channel == MTP_SYNTH_ROI_LABELS) {
        int64_t *edges = malloc((size_t)(box->x1 - box->x0) * 5 * sizeof *edges);
        if (edges == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "synth: out of memory");
        fill_roi(seed, box, codes, edges);
        free(edges);
    } else {
        fill_classes(seed, box, codes);
    }
    /* Widen in place, from the end: byte i moves to bytes [8i, 8i+8), never ahead of a
     * code still unread. Written byte by byte, so the result is little-endian anywhere. */
    uint8_t *out = dst;
    for (size_t i = n; i-- > 0;) {
        uint8_t c = codes[i];
        memset(out + 8 * i, 0, 8);
        out[8 * i] = c;
    }
    return 0;
}

int mtp_synth_body(uint64_t seed, mtp_synth_channel channel, const mtp_box *box, void **body,
                   size_t *body_len, mtp_error *err)
{
    if (body == NULL || body_len == NULL)
        return mtp_error_set(err, MTP_EINVAL, "synth: NULL output");
    *body = NULL;
    *body_len = 0;
    size_t need = 0;
    int rc = mtp_synth_box_bytes(channel, box, &need, err);
    if (rc < 0)
        return rc;
    void *raw = malloc(need);
    if (raw == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "synth: cannot allocate %zu bytes", need);
    rc = mtp_synth_fill(seed, channel, box, raw, need, err);
    if (rc == 0)
        rc = mtp_codec_encode_boss(raw, need, mtp_synth_bits(channel), body, body_len, err);
    free(raw);
    return rc;
}
