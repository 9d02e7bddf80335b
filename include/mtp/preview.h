/*
 * preview.h — PNG montages of a task bundle file (DESIGN §7; at the top level of a flat release).
 *
 * One PNG per split of a `<task>.h5` bundle: `<out_dir>/preview_<task>_<split>.png`, where
 * <task> is the file's `task` attribute and both names are sanitized to [A-Za-z0-9._-] (anything else becomes
 * '_'). The file is read with HDF5, one sample slice at a time (a hyperslab per shown sample);
 * a split is never read whole. The library never prints: HDF5's automatic error printing is
 * switched off for the duration of the call (and restored), libpng's messages go into `err`.
 *
 * Montage layout (all sizes in pixels; the tests assert this formula):
 *   - Tile: the sample's image in gray. Depth > 1 (N, D, H, W): the window's FIRST slice, the
 *     one at the sample's `origin` z. Tiles are downscaled 2x (2x2 box average of the final
 *     RGB, round half up) when H >= 128 and W >= 128, so 256x256 slices become 128x128;
 *     smaller slices are shown 1:1. tw = W / f, th = H / f, with f the factor (1 or 2).
 *   - Segmentation: the mask over the image as a translucent colour, alpha 0.45:
 *     out = (gray * 55 + colour * 45 + 50) / 100 per channel (integer); class 0 is not drawn.
 *   - Classification: a 6 px border around the tile in the label's colour.
 *   - Features: the image only.
 *   - Colours by class index (mtp_preview_class_colour): 0 white, 1 red, 2 green, 3 blue,
 *     4 yellow, 5 magenta, 6 cyan, 7 orange, 8 violet, then 1.. again. Class 0 is only ever
 *     seen as a classification border: a mask's class 0 is background and stays gray.
 *   - Cell = tile plus a 6 px border on each side: cw = tw + 12, ch = th + 12. Background
 *     dark gray (32, 32, 32); non-classification borders are background.
 *   - Rows: one per region that has samples in the split, in region enum-value order (the
 *     config's order); up to 4 samples per region, evenly spaced over that region's samples:
 *     with m samples and k = min(4, m) the picks are i * (m - 1) / (k - 1), i = 0..k-1
 *     (integer division; the first and the last sample are always shown).
 *   - Text: a built-in 5x7 font at scale 2 (12 px advance, 14 px high), letters shown as
 *     capitals; text that does not fit the width is clipped.
 *   - pad = 4, band = 22 (text 14 + 2 * pad). cols = min(4, largest region count).
 *     width  = pad + cols * (cw + pad)
 *     height = band (title "<task> <split> n=<N>")
 *            + rows * (band (region name "n=<count>") + ch)
 *            + legend_lines * 18 + pad
 *   - Legend (classification: every class; segmentation: classes 1..; features: none): one
 *     entry per class, a 14x14 swatch, 6 px, the class name (at most 24 characters), 12 px
 *     to the next entry; entries wrap greedily when the entry would pass width - pad. Each
 *     legend line is 18 px high (pad above, then the 14 px swatch and text).
 *
 * Root attributes read: `task`, `kind`, `splits`, `classes` (not for kind "features"), each a
 * variable- or fixed-length string or 1-D array of them; `format_version`, if present, must
 * be 1. Per split: `images`, `region` (enum(uint8): member names are the region names), and
 * `masks` (segmentation) or `labels` (classification, enum(uint8) or uint8). Label and mask
 * values are drawn, not validated (that is `verify`'s job): any index gets a palette colour.
 *
 * PNGs are RGB, 8 bit, no interlace, zlib level 2 (fast; previews are small), a single fixed filter
 * (Up), no tIME/text chunks: the same input gives the same bytes. Each is written atomically (temp
 * file, fsync, rename).
 */
#ifndef MTP_PREVIEW_H
#define MTP_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "mtp/error.h"

/* Caps on sizes read from a bundle, checked before anything is allocated. */
#define MTP_PREVIEW_MAX_EDGE 4096        /* H and W of a slice */
#define MTP_PREVIEW_MAX_DEPTH 64         /* D of a 3-D window */
#define MTP_PREVIEW_MAX_SAMPLES 16777216 /* N of a split */
#define MTP_PREVIEW_MAX_PIXELS 33554432  /* width * height of one montage */
#define MTP_PREVIEW_PER_REGION 4         /* samples shown per region */

/*
 * Write one montage per split listed in the `splits` attribute of the bundle at `h5_path`
 * into `out_dir` (created with its parents if missing). *nwritten (optional) counts the PNGs
 * written, also on failure (those files are complete; the failing split leaves nothing).
 *
 * Errors:
 *   MTP_EFORMAT  not an HDF5 file, or a missing/malformed attribute or dataset, with context:
 *                "<h5_path>: not an HDF5 file", "<h5_path>: attribute 'kind': not found",
 *                "<h5_path>: /train/images: dataset not found",
 *                "<h5_path>: /train/masks: shape differs from /train/images", ...
 *   MTP_ERANGE   a size beyond the MTP_PREVIEW_* caps ("<h5_path>: /train/images: slice
 *                5000x256 exceeds 4096x4096")
 *   MTP_EIO      the file cannot be opened, or out_dir / the PNG cannot be written
 *   MTP_ENOMEM, MTP_EINVAL (NULL path or out_dir)
 */
int mtp_preview_bundle(const char *h5_path, const char *out_dir, int *nwritten, mtp_error *err);

/*
 * Encode `w` x `h` RGB pixels (row-major, 3 bytes per pixel, no row padding) as a
 * deterministic PNG (see above) and write it atomically to `path`.
 * Errors: MTP_EINVAL (NULL, zero or w*h beyond MTP_PREVIEW_MAX_PIXELS), MTP_EFORMAT (libpng
 * failed; its message follows the path), MTP_ENOMEM, MTP_EIO.
 */
int mtp_preview_write_png(const char *path, const uint8_t *rgb, size_t w, size_t h, mtp_error *err);

/* The RGB colour of class index `cls` (see the palette above) in rgb[0..2]. */
void mtp_preview_class_colour(unsigned cls, uint8_t rgb[3]);

#endif
