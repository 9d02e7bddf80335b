/*
 * mtneuro-pack — the command line. Parses argv into `struct cli_options` (a table of
 * options, STYLE §4), calls the library, prints results and errors, and exits:
 * 0 success, 1 runtime failure, 2 usage or invalid config.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "mtp/boss.h"
#include "mtp/net.h"
#include "mtp/error.h"
#include "mtp/h5read.h"
#include "inspect.h"

enum opt_kind { OPT_FLAG, OPT_STRING, OPT_INT };

struct opt_spec {
    const char *name;
    enum opt_kind kind;
    size_t offset;
};

#define OPT(name, kind, field)                                                                     \
    {                                                                                              \
        name, kind, offsetof(struct cli_options, field)                                            \
    }
static const struct opt_spec option_table[] = {
    OPT("--out", OPT_STRING, out),
    OPT("--cache", OPT_STRING, cache),
    OPT("--source-url", OPT_STRING, source_url),
    OPT("--token-env", OPT_STRING, token_env),
    OPT("--jobs", OPT_INT, jobs),
    OPT("--threads", OPT_INT, threads),
    OPT("--quiet", OPT_FLAG, quiet),
    OPT("--verbose", OPT_FLAG, verbose),
    OPT("--help", OPT_FLAG, help),
    OPT("--archive", OPT_FLAG, archive),
    OPT("--zenodo", OPT_STRING, zenodo),
    OPT("--sandbox", OPT_FLAG, sandbox),
    OPT("--deposition", OPT_STRING, deposition),
    OPT("--new-version-of", OPT_STRING, new_version_of),
    OPT("--publish", OPT_FLAG, publish),
    OPT("--shard", OPT_STRING, shard),
    OPT("--shards", OPT_INT, shards),
    OPT("--offline", OPT_FLAG, offline),
};

struct command {
    const char *name;
    const char *usage;
    const char *summary;
    int (*run)(const struct cli_options *opt);
};

static int run_inspect(const struct cli_options *opt)
{
    return cli_inspect(opt->target, opt->verbose);
}

static const struct command commands[] = {
    {"build",
     "build CONFIG [--out DIR] [--cache DIR] [--jobs N] [--threads N] [--source-url URL] "
     "[--token-env VAR] [--archive] [--offline [--shards N]] [--quiet] [--verbose]",
     "download what the release needs (through the cache) and write it", cli_build},
    {"fetch",
     "fetch CONFIG [--cache DIR] [--jobs N] [--source-url URL] [--token-env VAR] "
     "[--shard I/N|auto [--shards N]] [--quiet] [--verbose]",
     "download every block the release needs into the cache only", cli_fetch},
    {"plan", "plan CONFIG [--shards N] [--verbose]",
     "print the blocks, requests and bytes a fetch would need; no network", cli_plan},
    {"verify", "verify DIR|ARCHIVE.tar.gz [--quiet]",
     "check a release: checksums, format, counts; exit 0 only if all hold", cli_verify},
    {"inspect", "inspect FILE.h5 [--verbose]",
     "summarise a bundle file: tree, shapes, class balance", run_inspect},
    {"preview", "preview FILE.h5 --out DIR", "write PNG montages of a bundle file", cli_preview},
    {"archive", "archive DIR [--out FILE.tar.gz]", "pack a release into a deterministic DIR.tar.gz",
     cli_archive},
    {"publish",
     "publish DIR|ARCHIVE [--zenodo URL | --sandbox] [--token-env VAR] [--deposition ID | "
     "--new-version-of ID] [--publish] [--quiet]",
     "upload a verified release to a Zenodo draft (and publish it)", cli_publish},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* Longer help for `COMMAND --help`, or NULL. */
static const char *command_details(const char *name)
{
    if (strcmp(name, "plan") == 0)
        return "Reads CONFIG only (no network). For each channel: its blocks (the cache's\n"
               "units), the cutout requests that fetch them, voxels, and uncompressed bytes.\n"
               "A request is a box of neighbouring blocks of at most 4 Mi voxels (256 x 256\n"
               "x 64), one source.block cell and the server's cutout cap, so small pieces of\n"
               "regions travel together; a fetch groups the blocks it misses the same way.\n"
               "Channels that tasks use as images must be uint8, so their bytes are exact;\n"
               "other channels may be uint8, uint16 or uint64 (the server's metadata\n"
               "decides), so plan shows the uint64 upper bound, marked '<=', and groups them\n"
               "as uint64. --verbose lists every request in the order fetch sends them to an\n"
               "empty cache, 'CHANNEL x[x0,x1) y[y0,y1) z[z0,z1)', each followed by its\n"
               "blocks, indented by two spaces.\n"
               "  --shards N   also print how fetch --shard I/N splits the blocks: each\n"
               "               shard's blocks and bytes (with --verbose, its blocks)\n";
    if (strcmp(name, "fetch") == 0)
        return "Checks the server's metadata (channels exist, dtypes, resolution, boxes inside\n"
               "the frame), then downloads every block the plan lists that is not already in\n"
               "the cache (cached blocks are re-verified; a damaged one is fetched again).\n"
               "  --cache DIR        cache directory (default $XDG_CACHE_HOME/mtneuro-pack,\n"
               "                     else ~/.cache/mtneuro-pack)\n"
               "  --jobs N           concurrent transfers (default: source.jobs)\n"
               "  --source-url URL   server instead of source.url\n"
               "  --token-env VAR    read the token from environment variable VAR\n"
               "  --quiet            print nothing but errors\n"
               "  --verbose          also print each channel's metadata\n"
               "  --shard I/N        fetch only shard I (0 <= I < N) of a partition of the\n"
               "                     plan's blocks into N byte-balanced shards, the same on\n"
               "                     every machine (see plan --shards N); N fetchers may share\n"
               "                     one cache directory, also on a shared file system\n"
               "  --shard auto       I and N from the scheduler: a SLURM job array\n"
               "                     (SLURM_ARRAY_TASK_ID, _MIN/_MAX or _COUNT), a Kubernetes\n"
               "                     Indexed Job (JOB_COMPLETION_INDEX; N from --shards N), MPI\n"
               "                     (OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE)\n"
               "  --shards N         the shard count for --shard auto (checked if the\n"
               "                     scheduler gives one)\n"
               "Progress goes to stderr: a live bar on a terminal, else a line every 5 s.\n"
               "Ctrl-C stops cleanly; every finished block stays cached for the next run.\n";
    if (strcmp(name, "build") == 0)
        return "Fetches every block the release needs through the cache (only what is missing;\n"
               "downloads run in the background, region by region, while earlier regions are\n"
               "written), then writes OUT/<name>-<version>/: one HDF5 file per task,\n"
               "volumes.h5 (output.volumes), config.yaml (token removed), preview_*.png\n"
               "(output.previews), README.md, manifest.json, SHA256SUMS, MD5SUMS,\n"
               "CITATION.cff, .zenodo.json and croissant.json. The same config gives the\n"
               "same bytes.\n"
               "  --out DIR          parent of the release directory (default ./release)\n"
               "  --cache DIR        cache directory (default $XDG_CACHE_HOME/mtneuro-pack,\n"
               "                     else ~/.cache/mtneuro-pack)\n"
               "  --jobs N           concurrent transfers (default: source.jobs)\n"
               "  --threads N        worker threads that compress slices and read cached\n"
               "                     blocks (default: one per core); the output does not\n"
               "                     depend on it\n"
               "  --source-url URL   server instead of source.url\n"
               "  --token-env VAR    read the token from environment variable VAR\n"
               "  --archive          also write OUT/<name>-<version>.tar.gz\n"
               "  --offline          use only the cache (the final job after sharded fetches):\n"
               "                     the channels' metadata and every block must be there;\n"
               "                     if blocks are missing, exit 1 naming how many (and with\n"
               "                     --shards N, which shards to fetch again); no cutout\n"
               "                     request is made\n"
               "  --shards N         with --offline: the shard count of the fetch\n"
               "  --quiet            print nothing but errors\n"
               "Files are written under temporary names and renamed when complete; an\n"
               "interrupted build leaves no file that looks finished and loses no download.\n";
    if (strcmp(name, "verify") == 0)
        return "Re-reads a release directory or its .tar.gz: every file's size, SHA-256 and MD5\n"
               "against manifest.json, SHA256SUMS and MD5SUMS; no file missing or unlisted;\n"
               "every HDF5 file read in full (format version, shapes, counts, label values\n"
               "within their classes, recorded class balance). One line per problem, then a\n"
               "summary. Exit 0 only when everything holds.\n";
    if (strcmp(name, "publish") == 0)
        return "An ARCHIVE (.tar.gz from build --archive) is extracted to a temporary directory\n"
               "first: the record holds the release's files, not the archive.\n"
               "Verifies the release first (nothing is sent for one that does not verify), then:\n"
               "creates a Zenodo draft (or continues --deposition ID, or asks for a new version\n"
               "of the published record --new-version-of ID), sets its metadata from\n"
               ".zenodo.json, deletes the draft's files this release does not have or holds\n"
               "with another MD5, and uploads every other file (streamed from disk; each\n"
               "answer's MD5 checked against MD5SUMS). Files the draft already holds with the\n"
               "right MD5 are kept, so a rerun with --deposition ID after a crash or Ctrl-C\n"
               "uploads only what is missing. 429, 5xx, resets and stalls are retried.\n"
               "  --zenodo URL       the Zenodo instance (default https://zenodo.org)\n"
               "  --sandbox          https://sandbox.zenodo.org (its own accounts and tokens;\n"
               "                     try a release there first)\n"
               "  --token-env VAR    environment variable holding the token (default\n"
               "                     ZENODO_TOKEN); sent as 'Authorization: Bearer', never\n"
               "                     printed, never over plain http except to this machine\n"
               "  --deposition ID    continue this draft\n"
               "  --new-version-of ID  a new version of this published record\n"
               "  --publish          publish when the files are up (prints the DOI); without\n"
               "                     it the draft is left for review (prints its URL and the\n"
               "                     reserved DOI)\n"
               "  --quiet            print only the result\n";
    if (strcmp(name, "archive") == 0)
        return "Packs DIR into DIR.tar.gz (or --out FILE): entries sorted, mtime from the\n"
               "release config's output.mtime (default 0), uid/gid 0, no user names, no gzip\n"
               "timestamp, so the archive's SHA-256 is reproducible. verify accepts it.\n";
    return NULL;
}

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [ARGS]\n\n"
            "Package the MTNeuro benchmark from BossDB into a verifiable dataset release.\n\n"
            "commands:\n",
            PROG);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "  %s --version       print the version\n"
            "  %s COMMAND --help  usage of one command\n\n"
            "Exit status: 0 success, 1 runtime failure, 2 usage or invalid config.\n",
            PROG, PROG);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int parse_int(const char *text, int *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < 1 || v > 1024)
        return -1;
    *out = (int)v;
    return 0;
}

/* "" or only white space. */
static bool is_blank(const char *text)
{
    for (; *text != '\0'; text++)
        if (*text != ' ' && *text != '\t' && *text != '\n' && *text != '\r')
            return false;
    return true;
}

/* Fill `opt` from argv[2..]; returns 0 or prints one line and returns 2. */
static int parse_options(int argc, char **argv, struct cli_options *opt)
{
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (is_blank(arg)) {
                fprintf(stderr, "%s %s: the %s argument is empty\n", PROG, opt->command,
                        strcmp(opt->command, "build") == 0 || strcmp(opt->command, "fetch") == 0 ||
                                strcmp(opt->command, "plan") == 0
                            ? "CONFIG"
                            : "path");
                return 2;
            }
            if (opt->target != NULL) {
                fprintf(stderr, "%s %s: unexpected argument '%s'\n", PROG, opt->command, arg);
                return 2;
            }
            opt->target = arg;
            continue;
        }
        const struct opt_spec *spec = NULL;
        for (size_t k = 0; k < sizeof option_table / sizeof option_table[0]; k++)
            if (strcmp(option_table[k].name, arg) == 0)
                spec = &option_table[k];
        if (spec == NULL) {
            fprintf(stderr, "%s %s: unknown option '%s' (see --help)\n", PROG, opt->command, arg);
            return 2;
        }
        char *field = (char *)opt + spec->offset;
        if (spec->kind == OPT_FLAG) {
            *(bool *)field = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "%s %s: option %s needs a value\n", PROG, opt->command, arg);
            return 2;
        }
        const char *value = argv[++i];
        if (spec->kind == OPT_STRING && is_blank(value)) {
            /* "" would silently mean the current or root directory. */
            fprintf(stderr, "%s %s: option %s: the value is empty\n", PROG, opt->command, arg);
            return 2;
        }
        if (spec->kind == OPT_STRING) {
            *(const char **)field = value;
        } else if (parse_int(value, (int *)field) != 0) {
            fprintf(stderr, "%s %s: option %s: '%s' is not an integer in 1..1024\n", PROG,
                    opt->command, arg, value);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* Process-wide state of the foreign libraries, set once here (HDF5: no printing and no
     * exit handler; libcurl: global init before any thread). */
    mtp_h5_policy_init();
    mtp_error net_err = MTP_ERROR_INIT;
    if (mtp_net_init(&net_err) < 0)
        return cli_fail(net_err.code, &net_err);
    atexit(mtp_net_cleanup);
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("%s %s\n", PROG, MTP_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_usage(stdout);
        return 0;
    }
    const struct command *cmd = find_command(argv[1]);
    if (cmd == NULL) {
        fprintf(stderr, "%s: unknown command '%s' (see %s --help)\n", PROG, argv[1], PROG);
        return 2;
    }
    struct cli_options opt = CLI_OPTIONS_INIT;
    opt.command = cmd->name;
    int rc = parse_options(argc, argv, &opt);
    if (rc != 0)
        return rc;
    if (opt.help) {
        printf("usage: %s %s\n\n%s\n", PROG, cmd->usage, cmd->summary);
        const char *details = command_details(cmd->name);
        if (details != NULL)
            printf("\n%s", details);
        return 0;
    }
    if (opt.target == NULL) {
        fprintf(stderr, "usage: %s %s\n", PROG, cmd->usage);
        return 2;
    }
    return cmd->run(&opt);
}
