#include "mtp/build.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mtp/boss.h"
#include "mtp/cache.h"
#include "mtp/chunks.h"
#include "mtp/digest.h"
#include "mtp/fetch.h"
#include "mtp/fsutil.h"
#include "mtp/h5bundle.h"
#include "mtp/h5read.h"
#include "mtp/preview.h"
#include "mtp/release.h"
#include "mtp/stage.h"
#include "mtp/tarball.h"
#include "mtp/plan.h"
#include "mtp/prefetch.h"
#include "mtp/shard.h"
#include "mtp/task_features.h"
#include "mtp/tasks.h"
#include "mtp/assemble.h"

/* The samples of one (task, split) and how far the build has written them. */
typedef struct split_work {
    mtp_sample *samples;
    size_t n;
    size_t next;        /* index of the next sample to write */
    int64_t mismatches; /* classification: labels that differ from the tile's region */
} split_work;

typedef struct task_work {
    mtp_bundle *bundle;
    split_work splits[MTP_MAX_SPLITS]; /* indexed like cfg->tasks[t].splits[] */
} task_work;

/* One region's stack of slices (z, y, x) and, with compression on, one compressed chunk per
 * slice, made once (in the background) and written into every file that holds the slice. */
typedef struct slice_stack {
    const uint8_t *data;    /* region_nz slices; NULL until made */
    uint8_t *owned;         /* data, when this stack computed it (masks) */
    mtp_chunk_batch *batch; /* its chunks, queued on the pool; NULL until submitted */
} slice_stack;

/* A thread that asks the kernel to write the files' pages to disk while the next region is
 * made, so the fsyncs at the end have little left to wait for (and no computing thread
 * blocks on the disk queue). */
typedef struct writeback {
    pthread_t thread;
    bool running;
    int fds[MTP_MAX_TASKS + 1];
    int n;
} writeback;

typedef struct build_state {
    const mtp_config *cfg;
    const mtp_build_options *opt;
    mtp_build_stats *stats;
    mtp_plan *plan;
    mtp_cache *cache;
    mtp_boss *boss;
    mtp_channel_meta meta[MTP_MAX_CHANNELS];
    task_work tasks[MTP_MAX_TASKS];
    mtp_volumes *volumes;
    mtp_volume cubes[MTP_MAX_CHANNELS]; /* the current region's cube per used channel */
    /* The current region's slice stacks, each compressed at most once: */
    slice_stack channels[MTP_MAX_CHANNELS];       /* raw cubes (data borrowed from cubes[]) */
    slice_stack masks[MTP_MAX_TASKS];             /* by owning task (see mask_owner) */
    slice_stack *volume_stacks[MTP_MAX_CHANNELS]; /* where volumes.h5 takes each cube from */
    size_t region_nz, region_slice;               /* slices per region cube, bytes per slice */
    mtp_pool *pool;         /* compresses slices in the background; NULL without gzip */
    mtp_prefetch *prefetch; /* the fetch running in the background, region by region */
    mtp_stage *stage;       /* the output lock and the staging directory */
    const char *dir;        /* where the release is written: the staging directory */
    writeback writeback;
    pthread_mutex_t progress_mu;
    bool writing; /* the first region is being written */
    uint64_t samples_total, samples_done;
    struct timespec started;
} build_state;

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static bool cancelled(const build_state *st)
{
    return st->opt->cancel != NULL && *st->opt->cancel != 0;
}

/* Reports come from two threads (the prefetch and the writer): one at a time. */
static void forward(build_state *st, const mtp_progress *p)
{
    pthread_mutex_lock(&st->progress_mu);
    st->opt->progress(p, st->opt->progress_userdata);
    pthread_mutex_unlock(&st->progress_mu);
}

static void report(build_state *st, mtp_phase phase, const char *what, const char *note)
{
    if (st->opt->progress == NULL)
        return;
    mtp_progress p = {0};
    p.phase = phase;
    p.what = what;
    p.done = st->samples_done;
    p.total = st->samples_total;
    p.elapsed_s = seconds_since(&st->started);
    p.note = note;
    forward(st, &p);
}

/* The fetch's reports: as they are until writing starts; after that only its notes
 * (retries, damaged files), so the writer's progress line stays the one on screen. */
static void on_fetch_progress(const mtp_progress *p, void *userdata)
{
    build_state *st = userdata;
    pthread_mutex_lock(&st->progress_mu);
    bool writing = st->writing;
    pthread_mutex_unlock(&st->progress_mu);
    if (!writing)
        forward(st, p);
    else if (p->note != NULL)
        report(st, MTP_PHASE_WRITE, "fetch", p->note);
}

static void add_fetch_stats(build_state *st, const mtp_fetch_stats *fs)
{
    st->stats->blocks_total = fs->blocks_total;
    /* A later run (a refetch after a damaged block) sees the earlier run's blocks cached:
     * its count is the one that holds. */
    st->stats->blocks_cached = fs->blocks_cached;
    st->stats->blocks_fetched += fs->blocks_fetched;
    st->stats->requests += fs->requests;
    st->stats->retries += fs->retries;
    st->stats->bytes_body += fs->bytes_body;
    st->stats->bytes_decoded += fs->bytes_decoded;
    st->stats->fetch_s += fs->wall_s;
}

static mtp_fetch_options fetch_options(build_state *st)
{
    mtp_fetch_options fopt = MTP_FETCH_OPTIONS_INIT;
    if (st->opt->progress != NULL) {
        fopt.progress = on_fetch_progress;
        fopt.progress_userdata = st;
    }
    fopt.cancel = st->opt->cancel;
    /* Cached blocks are verified when the region cubes read them; no need to read twice. */
    fopt.verify_cached = 0;
    return fopt;
}

/* Wait for the background fetch to end and count what it did. */
static int finish_prefetch(build_state *st, int stop, mtp_error *err)
{
    if (st->prefetch == NULL)
        return 0;
    mtp_fetch_stats fs;
    memset(&fs, 0, sizeof fs);
    int rc = mtp_prefetch_finish(st->prefetch, stop, &fs, err);
    add_fetch_stats(st, &fs);
    mtp_prefetch_free(st->prefetch);
    st->prefetch = NULL;
    return rc;
}

static int join_path(char *buf, size_t n, const char *dir, const char *name, mtp_error *err)
{
    int len = snprintf(buf, n, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= n)
        return mtp_error_set(err, MTP_ERANGE, "%s/%s: path too long", dir, name);
    return 0;
}

/* Fetch whatever is missing now, on this thread (after a cached block went bad). */
static int fetch_missing(build_state *st, mtp_error *err)
{
    int rc = finish_prefetch(st, 0, err);
    if (rc < 0)
        return rc;
    mtp_fetch_options fopt = fetch_options(st);
    mtp_fetch_stats fs;
    memset(&fs, 0, sizeof fs);
    rc = mtp_fetch_run(st->boss, st->cfg, st->plan, st->cache, st->meta, &fopt, &fs, err);
    add_fetch_stats(st, &fs);
    return rc;
}

/* Open one bundle per buildable task and declare every split with its sample count. */
static int open_bundles(build_state *st, const mtp_bundle_meta *meta, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    for (int t = 0; t < cfg->ntasks; t++) {
        const mtp_task *task = &cfg->tasks[t];
        task_work *tw = &st->tasks[t];
        char name[MTP_NAME_MAX + 8], path[4096];
        snprintf(name, sizeof name, "%s.h5", task->name);
        int rc = join_path(path, sizeof path, st->dir, name, err);
        if (rc == 0)
            rc = mtp_bundle_create(&tw->bundle, path, cfg, t, meta, err);
        for (int k = 0; rc == 0 && k < task->nsplits; k++) {
            split_work *sw = &tw->splits[k];
            rc = mtp_tasks_samples(cfg, t, task->splits[k], &sw->samples, &sw->n, err);
            if (rc == 0)
                rc = mtp_bundle_add_split(tw->bundle, task->splits[k], sw->n, err);
            st->samples_total += sw->n;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void stack_release(slice_stack *stack);

/* The blocks of region r's cubes, read on the pool's threads (the calling one helps). */
typedef struct load_part {
    int channel;
    size_t block; /* index into plan->blocks */
} load_part;

typedef struct load_job {
    build_state *st;
    load_part *parts;
} load_job;

static int load_part_run(void *arg, size_t i, mtp_error *err)
{
    const load_job *job = arg;
    build_state *st = job->st;
    const load_part *p = &job->parts[i];
    return mtp_assemble_load_block(&st->cubes[p->channel], st->cfg, st->plan, st->cache,
                                   st->meta[p->channel].dtype, p->block, err);
}

static void release_cubes(build_state *st)
{
    for (int c = 0; c < st->cfg->nchannels; c++)
        mtp_assemble_release(&st->cubes[c]);
}

/* Fill the cube of every used channel over `box`, in parallel when there is a pool. */
static int load_cubes(build_state *st, const mtp_box *box, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    const mtp_plan *plan = st->plan;
    int rc = 0;
    if (st->pool == NULL) {
        for (int c = 0; c < cfg->nchannels && rc == 0; c++)
            if (plan->used[c])
                rc = mtp_assemble_load(&st->cubes[c], cfg, plan, st->cache, c, st->meta[c].dtype,
                                       box, err);
        if (rc < 0)
            release_cubes(st);
        return rc;
    }
    load_part *parts = calloc(plan->nblocks > 0 ? plan->nblocks : 1, sizeof *parts);
    if (parts == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for %zu block reads", plan->nblocks);
    size_t n = 0;
    for (int c = 0; c < cfg->nchannels && rc == 0; c++) {
        if (!plan->used[c])
            continue;
        rc = mtp_assemble_begin(&st->cubes[c], cfg, plan, c, box, err);
        size_t first = plan->first_block[c];
        for (size_t b = first; rc == 0 && b < first + plan->nblocks_of[c]; b++) {
            mtp_box part;
            if (mtp_box_intersect(&plan->blocks[b].box, box, &part))
                parts[n++] = (load_part){c, b};
        }
    }
    load_job job = {st, parts};
    mtp_chunk_batch *batch = NULL;
    if (rc == 0)
        rc = mtp_pool_run(st->pool, load_part_run, &job, n, &batch, err);
    if (rc == 0)
        rc = mtp_chunk_batch_wait(batch, 0, n, NULL, err);
    mtp_chunk_batch_free(batch);
    free(parts);
    if (rc < 0)
        release_cubes(st);
    return rc;
}

/* Load the cubes of region r for every channel the plan uses (retrying once through the
 * fetcher when a cached block went missing or bad since the fetch stage). */
static int load_region(build_state *st, int r, mtp_error *err)
{
    if (st->prefetch != NULL) {
        int rc = mtp_prefetch_wait_region(st->prefetch, r, st->opt->cancel, err);
        if (rc < 0)
            return rc;
    }
    pthread_mutex_lock(&st->progress_mu);
    st->writing = true;
    pthread_mutex_unlock(&st->progress_mu);
    mtp_box box = mtp_assemble_region_box(st->cfg, r);
    int rc = load_cubes(st, &box, err);
    if ((rc == MTP_ECORRUPT || rc == MTP_ENOTFOUND) && !st->opt->offline) {
        report(st, MTP_PHASE_WRITE, "refetch", err->msg);
        rc = fetch_missing(st, err);
        if (rc == 0)
            rc = load_cubes(st, &box, err);
    }
    return rc;
}

/* Masks first: an identity mask stack's chunks are still reading the label cube. */
static void release_region(build_state *st)
{
    for (int t = 0; t < st->cfg->ntasks; t++)
        stack_release(&st->masks[t]);
    for (int c = 0; c < st->cfg->nchannels; c++)
        stack_release(&st->channels[c]);
    release_cubes(st);
}

/* Mask stacks are shared by tasks that map the same label channel the same way (the 2-D and
 * 3-D variants of a task): the task whose stack task t uses. */
static int mask_owner(const mtp_config *cfg, int t)
{
    const mtp_task *task = &cfg->tasks[t];
    for (int u = 0; u < t; u++) {
        const mtp_task *other = &cfg->tasks[u];
        if (other->kind == MTP_TASK_SEGMENTATION && other->label_channel == task->label_channel &&
            memcmp(other->code_class, task->code_class, sizeof task->code_class) == 0)
            return u;
    }
    return t;
}

/* Queue the stack's slices for compression (once); a no-op without compression. */
static int stack_submit(build_state *st, slice_stack *stack, mtp_error *err)
{
    if (st->pool == NULL || stack->batch != NULL)
        return 0;
    return mtp_pool_submit(st->pool, stack->data, st->region_nz, st->region_slice, &stack->batch,
                           err);
}

/* The chunks of slices [z, z + count) of a submitted stack, waiting for them if need be;
 * *out is NULL without compression. */
static int stack_chunks(const slice_stack *stack, size_t z, size_t count, const mtp_chunk **out,
                        mtp_error *err)
{
    *out = NULL;
    if (stack->batch == NULL)
        return 0;
    return mtp_chunk_batch_wait(stack->batch, z, count, out, err);
}

static void stack_release(slice_stack *stack)
{
    mtp_chunk_batch_free(stack->batch); /* first: it may still be reading the data */
    free(stack->owned);
    memset(stack, 0, sizeof *stack);
}

/* True when a task's mapping keeps every declared code as it is (4-class masks). */
static bool identity_mapping(const mtp_task *task)
{
    for (int c = 0; c < MTP_MAX_CODES; c++)
        if (task->code_class[c] >= 0 && task->code_class[c] != c)
            return false;
    return true;
}

/* The mask stack of segmentation task t for region r: the label cube mapped through the
 * task's codes (every code checked), computed and queued for compression once per
 * distinct mapping (in st->masks[mask_owner(t)]). */
static int mask_stack(build_state *st, int t, int r, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    int owner = mask_owner(cfg, t);
    slice_stack *stack = &st->masks[owner];
    if (stack->data != NULL)
        return 0;
    const mtp_volume *labels = &st->cubes[cfg->tasks[t].label_channel];
    int rc = 0;
    if (identity_mapping(&cfg->tasks[owner])) {
        /* The masks are the label cube itself: share the cube instead of copying it, and
         * check every code slice by slice (into a scratch slice) while it compresses. */
        stack->data = labels->data;
        rc = stack_submit(st, stack, err);
        if (rc < 0)
            return rc;
        uint8_t *scratch = malloc(st->region_slice);
        if (scratch == NULL)
            return mtp_error_set(err, MTP_ENOMEM, "out of memory for a mask slice");
        for (size_t z = 0; z < st->region_nz && rc == 0; z++)
            rc = mtp_tasks_mask(cfg, owner, r, cfg->z.start + (int64_t)z,
                                labels->data + z * st->region_slice, scratch, 1, labels->ny,
                                labels->nx, err);
        free(scratch);
        return rc;
    }
    stack->owned = malloc(st->region_nz * st->region_slice);
    if (stack->owned == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for a mask cube");
    rc = mtp_tasks_mask(cfg, owner, r, cfg->z.start, labels->data, stack->owned, st->region_nz,
                        labels->ny, labels->nx, err);
    if (rc < 0)
        return rc;
    stack->data = stack->owned;
    return stack_submit(st, stack, err);
}

/* Task 3: the per-quadrant targets of region r over split slot k. */
static int write_targets(build_state *st, int t, int k, int r, size_t first, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    const mtp_task *task = &cfg->tasks[t];
    const mtp_split *split = &cfg->splits[task->splits[k]];
    const mtp_volume *labels = &st->cubes[task->label_channel];
    size_t nz = (size_t)(split->z.stop - split->z.start);
    size_t per_slice = mtp_bundle_rows_per_slice(st->tasks[t].bundle);
    mtp_feature_row *rows = calloc(nz * per_slice, sizeof *rows);
    if (rows == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for %zu target rows", nz * per_slice);
    size_t offset = (size_t)(split->z.start - cfg->z.start) * st->region_slice;
    int rc = mtp_features_region(cfg, t, r, labels->data + offset, nz, labels->ny, labels->nx,
                                 split->z.start, (int64_t)first, rows, err);
    if (rc == 0)
        rc = mtp_bundle_write_targets(st->tasks[t].bundle, task->splits[k], first * per_slice, rows,
                                      nz * per_slice, err);
    free(rows);
    return rc;
}

/* Write every sample of region r for task t, split slot k. */
static int write_split_region(build_state *st, int t, int k, int r, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    const mtp_task *task = &cfg->tasks[t];
    split_work *sw = &st->tasks[t].splits[k];
    const slice_stack *images = &st->channels[task->image_channel];
    const mtp_volume *labels = &st->cubes[task->label_channel];
    const slice_stack *masks =
        task->kind == MTP_TASK_SEGMENTATION ? &st->masks[mask_owner(cfg, t)] : NULL;
    size_t depth = (size_t)task->depth;
    int region_class = mtp_tasks_region_class(cfg, t, r);
    size_t first = sw->next;
    int rc = 0;
    while (rc == 0 && sw->next < sw->n && sw->samples[sw->next].region == r) {
        const mtp_sample *sample = &sw->samples[sw->next];
        size_t z = (size_t)(sample->z - cfg->z.start);
        mtp_bundle_sample out = {0};
        out.image = images->data + z * st->region_slice;
        out.region = r;
        out.origin[0] = sample->z;
        out.origin[1] = cfg->regions[r].y.start;
        out.origin[2] = cfg->regions[r].x.start;
        if (masks != NULL)
            out.mask = masks->data + z * st->region_slice;
        if (task->kind == MTP_TASK_CLASSIFICATION) {
            rc = mtp_tasks_tile_label(cfg, t, r, sample->z, labels->data + z * st->region_slice,
                                      labels->ny, labels->nx, &out.label, err);
            if (rc == 0 && out.label != region_class)
                sw->mismatches++;
        }
        const mtp_chunk *image_chunks = NULL, *mask_chunks = NULL;
        if (rc == 0)
            rc = stack_chunks(images, z, depth, &image_chunks, err);
        if (rc == 0 && masks != NULL)
            rc = stack_chunks(masks, z, depth, &mask_chunks, err);
        if (rc == 0)
            rc = mtp_bundle_write_sample_chunks(st->tasks[t].bundle, task->splits[k], sw->next,
                                                &out, image_chunks, mask_chunks, err);
        if (rc < 0)
            return rc;
        sw->next++;
        st->samples_done++;
    }
    if (rc == 0 && task->kind == MTP_TASK_FEATURES && sw->next > first)
        rc = write_targets(st, t, k, r, first, err);
    return rc;
}

/* The stack volumes.h5 takes channel c's cube from: a mask stack that holds the same bytes
 * (an identity mapping shares the label cube) is reused instead of compressing them again. */
static slice_stack *volume_stack(build_state *st, int c)
{
    slice_stack *stack = &st->channels[c];
    size_t bytes = st->region_nz * st->region_slice;
    for (int t = 0; t < st->cfg->ntasks; t++) {
        slice_stack *m = &st->masks[t];
        if (m->data != NULL && (m->data == stack->data || memcmp(m->data, stack->data, bytes) == 0))
            return m;
    }
    return stack;
}

/* Everything region r's files need compressed, queued in the order the writer uses it:
 * images, then each distinct mask (computed here while the workers start on the images),
 * then the cubes only volumes.h5 holds. */
static int submit_region(build_state *st, int r, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    int rc = 0;
    for (int t = 0; t < cfg->ntasks && rc == 0; t++)
        if (!cfg->tasks[t].excluded[r])
            rc = stack_submit(st, &st->channels[cfg->tasks[t].image_channel], err);
    for (int t = 0; t < cfg->ntasks && rc == 0; t++)
        if (!cfg->tasks[t].excluded[r] && cfg->tasks[t].kind == MTP_TASK_SEGMENTATION)
            rc = mask_stack(st, t, r, err);
    for (int c = 0; c < cfg->nchannels && rc == 0 && st->volumes != NULL; c++) {
        st->volume_stacks[c] = st->plan->used[c] ? volume_stack(st, c) : NULL;
        if (st->volume_stacks[c] != NULL)
            rc = stack_submit(st, st->volume_stacks[c], err);
    }
    return rc;
}

/* volumes.h5 gets the raw cubes. */
static int write_volumes_region(build_state *st, int r, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    for (int c = 0; c < cfg->nchannels; c++) {
        if (!st->plan->used[c])
            continue;
        const mtp_chunk *chunks = NULL;
        int rc = stack_chunks(st->volume_stacks[c], 0, st->region_nz, &chunks, err);
        if (rc == 0)
            rc = mtp_volumes_write_chunks(st->volumes, r, c, st->cubes[c].data, chunks, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int write_region(build_state *st, int r, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    int first = -1;
    for (int c = 0; c < cfg->nchannels && first < 0; c++)
        if (st->plan->used[c])
            first = c;
    st->region_nz = st->cubes[first].nz;
    st->region_slice = st->cubes[first].ny * st->cubes[first].nx;
    for (int c = 0; c < cfg->nchannels; c++)
        st->channels[c].data = st->cubes[c].data;
    int rc = submit_region(st, r, err);
    if (rc < 0)
        return rc;
    for (int t = 0; t < cfg->ntasks; t++) {
        if (cfg->tasks[t].excluded[r])
            continue;
        for (int k = 0; k < cfg->tasks[t].nsplits; k++) {
            rc = write_split_region(st, t, k, r, err);
            if (rc < 0)
                return rc;
        }
        report(st, MTP_PHASE_WRITE, cfg->tasks[t].name, NULL);
        if (cancelled(st))
            return mtp_error_set(err, MTP_ECANCEL, "build cancelled");
    }
    if (st->volumes == NULL)
        return 0;
    return write_volumes_region(st, r, err);
}

static void *writeback_main(void *arg)
{
    const writeback *w = arg;
    for (int i = 0; i < w->n; i++)
        mtp_writeback_start(w->fds[i]);
    return NULL;
}

/* Before the files are closed: the descriptors must outlive the thread's use of them. */
static void writeback_wait(build_state *st)
{
    if (st->writeback.running)
        pthread_join(st->writeback.thread, NULL);
    st->writeback.running = false;
}

static void writeback_start(build_state *st)
{
    writeback *w = &st->writeback;
    writeback_wait(st);
    w->n = 0;
    /* mtp_writeback_start skips the -1 of a missing file (no volumes.h5). */
    for (int t = 0; t < st->cfg->ntasks; t++)
        w->fds[w->n++] = mtp_bundle_fd(st->tasks[t].bundle);
    w->fds[w->n++] = mtp_volumes_fd(st->volumes);
    /* Only a hint: without a thread the fsyncs simply wait longer. */
    w->running = pthread_create(&w->thread, NULL, writeback_main, w) == 0;
}

/* The data files' digests (SHA-256 and MD5 in one read), each computed on a worker as soon
 * as its file is finished, while the next file is finished and then while the previews are
 * drawn: files are queued in the order they are finished, and the workers wait for the
 * next one until the queue is closed. */
typedef struct digest_job {
    const char *dir;
    const volatile sig_atomic_t *cancel; /* the build's: stops before the next file */
    int n;
    char paths[MTP_MAX_TASKS + 2][MTP_NAME_MAX + 16];
    const char *path_ptrs[MTP_MAX_TASKS + 2];
    mtp_digest digests[MTP_MAX_TASKS + 2];
    pthread_mutex_t mu;
    pthread_cond_t more; /* a file was queued, or the queue was closed */
    bool closed;         /* no more files will be queued */
    int next;            /* the next file to take */
    int rc;
    mtp_error err;
    pthread_t threads[2];
    int nthreads;
} digest_job;

/* Two of these share the files (the writer and the previews use the other core only part
 * of the time). */
static void *digest_main(void *arg)
{
    digest_job *job = arg;
    for (;;) {
        pthread_mutex_lock(&job->mu);
        while (job->rc == 0 && job->next == job->n && !job->closed)
            pthread_cond_wait(&job->more, &job->mu);
        if (job->rc == 0 && job->cancel != NULL && *job->cancel) {
            job->rc = MTP_ECANCEL;
            mtp_error_set(&job->err, MTP_ECANCEL, "cancelled");
        }
        int i = job->rc == 0 && job->next < job->n ? job->next++ : -1;
        pthread_mutex_unlock(&job->mu);
        if (i < 0)
            return NULL;
        char full[4200];
        snprintf(full, sizeof full, "%s/%s", job->dir, job->paths[i]);
        mtp_error err = MTP_ERROR_INIT;
        int rc = mtp_digest_file(full, &job->digests[i], &err);
        if (rc < 0) {
            pthread_mutex_lock(&job->mu);
            if (job->rc == 0) {
                job->rc = rc;
                job->err = err;
            }
            pthread_cond_broadcast(&job->more);
            pthread_mutex_unlock(&job->mu);
        }
    }
}

/* Queue a finished file (a name relative to the release directory) for the workers. */
static void digest_add(digest_job *job, const char *name)
{
    pthread_mutex_lock(&job->mu);
    if (job->n < MTP_MAX_TASKS + 2) {
        snprintf(job->paths[job->n], sizeof job->paths[job->n], "%s", name);
        job->path_ptrs[job->n] = job->paths[job->n];
        job->n++;
        pthread_cond_signal(&job->more);
    }
    pthread_mutex_unlock(&job->mu);
}

/* Start the workers on an empty queue (before the first file is finished). */
static int digest_start(build_state *st, digest_job *job, mtp_error *err)
{
    memset(job, 0, sizeof *job);
    job->dir = st->dir;
    job->cancel = st->opt->cancel;
    pthread_mutex_init(&job->mu, NULL);
    pthread_cond_init(&job->more, NULL);
    for (int k = 0; k < 2; k++) {
        int e = pthread_create(&job->threads[k], NULL, digest_main, job);
        if (e != 0) {
            if (job->nthreads > 0)
                return 0; /* one thread does all the files */
            pthread_cond_destroy(&job->more);
            pthread_mutex_destroy(&job->mu);
            return mtp_error_set(err, MTP_EIO, "cannot start a digest thread: %s", strerror(e));
        }
        job->nthreads++;
    }
    return 0;
}

/* Close the queue, wait for the workers, and give their first failure. */
static int digest_finish(digest_job *job, mtp_error *err)
{
    if (job->nthreads == 0)
        return 0;
    pthread_mutex_lock(&job->mu);
    job->closed = true;
    pthread_cond_broadcast(&job->more);
    pthread_mutex_unlock(&job->mu);
    for (int k = 0; k < job->nthreads; k++)
        pthread_join(job->threads[k], NULL);
    job->nthreads = 0;
    pthread_cond_destroy(&job->more);
    pthread_mutex_destroy(&job->mu);
    if (job->rc < 0 && err != NULL)
        *err = job->err;
    return job->rc;
}

/* Finish every file (flush, fsync, rename) in turn, each queued for its digests at once. */
static int finish_bundles(build_state *st, digest_job *digests, mtp_error *err)
{
    writeback_wait(st);
    const mtp_config *cfg = st->cfg;
    for (int t = 0; t < cfg->ntasks; t++) {
        task_work *tw = &st->tasks[t];
        int rc = 0;
        for (int k = 0; rc == 0 && k < cfg->tasks[t].nsplits; k++) {
            if (cfg->tasks[t].kind != MTP_TASK_CLASSIFICATION || tw->splits[k].n == 0)
                continue;
            rc = mtp_bundle_split_attr(
                tw->bundle, cfg->tasks[t].splits[k], "label_region_mismatches",
                tw->splits[k].mismatches,
                "number of samples whose reference label (most frequent ROI code, mapped) "
                "differs from the region the tile was cut from",
                err);
        }
        mtp_bundle *bundle = tw->bundle;
        tw->bundle = NULL;
        if (rc == 0)
            rc = mtp_bundle_finish(bundle, err);
        else
            mtp_bundle_abort(bundle);
        if (rc < 0)
            return rc;
        st->stats->nfiles++;
        char name[MTP_NAME_MAX + 8];
        snprintf(name, sizeof name, "%s.h5", cfg->tasks[t].name);
        digest_add(digests, name);
    }
    if (st->volumes != NULL) {
        mtp_volumes *volumes = st->volumes;
        st->volumes = NULL;
        int rc = mtp_volumes_finish(volumes, err);
        if (rc < 0)
            return rc;
        st->stats->nfiles++;
        digest_add(digests, "volumes.h5");
    }
    return 0;
}

static int write_config_copy(build_state *st, mtp_error *err)
{
    char path[4096];
    int rc = join_path(path, sizeof path, st->dir, "config.yaml", err);
    if (rc == 0)
        rc = mtp_write_file_atomic(path, st->cfg->redacted_text, st->cfg->redacted_len, err);
    if (rc == 0)
        st->stats->nfiles++;
    return rc;
}

/* preview_<task>_<split>.png for every task file, at the top of the (flat) release. */
static int write_previews(build_state *st, mtp_error *err)
{
    int rc = 0;
    for (int t = 0; rc == 0 && t < st->cfg->ntasks; t++) {
        if (cancelled(st))
            return mtp_error_set(err, MTP_ECANCEL, "cancelled");
        char name[MTP_NAME_MAX + 8], path[4096];
        snprintf(name, sizeof name, "%s.h5", st->cfg->tasks[t].name);
        int n = 0;
        rc = join_path(path, sizeof path, st->dir, name, err);
        if (rc == 0)
            rc = mtp_preview_bundle(path, st->dir, &n, err);
        st->stats->nfiles += n;
    }
    return rc;
}

/* manifest.json, SUMS, datasheet and citation metadata, from the files as written. */
static int write_release_metadata(build_state *st, const mtp_bundle_meta *meta,
                                  const digest_job *digests, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    mtp_bundle_summary *summaries = calloc((size_t)cfg->ntasks, sizeof *summaries);
    if (summaries == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for task summaries");
    int n = 0, rc = 0;
    for (int t = 0; rc == 0 && t < cfg->ntasks; t++) {
        char name[MTP_NAME_MAX + 8], path[4096];
        snprintf(name, sizeof name, "%s.h5", cfg->tasks[t].name);
        rc = join_path(path, sizeof path, st->dir, name, err);
        if (rc == 0)
            rc = mtp_h5read_summary(path, &summaries[n++], err);
    }
    mtp_release_info info = {0};
    info.builder = meta->builder;
    info.bundle_format_version = MTP_BUNDLE_FORMAT_VERSION;
    memcpy(info.voxel_size, meta->voxel_size, sizeof info.voxel_size);
    info.voxel_unit = meta->voxel_unit;
    info.source_url = cfg->source.url;
    info.nknown = digests->n;
    info.known_paths = digests->path_ptrs;
    info.known_digests = digests->digests;
    if (rc == 0)
        rc = mtp_release_write(st->dir, cfg, summaries, n, &info, err);
    free(summaries);
    return rc;
}

/* <out>/<name>-<version>.tar.gz of the staged tree, under the release's final name, into a
 * temporary that the caller renames into place right after the directory swap. */
static int write_archive(build_state *st, const char *release, mtp_atomic_file *archive,
                         mtp_error *err)
{
    char *path = st->stats->archive;
    size_t cap = sizeof st->stats->archive;
    int len = snprintf(path, cap, "%s.tar.gz", st->stats->release_dir);
    if (len < 0 || (size_t)len >= cap)
        return mtp_error_set(err, MTP_ERANGE, "%s.tar.gz: path too long", st->stats->release_dir);
    int rc = mtp_atomic_open(archive, path, err);
    if (rc == 0)
        rc = mtp_archive_write_into(st->dir, release, archive, st->cfg->output.mtime,
                                    st->opt->cancel, err);
    return rc;
}

/* BossDB says "micrometers"; the bundle format says "micrometer" (a unit, not a count). */
static void singular_unit(const char *unit, char *buf, size_t n)
{
    snprintf(buf, n, "%s", unit);
    size_t len = strlen(buf);
    if (len > 1 && buf[len - 1] == 's')
        buf[len - 1] = '\0';
}

static void free_state(build_state *st)
{
    mtp_error ignored = MTP_ERROR_INIT;
    finish_prefetch(st, 1, &ignored);
    writeback_wait(st);
    for (int t = 0; t < MTP_MAX_TASKS; t++) {
        mtp_bundle_abort(st->tasks[t].bundle);
        for (int k = 0; k < MTP_MAX_SPLITS; k++)
            free(st->tasks[t].splits[k].samples);
    }
    mtp_volumes_abort(st->volumes);
    release_region(st);
    mtp_pool_free(st->pool);
    mtp_boss_free(st->boss);
    mtp_cache_free(st->cache);
    mtp_plan_free(st->plan);
    mtp_stage_free(st->stage);
}

/* build --offline: the metadata from the cache, and every block there (a cheap header
 * check; the full check comes when each block is read). */
static int prepare_offline(build_state *st, mtp_error *err)
{
    const mtp_plan *plan = st->plan;
    report(st, MTP_PHASE_METADATA, "metadata", NULL);
    int rc = mtp_fetch_load_metadata(st->cache, st->cfg, plan, st->meta, err);
    if (rc < 0)
        return rc;
    unsigned char *missing = calloc(plan->nblocks > 0 ? plan->nblocks : 1, 1);
    if (missing == NULL)
        return mtp_error_set(err, MTP_ENOMEM, "out of memory for %zu blocks", plan->nblocks);
    for (size_t i = 0; i < plan->nblocks; i++) {
        const mtp_block *b = &plan->blocks[i];
        mtp_block_key key = mtp_assemble_block_key(st->cfg, b, st->meta[b->channel].dtype);
        missing[i] = mtp_cache_has(st->cache, &key) != 1;
    }
    rc = mtp_shard_report_missing(st->cfg, plan, missing, st->opt->shards, st->opt->cache_dir, err);
    free(missing);
    if (rc == 0)
        st->stats->blocks_total = st->stats->blocks_cached = plan->nblocks;
    return rc;
}

static int prepare(build_state *st, mtp_error *err)
{
    const mtp_config *cfg = st->cfg;
    const mtp_build_options *opt = st->opt;
    int rc = mtp_plan_new(&st->plan, cfg, err);
    if (rc == 0)
        rc = mtp_cache_open(&st->cache, opt->cache_dir, err);
    if (rc < 0)
        return rc;
    if (opt->offline)
        return prepare_offline(st, err);
    mtp_boss_options bopt = MTP_BOSS_OPTIONS_INIT;
    mtp_boss_options_from_source(&bopt, &cfg->source);
    if (opt->jobs > 0)
        bopt.jobs = opt->jobs;
    if (bopt.max_jobs < bopt.jobs)
        bopt.max_jobs = bopt.jobs;
    rc = mtp_boss_new(&st->boss, &bopt, err);
    if (rc == 0) {
        report(st, MTP_PHASE_METADATA, "metadata", NULL);
        rc = mtp_fetch_metadata(st->boss, cfg, st->plan, st->meta, err);
    }
    if (rc == 0)
        rc = mtp_fetch_save_metadata(st->cache, cfg, st->plan, st->meta, err);
    if (rc == 0) {
        mtp_fetch_options fopt = fetch_options(st);
        rc = mtp_prefetch_start(&st->prefetch, st->boss, cfg, st->plan, st->cache, st->meta, &fopt,
                                err);
    }
    return rc;
}

int mtp_build_run(const mtp_config *cfg, const mtp_build_options *opt, mtp_build_stats *stats,
                  mtp_error *err)
{
    build_state st = {0};
    pthread_mutex_init(&st.progress_mu, NULL);
    st.cfg = cfg;
    st.opt = opt;
    st.stats = stats;
    memset(stats, 0, sizeof *stats);
    clock_gettime(CLOCK_MONOTONIC, &st.started);

    int rc = 0;
    char release[2 * MTP_NAME_MAX + 2];
    snprintf(release, sizeof release, "%s-%s", cfg->release.name, cfg->release.version);
    /* The lock first: a second build into the same --out stops before any work. */
    rc = mtp_stage_begin(&st.stage, opt->out_dir, release, err);
    if (rc < 0)
        goto out;
    const char *final_dir = mtp_stage_final_dir(st.stage);
    if (strlen(final_dir) >= sizeof stats->release_dir) {
        rc = mtp_error_set(err, MTP_ERANGE, "%s: output path too long", final_dir);
        goto out;
    }
    snprintf(stats->release_dir, sizeof stats->release_dir, "%s", final_dir);
    st.dir = mtp_stage_dir(st.stage);
    rc = prepare(&st, err);
    if (rc < 0)
        goto out;

    struct timespec write_start;
    clock_gettime(CLOCK_MONOTONIC, &write_start);
    /* Voxel size from the image channel's frame, in the bundle's (z, y, x) order. */
    const mtp_channel_meta *frame = &st.meta[cfg->tasks[0].image_channel];
    mtp_bundle_meta meta = {0};
    char builder[64];
    snprintf(builder, sizeof builder, "mtneuro-pack %s", MTP_VERSION);
    meta.builder = builder;
    meta.voxel_size[0] = frame->voxel_size[2];
    meta.voxel_size[1] = frame->voxel_size[1];
    meta.voxel_size[2] = frame->voxel_size[0];
    char unit[32];
    singular_unit(frame->voxel_unit, unit, sizeof unit);
    meta.voxel_unit = unit;
    rc = open_bundles(&st, &meta, err);
    if (rc == 0 && cfg->output.volumes) {
        char path[4096];
        rc = join_path(path, sizeof path, st.dir, "volumes.h5", err);
        if (rc == 0)
            rc = mtp_volumes_create(&st.volumes, path, cfg, &meta, err);
    }
    if (rc < 0)
        goto out;

    if (cfg->output.compression == MTP_COMPRESS_GZIP) {
        rc = mtp_pool_new(&st.pool, opt->threads, cfg->output.level, err);
        if (rc < 0)
            goto out;
    }
    for (int r = 0; r < cfg->nregions && rc == 0; r++) {
        rc = load_region(&st, r, err);
        if (rc == 0)
            rc = write_region(&st, r, err);
        release_region(&st);
        writeback_start(&st);
    }
    if (rc == 0)
        rc = finish_prefetch(&st, 0, err);
    digest_job digests;
    memset(&digests, 0, sizeof digests);
    if (rc == 0)
        rc = digest_start(&st, &digests, err);
    if (rc == 0)
        rc = finish_bundles(&st, &digests, err);
    if (rc == 0)
        rc = write_config_copy(&st, err);
    if (rc == 0)
        digest_add(&digests, "config.yaml");
    if (rc == 0 && cfg->output.previews) {
        report(&st, MTP_PHASE_RELEASE, "previews", NULL);
        rc = write_previews(&st, err);
    }
    mtp_error digest_err = MTP_ERROR_INIT;
    int digest_rc = digest_finish(&digests, &digest_err);
    if (rc == 0 && digest_rc < 0) {
        rc = digest_rc;
        *err = digest_err;
    }
    if (rc == 0 && cancelled(&st))
        rc = mtp_error_set(err, MTP_ECANCEL, "cancelled");
    if (rc == 0) {
        report(&st, MTP_PHASE_RELEASE, "metadata", NULL);
        rc = write_release_metadata(&st, &meta, &digests, err);
    }
    mtp_atomic_file archive = {.fd = -1};
    if (rc == 0 && opt->archive) {
        report(&st, MTP_PHASE_RELEASE, "archive", NULL);
        rc = write_archive(&st, release, &archive, err);
    }
    /* The last moment a signal can keep the old release: after the swap it is gone. */
    if (rc == 0 && cancelled(&st))
        rc = mtp_error_set(err, MTP_ECANCEL, "cancelled");
    if (rc == 0)
        rc = mtp_stage_commit(st.stage, err);
    /* The archive follows the directory at once; were the process killed in between, the
     * old archive (if any) would still be whole, and the next build replaces it. */
    if (rc == 0 && opt->archive)
        rc = mtp_atomic_commit(&archive, err);
    mtp_atomic_abort(&archive);
    if (rc < 0)
        stats->archive[0] = '\0';
    stats->write_s = seconds_since(&write_start);
out:
    free_state(&st);
    pthread_mutex_destroy(&st.progress_mu);
    return rc;
}
