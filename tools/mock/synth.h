/*
 * synth.h — the synthetic prasad2020 volume bossdb-mock serves.
 *
 * Every voxel is a pure function of (seed, channel, x, y, z): any box can be produced on
 * demand, and overlapping boxes agree voxel for voxel. The functions below fill a whole
 * box at once (payload order Z, Y, X, x fastest, like a BossDB cutout).
 *
 * The frame is prasad_prasad2020: x [0, 5805), y [0, 1420), z [0, 720). Boxes outside it
 * are defined by the same rules, but the server never asks for them.
 *
 * Structures. Positions come from 64-bit hashes of (seed, a per-family salt, grid
 * indices), so filling a box visits only the grid cells near it. Tissue lies in
 * z [15, 680); outside it there are no structures.
 *   - cells: one candidate per 24x24x24 grid cell (cell (i,j,k) spans [24i, 24i+24) on
 *     each axis), present with probability 0.45, centre anywhere in its grid cell; an
 *     axis-aligned ellipsoid with semi-axes r-1..r+1 around a base radius r in 4..9;
 *   - vessels: tubes of radius 3..6 running along z (one candidate per 100x100 cell of
 *     the x-y plane, p 0.6), along x (per 140x140 of y-z, p 0.5) and along y (per
 *     140x140 of x-z, p 0.5); the centre wanders up to 20 voxels across the tube,
 *     piecewise-linearly with knots every 48 voxels along it;
 *   - axons: tubes of radius 1 along x (per 18x18 of y-z, p 0.35), along y (per 18x18 of
 *     x-z, p 0.35) and along z (per 30x30 of x-y, p 0.2), wandering up to 8 voxels with
 *     knots every 40.
 *   A voxel lies in a tube of radius r when, in the plane across the tube's axis at the
 *   voxel's position along it, its squared distance to the centre is <= r*r + r.
 *
 * Channels:
 *   - pixel_labels (uint64): 1 vessel if in any vessel, else 2 cell if in any cell, else
 *     3 axon if in any axon, else 0 background;
 *   - image (uint8): 40 in vessels, 200 in cells, 90 in axons, 130 background, each plus
 *     hashed per-voxel noise in [-20, 20]; outside the tissue z range 10 + noise / 4;
 *   - roi_labels (uint64, codes 0..8): 0 for z >= 460 (the real annotation is empty
 *     there). Below, a map over (x, y) whose boundaries wobble smoothly with x, y and z
 *     (piecewise-linear hashed offsets, integer arithmetic only). Going up in x:
 *       7 hypothalamus for y < ~700, else 0 | from x ~1300: 5 zona incerta, 7 below y ~680
 *       | from x ~1760: 6 internal capsule | from x ~2900: 4 ventral pallidum, 3 TRN below
 *       y ~880 | from x ~3450: 2 striatum | from x ~4300: 8 corpus callosum | from
 *       x ~4420: 1 cortex;
 *     and 0 near the y edges (y < ~60, y >= ~1370). Whatever the seed and for every
 *     z < 460, each MTNeuro region box is mostly its own code: cortex all 1, striatum all
 *     2, vp 4 with 6-18% TRN (3), zi 5 with at most 17% code 7 and at most 20% code 6.
 */
#ifndef MTP_SYNTH_H
#define MTP_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"
#include "mtp/types.h"

#define MTP_SYNTH_X_STOP 5805
#define MTP_SYNTH_Y_STOP 1420
#define MTP_SYNTH_Z_STOP 720
#define MTP_SYNTH_ROI_Z_STOP 460               /* roi_labels are 0 from here up */
#define MTP_SYNTH_COORD_MAX (INT64_C(1) << 40) /* |coordinate| cap for any box */

typedef enum mtp_synth_channel {
    MTP_SYNTH_IMAGE = 0,        /* uint8 */
    MTP_SYNTH_PIXEL_LABELS = 1, /* uint64, codes 0..3 */
    MTP_SYNTH_ROI_LABELS = 2,   /* uint64, codes 0..8 */
} mtp_synth_channel;

/* pixel_labels codes */
enum { MTP_SYNTH_BACKGROUND = 0, MTP_SYNTH_VESSEL = 1, MTP_SYNTH_CELL = 2, MTP_SYNTH_AXON = 3 };

/* Bit depth of a channel's voxels: 8 or 64. */
int mtp_synth_bits(mtp_synth_channel channel);

/*
 * Bytes a box of `channel` takes, in *out. MTP_EINVAL for an empty or inverted box or a
 * coordinate beyond +-MTP_SYNTH_COORD_MAX; MTP_ERANGE if it exceeds the blosc1 chunk
 * limit (MTP_BLOSC_MAX_NBYTES). Never overflows.
 */
int mtp_synth_box_bytes(mtp_synth_channel channel, const mtp_box *box, size_t *out, mtp_error *err);

/*
 * Fill dst with the box: Z,Y,X order, uint64 little-endian for the label channels.
 * dst_len must be exactly what mtp_synth_box_bytes gives, else MTP_EINVAL.
 */
int mtp_synth_fill(uint64_t seed, mtp_synth_channel channel, const mtp_box *box, void *dst,
                   size_t dst_len, mtp_error *err);

/*
 * The cutout body for a box: mtp_synth_fill, then mtp_codec_encode_boss with typesize =
 * the bit depth. *body is malloc'ed and owned by the caller (NULL on failure).
 */
int mtp_synth_body(uint64_t seed, mtp_synth_channel channel, const mtp_box *box, void **body,
                   size_t *body_len, mtp_error *err);

#endif
