/* realpath() (XSI) gives the temp dir its canonical name, as error messages use it. */
#define _XOPEN_SOURCE 700

#include "mtp_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtp/tarball.h"
#include "mtp/digest.h"
#include "fixtures.h"

#define TOP "mtneuro-demo-1.0.0"

/* A fresh per-test directory (real path, so error messages are predictable) holding the
 * release tree <base>/TOP; archives go to <base>/out*.tar.gz, outside the tree. */
static char base[256];
static char tree_dir[512];

typedef struct test_file {
    const char *rel;
    const char *text; /* NULL: `len` pseudo-random bytes */
    size_t len;
} test_file;

static const test_file files[] = {
    {"manifest.json", "{\"name\": \"demo\"}\n", 17},
    {"task1.h5", NULL, 5000},
    {"data.txt", "data text\n", 10},
    {"data/x.bin", NULL, 300},
    {"data/empty", "", 0},
    {"previews/deep/p.png", "png", 3},
};
#define NFILES (sizeof files / sizeof files[0])

/* The archive's regular files in archive (bytewise) order: "data" < "data.txt" < "data/". */
static const char *const scan_order[] = {
    "data.txt", "data/empty", "data/x.bin", "manifest.json", "previews/deep/p.png", "task1.h5",
};

static void fill_random(unsigned char *data, size_t len, uint32_t seed)
{
    uint32_t x = seed ? seed : 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
}

static unsigned char *file_content(const test_file *f)
{
    unsigned char *data = malloc(f->len + 1);
    ck_assert_ptr_nonnull(data);
    if (f->text != NULL)
        memcpy(data, f->text, f->len);
    else
        fill_random(data, f->len, (uint32_t)f->len);
    return data;
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    ck_assert_msg(system(cmd) == 0, "command failed: %s", cmd);
}

static void make_tree(void)
{
    char tmpl[] = "/tmp/mtp_archive_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    char *real = realpath(tmpl, NULL);
    ck_assert_ptr_nonnull(real);
    snprintf(base, sizeof base, "%s", real);
    free(real);
    snprintf(tree_dir, sizeof tree_dir, "%s/" TOP, base);
    run("mkdir -p '%s/data' '%s/previews/deep'", tree_dir, tree_dir);
    char path[1024];
    for (size_t i = 0; i < NFILES; i++) {
        unsigned char *data = file_content(&files[i]);
        snprintf(path, sizeof path, "%s/%s", tree_dir, files[i].rel);
        fixture_write_file(path, data, files[i].len);
        free(data);
    }
    /* An interrupted atomic write: must not end up in the archive. */
    snprintf(path, sizeof path, "%s/task1.h5.tmp.1234", tree_dir);
    fixture_write_file(path, "partial", 7);
}

static void remove_tree(void)
{
    run("chmod -R u+rwx '%s' && rm -rf '%s'", base, base);
}

static void file_sha256(const char *path, char *hex)
{
    mtp_digest d;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_msg(mtp_digest_file(path, &d, &err) == 0, "%s", err.msg);
    strcpy(hex, d.sha256);
}

static void out_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", base, name);
}

/* Names in `dir`, sorted, joined with ' ' (to check that nothing is left behind). */
static void list_dir(const char *dir, char *buf, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | sort | tr '\\n' ' '", dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(buf, 1, n - 1, p);
    buf[got] = '\0';
    ck_assert_int_eq(pclose(p), 0);
}

START_TEST(archive_is_byte_identical_across_mtimes_modes_and_umask)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out1[512], out2[512], sha1[65], sha2[65];
    out_path(out1, sizeof out1, "first.tar.gz");
    out_path(out2, sizeof out2, "second.tar.gz");
    ck_assert_msg(mtp_archive_write(tree_dir, out1, 0, NULL, &err) == 0, "%s", err.msg);

    /* Different mtimes, permissions and umask: none of it may reach the archive. */
    run("cd '%s' && find . -exec touch -h -d @1234567890 {} + && chmod 600 task1.h5 && "
        "chmod 700 data && chmod 640 data.txt",
        tree_dir);
    umask(077);
    ck_assert_msg(mtp_archive_write(tree_dir, out2, 0, NULL, &err) == 0, "%s", err.msg);
    file_sha256(out1, sha1);
    file_sha256(out2, sha2);
    ck_assert_str_eq(sha1, sha2);

    struct stat st;
    ck_assert_int_eq(stat(out2, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0644);

    /* A different mtime gives a different archive; rewriting over an existing one works. */
    ck_assert_int_eq(mtp_archive_write(tree_dir, out2, 1700000000, NULL, &err), 0);
    file_sha256(out2, sha2);
    ck_assert_str_ne(sha1, sha2);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out2, 0, NULL, &err), 0);
    file_sha256(out2, sha2);
    ck_assert_str_eq(sha1, sha2);

    char listing[1024];
    list_dir(base, listing, sizeof listing);
    ck_assert_str_eq(listing, "first.tar.gz mtneuro-demo-1.0.0 second.tar.gz ");
    remove_tree();
}
END_TEST

typedef struct tar_line {
    const char *mode;
    unsigned long long size;
    const char *name;
} tar_line;

static void check_tar_listing(const char *archive, const char *date, const char *hhmm)
{
    static const tar_line expected[] = {
        {"drwxr-xr-x", 0, TOP "/"},
        {"drwxr-xr-x", 0, TOP "/data/"},
        {"-rw-r--r--", 10, TOP "/data.txt"},
        {"-rw-r--r--", 0, TOP "/data/empty"},
        {"-rw-r--r--", 300, TOP "/data/x.bin"},
        {"-rw-r--r--", 17, TOP "/manifest.json"},
        {"drwxr-xr-x", 0, TOP "/previews/"},
        {"drwxr-xr-x", 0, TOP "/previews/deep/"},
        {"-rw-r--r--", 3, TOP "/previews/deep/p.png"},
        {"-rw-r--r--", 5000, TOP "/task1.h5"},
    };
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "TZ=UTC tar -tzvf '%s'", archive);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[1024];
    size_t n = 0;
    while (fgets(line, sizeof line, p) != NULL) {
        ck_assert_uint_lt(n, sizeof expected / sizeof expected[0]);
        char mode[16], owner[64], day[16], time_of_day[16];
        unsigned long long size = 0;
        int name_at = 0;
        ck_assert_int_eq(sscanf(line, "%15s %63s %llu %15s %15s %n", mode, owner, &size, day,
                                time_of_day, &name_at),
                         5);
        line[strcspn(line, "\n")] = '\0';
        ck_assert_str_eq(mode, expected[n].mode);
        ck_assert_str_eq(owner, "0/0");
        ck_assert_uint_eq(size, expected[n].size);
        ck_assert_str_eq(day, date);
        ck_assert_str_eq(time_of_day, hhmm);
        ck_assert_str_eq(line + name_at, expected[n].name);
        n++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_uint_eq(n, sizeof expected / sizeof expected[0]);
}

START_TEST(tar_lists_sorted_entries_owned_by_root_with_fixed_mtime)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512];
    out_path(out, sizeof out, "a.tar.gz");
    ck_assert_msg(mtp_archive_write(tree_dir, out, 0, NULL, &err) == 0, "%s", err.msg);
    check_tar_listing(out, "1970-01-01", "00:00");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 1700000000, NULL, &err), 0);
    check_tar_listing(out, "2023-11-14", "22:13");

    /* Extraction gives back exactly the tree, less the .tmp file. */
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "mkdir '%s/x' && tar -xzf '%s' -C '%s/x' && "
             "diff -r -x '*.tmp*' '%s' '%s/x/" TOP "'",
             base, out, base, tree_dir, base);
    ck_assert_int_eq(system(cmd), 0);
    remove_tree();
}
END_TEST

START_TEST(gzip_header_has_no_timestamp_or_name)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512];
    out_path(out, sizeof out, "a.tar.gz");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 1700000000, NULL, &err), 0);
    unsigned char header[10];
    FILE *f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(header, 1, sizeof header, f), sizeof header);
    fclose(f);
    ck_assert_int_eq(header[0], 0x1f);
    ck_assert_int_eq(header[1], 0x8b);
    ck_assert_int_eq(header[2], 8); /* deflate */
    ck_assert_int_eq(header[3], 0); /* FLG: no FNAME, FCOMMENT, FEXTRA */
    ck_assert_int_eq(header[4] | header[5] | header[6] | header[7], 0); /* MTIME */
    ck_assert_int_eq(header[8], 0);                                     /* XFL: level 6 */
    ck_assert_int_eq(header[9], 3); /* OS: Unix, whatever the build machine */

    /* And the tar headers hold no pax records (no atime/ctime): every 512-byte header's
     * typeflag is '0' or '5'. */
    char cmd[1024];
    snprintf(
        cmd, sizeof cmd,
        "gzip -dc '%s' | /usr/bin/python3 -c 'import sys\n"
        "d=sys.stdin.buffer.read(); i=0; t=[]\n"
        "while i+512<=len(d) and d[i]:\n"
        "  s=int(d[i+124:i+135] or b\"0\",8); t.append(chr(d[i+156]))\n"
        "  assert d[i+265:i+297].strip(b\"\\0\")==b\"\" and d[i+297:i+329].strip(b\"\\0\")==b\"\"\n"
        "  i+=512+(s+511)//512*512\n"
        "assert set(t)<=set(\"05\") and len(t)==10, t'",
        out);
    ck_assert_int_eq(system(cmd), 0);
    remove_tree();
}
END_TEST

typedef struct scan_record {
    size_t count;
    char paths[16][64];
    mtp_digest digests[16];
    size_t stop_after; /* return 7 after this many files, 0 = never */
} scan_record;

static int record_entry(const char *path, const mtp_digest *digest, void *userdata)
{
    scan_record *r = userdata;
    ck_assert_uint_lt(r->count, 16);
    snprintf(r->paths[r->count], sizeof r->paths[0], "%s", path);
    r->digests[r->count] = *digest;
    r->count++;
    return (r->stop_after != 0 && r->count == r->stop_after) ? 7 : 0;
}

static const test_file *find_file(const char *rel)
{
    for (size_t i = 0; i < NFILES; i++)
        if (strcmp(files[i].rel, rel) == 0)
            return &files[i];
    return NULL;
}

START_TEST(scan_returns_every_file_with_its_digest)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512];
    out_path(out, sizeof out, "a.tar.gz");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), 0);
    scan_record rec = {0};
    ck_assert_msg(mtp_archive_scan(out, record_entry, &rec, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rec.count, NFILES);
    for (size_t i = 0; i < NFILES; i++) {
        ck_assert_str_eq(rec.paths[i], scan_order[i]);
        const test_file *f = find_file(scan_order[i]);
        ck_assert_ptr_nonnull(f);
        unsigned char *data = file_content(f);
        mtp_digest want;
        ck_assert_int_eq(mtp_digest_buffer(data, f->len, &want), 0);
        free(data);
        ck_assert_str_eq(rec.digests[i].sha256, want.sha256);
        ck_assert_str_eq(rec.digests[i].md5, want.md5);
        ck_assert_uint_eq(rec.digests[i].size, f->len);
    }

    /* The callback's nonzero value stops the scan and comes back unchanged. */
    scan_record early = {0};
    early.stop_after = 2;
    ck_assert_int_eq(mtp_archive_scan(out, record_entry, &early, &err), 7);
    ck_assert_uint_eq(early.count, 2);
    remove_tree();
}
END_TEST

START_TEST(symlinks_and_special_files_are_refused)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512], link[1024], expect[1536], listing[1024];
    out_path(out, sizeof out, "a.tar.gz");
    snprintf(link, sizeof link, "%s/data/link", tree_dir);
    ck_assert_int_eq(symlink("x.bin", link), 0);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), MTP_EFORMAT);
    snprintf(expect, sizeof expect, "%s: not a regular file or directory (symlink)", link);
    ck_assert_str_eq(err.msg, expect);
    list_dir(base, listing, sizeof listing); /* no archive, no temporary file */
    ck_assert_str_eq(listing, "mtneuro-demo-1.0.0 ");

    /* Even a symlink with a .tmp name is refused: only regular .tmp files are skipped. */
    ck_assert_int_eq(unlink(link), 0);
    snprintf(link, sizeof link, "%s/previews/fifo", tree_dir);
    ck_assert_int_eq(mkfifo(link, 0644), 0);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), MTP_EFORMAT);
    snprintf(expect, sizeof expect, "%s: not a regular file or directory (fifo)", link);
    ck_assert_str_eq(err.msg, expect);
    ck_assert_int_eq(unlink(link), 0);

    /* A failed rewrite leaves the previous archive untouched. */
    char sha_before[65], sha_after[65];
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), 0);
    file_sha256(out, sha_before);
    snprintf(link, sizeof link, "%s/task1.h5.tmp.link", tree_dir);
    ck_assert_int_eq(symlink("task1.h5", link), 0);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 99, NULL, &err), MTP_EFORMAT);
    file_sha256(out, sha_after);
    ck_assert_str_eq(sha_before, sha_after);
    list_dir(base, listing, sizeof listing);
    ck_assert_str_eq(listing, "a.tar.gz mtneuro-demo-1.0.0 ");
    remove_tree();
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[1024], expect[2048];
    snprintf(out, sizeof out, "%s/data/self.tar.gz", tree_dir);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), MTP_ECONFIG);
    snprintf(expect, sizeof expect, "%s: archive would be inside %s", out, tree_dir);
    ck_assert_str_eq(err.msg, expect);

    out_path(out, sizeof out, "a.tar.gz");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, -1, NULL, &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "archive mtime -1 is outside 0..8589934591");
    ck_assert_int_eq(mtp_archive_write("/nonexistent/mtp", out, 0, NULL, &err), MTP_EIO);
    ck_assert_str_eq(err.msg, "/nonexistent/mtp: cannot resolve: No such file or directory");
    snprintf(expect, sizeof expect, "%s/manifest.json", tree_dir);
    ck_assert_int_eq(mtp_archive_write(expect, out, 0, NULL, &err), MTP_EIO);
    ck_assert_str_eq(err.msg + strlen(tree_dir), "/manifest.json: not a directory");
    ck_assert_int_eq(mtp_archive_write(tree_dir, "/nonexistent/mtp/a.tar.gz", 0, NULL, &err),
                     MTP_EIO);
    ck_assert_str_eq(err.msg,
                     "/nonexistent/mtp/a.tar.gz: cannot create: No such file or directory");
    /* A non-ASCII name would make the archive depend on the locale. */
    snprintf(expect, sizeof expect, "%s/caf\xc3\xa9.txt", tree_dir);
    fixture_write_file(expect, "x", 1);
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), MTP_EFORMAT);
    ck_assert_str_eq(err.msg + strlen(tree_dir), "/caf\xc3\xa9.txt: file name is not printable "
                                                 "ASCII");
    remove_tree();
}
END_TEST

START_TEST(extract_writes_every_file_of_the_top_folder)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512], dest[600];
    out_path(out, sizeof out, "a.tar.gz");
    out_path(dest, sizeof dest, "extracted");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), 0);
    ck_assert_msg(mtp_archive_extract(out, dest, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < NFILES; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dest, files[i].rel);
        size_t len = 0;
        char *got = fixture_slurp(path, &len);
        unsigned char *want = file_content(&files[i]);
        ck_assert_uint_eq(len, files[i].len);
        if (files[i].len > 0)
            ck_assert_mem_eq(got, want, files[i].len);
        free(got);
        free(want);
    }
    /* A damaged archive extracts nothing under a final name past the damage, and says so. */
    run("printf 'junk' >> '%s'", out);
    ck_assert_int_eq(mtp_archive_extract(out, dest, &err), MTP_ECORRUPT);
}
END_TEST

START_TEST(read_member_returns_exact_bytes_within_cap)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char out[512], expect[1024];
    out_path(out, sizeof out, "a.tar.gz");
    ck_assert_int_eq(mtp_archive_write(tree_dir, out, 0, NULL, &err), 0);
    char *data = NULL;
    size_t len = 99;
    ck_assert_int_eq(mtp_archive_read_member(out, "manifest.json", &data, &len, 17, &err), 0);
    ck_assert_uint_eq(len, 17);
    ck_assert_str_eq(data, "{\"name\": \"demo\"}\n");
    free(data);

    ck_assert_int_eq(mtp_archive_read_member(out, "task1.h5", &data, &len, 1 << 20, &err), 0);
    ck_assert_uint_eq(len, 5000);
    unsigned char *want = file_content(find_file("task1.h5"));
    ck_assert_mem_eq(data, want, 5000);
    free(want);
    free(data);

    ck_assert_int_eq(mtp_archive_read_member(out, "data/empty", &data, &len, 0, &err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    free(data);

    ck_assert_int_eq(mtp_archive_read_member(out, "manifest.json", &data, &len, 16, &err),
                     MTP_ERANGE);
    snprintf(expect, sizeof expect, "%s: member manifest.json is 17 bytes, over the cap of 16",
             out);
    ck_assert_str_eq(err.msg, expect);
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 0);

    ck_assert_int_eq(mtp_archive_read_member(out, "nope.json", &data, &len, 100, &err),
                     MTP_ENOTFOUND);
    snprintf(expect, sizeof expect, "%s: no member nope.json", out);
    ck_assert_str_eq(err.msg, expect);
    ck_assert_int_eq(mtp_archive_read_member(out, "data", &data, &len, 100, &err), MTP_ENOTFOUND);
    snprintf(expect, sizeof expect, "%s: member data is a directory", out);
    ck_assert_str_eq(err.msg, expect);
    /* The skipped .tmp file really is not there. */
    ck_assert_int_eq(mtp_archive_read_member(out, "task1.h5.tmp.1234", &data, &len, 100, &err),
                     MTP_ENOTFOUND);
    remove_tree();
}
END_TEST

static int count_entry(const char *path, const mtp_digest *digest, void *userdata)
{
    (*(size_t *)userdata)++;
    return 0;
}

static void expect_scan_error(const char *archive, int code, const char *msg_tail)
{
    mtp_error err = MTP_ERROR_INIT;
    size_t n = 0;
    ck_assert_int_eq(mtp_archive_scan(archive, count_entry, &n, &err), code);
    ck_assert_uint_eq(strncmp(err.msg, archive, strlen(archive)), 0);
    ck_assert_str_eq(err.msg + strlen(archive), msg_tail);
}

/* Build a tar(.gz) with Python's tarfile from a list of "d:name" / "f:name:content" /
 * "l:name:target" specs, in the given order. */
static void python_tar(const char *path, const char *mode, const char *specs)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import io,sys,tarfile\n"
             "t=tarfile.open(sys.argv[1],\"%s\",format=tarfile.USTAR_FORMAT)\n"
             "for s in filter(None, sys.argv[2].split(\",\")):\n"
             "  k,n,*r=s.split(\":\"); i=tarfile.TarInfo(n)\n"
             "  if k==\"d\": i.type=tarfile.DIRTYPE; t.addfile(i)\n"
             "  elif k==\"l\": i.type=tarfile.SYMTYPE; i.linkname=r[0]; t.addfile(i)\n"
             "  else: b=r[0].encode(); i.size=len(b); t.addfile(i,io.BytesIO(b))\n"
             "t.close()' '%s' '%s'",
             mode, path, specs);
    ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

START_TEST(corrupt_and_foreign_archives_are_refused)
{
    make_tree();
    mtp_error err = MTP_ERROR_INIT;
    char good[512], bad[512];
    out_path(good, sizeof good, "good.tar.gz");
    out_path(bad, sizeof bad, "bad.tar.gz");
    ck_assert_int_eq(mtp_archive_write(tree_dir, good, 0, NULL, &err), 0);

    FILE *f = fopen(good, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    ck_assert_uint_gt(n, 200);
    ck_assert_uint_lt(n, sizeof buf);

    /* Truncated anywhere. */
    size_t count = 0;
    for (size_t keep = 0; keep < n; keep += 61) {
        fixture_write_file(bad, buf, keep);
        ck_assert_int_eq(mtp_archive_scan(bad, count_entry, &count, &err), MTP_ECORRUPT);
    }
    fixture_write_file(bad, buf, n - 1);
    expect_scan_error(bad, MTP_ECORRUPT, ": truncated gzip stream");
    /* A flipped byte anywhere, file data included: zlib checks the CRC-32 that libarchive's
     * own gzip reader ignores. */
    for (size_t at = 0; at < n; at += 37) {
        unsigned char copy[65536];
        memcpy(copy, buf, n);
        copy[at] ^= 0x55;
        fixture_write_file(bad, copy, n);
        int rc = mtp_archive_scan(bad, count_entry, &count, &err);
        ck_assert_msg(rc == MTP_ECORRUPT, "byte %zu: rc %d (%s)", at, rc, err.msg);
    }
    unsigned char copy[65536];
    memcpy(copy, buf, n);
    copy[n - 8] ^= 1; /* CRC-32 */
    fixture_write_file(bad, copy, n);
    expect_scan_error(bad, MTP_ECORRUPT, ": corrupt gzip stream: incorrect data check");
    memcpy(copy, buf, n);
    copy[n - 1] ^= 1; /* ISIZE */
    fixture_write_file(bad, copy, n);
    expect_scan_error(bad, MTP_ECORRUPT, ": corrupt gzip stream: incorrect length check");
    memcpy(copy, buf, n);
    copy[n] = 0;
    fixture_write_file(bad, copy, n + 1);
    expect_scan_error(bad, MTP_ECORRUPT, ": data after the end of the gzip stream");
    /* The untouched bytes still scan. */
    fixture_write_file(bad, buf, n);
    ck_assert_int_eq(mtp_archive_scan(bad, count_entry, &count, &err), 0);

    /* Not an archive at all. */
    fixture_write_file(bad, "hello, world\n", 13);
    expect_scan_error(bad, MTP_ECORRUPT, ": corrupt gzip stream: incorrect header check");
    fixture_write_file(bad, "", 0);
    expect_scan_error(bad, MTP_ECORRUPT, ": truncated gzip stream");
    python_tar(bad, "w:gz", "");
    expect_scan_error(bad, MTP_ECORRUPT, ": empty archive");
    expect_scan_error("/nonexistent/a.tar.gz", MTP_EIO, ": cannot open: No such file or directory");

    /* Foreign archives: each breaks one rule mtp_archive_write keeps. */
    python_tar(bad, "w", "d:top,f:top/a:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": corrupt gzip stream: incorrect header check");
    python_tar(bad, "w:gz", "d:top,f:top/../evil:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": top/../evil: unsafe path");
    python_tar(bad, "w:gz", "d:top,f:/etc/evil:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": /etc/evil: unsafe path");
    python_tar(bad, "w:gz", "d:top,f:top/b:x,f:top/a:y");
    expect_scan_error(bad, MTP_ECORRUPT, ": top/a: entry out of order or repeated");
    python_tar(bad, "w:gz", "d:top,f:top/a:x,f:top/a:y");
    expect_scan_error(bad, MTP_ECORRUPT, ": top/a: entry out of order or repeated");
    python_tar(bad, "w:gz", "d:top,l:top/a:/etc/passwd");
    expect_scan_error(bad, MTP_ECORRUPT, ": top/a: not a regular file or directory");
    python_tar(bad, "w:gz", "d:top,f:other/a:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": other/a: outside the top folder top/");
    python_tar(bad, "w:gz", "f:a:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": first entry a is not a top folder");
    python_tar(bad, "w:gz", "d:top,f:top/./a:x");
    expect_scan_error(bad, MTP_ECORRUPT, ": top/./a: unsafe path");

    /* A well-formed foreign archive is read like ours. */
    python_tar(bad, "w:gz", "d:top,d:top/d,f:top/d/a:abc,f:top/e:");
    scan_record rec = {0};
    ck_assert_int_eq(mtp_archive_scan(bad, record_entry, &rec, &err), 0);
    ck_assert_uint_eq(rec.count, 2);
    ck_assert_str_eq(rec.paths[0], "d/a");
    ck_assert_str_eq(rec.digests[0].sha256,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    ck_assert_str_eq(rec.paths[1], "e");
    ck_assert_uint_eq(rec.digests[1].size, 0);
    remove_tree();
}
END_TEST

/* Throughput of mtp_archive_write on a ~100 MB release-like directory: half smooth,
 * compressible "image" data, half incompressible (like blosc/gzip'ed HDF5 chunks). Printed,
 * not asserted: the machine is shared. */
START_TEST(write_throughput_100mb)
{
    make_tree();
    const size_t file_size = 25u << 20;
    unsigned char *data = malloc(file_size);
    ck_assert_ptr_nonnull(data);
    char path[1024];
    for (int i = 0; i < 4; i++) {
        if (i < 2) {
            fill_random(data, file_size, 7u + (uint32_t)i);
            for (size_t j = 0; j < file_size; j++) /* smooth ramps plus a little noise */
                data[j] = (unsigned char)(((j % 1024) / 8 + (j / 65536)) + (data[j] & 1));
        } else {
            fill_random(data, file_size, 99u + (uint32_t)i);
        }
        snprintf(path, sizeof path, "%s/big%d.h5", tree_dir, i);
        fixture_write_file(path, data, file_size);
    }
    free(data);
    mtp_error err = MTP_ERROR_INIT;
    char out[512];
    out_path(out, sizeof out, "big.tar.gz");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_msg(mtp_archive_write(tree_dir, out, 0, NULL, &err) == 0, "%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct stat st;
    ck_assert_int_eq(stat(out, &st), 0);
    double in_mb = 4.0 * (double)file_size / 1e6;
    printf("archive write: %.1f MB in %.2f s = %.1f MB/s, archive %.1f MB\n", in_mb, secs,
           in_mb / secs, (double)st.st_size / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t count = 0;
    ck_assert_int_eq(mtp_archive_scan(out, count_entry, &count, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("archive scan (gunzip + SHA-256 + MD5): %.2f s = %.1f MB/s\n", secs, in_mb / secs);
    ck_assert_uint_eq(count, NFILES + 4);
    remove_tree();
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("archive");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, archive_is_byte_identical_across_mtimes_modes_and_umask);
    tcase_add_test(tc, tar_lists_sorted_entries_owned_by_root_with_fixed_mtime);
    tcase_add_test(tc, gzip_header_has_no_timestamp_or_name);
    tcase_add_test(tc, scan_returns_every_file_with_its_digest);
    tcase_add_test(tc, symlinks_and_special_files_are_refused);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, read_member_returns_exact_bytes_within_cap);
    tcase_add_test(tc, extract_writes_every_file_of_the_top_folder);
    tcase_add_test(tc, corrupt_and_foreign_archives_are_refused);
    suite_add_tcase(s, tc);
    TCase *bench = tcase_create("throughput");
    tcase_set_timeout(bench, 300);
    tcase_add_test(bench, write_throughput_100mb);
    suite_add_tcase(s, bench);
    return s;
}
