#include "mtp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtp/digest.h"
#include "fixtures.h"

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MD5_EMPTY "d41d8cd98f00b204e9800998ecf8427e"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MD5_ABC "900150983cd24fb0d6963f7d28e17f72"

static char tmpdir[256];

static void make_tmpdir(void)
{
    fixture_make_tmpdir(tmpdir, sizeof tmpdir, "digest");
}

static void remove_tmpdir(void)
{
    fixture_remove_tree(tmpdir);
}

START_TEST(known_vectors)
{
    mtp_digest d;
    ck_assert_int_eq(mtp_digest_buffer(NULL, 0, &d), 0);
    ck_assert_str_eq(d.sha256, SHA256_EMPTY);
    ck_assert_str_eq(d.md5, MD5_EMPTY);
    ck_assert_uint_eq(d.size, 0);
    ck_assert_int_eq(mtp_digest_buffer("abc", 3, &d), 0);
    ck_assert_str_eq(d.sha256, SHA256_ABC);
    ck_assert_str_eq(d.md5, MD5_ABC);
    ck_assert_uint_eq(d.size, 3);
}
END_TEST

START_TEST(streaming_in_pieces_matches_buffer)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_digest_ctx *ctx = NULL;
    mtp_digest d;
    ck_assert_int_eq(mtp_digest_begin(&ctx, &err), 0);
    ck_assert_int_eq(mtp_digest_update(ctx, "a", 1, &err), 0);
    ck_assert_int_eq(mtp_digest_update(ctx, "", 0, &err), 0);
    ck_assert_int_eq(mtp_digest_update(ctx, "bc", 2, &err), 0);
    ck_assert_int_eq(mtp_digest_end(ctx, &d, &err), 0);
    ck_assert_str_eq(d.sha256, SHA256_ABC);
    ck_assert_str_eq(d.md5, MD5_ABC);
    ck_assert_uint_eq(d.size, 3);
    /* Abandoning a context, and freeing NULL, are both fine. */
    ck_assert_int_eq(mtp_digest_begin(&ctx, &err), 0);
    ck_assert_int_eq(mtp_digest_update(ctx, "x", 1, &err), 0);
    mtp_digest_free(ctx);
    mtp_digest_free(NULL);
}
END_TEST

START_TEST(file_digest_equals_buffer_digest)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/abc.txt", tmpdir);
    fixture_write_file(path, "abc", 3);
    mtp_error err = MTP_ERROR_INIT;
    mtp_digest fd, bd;
    ck_assert_int_eq(mtp_digest_file(path, &fd, &err), 0);
    ck_assert_int_eq(mtp_digest_buffer("abc", 3, &bd), 0);
    ck_assert_str_eq(fd.sha256, SHA256_ABC);
    ck_assert_str_eq(fd.md5, MD5_ABC);
    ck_assert_str_eq(fd.sha256, bd.sha256);
    ck_assert_str_eq(fd.md5, bd.md5);
    ck_assert_uint_eq(fd.size, bd.size);
    snprintf(path, sizeof path, "%s/empty", tmpdir);
    fixture_write_file(path, "", 0);
    ck_assert_int_eq(mtp_digest_file(path, &fd, &err), 0);
    ck_assert_str_eq(fd.sha256, SHA256_EMPTY);
    ck_assert_uint_eq(fd.size, 0);
    remove_tmpdir();
}
END_TEST

START_TEST(large_file_spans_chunks)
{
    make_tmpdir();
    const size_t len = 3 * (1u << 20) + 12345; /* three full 1 MiB chunks and a tail */
    unsigned char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/big.bin", tmpdir);
    fixture_write_file(path, data, len);
    mtp_error err = MTP_ERROR_INIT;
    mtp_digest fd, bd;
    ck_assert_int_eq(mtp_digest_file(path, &fd, &err), 0);
    ck_assert_int_eq(mtp_digest_buffer(data, len, &bd), 0);
    ck_assert_str_eq(fd.sha256, bd.sha256);
    ck_assert_str_eq(fd.md5, bd.md5);
    ck_assert_uint_eq(fd.size, len);
    /* And both agree with coreutils. */
    char cmd[1024], line[128];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    ck_assert_int_eq(pclose(p), 0);
    line[64] = '\0';
    ck_assert_str_eq(fd.sha256, line);
    free(data);
    remove_tmpdir();
}
END_TEST

START_TEST(missing_file_and_directory_errors)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_digest d;
    memset(&d, 0x5a, sizeof d);
    ck_assert_int_eq(mtp_digest_file("/nonexistent/mtp/file.h5", &d, &err), MTP_EIO);
    ck_assert_str_eq(err.msg, "/nonexistent/mtp/file.h5: cannot open: No such file or directory");
    ck_assert_int_eq((unsigned char)d.sha256[0], 0x5a); /* untouched on failure */
    ck_assert_int_eq(mtp_digest_file("/tmp", &d, &err), MTP_EFORMAT);
    ck_assert_str_eq(err.msg, "/tmp: not a regular file");
}
END_TEST

START_TEST(sums_line_format_and_rejections)
{
    mtp_error err = MTP_ERROR_INIT;
    char line[256];
    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, SHA256_ABC, "task1.h5", &err), 0);
    ck_assert_str_eq(line, SHA256_ABC "  task1.h5\n");
    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, MD5_ABC, "previews/a b.png", &err), 0);
    ck_assert_str_eq(line, MD5_ABC "  previews/a b.png\n");

    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, MD5_ABC, "bad\nname", &err),
                     MTP_EFORMAT);
    ck_assert_str_eq(err.msg, "file name with a newline or backslash cannot be listed in a "
                              "checksum file");
    ck_assert_str_eq(line, "");
    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, MD5_ABC, "bad\\name", &err),
                     MTP_EFORMAT);
    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, MD5_ABC, "", &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "empty file name in checksum list");
    ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, "ABC", "x", &err), MTP_EINVAL);
    ck_assert_str_eq(err.msg, "x: digest is not 32 or 64 lowercase hex digits");
    ck_assert_int_eq(
        mtp_digest_sums_line(line, sizeof line, "900150983CD24FB0D6963F7D28E17F72", "x", &err),
        MTP_EINVAL);
    /* 64 + 2 + 8 + 1 = 75 characters need 76 bytes. */
    ck_assert_int_eq(mtp_digest_sums_line(line, 75, SHA256_ABC, "task1.h5", &err), MTP_ERANGE);
    ck_assert_str_eq(err.msg, "task1.h5: checksum line longer than 74 bytes");
    ck_assert_str_eq(line, "");
    ck_assert_int_eq(mtp_digest_sums_line(line, 76, SHA256_ABC, "task1.h5", &err), 0);
}
END_TEST

/* Write SHA256SUMS and MD5SUMS for two files (one in a subfolder, one with a space) and let
 * coreutils check them; then change a file and make sure they notice. */
START_TEST(sums_files_pass_coreutils_check)
{
    make_tmpdir();
    const char *names[] = {"task1.h5", "previews/a b.png"};
    const char *contents[] = {"hdf5 bytes", "png bytes\n"};
    char path[512], cmd[1024], line[256];
    snprintf(path, sizeof path, "%s/previews", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
    char sha_list[1024] = "", md5_list[1024] = "";
    mtp_error err = MTP_ERROR_INIT;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        fixture_write_file(path, contents[i], strlen(contents[i]));
        mtp_digest d;
        ck_assert_int_eq(mtp_digest_file(path, &d, &err), 0);
        ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, d.sha256, names[i], &err), 0);
        strcat(sha_list, line);
        ck_assert_int_eq(mtp_digest_sums_line(line, sizeof line, d.md5, names[i], &err), 0);
        strcat(md5_list, line);
    }
    snprintf(path, sizeof path, "%s/SHA256SUMS", tmpdir);
    fixture_write_file(path, sha_list, strlen(sha_list));
    snprintf(path, sizeof path, "%s/MD5SUMS", tmpdir);
    fixture_write_file(path, md5_list, strlen(md5_list));

    snprintf(cmd, sizeof cmd,
             "cd '%s' && sha256sum -c --strict --quiet SHA256SUMS && "
             "md5sum -c --strict --quiet MD5SUMS",
             tmpdir);
    ck_assert_int_eq(system(cmd), 0);

    snprintf(path, sizeof path, "%s/previews/a b.png", tmpdir);
    fixture_write_file(path, "png bytez\n", 10);
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum -c --quiet SHA256SUMS >/dev/null 2>&1", tmpdir);
    ck_assert_int_ne(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && md5sum -c --quiet MD5SUMS >/dev/null 2>&1", tmpdir);
    ck_assert_int_ne(system(cmd), 0);
    remove_tmpdir();
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("digest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, known_vectors);
    tcase_add_test(tc, streaming_in_pieces_matches_buffer);
    tcase_add_test(tc, file_digest_equals_buffer_digest);
    tcase_add_test(tc, large_file_spans_chunks);
    tcase_add_test(tc, missing_file_and_directory_errors);
    tcase_add_test(tc, sums_line_format_and_rejections);
    tcase_add_test(tc, sums_files_pass_coreutils_check);
    suite_add_tcase(s, tc);
    return s;
}
