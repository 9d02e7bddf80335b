/*
 * bossdb-mock — a local BossDB serving a synthetic prasad2020 volume, with faults on
 * demand (DESIGN.md §8). This file only turns argv into mtp_mock_options, prints the
 * listening line and waits for SIGINT/SIGTERM; the server lives in tools/mock/.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faults.h"
#include "server.h"

static const char USAGE[] =
    "usage: bossdb-mock [--port N] [--seed S] [--token T] [--fail-rate P] [--fail-kinds LIST]\n"
    "                   [--delay-ms N] [--slow-ms N] [--log FILE] [--cache-mb N] [--echo-token]\n"
    "                   [--max-inflight N] [--bandwidth-mbps N] [--cutout-cap-mb N] [--help]\n"
    "\n"
    "A local BossDB on 127.0.0.1 serving synthetic prasad/prasad2020 (image) and\n"
    "prasad/prasad_analysis (pixel_labels, roi_labels) at resolution 0.\n"
    "\n"
    "  --port N          port to listen on; 0 (default) picks a free one\n"
    "  --seed S          seed of the synthetic data and of fault draws (default 0)\n"
    "  --token T         accept \"Authorization: Token T\" besides \"Token public\"\n"
    "  --fail-rate P     probability in [0, 1] that a cutout request fails (default 0)\n"
    "  --fail-kinds LIST comma list of 429,500,502,503,504,reset,truncate,corrupt,slow\n"
    "                    (default: these nine, which a client retries) and of the answers\n"
    "                    of a hostile server: redirect (302, the token in the Location),\n"
    "                    204, 206, bigheader (a 256 KiB header)\n"
    "  --delay-ms N      latency added to every response (default 0): a distant server\n"
    "  --max-inflight N  a busy server: cutouts beyond N at once answer 503 with\n"
    "                    Retry-After: 1 (default 0, no limit); the log's \"inflight\" field is\n"
    "                    how many were in flight when each cutout arrived\n"
    "  --bandwidth-mbps N  a total rate cap on cutout bodies, shared by all connections,\n"
    "                    in megabits per second (default 0, none)\n"
    "  --cutout-cap-mb N answer 413 (code 2000) to cutouts over N MB uncompressed, as the\n"
    "                    real server does over 500 MB (default: 500 MB)\n"
    "  --slow-ms N       how long a 'slow' body stalls (default 10000)\n"
    "  --log FILE        append one JSON line per request to FILE\n"
    "  --cache-mb N      keep up to N MB of cutout bodies in memory, at most one body per\n"
    "                    256 KB (default 256, max 8192)\n"
    "  --echo-token      answer a wrong token with 403 and the token in the message and in\n"
    "                    an X-Echo-Token header (a careless server; the client must hide it)\n"
    "\n"
    "Prints \"listening on http://127.0.0.1:PORT\" when ready; stops on SIGINT or SIGTERM.\n";

typedef enum opt_kind { OPT_UNSIGNED, OPT_U64, OPT_RATE, OPT_KINDS, OPT_STRING } opt_kind;

typedef struct opt_spec {
    const char *name;
    opt_kind kind;
    unsigned long long max; /* for the integer kinds */
} opt_spec;

static const opt_spec OPTIONS[] = {
    {"--port", OPT_UNSIGNED, 65535},
    {"--seed", OPT_U64, UINT64_MAX},
    {"--token", OPT_STRING, 0},
    {"--fail-rate", OPT_RATE, 0},
    {"--fail-kinds", OPT_KINDS, 0},
    {"--delay-ms", OPT_UNSIGNED, 3600000},
    {"--slow-ms", OPT_UNSIGNED, 3600000},
    {"--log", OPT_STRING, 0},
    {"--cache-mb", OPT_UNSIGNED, 8192},
    {"--max-inflight", OPT_UNSIGNED, 1024},
    {"--bandwidth-mbps", OPT_UNSIGNED, 100000},
    {"--cutout-cap-mb", OPT_UNSIGNED, 1000000},
};

static int parse_ull(const char *s, unsigned long long max, unsigned long long *out)
{
    if (s[0] < '0' || s[0] > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return 0;
    *out = v;
    return 1;
}

static int parse_rate(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return 0;
    *out = v;
    return 1;
}

/* Store one option's value; 0 ok, else prints the error. */
static int apply(const opt_spec *spec, const char *value, mtp_mock_options *o)
{
    unsigned long long n = 0;
    mtp_error err = MTP_ERROR_INIT;
    switch (spec->kind) {
    case OPT_UNSIGNED:
    case OPT_U64:
        if (!parse_ull(value, spec->max, &n)) {
            fprintf(stderr, "bossdb-mock: %s: '%s' is not an integer in 0-%llu\n", spec->name,
                    value, spec->max);
            return -1;
        }
        break;
    case OPT_RATE:
        if (!parse_rate(value, &o->fail_rate)) {
            fprintf(stderr, "bossdb-mock: %s: '%s' is not a number in [0, 1]\n", spec->name, value);
            return -1;
        }
        return 0;
    case OPT_KINDS:
        if (mtp_fault_parse_kinds(value, &o->fail_kinds, &err) < 0) {
            fprintf(stderr, "bossdb-mock: %s: %s\n", spec->name, err.msg);
            return -1;
        }
        return 0;
    case OPT_STRING:
        if (value[0] == '\0') {
            fprintf(stderr, "bossdb-mock: %s: empty value\n", spec->name);
            return -1;
        }
        if (strcmp(spec->name, "--token") == 0)
            o->token = value;
        else
            o->log_path = value;
        return 0;
    }
    if (strcmp(spec->name, "--port") == 0)
        o->port = (unsigned)n;
    else if (strcmp(spec->name, "--seed") == 0)
        o->seed = (uint64_t)n;
    else if (strcmp(spec->name, "--delay-ms") == 0)
        o->delay_ms = (unsigned)n;
    else if (strcmp(spec->name, "--cache-mb") == 0)
        o->cache_bytes = (size_t)n << 20;
    else if (strcmp(spec->name, "--max-inflight") == 0)
        o->max_inflight = (unsigned)n;
    else if (strcmp(spec->name, "--bandwidth-mbps") == 0)
        o->bandwidth_mbps = (unsigned)n;
    else if (strcmp(spec->name, "--cutout-cap-mb") == 0)
        o->cutout_cap = (uint64_t)n * 1000000u;
    else
        o->slow_ms = (unsigned)n;
    return 0;
}

/* 0 parsed, 1 --help, -1 error (printed). Accepts "--opt value" and "--opt=value". */
static int parse_args(int argc, char **argv, mtp_mock_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strcmp(arg, "--echo-token") == 0) {
            o->echo_token = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        const opt_spec *spec = NULL;
        for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++)
            if (strlen(OPTIONS[k].name) == name_len && strncmp(OPTIONS[k].name, arg, name_len) == 0)
                spec = &OPTIONS[k];
        if (spec == NULL) {
            fprintf(stderr, "bossdb-mock: unknown argument '%s' (see --help)\n", arg);
            return -1;
        }
        const char *value = eq != NULL ? eq + 1 : NULL;
        if (value == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "bossdb-mock: %s needs a value\n", spec->name);
                return -1;
            }
            value = argv[++i];
        }
        if (apply(spec, value, o) < 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    mtp_mock_options options = MTP_MOCK_OPTIONS_INIT;
    int parsed = parse_args(argc, argv, &options);
    if (parsed == 1) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (parsed < 0)
        return 2;

    /* Block the stop signals before any server thread exists, so that they all inherit the
     * mask and only sigwait() below ever sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    mtp_mock *mock = NULL;
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_mock_start(&mock, &options, &err);
    if (rc < 0) {
        fprintf(stderr, "bossdb-mock: %s\n", err.msg);
        return mtp_exit_status(rc);
    }
    printf("listening on http://127.0.0.1:%u\n", mtp_mock_port(mock));
    fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    mtp_mock_free(mock);
    return 0;
}
