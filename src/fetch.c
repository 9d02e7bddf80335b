/*
 * fetch.c — metadata checks and the download loop. See fetch.h.
 */
#include "mtp/fetch.h"

#include "mtp/assemble.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOTE_MAX 1536

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- metadata ------------------------------------------------------------------------- */

/* [lo, hi) of a level-0 range at resolution `level`: halved per level, rounding outward. */
static mtp_range scale_range(int64_t lo, int64_t hi, int level)
{
    int64_t f = (int64_t)1 << level;
    mtp_range r = {lo / f, (hi + f - 1) / f};
    return r;
}

static bool inside(const mtp_range *r, const mtp_range *frame)
{
    return r->start >= frame->start && r->stop <= frame->stop;
}

static int check_range(const char *what, const char *axis, const mtp_range *r,
                       const mtp_range *frame, const mtp_channel *ch, mtp_error *err)
{
    if (inside(r, frame))
        return 0;
    return mtp_error_set(err, MTP_EDATA,
                         "%s%s%s [%" PRId64 ", %" PRId64 ") lies outside the frame %s [%" PRId64
                         ", %" PRId64 ") of %s/%s",
                         what, what[0] != '\0' ? " " : "", axis, r->start, r->stop, axis,
                         frame->start, frame->stop, ch->collection, ch->experiment);
}

static int check_channel(const mtp_config *cfg, int c, const mtp_channel_meta *m, mtp_error *err)
{
    const mtp_channel *ch = &cfg->channels[c];
    int res = cfg->source.resolution;
    bool image = mtp_config_channel_is_image(cfg, c);
    if (m->dtype == MTP_DTYPE_UNKNOWN)
        return mtp_error_set(err, MTP_EDATA, "channel %s (%s): unsupported datatype '%s'", ch->name,
                             ch->uri, m->datatype);
    if (image && m->dtype != MTP_DTYPE_UINT8)
        return mtp_error_set(err, MTP_EDATA,
                             "channel %s (%s) is %s, but the tasks use it as images, which "
                             "must be uint8",
                             ch->name, ch->uri, m->datatype);
    if (res < m->base_resolution || res >= m->base_resolution + m->num_hierarchy_levels)
        return mtp_error_set(
            err, MTP_EDATA, "resolution %d is not available for %s: valid levels are [%d, %d)", res,
            ch->uri, m->base_resolution, m->base_resolution + m->num_hierarchy_levels);
    mtp_range fx = scale_range(m->frame.x0, m->frame.x1, res);
    mtp_range fy = scale_range(m->frame.y0, m->frame.y1, res);
    mtp_range fz = m->isotropic ? scale_range(m->frame.z0, m->frame.z1, res)
                                : (mtp_range){m->frame.z0, m->frame.z1};
    for (int r = 0; r < cfg->nregions; r++) {
        const mtp_region *reg = &cfg->regions[r];
        char what[MTP_NAME_MAX + 16];
        snprintf(what, sizeof what, "region %s", reg->name);
        int rc = check_range(what, "x", &reg->x, &fx, ch, err);
        if (rc == 0)
            rc = check_range(what, "y", &reg->y, &fy, ch, err);
        if (rc < 0)
            return rc;
    }
    return check_range("", "z", &cfg->z, &fz, ch, err);
}

int mtp_fetch_metadata(mtp_boss *boss, const mtp_config *cfg, const mtp_plan *plan,
                       mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err)
{
    memset(meta, 0, sizeof(mtp_channel_meta) * MTP_MAX_CHANNELS);
    const mtp_channel *used[MTP_MAX_CHANNELS];
    int nused = 0;
    for (int c = 0; c < cfg->nchannels && c < MTP_MAX_CHANNELS; c++)
        if (plan->used[c])
            used[nused++] = &cfg->channels[c];
    mtp_boss_prefetch_meta(boss, used, nused);
    for (int c = 0; c < cfg->nchannels && c < MTP_MAX_CHANNELS; c++) {
        if (!plan->used[c])
            continue;
        int rc = mtp_boss_channel_meta(boss, &cfg->channels[c], &meta[c], err);
        if (rc == 0)
            rc = check_channel(cfg, c, &meta[c], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- metadata in the cache ------------------------------------------------------------ */

#define META_RECORD "channel-meta.txt"
#define META_MAGIC "mtneuro-pack channel-meta 1"

/* Append `text` with bytes < 0x21, '%' and 0x7f as %XX. */
static size_t put_escaped(char *buf, size_t n, size_t at, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p < 0x21 || *p == '%' || *p == 0x7f) {
            if (at + 3 < n) {
                buf[at] = '%';
                buf[at + 1] = hex[*p >> 4];
                buf[at + 2] = hex[*p & 15];
            }
            at += 3;
        } else {
            if (at + 1 < n)
                buf[at] = (char)*p;
            at++;
        }
    }
    return at;
}

static size_t put_line(char *buf, size_t n, size_t at, const char *key, const char *text)
{
    int w = snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "%s ", key);
    at += w > 0 ? (size_t)w : 0;
    at = put_escaped(buf, n, at, text);
    if (at + 1 < n)
        buf[at] = '\n';
    return at + 1;
}

int mtp_fetch_meta_encode(const mtp_channel_meta *m, char *buf, size_t n)
{
    char nums[512];
    size_t at = 0;
    int w = snprintf(buf, n, "%s\n", META_MAGIC);
    at = w > 0 ? (size_t)w : 0;
    at = put_line(buf, n, at, "type", m->type);
    at = put_line(buf, n, at, "datatype", m->datatype);
    snprintf(nums, sizeof nums, "base_resolution %d\nnum_hierarchy_levels %d\nisotropic %d\n",
             m->base_resolution, m->num_hierarchy_levels, m->isotropic ? 1 : 0);
    w = snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "%s", nums);
    at += w > 0 ? (size_t)w : 0;
    at = put_line(buf, n, at, "coord_frame", m->coord_frame);
    snprintf(nums, sizeof nums,
             "frame %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64
             "\nvoxel_size %.17g %.17g %.17g\n",
             m->frame.x0, m->frame.x1, m->frame.y0, m->frame.y1, m->frame.z0, m->frame.z1,
             m->voxel_size[0], m->voxel_size[1], m->voxel_size[2]);
    w = snprintf(at < n ? buf + at : NULL, at < n ? n - at : 0, "%s", nums);
    at += w > 0 ? (size_t)w : 0;
    at = put_line(buf, n, at, "voxel_unit", m->voxel_unit);
    if (at >= n)
        return MTP_ERANGE;
    buf[at] = '\0';
    return (int)at;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Unescape `text` (one line's value) into dst (n bytes): 0 or -1. */
static int get_escaped(const char *text, size_t len, char *dst, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = hex_digit(text[i + 1]), lo = hex_digit(text[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return -1;
            i += 2;
        } else if ((unsigned char)c < 0x21 || c == 0x7f) {
            return -1;
        }
        if (k + 1 >= n)
            return -1;
        dst[k++] = c;
    }
    dst[k] = '\0';
    return 0;
}

int mtp_fetch_meta_decode(const char *text, mtp_channel_meta *out, mtp_error *err)
{
    static const char *const keys[] = {
        "type",      "datatype",    "base_resolution", "num_hierarchy_levels",
        "isotropic", "coord_frame", "frame",           "voxel_size",
        "voxel_unit"};
    mtp_channel_meta m;
    memset(&m, 0, sizeof m);
    const char *line = text;
    const char *nl = strchr(line, '\n');
    if (nl == NULL || (size_t)(nl - line) != strlen(META_MAGIC) ||
        strncmp(line, META_MAGIC, strlen(META_MAGIC)) != 0)
        return mtp_error_set(err, MTP_ECORRUPT, "line 1: not '%s'", META_MAGIC);
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        int lineno = (int)k + 2;
        line = nl + 1;
        nl = strchr(line, '\n');
        size_t klen = strlen(keys[k]);
        if (nl == NULL || (size_t)(nl - line) < klen + 1 || strncmp(line, keys[k], klen) != 0 ||
            line[klen] != ' ')
            return mtp_error_set(err, MTP_ECORRUPT, "line %d: expected '%s VALUE'", lineno,
                                 keys[k]);
        const char *v = line + klen + 1;
        size_t vlen = (size_t)(nl - v);
        char value[256];
        int bad = vlen >= sizeof value;
        if (!bad) {
            memcpy(value, v, vlen);
            value[vlen] = '\0';
        }
        int used = 0, got = 0;
        switch (k) {
        case 0:
            bad = bad || get_escaped(v, vlen, m.type, sizeof m.type) < 0;
            break;
        case 1:
            bad = bad || get_escaped(v, vlen, m.datatype, sizeof m.datatype) < 0;
            m.dtype = mtp_dtype_parse(m.datatype);
            break;
        case 2:
            got = bad ? 0 : sscanf(value, "%d%n", &m.base_resolution, &used);
            bad = bad || got != 1 || (size_t)used != vlen || m.base_resolution < 0 ||
                  m.base_resolution > 9;
            break;
        case 3:
            got = bad ? 0 : sscanf(value, "%d%n", &m.num_hierarchy_levels, &used);
            bad = bad || got != 1 || (size_t)used != vlen || m.num_hierarchy_levels < 1 ||
                  m.num_hierarchy_levels > 32;
            break;
        case 4:
            bad = bad || (strcmp(value, "0") != 0 && strcmp(value, "1") != 0);
            m.isotropic = !bad && value[0] == '1';
            break;
        case 5:
            bad = bad || get_escaped(v, vlen, m.coord_frame, sizeof m.coord_frame) < 0;
            break;
        case 6: {
            int64_t *f[6] = {&m.frame.x0, &m.frame.x1, &m.frame.y0,
                             &m.frame.y1, &m.frame.z0, &m.frame.z1};
            got = bad ? 0
                      : sscanf(value,
                               "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64
                               " %" SCNd64 "%n",
                               f[0], f[1], f[2], f[3], f[4], f[5], &used);
            bad = bad || got != 6 || (size_t)used != vlen;
            for (int a = 0; a < 3 && !bad; a++)
                bad = *f[2 * a] < 0 || *f[2 * a] >= *f[2 * a + 1] ||
                      *f[2 * a + 1] > ((int64_t)1 << 40);
            break;
        }
        case 7:
            got = bad ? 0
                      : sscanf(value, "%lf %lf %lf%n", &m.voxel_size[0], &m.voxel_size[1],
                               &m.voxel_size[2], &used);
            bad = bad || got != 3 || (size_t)used != vlen;
            for (int a = 0; a < 3 && !bad; a++)
                bad = !(m.voxel_size[a] > 0.0) || m.voxel_size[a] > 1e300;
            break;
        default:
            bad = bad || get_escaped(v, vlen, m.voxel_unit, sizeof m.voxel_unit) < 0;
            break;
        }
        if (bad)
            return mtp_error_set(err, MTP_ECORRUPT, "line %d: invalid %s", lineno, keys[k]);
    }
    if (nl[1] != '\0')
        return mtp_error_set(err, MTP_ECORRUPT, "line %zu: unexpected text after voxel_unit",
                             sizeof keys / sizeof keys[0] + 2);
    *out = m;
    return 0;
}

static mtp_block_key channel_key(const mtp_config *cfg, int c)
{
    const mtp_channel *ch = &cfg->channels[c];
    mtp_block_key key = {.server = cfg->source.url,
                         .collection = ch->collection,
                         .experiment = ch->experiment,
                         .channel = ch->channel,
                         .resolution = cfg->source.resolution};
    return key;
}

int mtp_fetch_save_metadata(mtp_cache *cache, const mtp_config *cfg, const mtp_plan *plan,
                            const mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err)
{
    for (int c = 0; c < cfg->nchannels && c < MTP_MAX_CHANNELS; c++) {
        if (!plan->used[c])
            continue;
        char text[MTP_CACHE_RECORD_MAX];
        int len = mtp_fetch_meta_encode(&meta[c], text, sizeof text);
        if (len < 0)
            return mtp_error_set(err, len, "channel %s: metadata longer than %zu bytes",
                                 cfg->channels[c].name, sizeof text);
        mtp_block_key key = channel_key(cfg, c);
        int rc = mtp_cache_put_record(cache, &key, META_RECORD, text, (size_t)len, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int mtp_fetch_load_metadata(mtp_cache *cache, const mtp_config *cfg, const mtp_plan *plan,
                            mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_error *err)
{
    memset(meta, 0, sizeof(mtp_channel_meta) * MTP_MAX_CHANNELS);
    for (int c = 0; c < cfg->nchannels && c < MTP_MAX_CHANNELS; c++) {
        if (!plan->used[c])
            continue;
        const mtp_channel *ch = &cfg->channels[c];
        char text[MTP_CACHE_RECORD_MAX + 1];
        size_t len = 0;
        mtp_block_key key = channel_key(cfg, c);
        mtp_error rerr = MTP_ERROR_INIT;
        int rc = mtp_cache_get_record(cache, &key, META_RECORD, text, sizeof text, &len, &rerr);
        if (rc == MTP_ENOTFOUND)
            return mtp_error_set(err, rc,
                                 "channel %s (%s): metadata missing from the cache (%s): run "
                                 "fetch first",
                                 ch->name, ch->uri, rerr.msg);
        if (rc < 0)
            return mtp_error_set(err, rc, "%s", rerr.msg);
        if (strlen(text) != len)
            return mtp_error_set(err, MTP_ECORRUPT, "channel %s: cached metadata holds a NUL",
                                 ch->name);
        rc = mtp_fetch_meta_decode(text, &meta[c], &rerr);
        if (rc < 0)
            return mtp_error_set(err, rc, "cached metadata of channel %s (%s): %s", ch->name,
                                 ch->uri, rerr.msg);
        rc = check_channel(cfg, c, &meta[c], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- run ------------------------------------------------------------------------------ */

void mtp_fetch_block_key(const mtp_config *cfg, const mtp_block *b,
                         const mtp_channel_meta meta[MTP_MAX_CHANNELS], mtp_block_key *out)
{
    *out = mtp_assemble_block_key(cfg, b, meta[b->channel].dtype);
}

struct fetch_state {
    mtp_boss *boss;
    const mtp_config *cfg;
    const mtp_plan *plan;
    mtp_cache *cache;
    const mtp_channel_meta *meta;
    const mtp_fetch_options *opt;
    mtp_fetch_stats *stats;
    mtp_boss_stats boss_base; /* counters when the run started */
    size_t *block_of;         /* the missing blocks (plan indices), in fetch order */
    mtp_request *requests;    /* cutout index -> its blocks in members[] */
    size_t *members;
    uint8_t *scratch; /* one block cut out of a request's box */
    size_t scratch_len;
    const char *what;
    uint64_t done;
    uint64_t bytes_done;
    double t0;
};

static uint64_t block_bytes(const struct fetch_state *s, const mtp_block *b)
{
    return mtp_box_voxels(&b->box) * mtp_dtype_size(s->meta[b->channel].dtype);
}

static void update_stats(struct fetch_state *s)
{
    mtp_boss_stats now;
    mtp_boss_get_stats(s->boss, &now);
    s->stats->requests = now.requests - s->boss_base.requests;
    s->stats->retries = now.retries - s->boss_base.retries;
    s->stats->splits = now.splits - s->boss_base.splits;
    s->stats->busy = now.busy - s->boss_base.busy;
    s->stats->concurrency = now.concurrency;
    if (now.peak_concurrency > s->stats->peak_concurrency)
        s->stats->peak_concurrency = now.peak_concurrency;
    s->stats->bytes_body = now.bytes_body - s->boss_base.bytes_body;
    s->stats->wall_s = now_s() - s->t0;
}

static void report(struct fetch_state *s, const char *note)
{
    update_stats(s);
    if (s->opt->progress == NULL)
        return;
    mtp_progress p = {.phase = MTP_PHASE_FETCH,
                      .what = s->what,
                      .done = s->done,
                      .total = s->stats->blocks_total,
                      .bytes_done = s->bytes_done,
                      .bytes_total = s->stats->bytes_total,
                      .requests = s->stats->requests,
                      .retries = s->stats->retries,
                      .concurrency = s->stats->concurrency,
                      .elapsed_s = s->stats->wall_s,
                      .note = note};
    s->opt->progress(&p, s->opt->progress_userdata);
}

static bool cancelled(const struct fetch_state *s)
{
    return s->opt->cancel != NULL && *s->opt->cancel != 0;
}

/* Store block b, cut out of the decoded request q (data: elem_size bytes per voxel). */
static int store_block(struct fetch_state *s, const mtp_request *q, size_t block, const void *data,
                       size_t elem_size, mtp_error *err)
{
    const mtp_block *b = &s->plan->blocks[block];
    size_t nbytes = (size_t)mtp_box_voxels(&b->box) * elem_size;
    if (q->count > 1) {
        if (nbytes > s->scratch_len) {
            uint8_t *p = realloc(s->scratch, nbytes);
            if (p == NULL)
                return mtp_error_set(err, MTP_ENOMEM, "out of memory (%zu bytes)", nbytes);
            s->scratch = p;
            s->scratch_len = nbytes;
        }
        mtp_box_copy(s->scratch, &b->box, data, &q->box, &b->box, elem_size);
        data = s->scratch;
    }
    mtp_block_key key;
    mtp_fetch_block_key(s->cfg, b, s->meta, &key);
    int rc = mtp_cache_put(s->cache, &key, data, nbytes, err);
    if (rc < 0)
        return rc;
    /* Counted at the dtype's width, whether the block arrived narrowed or not. */
    uint64_t wide = block_bytes(s, b);
    s->stats->blocks_fetched++;
    s->stats->bytes_decoded += wide;
    s->done++;
    s->bytes_done += wide;
    if (s->opt->stored != NULL)
        s->opt->stored(s->opt->stored_userdata, block);
    return 0;
}

/* Request `index` arrived decoded (a byte per voxel when narrowed, else the dtype's
 * width): store each of its blocks. */
static int on_done(void *userdata, size_t index, const void *data, size_t nbytes, mtp_error *err)
{
    struct fetch_state *s = userdata;
    const mtp_request *q = &s->requests[index];
    uint64_t voxels = mtp_box_voxels(&q->box);
    if (voxels == 0 || nbytes % voxels != 0)
        return mtp_error_set(err, MTP_EINVAL, "fetch: request %zu: %zu bytes for %llu voxels",
                             index, nbytes, (unsigned long long)voxels);
    int rc = 0;
    for (size_t k = 0; k < q->count && rc == 0; k++)
        rc = store_block(s, q, s->members[q->first + k], data, nbytes / voxels, err);
    return rc;
}

static void on_note(void *userdata, const char *line)
{
    report(userdata, line);
}

static int on_tick(void *userdata)
{
    struct fetch_state *s = userdata;
    report(s, NULL);
    return cancelled(s);
}

/* Decide which blocks need downloading; fills s->block_of and returns their count. */
static int scan_cache(struct fetch_state *s, size_t *nmissing, mtp_error *err)
{
    int rc = 0;
    void *scratch = NULL;
    size_t scratch_len = 0;
    double last = now_s();
    *nmissing = 0;
    for (size_t k = 0; k < s->plan->nblocks; k++) {
        size_t i = s->opt->order != NULL ? s->opt->order[k] : k;
        if (i >= s->plan->nblocks) {
            rc = mtp_error_set(err, MTP_EINVAL, "fetch order: block %zu of %zu", i,
                               s->plan->nblocks);
            goto out;
        }
        const mtp_block *b = &s->plan->blocks[i];
        mtp_block_key key;
        mtp_fetch_block_key(s->cfg, b, s->meta, &key);
        uint64_t nbytes = block_bytes(s, b);
        /* When verifying, go straight to get(): unlike has() it reports (and deletes) a
         * truncated or otherwise damaged file instead of just not seeing it. */
        bool present = s->opt->verify_cached || mtp_cache_has(s->cache, &key) == 1;
        if (s->opt->verify_cached) {
            /* The uint8 read checks the same SHA-256 and costs 8x less for label blocks
             * stored narrowed; a value over 255 (MTP_EDATA) is data, not damage. */
            uint64_t voxels = mtp_box_voxels(&b->box);
            if (voxels > scratch_len) {
                void *p = realloc(scratch, (size_t)voxels);
                if (p == NULL) {
                    rc =
                        mtp_error_set(err, MTP_ENOMEM, "out of memory (%" PRIu64 " bytes)", voxels);
                    goto out;
                }
                scratch = p;
                scratch_len = (size_t)voxels;
            }
            mtp_error cerr = MTP_ERROR_INIT;
            mtp_cache_overflow over;
            int grc = mtp_cache_get_u8(s->cache, &key, scratch, (size_t)voxels, &over, &cerr);
            if (grc == MTP_EDATA)
                grc = 0;
            if (grc == MTP_ECORRUPT) {
                char note[NOTE_MAX];
                snprintf(note, sizeof note, "damaged cache file, fetching again: %s", cerr.msg);
                s->stats->blocks_damaged++;
                report(s, note);
                present = false;
            } else if (grc == MTP_ENOTFOUND) {
                present = false;
            } else if (grc < 0) {
                rc = mtp_error_set(err, grc, "%s", cerr.msg);
                goto out;
            }
        }
        if (present) {
            s->stats->blocks_cached++;
            s->done++;
            s->bytes_done += nbytes;
            if (s->opt->stored != NULL)
                s->opt->stored(s->opt->stored_userdata, i);
        } else {
            s->block_of[(*nmissing)++] = i;
        }
        if (cancelled(s)) {
            rc = mtp_error_set(err, MTP_ECANCEL, "cancelled");
            goto out;
        }
        if (now_s() - last >= 0.1) {
            last = now_s();
            report(s, NULL);
        }
    }
out:
    free(scratch);
    return rc;
}

int mtp_fetch_run(mtp_boss *boss, const mtp_config *cfg, const mtp_plan *plan, mtp_cache *cache,
                  const mtp_channel_meta meta[MTP_MAX_CHANNELS], const mtp_fetch_options *opt,
                  mtp_fetch_stats *stats, mtp_error *err)
{
    static const mtp_fetch_options default_opt = MTP_FETCH_OPTIONS_INIT;
    mtp_fetch_stats local_stats;
    int rc = 0;
    mtp_cutout *cutouts = NULL;
    struct fetch_state s;
    memset(&s, 0, sizeof s);
    if (stats == NULL)
        stats = &local_stats;
    memset(stats, 0, sizeof *stats);
    s.boss = boss;
    s.cfg = cfg;
    s.plan = plan;
    s.cache = cache;
    s.meta = meta;
    s.opt = opt != NULL ? opt : &default_opt;
    s.stats = stats;
    s.what = s.opt->verify_cached ? "verify" : "fetch";
    s.t0 = now_s();
    mtp_boss_get_stats(boss, &s.boss_base);

    stats->blocks_total = plan->nblocks;
    for (size_t i = 0; i < plan->nblocks; i++) {
        const mtp_block *b = &plan->blocks[i];
        if (b->channel < 0 || b->channel >= cfg->nchannels ||
            meta[b->channel].dtype == MTP_DTYPE_UNKNOWN) {
            rc = mtp_error_set(err, MTP_EINVAL, "block %zu: channel without metadata", i);
            goto out;
        }
        stats->bytes_total += block_bytes(&s, b);
    }
    s.block_of = calloc(plan->nblocks > 0 ? plan->nblocks : 1, sizeof *s.block_of);
    if (s.block_of == NULL) {
        rc = mtp_error_set(err, MTP_ENOMEM, "out of memory");
        goto out;
    }
    size_t nmissing = 0;
    rc = scan_cache(&s, &nmissing, err);
    if (rc < 0)
        goto out;

    s.what = "fetch";
    report(&s, NULL);
    if (nmissing > 0) {
        uint64_t max_voxels[MTP_MAX_CHANNELS] = {0};
        for (int c = 0; c < cfg->nchannels && c < MTP_MAX_CHANNELS; c++)
            max_voxels[c] = mtp_plan_request_voxels(cfg, mtp_dtype_size(meta[c].dtype));
        size_t nrequests = 0;
        rc = mtp_plan_requests(plan, s.block_of, nmissing, max_voxels, &s.requests, &nrequests,
                               &s.members, err);
        if (rc < 0)
            goto out;
        cutouts = calloc(nrequests, sizeof *cutouts);
        if (cutouts == NULL) {
            rc = mtp_error_set(err, MTP_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < nrequests; k++) {
            const mtp_request *q = &s.requests[k];
            cutouts[k] = (mtp_cutout){&cfg->channels[q->channel], cfg->source.resolution,
                                      meta[q->channel].dtype, q->box};
        }
        mtp_cutout_handler h = {on_done, on_note, on_tick, &s, 1};
        rc = mtp_boss_cutouts(boss, cutouts, nrequests, &h, err);
    }
    report(&s, NULL);
out:
    if (s.stats != NULL && s.boss != NULL)
        update_stats(&s);
    free(cutouts);
    free(s.block_of);
    free(s.requests);
    free(s.members);
    free(s.scratch);
    return rc;
}
