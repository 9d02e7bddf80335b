/*
 * test_release.c — the release metadata: manifest.json (values, key order), SHA256SUMS and
 * MD5SUMS (checked by coreutils), CITATION.cff (parsed by PyYAML), .zenodo.json,
 * croissant.json, the README datasheet, determinism, no token anywhere, error paths.
 */
#include "mtp_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "mtp/config.h"
#include "mtp/digest.h"
#include "fixtures.h"
#include "mtp/release.h"
#include "mtp/summary.h"

#define TOKEN "secret-token-never-in-files"

static const char CONFIG_YAML[] =
    "release:\n"
    "  name: mini\n"
    "  version: \"1.0.0\"\n"
    "  title: \"Mini release: a \\\"test\\\"\"\n"
    "  description: |\n"
    "    A tiny test release.\n"
    "\n"
    "    Second paragraph with <b> & more.\n"
    "  license: CC-BY-4.0\n"
    "  creators:\n"
    "    - \"Quesada, Jorge\"\n"
    "    - {name: \"Dyer, Eva L.\", affiliation: \"Georgia Tech\", orcid: "
    "\"0000-0002-1825-0097\"}\n"
    "    - \"The MTNeuro Team\"\n"
    "  citations:\n"
    "    - text: \"Quesada, J., Dyer, E. L. (2022). MTNeuro. NeurIPS Datasets and Benchmarks.\"\n"
    "      title: \"MTNeuro: A Benchmark\"\n"
    "      year: 2022\n"
    "      venue: NeurIPS Datasets and Benchmarks\n"
    "      authors: [\"Quesada, J.\", \"Dyer, E. L.\"]\n"
    "    - text: \"Prasad, J. A., Dyer, E. L. (2020). A dataset. Scientific Data, 7(1), 1-7.\"\n"
    "      title: \"A three-dimensional thalamocortical dataset\"\n"
    "      year: 2020\n"
    "      venue: Scientific Data\n"
    "      authors: [\"Prasad, J. A.\", \"Dyer, E. L.\"]\n"
    "    - text: \"A citation with text only.\"\n"
    "  keywords: [neuroscience, \"mouse brain\"]\n"
    "source:\n"
    "  url: http://127.0.0.1:8642\n"
    "  token: " TOKEN "\n"
    "  resolution: 0\n"
    "channels:\n"
    "  image: bossdb://prasad/prasad2020/image\n"
    "  pixel_labels: bossdb://prasad/prasad_analysis/pixel_labels\n"
    "  roi_labels: bossdb://prasad/prasad_analysis/roi_labels\n"
    "regions:\n"
    "  cortex: {x: [4600, 4856], y: [900, 1156]}\n"
    "  striatum: {x: [3700, 3956], y: [500, 756]}\n"
    "  vp: {x: [3063, 3319], y: [850, 1106]}\n"
    "  zi: {x: [1543, 1799], y: [650, 906]}\n"
    "z: [110, 470]\n"
    "splits:\n"
    "  train: [110, 379]\n"
    "  val: [380, 409]\n"
    "  test: [420, 470]\n"
    "  all: [110, 470]\n"
    "tasks:\n"
    "  task1:\n"
    "    kind: classification\n"
    "    labels: roi_labels\n"
    "    rule: roi_mode\n"
    "    classes: [cortex, striatum, vp, zi]\n"
    "    map: {cortex: [0, 1], striatum: [2, 8], vp: [3, 4], zi: [5, 6, 7]}\n"
    "  task2_3d_3class:\n"
    "    kind: segmentation\n"
    "    labels: pixel_labels\n"
    "    depth: 8\n"
    "    classes: [background, vessel, cell]\n"
    "    remap: {3: 0}\n"
    "    exclude: [zi]\n"
    "output:\n"
    "  compression: gzip\n";

static char tmpdir[256];

static void make_tmpdir(void)
{
    fixture_make_tmpdir(tmpdir, sizeof tmpdir, "release");
}

static void remove_tmpdir(void)
{
    fixture_remove_tree(tmpdir);
}

static void put_file(const char *dir, const char *name, const char *content)
{
    fixture_write_text(fixture_path(dir, name), content);
}

static mtp_config *load_config(void)
{
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_config_parse(&cfg, "mini.yaml", CONFIG_YAML, strlen(CONFIG_YAML), &err);
    ck_assert_msg(rc == 0, "config: %s", err.msg);
    return cfg;
}

/* The data files a build leaves before release metadata is written. */
static void make_data_files(const char *dir)
{
    put_file(dir, "task1.h5", "task1 bytes\n");
    put_file(dir, "task2_3d_3class.h5", "task2 bytes\n");
    put_file(dir, "volumes.h5", "volumes\n");
    put_file(dir, "config.yaml", "release: {name: mini}\n");
    put_file(dir, "preview_task1_train.png", "png\n");
    put_file(dir, "task1.h5.tmp.123", "leftover of a crashed write\n");
}

static void set_split(mtp_split_summary *sp, const char *name, int64_t count, int64_t z0,
                      int64_t z1, int depth)
{
    snprintf(sp->name, MTP_NAME_MAX, "%s", name);
    sp->count = count;
    sp->z_range[0] = z0;
    sp->z_range[1] = z1;
    if (depth > 1) {
        sp->ndims = 4;
        sp->shape[0] = count;
        sp->shape[1] = depth;
        sp->shape[2] = 256;
        sp->shape[3] = 256;
    } else {
        sp->ndims = 3;
        sp->shape[0] = count;
        sp->shape[1] = 256;
        sp->shape[2] = 256;
    }
    sp->label_region_mismatches = -1;
}

static void make_summaries(mtp_bundle_summary s[2])
{
    static const char *const regions[4] = {"cortex", "striatum", "vp", "zi"};
    memset(s, 0, 2 * sizeof *s);
    for (int t = 0; t < 2; t++) {
        s[t].format_version = 1;
        s[t].nregions = 4;
        for (int r = 0; r < 4; r++)
            snprintf(s[t].regions[r], MTP_NAME_MAX, "%s", regions[r]);
    }
    mtp_bundle_summary *c = &s[0];
    snprintf(c->task, MTP_NAME_MAX, "task1");
    snprintf(c->kind, sizeof c->kind, "classification");
    c->nclasses = 4;
    for (int i = 0; i < 4; i++)
        snprintf(c->classes[i], MTP_NAME_MAX, "%s", regions[i]);
    c->nsplits = 3;
    set_split(&c->splits[0], "train", 1076, 110, 379, 1);
    set_split(&c->splits[1], "val", 116, 380, 409, 1);
    set_split(&c->splits[2], "test", 200, 420, 470, 1);
    const int64_t cls[3][4] = {{270, 268, 269, 269}, {29, 29, 29, 29}, {80, 40, 40, 40}};
    const int64_t mism[3] = {1, 0, 30};
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 4; i++) {
            c->splits[k].class_counts[i] = cls[k][i];
            c->splits[k].region_counts[i] = c->splits[k].count / 4;
        }
        c->splits[k].label_region_mismatches = mism[k];
    }

    mtp_bundle_summary *g = &s[1];
    snprintf(g->task, MTP_NAME_MAX, "task2_3d_3class");
    snprintf(g->kind, sizeof g->kind, "segmentation");
    g->nclasses = 3;
    snprintf(g->classes[0], MTP_NAME_MAX, "background");
    snprintf(g->classes[1], MTP_NAME_MAX, "vessel");
    snprintf(g->classes[2], MTP_NAME_MAX, "cell");
    g->nsplits = 3;
    set_split(&g->splits[0], "train", 99, 110, 379, 8);
    set_split(&g->splits[1], "val", 9, 380, 409, 8);
    set_split(&g->splits[2], "test", 18, 420, 470, 8);
    const int64_t per_region[3] = {33, 3, 6};
    for (int k = 0; k < 3; k++) {
        int64_t pixels = g->splits[k].count * 8 * 256 * 256;
        g->splits[k].class_counts[1] = pixels / 10;
        g->splits[k].class_counts[2] = pixels / 5;
        g->splits[k].class_counts[0] = pixels - pixels / 10 - pixels / 5;
        for (int r = 0; r < 3; r++)
            g->splits[k].region_counts[r] = per_region[k];
    }
}

static const mtp_release_info INFO = {"mtneuro-pack 0.1.0",
                                      1,
                                      {1.17, 1.17, 1.17},
                                      "micrometer",
                                      "http://127.0.0.1:8642",
                                      0,
                                      NULL,
                                      NULL};

/* Make a release in dir: data files + metadata. */
static void make_release(const char *dir, const mtp_config *cfg)
{
    mtp_bundle_summary s[2];
    make_summaries(s);
    make_data_files(dir);
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_release_write(dir, cfg, s, 2, &INFO, &err);
    ck_assert_msg(rc == 0, "release: %s", err.msg);
}

/* Run `cd DIR && command` through the shell; returns its exit status. */
static int run_in(const char *dir, const char *command)
{
    size_t n = strlen(dir) + strlen(command) + 16;
    char *cmd = malloc(n);
    ck_assert_ptr_nonnull(cmd);
    snprintf(cmd, n, "cd '%s' && %s", dir, command);
    int rc = system(cmd);
    free(cmd);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */

START_TEST(test_manifest)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    char *text = fixture_slurp(fixture_path(tmpdir, "manifest.json"), NULL);
    const char *head = "{\n"
                       "  \"format\": \"mtneuro-release\",\n"
                       "  \"manifest_version\": 1,\n"
                       "  \"name\": \"mini\",\n"
                       "  \"version\": \"1.0.0\",\n"
                       "  \"title\": \"Mini release: a \\\"test\\\"\",\n"
                       "  \"license\": \"CC-BY-4.0\",\n"
                       "  \"builder\": \"mtneuro-pack 0.1.0\",\n"
                       "  \"compressor\": \"libdeflate 1.14, level 4\",\n"
                       "  \"bundle_format_version\": 1,\n"
                       "  \"config_sha256\": \"";
    ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "manifest head:\n%.600s", text);
    const char *source =
        "  \"source\": {\n"
        "    \"url\": \"http://127.0.0.1:8642\",\n"
        "    \"resolution\": 0,\n"
        "    \"channels\": {\n"
        "      \"image\": \"bossdb://prasad/prasad2020/image\",\n"
        "      \"pixel_labels\": \"bossdb://prasad/prasad_analysis/pixel_labels\",\n"
        "      \"roi_labels\": \"bossdb://prasad/prasad_analysis/roi_labels\"\n"
        "    }\n"
        "  },\n"
        "  \"voxel_size\": [\n"
        "    1.17,\n"
        "    1.17,\n"
        "    1.17\n"
        "  ],\n"
        "  \"voxel_unit\": \"micrometer\",\n"
        "  \"files\": [\n";
    ck_assert_msg(strstr(text, source) != NULL, "manifest:\n%s", text);
    ck_assert_ptr_null(strstr(text, "\"date\""));
    ck_assert_int_eq(text[strlen(text) - 1], '\n');
    const char *split = "          \"name\": \"train\",\n"
                        "          \"count\": 1076,\n"
                        "          \"z_range\": [\n"
                        "            110,\n"
                        "            379\n"
                        "          ],\n"
                        "          \"shape\": [\n"
                        "            1076,\n"
                        "            256,\n"
                        "            256\n"
                        "          ],\n"
                        "          \"class_counts\": {\n"
                        "            \"cortex\": 270,\n"
                        "            \"striatum\": 268,\n"
                        "            \"vp\": 269,\n"
                        "            \"zi\": 269\n"
                        "          },\n"
                        "          \"class_fraction\": {\n"
                        "            \"cortex\": 0.250929,\n"
                        "            \"striatum\": 0.249071,\n"
                        "            \"vp\": 0.25,\n"
                        "            \"zi\": 0.25\n"
                        "          },\n"
                        "          \"region_counts\": {\n"
                        "            \"cortex\": 269,\n"
                        "            \"striatum\": 269,\n"
                        "            \"vp\": 269,\n"
                        "            \"zi\": 269\n"
                        "          },\n"
                        "          \"label_region_mismatches\": 1\n"
                        "        },\n";
    ck_assert_msg(strstr(text, split) != NULL, "manifest:\n%s", text);

    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    ck_assert_msg(root != NULL, "manifest.json: %s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(root, "config_sha256")), cfg->sha256);
    json_t *files = json_object_get(root, "files");
    const char *expect[] = {".zenodo.json", "CITATION.cff",       "README.md",
                            "config.yaml",  "croissant.json",     "preview_task1_train.png",
                            "task1.h5",     "task2_3d_3class.h5", "volumes.h5"};
    ck_assert_int_eq(json_array_size(files), 9);
    for (size_t i = 0; i < 9; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, i), "path")),
                         expect[i]);
    json_t *f = json_array_get(files, 6);
    mtp_digest d;
    ck_assert_int_eq(mtp_digest_buffer("task1 bytes\n", 12, &d), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "size")), 12);
    ck_assert_str_eq(json_string_value(json_object_get(f, "sha256")), d.sha256);
    ck_assert_str_eq(json_string_value(json_object_get(f, "md5")), d.md5);
    /* The README's entry is the README as written. */
    char *readme = fixture_slurp(fixture_path(tmpdir, "README.md"), NULL);
    ck_assert_int_eq(mtp_digest_buffer(readme, strlen(readme), &d), 0);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(files, 2), "sha256")),
                     d.sha256);

    json_t *tasks = json_object_get(root, "tasks");
    ck_assert_int_eq(json_array_size(tasks), 2);
    json_t *seg = json_array_get(tasks, 1);
    ck_assert_str_eq(json_string_value(json_object_get(seg, "file")), "task2_3d_3class.h5");
    ck_assert_str_eq(json_string_value(json_object_get(seg, "kind")), "segmentation");
    json_t *val = json_array_get(json_object_get(seg, "splits"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(val, "count")), 9);
    ck_assert_int_eq(json_array_size(json_object_get(val, "shape")), 4);
    ck_assert_ptr_null(json_object_get(val, "label_region_mismatches"));
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(val, "class_counts"), "vessel")),
        471859);
    ck_assert(json_real_value(json_object_get(json_object_get(val, "class_fraction"), "vessel")) ==
              0.1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(val, "region_counts"), "zi")), 0);
    json_decref(root);
    free(readme);
    free(text);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_sums)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    ck_assert_int_eq(run_in(tmpdir, "sha256sum --quiet -c SHA256SUMS"), 0);
    ck_assert_int_eq(run_in(tmpdir, "md5sum --quiet -c MD5SUMS"), 0);
    char *sums = fixture_slurp(fixture_path(tmpdir, "SHA256SUMS"), NULL);
    mtp_digest d;
    ck_assert_int_eq(mtp_digest_buffer("png\n", 4, &d), 0);
    /* Sorted bytewise, manifest.json included, SUMS and temporaries not. */
    const char *order[] = {"  .zenodo.json\n",
                           "  CITATION.cff\n",
                           "  README.md\n",
                           "  config.yaml\n",
                           "  croissant.json\n",
                           "  manifest.json\n",
                           "  preview_task1_train.png\n",
                           "  task1.h5\n",
                           "  task2_3d_3class.h5\n",
                           "  volumes.h5\n"};
    const char *at = sums;
    for (size_t i = 0; i < 10; i++) {
        const char *p = strstr(at, order[i]);
        ck_assert_msg(p != NULL, "%s missing or out of order in\n%s", order[i], sums);
        ck_assert_int_eq(p - at, 64); /* exactly one 64-digit hash before it */
        at = p + strlen(order[i]);
    }
    ck_assert_str_eq(at, "");
    char line[128];
    snprintf(line, sizeof line, "%s  preview_task1_train.png\n", d.sha256);
    ck_assert_ptr_nonnull(strstr(sums, line));
    ck_assert_ptr_null(strstr(sums, "SUMS"));
    ck_assert_ptr_null(strstr(sums, ".tmp"));
    char *md5 = fixture_slurp(fixture_path(tmpdir, "MD5SUMS"), NULL);
    snprintf(line, sizeof line, "%s  preview_task1_train.png\n", d.md5);
    ck_assert_ptr_nonnull(strstr(md5, line));
    free(md5);
    free(sums);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_citation_cff)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    const char *script =
        "/usr/bin/python3 -c '\n"
        "import yaml\n"
        "c = yaml.safe_load(open(\"CITATION.cff\"))\n"
        "assert c[\"cff-version\"] == \"1.2.0\", c\n"
        "assert c[\"type\"] == \"dataset\"\n"
        "assert c[\"title\"] == \"Mini release: a \\\"test\\\"\", c[\"title\"]\n"
        "assert c[\"version\"] == \"1.0.0\" and c[\"license\"] == \"CC-BY-4.0\"\n"
        "assert c[\"message\"].startswith(\"If you use this dataset\")\n"
        "assert \"date-released\" not in c and \"url\" not in c\n"
        "assert c[\"abstract\"].startswith(\"A tiny test release.\\n\\nSecond\")\n"
        "a = c[\"authors\"]\n"
        "assert a[0] == {\"family-names\": \"Quesada\", \"given-names\": \"Jorge\"}, a[0]\n"
        "assert a[1] == {\"family-names\": \"Dyer\", \"given-names\": \"Eva L.\",\n"
        "                \"affiliation\": \"Georgia Tech\",\n"
        "                \"orcid\": \"https://orcid.org/0000-0002-1825-0097\"}, a[1]\n"
        "assert a[2] == {\"name\": \"The MTNeuro Team\"}, a[2]\n"
        "assert c[\"keywords\"] == [\"neuroscience\", \"mouse brain\"]\n"
        "r = c[\"references\"]\n"
        "assert len(r) == 2, r\n"
        "assert r[0][\"type\"] == \"conference-paper\"\n"
        "assert r[0][\"conference\"] == {\"name\": \"NeurIPS Datasets and Benchmarks\"}\n"
        "assert r[0][\"authors\"][1] == {\"family-names\": \"Dyer\", \"given-names\": \"E. L.\"}\n"
        "assert r[0][\"year\"] == 2022 and r[0][\"title\"] == \"MTNeuro: A Benchmark\"\n"
        "assert r[1][\"type\"] == \"article\" and r[1][\"journal\"] == \"Scientific Data\"\n"
        "assert \"doi\" not in r[1]\n"
        "'";
    ck_assert_int_eq(run_in(tmpdir, script), 0);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_zenodo)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    json_error_t jerr;
    json_t *z = json_load_file(fixture_path(tmpdir, ".zenodo.json"), 0, &jerr);
    ck_assert_msg(z != NULL, ".zenodo.json: %s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(z, "upload_type")), "dataset");
    ck_assert_str_eq(json_string_value(json_object_get(z, "license")), "cc-by-4.0");
    ck_assert_str_eq(json_string_value(json_object_get(z, "title")), "Mini release: a \"test\"");
    ck_assert_str_eq(json_string_value(json_object_get(z, "version")), "1.0.0");
    ck_assert_str_eq(json_string_value(json_object_get(z, "description")),
                     "<p>A tiny test release.</p><p>Second paragraph with &lt;b&gt; &amp; "
                     "more.</p>");
    json_t *creators = json_object_get(z, "creators");
    ck_assert_int_eq(json_array_size(creators), 3);
    json_t *dyer = json_array_get(creators, 1);
    ck_assert_str_eq(json_string_value(json_object_get(dyer, "name")), "Dyer, Eva L.");
    ck_assert_str_eq(json_string_value(json_object_get(dyer, "affiliation")), "Georgia Tech");
    ck_assert_str_eq(json_string_value(json_object_get(dyer, "orcid")), "0000-0002-1825-0097");
    ck_assert_ptr_null(json_object_get(json_array_get(creators, 0), "orcid"));
    ck_assert_int_eq(json_array_size(json_object_get(z, "keywords")), 2);
    ck_assert_ptr_null(json_object_get(z, "related_identifiers"));
    ck_assert_ptr_null(json_object_get(z, "publication_date"));
    json_t *refs = json_object_get(z, "references");
    ck_assert_int_eq(json_array_size(refs), 3);
    ck_assert_str_eq(json_string_value(json_array_get(refs, 2)), "A citation with text only.");
    json_decref(z);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_dois_and_date)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    snprintf(cfg->release.date, sizeof cfg->release.date, "2024-05-01");
    snprintf(cfg->release.url, MTP_TEXT_MAX, "https://zenodo.org/records/1");
    snprintf(cfg->release.citations[0].doi, MTP_TEXT_MAX, "10.5555/mtneuro");
    snprintf(cfg->release.citations[1].doi, MTP_TEXT_MAX, "https://doi.org/10.1038/x-y");
    make_release(tmpdir, cfg);
    json_t *z = json_load_file(fixture_path(tmpdir, ".zenodo.json"), 0, NULL);
    ck_assert_ptr_nonnull(z);
    ck_assert_str_eq(json_string_value(json_object_get(z, "publication_date")), "2024-05-01");
    json_t *rel = json_object_get(z, "related_identifiers");
    ck_assert_int_eq(json_array_size(rel), 2);
    json_t *r0 = json_array_get(rel, 0), *r1 = json_array_get(rel, 1);
    ck_assert_str_eq(json_string_value(json_object_get(r0, "identifier")), "10.5555/mtneuro");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "relation")), "isSupplementTo");
    ck_assert_str_eq(json_string_value(json_object_get(r0, "scheme")), "doi");
    ck_assert_str_eq(json_string_value(json_object_get(r1, "identifier")), "10.1038/x-y");
    ck_assert_str_eq(json_string_value(json_object_get(r1, "relation")), "cites");
    json_decref(z);
    json_t *m = json_load_file(fixture_path(tmpdir, "manifest.json"), 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(m, "date")), "2024-05-01");
    json_decref(m);
    json_t *c = json_load_file(fixture_path(tmpdir, "croissant.json"), 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(c, "url")), "https://zenodo.org/records/1");
    ck_assert_str_eq(json_string_value(json_object_get(c, "datePublished")), "2024-05-01");
    json_decref(c);
    const char *script = "/usr/bin/python3 -c '\n"
                         "import yaml\n"
                         "c = yaml.safe_load(open(\"CITATION.cff\"))\n"
                         "assert c[\"date-released\"] == \"2024-05-01\", c\n"
                         "assert c[\"url\"] == \"https://zenodo.org/records/1\"\n"
                         "assert c[\"references\"][0][\"doi\"] == \"10.5555/mtneuro\"\n"
                         "assert c[\"references\"][1][\"doi\"] == \"10.1038/x-y\"\n"
                         "'";
    ck_assert_int_eq(run_in(tmpdir, script), 0);
    char *readme = fixture_slurp(fixture_path(tmpdir, "README.md"), NULL);
    ck_assert_ptr_nonnull(
        strstr(readme, "Scientific Data, 7(1), 1-7. https://doi.org/10.1038/x-y\n"));
    ck_assert_ptr_nonnull(strstr(readme, "Cite this release: Quesada, Jorge; Dyer, Eva L.; The "
                                         "MTNeuro Team (2024). Mini release: a \"test\" (version "
                                         "1.0.0) [Data set]. https://zenodo.org/records/1\n"));
    free(readme);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_croissant)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    json_error_t jerr;
    json_t *c = json_load_file(fixture_path(tmpdir, "croissant.json"), 0, &jerr);
    ck_assert_msg(c != NULL, "croissant.json: %s", jerr.text);
    json_t *ctx = json_object_get(c, "@context");
    ck_assert_str_eq(json_string_value(json_object_get(ctx, "@language")), "en");
    ck_assert_str_eq(json_string_value(json_object_get(ctx, "@vocab")), "https://schema.org/");
    ck_assert_str_eq(json_string_value(json_object_get(ctx, "cr")),
                     "http://mlcommons.org/croissant/");
    ck_assert_str_eq(json_string_value(json_object_get(ctx, "sc")), "https://schema.org/");
    ck_assert_str_eq(json_string_value(json_object_get(ctx, "conformsTo")), "dct:conformsTo");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(ctx, "data"), "@type")),
                     "@json");
    ck_assert_str_eq(json_string_value(json_object_get(c, "@type")), "sc:Dataset");
    ck_assert_str_eq(json_string_value(json_object_get(c, "conformsTo")),
                     "http://mlcommons.org/croissant/1.0");
    ck_assert_str_eq(json_string_value(json_object_get(c, "name")), "mini");
    ck_assert_str_eq(json_string_value(json_object_get(c, "license")),
                     "https://creativecommons.org/licenses/by/4.0/");
    ck_assert_str_eq(json_string_value(json_object_get(c, "url")), "http://127.0.0.1:8642");
    ck_assert_str_eq(json_string_value(json_object_get(c, "citeAs")),
                     cfg->release.citations[0].text);
    ck_assert_str_eq(json_string_value(json_object_get(c, "version")), "1.0.0");
    ck_assert_int_eq(json_array_size(json_object_get(c, "creator")), 3);
    json_t *dist = json_object_get(c, "distribution");
    ck_assert_int_eq(json_array_size(dist), 3);
    const char *names[3] = {"task1.h5", "task2_3d_3class.h5", "volumes.h5"};
    const char *content[3] = {"task1 bytes\n", "task2 bytes\n", "volumes\n"};
    for (size_t i = 0; i < 3; i++) {
        json_t *f = json_array_get(dist, i);
        mtp_digest d;
        ck_assert_int_eq(mtp_digest_buffer(content[i], strlen(content[i]), &d), 0);
        ck_assert_str_eq(json_string_value(json_object_get(f, "@type")), "cr:FileObject");
        ck_assert_str_eq(json_string_value(json_object_get(f, "@id")), names[i]);
        ck_assert_str_eq(json_string_value(json_object_get(f, "contentUrl")), names[i]);
        ck_assert_str_eq(json_string_value(json_object_get(f, "encodingFormat")),
                         "application/x-hdf5");
        ck_assert_str_eq(json_string_value(json_object_get(f, "sha256")), d.sha256);
        char size[32];
        snprintf(size, sizeof size, "%zu B", strlen(content[i]));
        ck_assert_str_eq(json_string_value(json_object_get(f, "contentSize")), size);
    }
    json_decref(c);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_readme)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    char *md = fixture_slurp(fixture_path(tmpdir, "README.md"), NULL);
    const char *lines[] = {
        "# Mini release: a \"test\"\n",
        "A tiny test release.\n\nSecond paragraph with <b> & more.\n",
        "- Source: http://127.0.0.1:8642 (BossDB API), resolution level 0\n",
        "- Voxel size (z, y, x): 1.17 × 1.17 × 1.17 micrometer\n",
        "| roi_labels | `bossdb://prasad/prasad_analysis/roi_labels` |\n",
        "| cortex | [4600, 4856) | [900, 1156) |\n",
        "| zi | [1543, 1799) | [650, 906) |\n",
        "| train | [110, 379) | 269 |\n",
        "Slices in no split: z 379 (between train and val), z 409–419 (between val and "
        "test). These gaps",
        "### task1 (classification): `task1.h5`\n",
        "| 1 striatum | 2, 8 |\n",
        "| 3 zi | 5, 6, 7 |\n",
        "and hence class \"cortex\" whatever region they come from.",
        "Tiles whose label is not their region: train 1 of 1076, val 0 of 116, test 30 of 200.\n",
        "### task2_3d_3class (segmentation): `task2_3d_3class.h5`\n",
        "Input: a window of 8 consecutive slices (8 × 256 × 256). Classes: 0 background, 1 "
        "vessel, 2 cell. Regions: all but zi (left out).\n",
        "| val | [380, 409) | 9 | (9, 8, 256, 256) |\n",
        "| 3 | 0 background (remapped) |\n",
        "Windows per region: train 33, val 3, test 6. The reference loader",
        "- `task1.h5` (12 bytes): task1, classification; train 1076, val 116, test 200 "
        "samples\n",
        "- `preview_task1_train.png` (4 bytes): preview montage\n",
        "- `config.yaml` (22 bytes): the config this release was built from (token removed)\n",
        "with h5py.File(\"task1.h5\", \"r\") as f:\n"
        "    images = f[\"train/images\"][:]   # uint8, shape (1076, 256, 256)\n"
        "    labels = f[\"train/labels\"][:]   # class index per sample\n",
        "    print(h5py.check_enum_dtype(f[\"train/labels\"].dtype))",
        "    masks = f[\"train/masks\"][:]     # class index per pixel, same shape\n",
        "### task1 (samples per class)\n\n| class | train | val | test |\n|---|---|---|---|\n"
        "| cortex | 270 (25.09 %) | 29 (25.00 %) | 80 (40.00 %) |\n"
        "| striatum | 268 (24.91 %) | 29 (25.00 %) | 40 (20.00 %) |\n",
        "### task2_3d_3class (mask pixels per class)\n",
        "| vessel | 5190451 (10.00 %) | 471859 (10.00 %) | 943718 (10.00 %) |\n",
        "| Task 2 2D, 3-class | mean F1 | U-Net | 0.87 |\n",
        "They are the paper's numbers, not measured on this release",
        "The data are licensed under CC-BY-4.0 (https://creativecommons.org/licenses/by/4.0/).\n",
        "- A citation with text only.\n",
        "plain HDF5 (deflate compression",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        ck_assert_msg(strstr(md, lines[i]) != NULL, "README lacks:\n%s\n---\n%s", lines[i], md);
    ck_assert_ptr_null(strstr(md, "hdf5plugin"));
    ck_assert_ptr_null(strstr(md, "task1.h5.tmp"));
    free(md);

    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

static const char *const META_FILES[] = {"README.md",      "CITATION.cff",  ".zenodo.json",
                                         "croissant.json", "manifest.json", "SHA256SUMS",
                                         "MD5SUMS"};

START_TEST(test_deterministic_no_token)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    make_release(tmpdir, cfg);
    char *first[7];
    size_t len[7];
    for (int i = 0; i < 7; i++)
        first[i] = fixture_slurp(fixture_path(tmpdir, META_FILES[i]), &len[i]);
    /* Again in place (the old metadata files are there now) ... */
    mtp_bundle_summary s[2];
    make_summaries(s);
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, s, 2, &INFO, &err), 0);
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *again = fixture_slurp(fixture_path(tmpdir, META_FILES[i]), &n);
        ck_assert_msg(n == len[i] && memcmp(again, first[i], n) == 0, "%s changed", META_FILES[i]);
        ck_assert_ptr_null(strstr(again, TOKEN));
        free(again);
    }
    /* ... and in a fresh directory with the same data. */
    char other[300];
    snprintf(other, sizeof other, "%s/again", tmpdir);
    ck_assert_int_eq(mkdir(other, 0755), 0);
    make_release(other, cfg);
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *again = fixture_slurp(fixture_path(other, META_FILES[i]), &n);
        ck_assert_msg(n == len[i] && memcmp(again, first[i], n) == 0, "%s differs", META_FILES[i]);
        free(again);
        free(first[i]);
    }
    /* No temporary left behind by the atomic writes. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int tmps = 0;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp") != NULL)
            tmps++;
    closedir(d);
    ck_assert_int_eq(tmps, 1); /* only the test's own task1.h5.tmp.123 */
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(test_record_limits)
{
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_release_check_limits("rel", 100, MTP_RELEASE_MAX_BYTES, &err), 0);
    ck_assert_int_eq(mtp_release_check_limits("rel", 101, 1, &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "rel: 101 files; a release (one Zenodo record) holds at most 100");
    ck_assert_int_eq(mtp_release_check_limits("rel", 9, INT64_C(51200000000), &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "rel: 51.20 GB; a release (one Zenodo record) holds at most 50 GB");

    /* build: mtp_release_write refuses before writing anything. 94 data files + the 7
     * metadata files make 101. */
    make_tmpdir();
    for (int i = 0; i < 94; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%02d.bin", i);
        put_file(tmpdir, name, "x");
    }
    mtp_config *cfg = load_config();
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, NULL, 0, &INFO, &err), MTP_ERANGE);
    char want[600];
    snprintf(want, sizeof want, "%s: 101 files; a release (one Zenodo record) holds at most 100",
             tmpdir);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(access(fixture_path(tmpdir, "README.md"), F_OK), -1);
    mtp_config_free(cfg);
}
END_TEST

START_TEST(test_list_files)
{
    make_tmpdir();
    make_data_files(tmpdir);
    put_file(tmpdir, "SHA256SUMS", "x");
    put_file(tmpdir, "MD5SUMS", "x");
    char **files = NULL;
    int n = -1;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_release_list_files(tmpdir, &files, &n, &err), 0);
    const char *expect[] = {"config.yaml", "preview_task1_train.png", "task1.h5",
                            "task2_3d_3class.h5", "volumes.h5"};
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < n; i++)
        ck_assert_str_eq(files[i], expect[i]);
    mtp_release_files_free(files, n);

    /* A release is flat: a folder (what a Zenodo record cannot hold) is refused, naming it. */
    ck_assert_int_eq(mkdir(fixture_path(tmpdir, "previews"), 0755), 0);
    ck_assert_int_eq(mtp_release_list_files(tmpdir, &files, &n, &err), MTP_EFORMAT);
    char want[600];
    snprintf(want, sizeof want,
             "%s/previews: a folder; a release is flat (a Zenodo record has no folders)", tmpdir);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(files);
    ck_assert_int_eq(rmdir(fixture_path(tmpdir, "previews")), 0);

    ck_assert_int_eq(symlink("task1.h5", fixture_path(tmpdir, "link.h5")), 0);
    ck_assert_int_eq(mtp_release_list_files(tmpdir, &files, &n, &err), MTP_EFORMAT);
    ck_assert_ptr_null(files);
    ck_assert_int_eq(n, 0);
    char msg[600];
    snprintf(msg, sizeof msg, "%s/link.h5: not a regular file or directory (symlink)", tmpdir);
    ck_assert_str_eq(err.msg, msg);
    mtp_release_files_free(NULL, 0);
    remove_tmpdir();
}
END_TEST

START_TEST(test_errors)
{
    make_tmpdir();
    mtp_config *cfg = load_config();
    mtp_bundle_summary s[2];
    make_summaries(s);
    mtp_error err = MTP_ERROR_INIT;
    snprintf(s[1].task, MTP_NAME_MAX, "task9");
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, s, 2, &INFO, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "release: summary of unknown task \"task9\"");
    make_summaries(s);
    snprintf(s[1].kind, sizeof s[1].kind, "volumes");
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, s, 2, &INFO, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "release: summaries are for task files only (volumes.h5 is "
                              "listed from the directory)");
    make_summaries(s);
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, s, 2, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "mtp_release_write: NULL or invalid argument");
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope", tmpdir);
    ck_assert_int_eq(mtp_release_write(missing, cfg, s, 2, &INFO, &err), MTP_EIO);
    char msg[600];
    snprintf(msg, sizeof msg, "%s: cannot open directory: No such file or directory", missing);
    ck_assert_str_eq(err.msg, msg);
    /* A path that the SUMS format cannot carry is refused, naming it. */
    put_file(tmpdir, "bad\\name.h5", "x");
    ck_assert_int_eq(mtp_release_write(tmpdir, cfg, s, 2, &INFO, &err), MTP_EFORMAT);
    snprintf(msg, sizeof msg,
             "%s/bad\\name.h5: a file name with a newline or backslash cannot be listed in "
             "SHA256SUMS",
             tmpdir);
    ck_assert_str_eq(err.msg, msg);
    ck_assert_int_eq(access(fixture_path(tmpdir, "README.md"), F_OK), -1);
    mtp_config_free(cfg);
    remove_tmpdir();
}
END_TEST

START_TEST(sums_lines_are_read_one_way)
{
    const char *md5 = "0123456789abcdefABCDEF0123456789  task1.h5";
    ck_assert_str_eq(mtp_release_sums_name(md5, strlen(md5), 32), "task1.h5");
    const char *bin = "0123456789abcdef0123456789abcdef *a b";
    ck_assert_str_eq(mtp_release_sums_name(bin, strlen(bin), 32), "a b");
    static const char *bad[] = {
        "0123456789abcdef0123456789abcdef  ",         /* no name */
        "0123456789abcdef0123456789abcdef task1.h5",  /* one space */
        "0123456789abcdef0123456789abcdeg  task1.h5", /* not hex */
        "0123456789abcdef0123456789abcde  task1.h5",  /* 31 digits */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_ptr_null(mtp_release_sums_name(bad[i], strlen(bad[i]), 32));
    /* Only `len` bytes count: the name must lie within them. */
    ck_assert_ptr_null(mtp_release_sums_name(md5, 34, 32));
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("release");
    TCase *tc = tcase_create("release");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sums_lines_are_read_one_way);
    tcase_add_test(tc, test_manifest);
    tcase_add_test(tc, test_sums);
    tcase_add_test(tc, test_citation_cff);
    tcase_add_test(tc, test_zenodo);
    tcase_add_test(tc, test_dois_and_date);
    tcase_add_test(tc, test_croissant);
    tcase_add_test(tc, test_readme);
    tcase_add_test(tc, test_deterministic_no_token);
    tcase_add_test(tc, test_list_files);
    tcase_add_test(tc, test_record_limits);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
