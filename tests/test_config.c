#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtp/config.h"

/*
 * A small valid config, one top-level key per line, so a test case can replace one line
 * and know the line number of what it broke.
 */
static const char *const base_lines[] = {
    "release: {name: r, version: \"1\", title: T, description: D, license: CC-BY-4.0, "
    "creators: [A]}",
    "source: {url: \"http://h\"}",
    "channels: {image: bossdb://c/e/image, labels: bossdb://c/e/labels}",
    "regions: {a: {x: [0, 256], y: [0, 256]}, b: {x: [256, 512], y: [0, 256]}}",
    "z: [0, 64]",
    "splits: {train: [0, 32], val: [32, 48], test: [48, 64]}",
    "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg]}}",
    "output: {compression: gzip}",
};
#define NBASE ((int)(sizeof base_lines / sizeof base_lines[0]))

/*
 * The base text with line `line` (1-based) replaced by `text`; line 0 means `text` is the
 * whole document, line NBASE + 1 appends it. Caller frees.
 */
static char *make_doc(int line, const char *text)
{
    size_t cap = strlen(text) + 2;
    for (int i = 0; i < NBASE; i++)
        cap += strlen(base_lines[i]) + 1;
    char *doc = malloc(cap);
    ck_assert_ptr_nonnull(doc);
    if (line == 0) {
        snprintf(doc, cap, "%s", text);
        return doc;
    }
    size_t pos = 0;
    for (int i = 1; i <= NBASE + 1; i++) {
        const char *part = i == line ? text : i <= NBASE ? base_lines[i - 1] : NULL;
        if (part == NULL)
            continue;
        pos += (size_t)snprintf(doc + pos, cap - pos, "%s\n", part);
    }
    return doc;
}

static char *base_doc(void)
{
    return make_doc(NBASE + 1, "# end");
}

static int parse_doc(const char *doc, mtp_config **cfg, mtp_error *err)
{
    return mtp_config_parse(cfg, "t.yaml", doc, strlen(doc), err);
}

/* ---- the error table ------------------------------------------------------------------ */

typedef struct error_case {
    int line; /* which base line the text replaces (0: whole document, 9: append) */
    const char *text;
    const char *msg; /* the exact error */
} error_case;

static const error_case error_cases[] = {
    /* YAML syntax and document rules */
    {0, "a: [1, 2\nb: 1\n",
     "t.yaml:2:2: syntax error: did not find expected ',' or ']' (while parsing a flow "
     "sequence)"},
    {0, "a: b\n  c: d\n",
     "t.yaml:2:4: syntax error: mapping values are not allowed in this "
     "context"},
    {0, "release: \xff\n", "t.yaml:1:10: syntax error: invalid leading UTF-8 octet"},
    {0, "a: b\n---\nc: d\n", "t.yaml:2:1: only one YAML document is allowed"},
    {0, "", "t.yaml: the document is empty"},
    {0, "# only a comment\n", "t.yaml: the document is empty"},
    {0, "- 1\n- 2\n", "t.yaml:1:1: expected a mapping at the top level, got a list"},
    {0, "? [a]\n: 1\n", "t.yaml:1:3: mapping keys must be scalars"},
    {6, "splits: {train: &a [0, 32], val: *a, test: [48, 64]}",
     "t.yaml:6:34: splits.val: YAML aliases are not allowed"},
    {0, "a: &x [1]\nb: [*x, *x]\n", "t.yaml:2:5: b[0]: YAML aliases are not allowed"},
    {4, "regions: {a: {x: [0, 256], y: [0, 256]}, a: {x: [256, 512], y: [0, 256]}}",
     "t.yaml:4:42: regions.a: duplicate key"},
    {0, "release:\n  name: a\n  name: b\n", "t.yaml:3:3: release.name: duplicate key"},
    {0, "z: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n",
     "t.yaml:1:19: z[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]: nesting deeper than 16 "
     "levels"},
    /* keys */
    {9, "tokn: 1", "t.yaml:9:1: tokn: unknown key"},
    {5, "# no z", "t.yaml:1:1: missing required key \"z\""},
    {1, "release:\n  version: \"1\"\n  title: T\n  description: D\n  license: L\n  creators: [A]",
     "t.yaml:2:3: release: missing required key \"name\""},
    {1, "release: {version: \"1\", title: T, description: D, license: L, creators: [A]}",
     "t.yaml:1:10: release: missing required key \"name\""},
    {2, "source: {url: \"http://h\", tokn: x}", "t.yaml:2:27: source.tokn: unknown key"},
    {2, "source:\n  url: http://h\n  tokn: x", "t.yaml:4:3: source.tokn: unknown key"},
    /* strings */
    {1,
     "release: {name: rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr, "
     "version: \"1\", title: T, description: D, license: L, creators: [A]}",
     "t.yaml:1:17: release.name: longer than 63 characters"},
    {1,
     "release: {name: \"a b\", version: \"1\", title: T, description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:17: release.name: invalid name \"a b\" (allowed: A-Z a-z 0-9 . _ -)"},
    {1,
     "release: {name: .., version: \"1\", title: T, description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:17: release.name: invalid name \"..\" (must not start with '.')"},
    {1,
     "release: {name: r, version: \"1\", title: \"a\\0b\", description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:41: release.title: contains a NUL character"},
    {1,
     "release: {name: r, version: \"1\", title: \"a\\nb\", description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:41: release.title: contains a control character"},
    {1,
     "release: {name: r, version: \"1\", title: [T], description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:41: release.title: expected a string, got a list"},
    {1,
     "release: {name: r, version: \"1\", title: , description: D, license: L, "
     "creators: [A]}",
     "t.yaml:1:41: release.title: expected a string, got null"},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "date: 2026-02-30, creators: [A]}",
     "t.yaml:1:78: release.date: expected a date YYYY-MM-DD, got \"2026-02-30\""},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "url: ftp://x, creators: [A]}",
     "t.yaml:1:77: release.url: expected an http:// or https:// URL"},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: []}",
     "t.yaml:1:82: release.creators: must not be empty"},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: [A, {affiliation: X}]}",
     "t.yaml:1:86: release.creators[1]: missing required key \"name\""},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: [{name: A, orcid: 1234}]}",
     "t.yaml:1:100: release.creators[0].orcid: expected an ORCID iD like 0000-0002-1825-0097"},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: [A], citations: [{text: X, year: 20x}]}",
     "t.yaml:1:115: release.citations[0].year: expected an integer, got \"20x\""},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: [A], citations: [{text: X, doi: \"https://doi.org/10.1/x\"}]}",
     "t.yaml:1:114: release.citations[0].doi: expected a DOI like 10.1038/s41597-020-00692-y"},
    {1,
     "release: {name: r, version: \"1\", title: T, description: D, license: L, "
     "creators: [A], keywords: [k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, k, "
     "k, k, k, k, k, k, k, k, k, k, k, k, k, k]}",
     "t.yaml:1:194: release.keywords: more than 32 keywords"},
    /* integers and booleans */
    {2, "source: {url: \"http://h\", jobs: four}",
     "t.yaml:2:33: source.jobs: expected an integer, got \"four\""},
    {2, "source: {url: \"http://h\", jobs: \"4\"}",
     "t.yaml:2:33: source.jobs: expected an integer, got the string \"4\""},
    {2, "source: {url: \"http://h\", jobs: 4.0}",
     "t.yaml:2:33: source.jobs: expected an integer, got \"4.0\""},
    {2, "source: {url: \"http://h\", jobs: 010}",
     "t.yaml:2:33: source.jobs: expected an integer, got \"010\""},
    {2, "source: {url: \"http://h\", jobs: 1000}",
     "t.yaml:2:33: source.jobs: 1000 exceeds the maximum 64"},
    {2, "source: {url: \"http://h\", jobs: 8, max_jobs: 6}",
     "t.yaml:2:46: source.max_jobs: 6 is below source.jobs (8): the concurrency starts at jobs "
     "and never goes above max_jobs"},
    {2, "source: {url: \"http://h\", jobs: 0}",
     "t.yaml:2:33: source.jobs: 0 is below the minimum 1"},
    {2, "source: {url: \"http://h\", retries: 99999999999999999999}",
     "t.yaml:2:36: source.retries: 99999999999999999999 exceeds the maximum 100"},
    {2, "source: {url: \"http://h\", timeout_s: true}",
     "t.yaml:2:38: source.timeout_s: expected an integer, got \"true\""},
    {2, "source: {url: \"http://h\", resolution: 10}",
     "t.yaml:2:39: source.resolution: 10 exceeds the maximum 9"},
    {2, "source: {url: \"http://h\", backoff_ms: 1000, backoff_max_ms: 500}",
     "t.yaml:2:61: source.backoff_max_ms: 500 is below backoff_ms 1000"},
    {8, "output: {volumes: yes}",
     "t.yaml:8:19: output.volumes: expected true or false, got "
     "\"yes\""},
    /* source */
    {2, "source: {url: \"ftp://h\"}",
     "t.yaml:2:15: source.url: expected http:// or https:// followed by host[:port]"},
    {2, "source: {url: \"http://h/api\"}",
     "t.yaml:2:15: source.url: must not contain a path, query or fragment (expected "
     "scheme://host[:port])"},
    {2, "source: {url: \"http://user:pw@h\"}",
     "t.yaml:2:15: source.url: must not contain user information"},
    {2, "source: {url: \"http://h:99999\"}", "t.yaml:2:15: source.url: invalid port"},
    {2, "source: {url: \"http://\"}", "t.yaml:2:15: source.url: missing host"},
    {2, "source: {url: \"http://h h\"}", "t.yaml:2:15: source.url: invalid host"},
    {2, "source: {tokn: x}", "t.yaml:2:10: source.tokn: unknown key"},
    {2, "source: {token: x}", "t.yaml:2:9: source: missing required key \"url\""},
    {2, "source: {url: \"http://h\", token: abc, token_env: MTP_TEST_TOKEN}",
     "t.yaml:2:50: source.token_env: mutually exclusive with source.token"},
    {2, "source: {url: \"http://h\", token_env: MTP_TEST_UNSET}",
     "t.yaml:2:38: source.token_env: environment variable MTP_TEST_UNSET is not set"},
    {2, "source: {url: \"http://h\", token_env: MTP_TEST_EMPTY}",
     "t.yaml:2:38: source.token_env: environment variable MTP_TEST_EMPTY is empty"},
    {2, "source: {url: \"http://h\", token_env: 1BAD}",
     "t.yaml:2:38: source.token_env: expected an environment variable name "
     "([A-Za-z_][A-Za-z0-9_]*)"},
    {2, "source: {url: \"http://h\", token: \"a b\"}",
     "t.yaml:2:34: source.token: holds characters other than printable ASCII without spaces"},
    {2, "source:\n  url: http://h\n  token: |\n    abc",
     "t.yaml:4:10: source.token: must be a plain or quoted scalar"},
    {2, "source: {url: \"http://h\", token: \"\"}", "t.yaml:2:34: source.token: is empty"},
    {2, "source: {url: \"http://h\", token: [x]}",
     "t.yaml:2:34: source.token: expected a string, got a list"},
    {2, "source: {url: \"http://h\", token: sekrit-123} # sekrit-123",
     "t.yaml:2:34: source.token: the token's value also appears elsewhere in the file, so it "
     "cannot be redacted (use source.token_env)"},
    {2, "source: {url: \"http://h\", block: [512, 512]}",
     "t.yaml:2:34: source.block: expected [x, y, z], got a list of another length"},
    {2, "source: {url: \"http://h\", block: [500, 512, 64]}",
     "t.yaml:2:35: source.block: 500 on axis x neither divides nor is a multiple of the "
     "cuboid size 512"},
    {2, "source: {url: \"http://h\", block: [512, 512, 24]}",
     "t.yaml:2:45: source.block: 24 on axis z neither divides nor is a multiple of the "
     "cuboid size 16"},
    {2, "source: {url: \"http://h\", block: [8192, 512, 64]}",
     "t.yaml:2:35: source.block: 8192 exceeds the maximum 4096"},
    /* channels */
    {3, "channels: {image: bossdb://c/e/image, labels: bossdb://c/e}",
     "t.yaml:3:47: channels.labels: expected bossdb://collection/experiment/channel (parts of "
     "A-Z a-z 0-9 _ -, each at most 63 characters)"},
    {3, "channels: {}", "t.yaml:3:11: channels: expected at least one channel"},
    {3, "channels: [image]", "t.yaml:3:11: channels: expected a mapping, got a list"},
    /* regions, z, splits */
    {4, "regions: {a: {x: [0, 256, 3], y: [0, 256]}}",
     "t.yaml:4:18: regions.a.x: expected [start, stop], got a list of 3 items"},
    {4, "regions: {a: {x: [256, 0], y: [0, 256]}}",
     "t.yaml:4:18: regions.a.x: start 256 >= stop 0"},
    {4, "regions: {a: {x: [0, 2000000], y: [0, 256]}}",
     "t.yaml:4:22: regions.a.x: 2000000 exceeds the maximum 1000000"},
    {4, "regions: {a: {x: [-1, 255], y: [0, 256]}}",
     "t.yaml:4:19: regions.a.x: -1 is below the minimum 0"},
    {4, "regions: {a: {x: [0, 256], y: [0, 256]}, b: {x: [256, 500], y: [0, 256]}}",
     "t.yaml:4:45: regions.b: size 244 x 256 differs from 256 x 256 of region \"a\" (all "
     "regions must have the same size)"},
    {4, "regions: {a: {x: [0, 256], y: [0, 256], z: [0, 1]}}",
     "t.yaml:4:41: regions.a.z: unknown key"},
    {4, "regions: {a: {x: [0, 256]}}", "t.yaml:4:14: regions.a: missing required key \"y\""},
    {4, "regions: {a: 5}", "t.yaml:4:14: regions.a: expected a mapping, got \"5\""},
    /* caps checked at load time, before anything is fetched or allocated */
    {4, "regions: {a: {x: [0, 20000], y: [0, 20000]}}",
     "t.yaml:4:14: regions.a: 20000 x 20000 pixels: a region (and so a tile) is at most 16384 "
     "pixels on a side"},
    {4, "regions: {a: {x: [0, 8192], y: [0, 8192]}}",
     "t.yaml:4:14: regions.a: 8192 x 8192 x 64 voxels (with z) is over the cap of 1073741824 "
     "voxels per region (a region's cubes are held in memory)"},
    {5, "z: [64, 0]", "t.yaml:5:4: z: start 64 >= stop 0"},
    {6, "splits: {train: [40, 32], val: [32, 48], test: [48, 64]}",
     "t.yaml:6:17: splits.train: start 40 >= stop 32"},
    {6, "splits: {train: [0, 32], val: [32, 48], test: [48, 80]}",
     "t.yaml:6:47: splits.test: [48, 80) lies outside z [0, 64)"},
    {6, "splits: {train: [0, 32], \"a/b\": [32, 48], test: [48, 64]}",
     "t.yaml:6:26: splits.a/b: invalid name \"a/b\" (allowed: A-Z a-z 0-9 . _ -)"},
    /* tasks */
    {7, "tasks: {}", "t.yaml:7:8: tasks: expected at least one task"},
    {7, "tasks: {t: {kind: regression, labels: labels}}",
     "t.yaml:7:19: tasks.t.kind: unknown kind \"regression\" (expected classification, "
     "segmentation or features)"},
    {7, "tasks: {t: {kind: segmentation, labels: roi, classes: [bg, fg]}}",
     "t.yaml:7:41: tasks.t.labels: unknown channel \"roi\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, images: img, classes: [bg]}}",
     "t.yaml:7:57: tasks.t.images: unknown channel \"img\""},
    {3, "channels: {img: bossdb://c/e/image, labels: bossdb://c/e/labels}",
     "t.yaml:7:12: tasks.t.images: unknown channel \"image\" (the default)"},
    {7, "tasks: {t: {kind: segmentation, labels: labels}}",
     "t.yaml:7:12: tasks.t: missing required key \"classes\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, bg]}}",
     "t.yaml:7:63: tasks.t.classes[1]: duplicate class \"bg\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: []}}",
     "t.yaml:7:58: tasks.t.classes: must not be empty"},
    {7, "tasks: {t: {kind: classification, labels: labels, classes: [a, b]}}",
     "t.yaml:7:12: tasks.t: missing required key \"map\""},
    {7, "tasks: {t: {kind: classification, labels: labels, classes: [a, b], map: {a: [0]}}}",
     "t.yaml:7:73: tasks.t.map: missing class \"b\""},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a, b], "
     "map: {a: [0], b: [1], c: [2]}}}",
     "t.yaml:7:90: tasks.t.map.c: unknown class \"c\""},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a, b], "
     "map: {a: [0, 1], b: [1]}}}",
     "t.yaml:7:89: tasks.t.map.b: code 1 is already mapped to class \"a\""},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a, b], "
     "map: {a: [0, 300], b: [1]}}}",
     "t.yaml:7:81: tasks.t.map.a: code 300 out of range 0..255"},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a, b], "
     "map: {a: [0], b: []}}}",
     "t.yaml:7:85: tasks.t.map.b: must not be empty"},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a, b], "
     "map: {a: [0], b: [1]}, remap: {1: 0}}}",
     "t.yaml:7:91: tasks.t.remap: not allowed in a classification task"},
    {7,
     "tasks: {t: {kind: classification, labels: labels, rule: majority, classes: [a], "
     "map: {a: [0]}}}",
     "t.yaml:7:57: tasks.t.rule: unknown rule \"majority\" (expected roi_mode)"},
    {7,
     "tasks: {t: {kind: classification, labels: labels, classes: [a], map: {a: [0]}, "
     "depth: 8}}",
     "t.yaml:7:87: tasks.t.depth: classification tasks need depth 1"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], remap: {300: 0}}}",
     "t.yaml:7:76: tasks.t.remap: code 300 out of range 0..255"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], remap: {3: 5}}}",
     "t.yaml:7:79: tasks.t.remap: class 5 out of range 0..1"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], remap: {x: 0}}}",
     "t.yaml:7:76: tasks.t.remap: expected an integer, got \"x\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], rule: roi_mode}}",
     "t.yaml:7:68: tasks.t.rule: not allowed in a segmentation task"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], quadrant: 64}}",
     "t.yaml:7:68: tasks.t.quadrant: not allowed in a segmentation task"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg, fg], depth: 65}}",
     "t.yaml:7:75: tasks.t.depth: 65 exceeds the maximum 64"},
    {7, "tasks: {t: {kind: features, labels: labels, quadrant: 100}}",
     "t.yaml:7:55: tasks.t.quadrant: 100 does not divide the region size 256 x 256"},
    {7, "tasks: {t: {kind: features, labels: labels, depth: 8}}",
     "t.yaml:7:52: tasks.t.depth: features tasks need depth 1"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg], exclude: [zz]}}",
     "t.yaml:7:74: tasks.t.exclude: unknown region \"zz\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg], exclude: [a, a]}}",
     "t.yaml:7:77: tasks.t.exclude: duplicate region \"a\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg], exclude: [a, b]}}",
     "t.yaml:7:73: tasks.t.exclude: every region is excluded"},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg], splits: [train, x]}}",
     "t.yaml:7:80: tasks.t.splits: unknown split \"x\""},
    {7, "tasks: {t: {kind: segmentation, labels: labels, classes: [bg], splits: [val, val]}}",
     "t.yaml:7:78: tasks.t.splits: duplicate split \"val\""},
    {6, "splits: {train: [0, 32], test: [48, 64]}",
     "t.yaml:7:12: tasks.t.splits: unknown split \"val\" (the default is [train, val, test])"},
    {7, "tasks: {\"t 1\": {kind: features, labels: labels}}",
     "t.yaml:7:9: tasks.t 1: invalid name \"t 1\" (allowed: A-Z a-z 0-9 . _ -)"},
    {7, "tasks: {t: {kind: features}}",
     "t.yaml:7:12: tasks.t: missing required key "
     "\"labels\""},
    /* output */
    {8, "output: {compression: lz4}",
     "t.yaml:8:23: output.compression: unknown compression \"lz4\" (expected gzip or none)"},
    {8, "output: {compression: blosc}",
     "t.yaml:8:23: output.compression: blosc is not implemented (its files would need the "
     "hdf5plugin filter to be read); use gzip or none"},
    {8, "output: {level: 10}", "t.yaml:8:17: output.level: 10 exceeds the maximum 9"},
    {8, "output: {mtime: 4102444801}",
     "t.yaml:8:17: output.mtime: 4102444801 exceeds the maximum 4102444800"},
    {8, "output: {compresion: gzip}", "t.yaml:8:10: output.compresion: unknown key"},
};

START_TEST(error_table)
{
    setenv("MTP_TEST_EMPTY", "", 1);
    unsetenv("MTP_TEST_UNSET");
    const error_case *c = &error_cases[_i];
    char *doc = make_doc(c->line, c->text);
    mtp_config *cfg = (mtp_config *)&cfg; /* must come back NULL */
    mtp_error err = MTP_ERROR_INIT;
    int rc = parse_doc(doc, &cfg, &err);
    ck_assert_msg(rc == MTP_ECONFIG, "case %d: rc %d, msg \"%s\"", _i, rc, err.msg);
    ck_assert_int_eq(err.code, MTP_ECONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(strcmp(err.msg, c->msg) == 0, "case %d:\n got \"%s\"\nwant \"%s\"", _i, err.msg,
                  c->msg);
    free(doc);
}
END_TEST

/* ---- caps that need big inputs ----------------------------------------------------------- */

START_TEST(file_larger_than_1_mib)
{
    size_t len = 1024 * 1024 + 1;
    char *text = malloc(len);
    ck_assert_ptr_nonnull(text);
    memset(text, '#', len);
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_config_parse(&cfg, "t.yaml", text, len, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "t.yaml: file is larger than 1 MiB");

    /* the same through a file: refused after reading at most 1 MiB + 1 bytes */
    char path[] = "/tmp/mtp_config_big_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    char want[128];
    snprintf(want, sizeof want, "%s: file is larger than 1 MiB", path);
    ck_assert_int_eq(mtp_config_load(&cfg, path, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(cfg);
    unlink(path);
    free(text);
}
END_TEST

START_TEST(node_cap)
{
    /* 100001 list items under a top-level key: refused while reading, before any checks */
    size_t n = 100001, cap = n * 3 + 16;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    size_t pos = (size_t)snprintf(text, cap, "x: [");
    for (size_t i = 0; i < n; i++)
        pos += (size_t)snprintf(text + pos, cap - pos, "%s0", i ? "," : "");
    snprintf(text + pos, cap - pos, "]\n");
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_config_parse(&cfg, "t.yaml", text, strlen(text), &err), MTP_ECONFIG);
    /* nodes: the root, "x", the list, then items 0..99996 make 100000; item 99997 is one too
     * many, at column 5 + 2 * 99997 */
    ck_assert_str_eq(err.msg, "t.yaml:1:199999: x[99997]: the document has more than 100000 "
                              "nodes");
    free(text);
}
END_TEST

START_TEST(billion_laughs_is_refused)
{
    const char *text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n";
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_config_parse(&cfg, "t.yaml", text, strlen(text), &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "t.yaml:2:8: b[0]: YAML aliases are not allowed");
}
END_TEST

/* ---- valid documents ---------------------------------------------------------------------- */

START_TEST(base_config_and_defaults)
{
    char *doc = base_doc();
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(parse_doc(doc, &cfg, &err), 0);
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cfg->path, "t.yaml");
    ck_assert_str_eq(cfg->release.name, "r");
    ck_assert_str_eq(cfg->release.version, "1");
    ck_assert_str_eq(cfg->release.license, "CC-BY-4.0");
    ck_assert_int_eq(cfg->release.ncreators, 1);
    ck_assert_str_eq(cfg->release.creators[0].name, "A");
    ck_assert_str_eq(cfg->release.creators[0].orcid, "");
    ck_assert_int_eq(cfg->release.ncitations, 0);
    ck_assert_str_eq(cfg->source.url, "http://h");
    ck_assert_str_eq(cfg->source.token, "public");
    ck_assert_str_eq(cfg->source.token_env, "");
    ck_assert_int_eq(cfg->source.resolution, 0);
    ck_assert_int_eq(cfg->source.block[0], 512);
    ck_assert_int_eq(cfg->source.block[1], 512);
    ck_assert_int_eq(cfg->source.block[2], 64);
    ck_assert_int_eq(cfg->source.jobs, 4);
    ck_assert_int_eq(cfg->source.max_jobs, 16); /* the politeness cap by default */
    ck_assert_int_eq(cfg->source.retries, 8);
    ck_assert_int_eq(cfg->source.timeout_s, 120);
    ck_assert_int_eq(cfg->source.backoff_ms, 500);
    ck_assert_int_eq(cfg->source.backoff_max_ms, 30000);
    ck_assert_int_eq(cfg->nchannels, 2);
    ck_assert_str_eq(cfg->channels[1].name, "labels");
    ck_assert_str_eq(cfg->channels[1].uri, "bossdb://c/e/labels");
    ck_assert_str_eq(cfg->channels[1].collection, "c");
    ck_assert_str_eq(cfg->channels[1].experiment, "e");
    ck_assert_str_eq(cfg->channels[1].channel, "labels");
    ck_assert_int_eq(cfg->nregions, 2);
    ck_assert_int_eq(cfg->regions[1].x.start, 256);
    ck_assert_int_eq(cfg->regions[1].x.stop, 512);
    ck_assert_int_eq(cfg->z.start, 0);
    ck_assert_int_eq(cfg->z.stop, 64);
    ck_assert_int_eq(cfg->nsplits, 3);
    ck_assert_int_eq(cfg->ntasks, 1);
    const mtp_task *t = &cfg->tasks[0];
    ck_assert_int_eq(t->kind, MTP_TASK_SEGMENTATION);
    ck_assert_int_eq(t->image_channel, 0);
    ck_assert_int_eq(t->label_channel, 1);
    ck_assert_int_eq(t->nclasses, 2);
    ck_assert_int_eq(t->depth, 1);
    ck_assert_int_eq(t->nsplits, 3);
    ck_assert_int_eq(t->splits[0], 0);
    ck_assert_int_eq(t->splits[2], 2);
    ck_assert_int_eq(t->code_class[0], 0);
    ck_assert_int_eq(t->code_class[1], 1);
    for (int c = 2; c < MTP_MAX_CODES; c++)
        ck_assert_int_eq(t->code_class[c], -1);
    ck_assert(!t->excluded[0] && !t->excluded[1]);
    ck_assert_int_eq(cfg->output.compression, MTP_COMPRESS_GZIP);
    ck_assert_int_eq(cfg->output.level, 4);
    ck_assert(!cfg->output.volumes);
    ck_assert(cfg->output.previews);
    ck_assert_int_eq(cfg->output.mtime, 0);
    /* public token: the text is kept byte for byte; digest from sha256sum */
    ck_assert_uint_eq(cfg->redacted_len, strlen(doc));
    ck_assert_mem_eq(cfg->redacted_text, doc, strlen(doc));
    ck_assert_str_eq(cfg->sha256,
                     "beee4e4a15c41548183cb120d09572caa753c104f6305e833dcc37d899b1bda4");
    ck_assert_int_eq(mtp_config_channel(cfg, "labels"), 1);
    ck_assert_int_eq(mtp_config_channel(cfg, "nope"), -1);
    ck_assert_int_eq(mtp_config_region(cfg, "b"), 1);
    ck_assert_int_eq(mtp_config_split(cfg, "test"), 2);
    ck_assert_int_eq(mtp_config_task(cfg, "t"), 0);
    ck_assert_int_eq(mtp_config_task(cfg, NULL), -1);
    ck_assert_int_eq(mtp_config_task(NULL, "t"), -1);
    mtp_config_free(cfg);
    mtp_config_free(NULL);
    free(doc);
}
END_TEST

START_TEST(optional_fields_and_remap)
{
    char *doc = make_doc(
        0,
        "release:\n"
        "  name: r.x_1-2\n"
        "  version: 1.0.0\n"
        "  title: T\n"
        "  description: |\n"
        "    Line one.\n"
        "    Line two.\n"
        "  license: CC-BY-4.0\n"
        "  date: 2024-02-29\n"
        "  url: https://example.org/r\n"
        "  creators:\n"
        "    - {name: \"Doe, Jane\", affiliation: Somewhere, orcid: 0000-0002-1825-009X}\n"
        "  citations:\n"
        "    - Plain citation.\n"
        "    - {text: T2, doi: 10.1/x, title: A title, year: 2020, venue: V, authors: [a, b]}\n"
        "  keywords: [k1, k2]\n"
        "source: {url: \"https://h.example:8443/\", jobs: 64, retries: 0, block: [256, 1024, 8],\n"
        "         timeout_s: 3600, backoff_ms: 1, backoff_max_ms: 1, resolution: 9}\n"
        "channels: {im: bossdb://c/e/i, lab: bossdb://c/e/l}\n"
        "regions: {a: {x: [0, 200], y: [10, 110]}}\n"
        "z: [0, 100]\n"
        "splits: {all: [0, 100]}\n"
        "tasks:\n"
        "  f: {kind: features, labels: lab, images: im, splits: [all], quadrant: 50,\n"
        "      remap: {3: 0, 200: 2}}\n"
        "  c: {kind: classification, labels: lab, images: im, splits: [all], classes: [p, q],\n"
        "      map: {q: [7], p: [255, 0]}}\n"
        "output: {compression: none, level: 0, volumes: true, previews: false,\n"
        "         mtime: 4102444800}\n");
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(parse_doc(doc, &cfg, &err) == 0, "%s", err.msg);
    const mtp_release *r = &cfg->release;
    ck_assert_str_eq(r->name, "r.x_1-2");
    ck_assert_str_eq(r->version, "1.0.0");
    ck_assert_str_eq(r->description, "Line one.\nLine two.");
    ck_assert_str_eq(r->date, "2024-02-29");
    ck_assert_str_eq(r->url, "https://example.org/r");
    ck_assert_str_eq(r->creators[0].name, "Doe, Jane");
    ck_assert_str_eq(r->creators[0].affiliation, "Somewhere");
    ck_assert_str_eq(r->creators[0].orcid, "0000-0002-1825-009X");
    ck_assert_int_eq(r->ncitations, 2);
    ck_assert_str_eq(r->citations[0].text, "Plain citation.");
    ck_assert_int_eq(r->citations[0].year, 0);
    ck_assert_str_eq(r->citations[1].doi, "10.1/x");
    ck_assert_str_eq(r->citations[1].title, "A title");
    ck_assert_int_eq(r->citations[1].year, 2020);
    ck_assert_str_eq(r->citations[1].venue, "V");
    ck_assert_int_eq(r->citations[1].nauthors, 2);
    ck_assert_str_eq(r->citations[1].authors[1], "b");
    ck_assert_int_eq(r->nkeywords, 2);
    ck_assert_str_eq(r->keywords[1], "k2");
    ck_assert_str_eq(cfg->source.url, "https://h.example:8443");
    ck_assert_int_eq(cfg->source.jobs, 64);
    ck_assert_int_eq(cfg->source.max_jobs, 64); /* not given: jobs, when above 16 */
    ck_assert_int_eq(cfg->source.retries, 0);
    ck_assert_int_eq(cfg->source.block[0], 256);
    ck_assert_int_eq(cfg->source.block[1], 1024);
    ck_assert_int_eq(cfg->source.block[2], 8);
    ck_assert_int_eq(cfg->source.resolution, 9);
    ck_assert_int_eq(cfg->source.backoff_max_ms, 1);
    const mtp_task *f = &cfg->tasks[0];
    ck_assert_int_eq(f->kind, MTP_TASK_FEATURES);
    ck_assert_int_eq(f->image_channel, 0);
    ck_assert_int_eq(f->label_channel, 1);
    ck_assert_int_eq(f->quadrant, 50);
    ck_assert_int_eq(f->nclasses, 4);
    ck_assert_str_eq(f->classes[3], "axon");
    ck_assert_int_eq(f->code_class[0], 0);
    ck_assert_int_eq(f->code_class[1], 1);
    ck_assert_int_eq(f->code_class[2], 2);
    ck_assert_int_eq(f->code_class[3], 0);
    ck_assert_int_eq(f->code_class[4], -1);
    ck_assert_int_eq(f->code_class[200], 2);
    ck_assert_int_eq(f->nsplits, 1);
    ck_assert_int_eq(f->splits[0], 0);
    const mtp_task *c = &cfg->tasks[1];
    ck_assert_str_eq(c->rule, "roi_mode");
    ck_assert_int_eq(c->code_class[0], 0);
    ck_assert_int_eq(c->code_class[255], 0);
    ck_assert_int_eq(c->code_class[7], 1);
    ck_assert_int_eq(c->code_class[1], -1);
    ck_assert_int_eq(cfg->output.compression, MTP_COMPRESS_NONE);
    ck_assert_int_eq(cfg->output.level, 0);
    ck_assert(cfg->output.volumes);
    ck_assert(!cfg->output.previews);
    ck_assert_int_eq(cfg->output.mtime, INT64_C(4102444800));
    mtp_config_free(cfg);
    free(doc);
}
END_TEST

/* ---- tokens ------------------------------------------------------------------------------- */

/* Parses `line2` as line 2 of the base document and checks the redacted text. */
static void check_redaction(const char *line2, const char *token, const char *redacted_line2)
{
    char *doc = make_doc(2, line2);
    char *want = make_doc(2, redacted_line2);
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(parse_doc(doc, &cfg, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg->source.token, token);
    ck_assert_uint_eq(cfg->redacted_len, strlen(want));
    ck_assert_str_eq(cfg->redacted_text, want);
    ck_assert_ptr_null(strstr(cfg->redacted_text, token));
    mtp_config_free(cfg);
    free(want);
    free(doc);
}

START_TEST(token_is_redacted)
{
    /* quoted, after multi-byte characters (libyaml marks count characters, not bytes) */
    check_redaction("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
                    "source: {url: \"http://h\", token: \"0123abcd\"} # after",
                    "0123abcd",
                    "# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"
                    "source: {url: \"http://h\", token: \"<redacted>\"} # after");
    /* plain, in the middle of a flow mapping */
    check_redaction("source: {url: \"http://h\", token: s3cr3t, jobs: 2}", "s3cr3t",
                    "source: {url: \"http://h\", token: \"<redacted>\", jobs: 2}");
    /* with an anchor and a tag: both go with the value */
    check_redaction("source: {url: \"http://h\", token: &t !!str s3cr3t}", "s3cr3t",
                    "source: {url: \"http://h\", token: \"<redacted>\"}");
    /* block style */
    check_redaction("source:\n  url: http://h\n  token: 'tok''en'\n  jobs: 2", "tok'en",
                    "source:\n  url: http://h\n  token: \"<redacted>\"\n  jobs: 2");
}
END_TEST

START_TEST(token_fixture_file)
{
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_config_load(&cfg, MTP_TEST_DATA "/config/token.yaml", &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(cfg->source.token, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b");
    FILE *f = fopen(MTP_TEST_DATA "/config/token.redacted.yaml", "rb");
    ck_assert_ptr_nonnull(f);
    char want[4096];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_uint_eq(cfg->redacted_len, n);
    ck_assert_mem_eq(cfg->redacted_text, want, n);
    ck_assert_str_eq(cfg->sha256,
                     "4efdee1cdab0588c4c15b06ed1c501239df52148eef4e24f0f6297edb05aed26");
    mtp_config_free(cfg);
}
END_TEST

START_TEST(token_from_environment)
{
    setenv("MTP_TEST_TOKEN", "tok-from-env", 1);
    char *doc = make_doc(2, "source: {url: \"http://h\", token_env: MTP_TEST_TOKEN}");
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(parse_doc(doc, &cfg, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg->source.token, "tok-from-env");
    ck_assert_str_eq(cfg->source.token_env, "MTP_TEST_TOKEN");
    /* nothing to redact: the file names the variable, not the token */
    ck_assert_str_eq(cfg->redacted_text, doc);
    mtp_config_free(cfg);

    /* a token that would break the HTTP header is refused without echoing it */
    setenv("MTP_TEST_TOKEN", "bad\r\nX-Evil: 1", 1);
    ck_assert_int_eq(parse_doc(doc, &cfg, &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "t.yaml:2:38: source.token_env: the token in environment variable "
                              "MTP_TEST_TOKEN holds characters other than printable ASCII "
                              "without spaces");
    unsetenv("MTP_TEST_TOKEN");
    free(doc);
}
END_TEST

/* ---- overrides ---------------------------------------------------------------------------- */

START_TEST(overrides)
{
    char *doc = base_doc();
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(parse_doc(doc, &cfg, &err), 0);

    ck_assert_int_eq(mtp_config_override(cfg, "http://127.0.0.1:8642/", NULL, &err), 0);
    ck_assert_str_eq(cfg->source.url, "http://127.0.0.1:8642");
    ck_assert_int_eq(mtp_config_override(cfg, "http://[::1]:80", NULL, &err), 0);
    ck_assert_str_eq(cfg->source.url, "http://[::1]:80");

    static const struct {
        const char *url;
        const char *msg;
    } bad_urls[] = {
        {"127.0.0.1:8642", "--source-url: expected http:// or https:// followed by host[:port]"},
        {"http://h/x", "--source-url: must not contain a path, query or fragment (expected "
                       "scheme://host[:port])"},
        {"http://h?x", "--source-url: must not contain a path, query or fragment (expected "
                       "scheme://host[:port])"},
        {"https://user:secret@h", "--source-url: must not contain user information"},
        {"http://h:0", "--source-url: invalid port"},
        {"http://h:65536", "--source-url: invalid port"},
        {"http://h:", "--source-url: invalid port"},
        {"http://h:8a", "--source-url: invalid port"},
        {"http://", "--source-url: missing host"},
        {"http://-h", "--source-url: invalid host"},
        {"http://[zz]", "--source-url: invalid host"},
    };
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
        ck_assert_int_eq(mtp_config_override(cfg, bad_urls[i].url, NULL, &err), MTP_ECONFIG);
        ck_assert_str_eq(err.msg, bad_urls[i].msg);
    }
    ck_assert_str_eq(cfg->source.url, "http://[::1]:80");

    unsetenv("MTP_TEST_NOT_SET");
    ck_assert_int_eq(mtp_config_override(cfg, "http://other", "MTP_TEST_NOT_SET", &err),
                     MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--token-env: environment variable MTP_TEST_NOT_SET is not set");
    /* a failed override changes nothing, not even the valid part */
    ck_assert_str_eq(cfg->source.url, "http://[::1]:80");
    ck_assert_int_eq(mtp_config_override(cfg, NULL, "A-B", &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg,
                     "--token-env: expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
    setenv("MTP_TEST_EMPTY", "", 1);
    ck_assert_int_eq(mtp_config_override(cfg, NULL, "MTP_TEST_EMPTY", &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, "--token-env: environment variable MTP_TEST_EMPTY is empty");
    ck_assert_str_eq(cfg->source.token, "public");

    setenv("MTP_TEST_OVERRIDE", "abc123", 1);
    ck_assert_int_eq(mtp_config_override(cfg, NULL, "MTP_TEST_OVERRIDE", &err), 0);
    ck_assert_str_eq(cfg->source.token, "abc123");
    ck_assert_str_eq(cfg->source.token_env, "MTP_TEST_OVERRIDE");
    ck_assert_int_eq(mtp_config_override(cfg, NULL, NULL, &err), 0);
    ck_assert_int_eq(mtp_config_override(NULL, NULL, NULL, &err), MTP_EINVAL);
    unsetenv("MTP_TEST_OVERRIDE");
    mtp_config_free(cfg);
    free(doc);
}
END_TEST

START_TEST(missing_file)
{
    mtp_config *cfg = (mtp_config *)&cfg;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_config_load(&cfg, MTP_TEST_DATA "/config/nope.yaml", &err), MTP_ECONFIG);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, MTP_TEST_DATA "/config/nope.yaml: cannot read: No such file or "
                                            "directory");
    ck_assert_int_eq(mtp_config_load(&cfg, MTP_TEST_DATA "/config", &err), MTP_ECONFIG);
    ck_assert_str_eq(err.msg, MTP_TEST_DATA "/config: cannot read: Is a directory");
}
END_TEST

/* ---- the shipped configs -------------------------------------------------------------------- */

static void check_mtneuro(const mtp_config *cfg)
{
    ck_assert_str_eq(cfg->release.version, "1.0.0");
    ck_assert_str_eq(cfg->release.license, "CC-BY-4.0");
    ck_assert_int_eq(cfg->release.ncreators, 7);
    ck_assert_str_eq(cfg->release.creators[0].name, "Quesada, Jorge");
    ck_assert_str_eq(cfg->release.creators[6].name, "Dyer, Eva L.");
    ck_assert_int_eq(cfg->release.ncitations, 2);
    ck_assert_int_eq(cfg->release.citations[0].year, 2022);
    ck_assert_int_eq(cfg->release.citations[1].year, 2020);
    ck_assert_str_eq(cfg->release.citations[1].venue, "Scientific Data");
    ck_assert_str_eq(cfg->release.citations[0].doi, "");
    ck_assert_str_eq(cfg->source.token, "public");
    ck_assert_int_eq(cfg->source.block[0], 512);
    ck_assert_int_eq(cfg->source.block[1], 512);
    ck_assert_int_eq(cfg->source.block[2], 64);
    ck_assert_int_eq(cfg->nchannels, 3);
    ck_assert_str_eq(cfg->channels[0].uri, "bossdb://prasad/prasad2020/image");
    ck_assert_str_eq(cfg->channels[1].uri, "bossdb://prasad/prasad_analysis/pixel_labels");
    ck_assert_str_eq(cfg->channels[2].uri, "bossdb://prasad/prasad_analysis/roi_labels");

    static const struct {
        const char *name;
        int64_t x0, y0;
    } regions[] = {
        {"cortex", 4600, 900}, {"striatum", 3700, 500}, {"vp", 3063, 850}, {"zi", 1543, 650}};
    ck_assert_int_eq(cfg->nregions, 4);
    for (int r = 0; r < 4; r++) {
        ck_assert_str_eq(cfg->regions[r].name, regions[r].name);
        ck_assert_int_eq(cfg->regions[r].x.start, regions[r].x0);
        ck_assert_int_eq(cfg->regions[r].x.stop, regions[r].x0 + 256);
        ck_assert_int_eq(cfg->regions[r].y.start, regions[r].y0);
        ck_assert_int_eq(cfg->regions[r].y.stop, regions[r].y0 + 256);
    }
    ck_assert_int_eq(cfg->z.start, 110);
    ck_assert_int_eq(cfg->z.stop, 470);
    static const struct {
        const char *name;
        int64_t z0, z1;
    } splits[] = {{"train", 110, 379}, {"val", 380, 409}, {"test", 420, 470}, {"all", 110, 470}};
    ck_assert_int_eq(cfg->nsplits, 4);
    for (int s = 0; s < 4; s++) {
        ck_assert_str_eq(cfg->splits[s].name, splits[s].name);
        ck_assert_int_eq(cfg->splits[s].z.start, splits[s].z0);
        ck_assert_int_eq(cfg->splits[s].z.stop, splits[s].z1);
    }

    ck_assert_int_eq(cfg->ntasks, 6);
    static const char *const names[] = {"task1",           "task2_2d_4class", "task2_2d_3class",
                                        "task2_3d_4class", "task2_3d_3class", "task3"};
    for (int t = 0; t < 6; t++) {
        ck_assert_str_eq(cfg->tasks[t].name, names[t]);
        ck_assert_int_eq(cfg->tasks[t].image_channel, 0);
    }
    const mtp_task *t1 = &cfg->tasks[0];
    ck_assert_int_eq(t1->kind, MTP_TASK_CLASSIFICATION);
    ck_assert_int_eq(t1->label_channel, 2);
    ck_assert_str_eq(t1->rule, "roi_mode");
    ck_assert_int_eq(t1->nclasses, 4);
    static const int roi_class[9] = {0, 0, 1, 2, 2, 3, 3, 3, 1};
    for (int c = 0; c < 9; c++)
        ck_assert_int_eq(t1->code_class[c], roi_class[c]);
    for (int c = 9; c < MTP_MAX_CODES; c++)
        ck_assert_int_eq(t1->code_class[c], -1);
    ck_assert_int_eq(t1->nsplits, 3);
    ck_assert_int_eq(t1->splits[0], 0);
    ck_assert_int_eq(t1->splits[1], 1);
    ck_assert_int_eq(t1->splits[2], 2);

    int zi = mtp_config_region(cfg, "zi");
    ck_assert_int_eq(zi, 3);
    for (int t = 1; t <= 4; t++) {
        const mtp_task *task = &cfg->tasks[t];
        bool four = t == 1 || t == 3;
        ck_assert_int_eq(task->kind, MTP_TASK_SEGMENTATION);
        ck_assert_int_eq(task->label_channel, 1);
        ck_assert_int_eq(task->depth, t <= 2 ? 1 : 8);
        ck_assert_int_eq(task->nclasses, four ? 4 : 3);
        ck_assert(task->excluded[zi] == four);
        ck_assert(!task->excluded[0] && !task->excluded[1] && !task->excluded[2]);
        ck_assert_int_eq(task->code_class[0], 0);
        ck_assert_int_eq(task->code_class[1], 1);
        ck_assert_int_eq(task->code_class[2], 2);
        ck_assert_int_eq(task->code_class[3], four ? 3 : 0);
        ck_assert_int_eq(task->code_class[4], -1);
        ck_assert_int_eq(task->nsplits, 3);
    }
    const mtp_task *t3 = &cfg->tasks[5];
    ck_assert_int_eq(t3->kind, MTP_TASK_FEATURES);
    ck_assert_int_eq(t3->nsplits, 1);
    ck_assert_int_eq(t3->splits[0], mtp_config_split(cfg, "all"));
    ck_assert_int_eq(t3->quadrant, 128);
    ck_assert_int_eq(t3->nclasses, 4);
    ck_assert_int_eq(t3->depth, 1);

    ck_assert_int_eq(cfg->output.compression, MTP_COMPRESS_GZIP);
    ck_assert_int_eq(cfg->output.level, 4);
    ck_assert(cfg->output.volumes);
    ck_assert(cfg->output.previews);
    ck_assert_int_eq(cfg->output.mtime, 0);
}

START_TEST(shipped_mtneuro)
{
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_config_load(&cfg, MTP_SOURCE_DIR "/configs/mtneuro.yaml", &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(cfg->release.name, "mtneuro");
    ck_assert_str_eq(cfg->source.url, "https://api.bossdb.io");
    check_mtneuro(cfg);
    ck_assert_uint_eq(strlen(cfg->sha256), 64);
    mtp_config_free(cfg);
}
END_TEST

START_TEST(shipped_demo)
{
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_config_load(&cfg, MTP_SOURCE_DIR "/configs/demo.yaml", &err) == 0, "%s",
                  err.msg);
    ck_assert_str_eq(cfg->release.name, "mtneuro-demo");
    ck_assert_str_eq(cfg->source.url, "http://127.0.0.1:8642");
    check_mtneuro(cfg);
    ck_assert_int_eq(mtp_config_override(cfg, "http://127.0.0.1:40123", NULL, &err), 0);
    ck_assert_str_eq(cfg->source.url, "http://127.0.0.1:40123");
    mtp_config_free(cfg);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, error_table, 0, (int)(sizeof error_cases / sizeof error_cases[0]));
    tcase_add_test(tc, file_larger_than_1_mib);
    tcase_add_test(tc, node_cap);
    tcase_add_test(tc, billion_laughs_is_refused);
    tcase_add_test(tc, base_config_and_defaults);
    tcase_add_test(tc, optional_fields_and_remap);
    tcase_add_test(tc, token_is_redacted);
    tcase_add_test(tc, token_fixture_file);
    tcase_add_test(tc, token_from_environment);
    tcase_add_test(tc, overrides);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, shipped_mtneuro);
    tcase_add_test(tc, shipped_demo);
    suite_add_tcase(s, tc);
    return s;
}
