/* The Zenodo client's parsers of what a server answers (no network: test_publish and
 * test_zenodo_mock drive the requests against zenodo-mock). */
#include "mtp_test.h"
#include <stdlib.h>
#include <string.h>

#include "mtp/zenodo.h"

#define DEPOSIT                                                                                    \
    "{\"id\": 1234, \"submitted\": false, \"state\": \"unsubmitted\", \"links\": {\"bucket\": "    \
    "\"https://zenodo.org/api/files/5683\", \"html\": \"https://zenodo.org/deposit/1234\"}, "      \
    "\"metadata\": {\"prereserve_doi\": {\"doi\": \"10.5281/zenodo.1234\"}}}"

START_TEST(deposit_is_parsed_and_checked)
{
    mtp_zenodo_deposit dep;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_zenodo_parse_deposit(DEPOSIT, strlen(DEPOSIT), "GET /d/1234", &dep, &err),
                     0);
    ck_assert_int_eq(dep.id, 1234);
    ck_assert(!dep.submitted);
    ck_assert_str_eq(dep.state, "unsubmitted");
    ck_assert_str_eq(dep.bucket, "https://zenodo.org/api/files/5683");
    ck_assert_str_eq(dep.prereserved_doi, "10.5281/zenodo.1234");
    ck_assert_str_eq(dep.doi, "");
    /* No id, a negative one, no links, not JSON, a control character in a string. */
    static const char *bad[] = {"{\"links\": {}}", "{\"id\": -3, \"links\": {}}", "{\"id\": 3}",
                                "<html>", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mtp_error e = MTP_ERROR_INIT;
        ck_assert_int_eq(mtp_zenodo_parse_deposit(bad[i], strlen(bad[i]), "GET /d/3", &dep, &e),
                         MTP_EFORMAT);
        ck_assert_msg(strncmp(e.msg, "GET /d/3: ", 10) == 0, "%s", e.msg);
    }
    const char *ctl = "{\"id\": 5, \"links\": {\"html\": \"a\\u001b[31mb\"}}";
    ck_assert_int_eq(mtp_zenodo_parse_deposit(ctl, strlen(ctl), "x", &dep, &err), 0);
    ck_assert_str_eq(dep.html, "a?[31mb");
}
END_TEST

START_TEST(file_lists_are_checked)
{
    const char *ok = "[{\"filename\": \"manifest.json\", \"filesize\": 5123, \"checksum\": "
                     "\"md5:0123456789abcdef0123456789abcdef\"}, {\"filename\": \"a.h5\", "
                     "\"filesize\": 1e6, \"checksum\": \"fedcba9876543210fedcba9876543210\"}]";
    mtp_zenodo_file *files = NULL;
    int n = 0;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_zenodo_parse_files(ok, strlen(ok), "GET /files", &files, &n, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(files[0].name, "manifest.json");
    ck_assert_str_eq(files[0].md5, "0123456789abcdef0123456789abcdef");
    ck_assert_int_eq(files[0].size, 5123);
    ck_assert_int_eq(files[1].size, 1000000);
    free(files);
    static const char *bad[] = {
        "{}", "[{\"filename\": \"a\", \"filesize\": 1, \"checksum\": \"md5:123\"}]",
        "[{\"filename\": \"a\", \"filesize\": -1, \"checksum\": "
        "\"md5:0123456789abcdef0123456789abcdef\"}]",
        "[{\"filename\": \"a\", \"filesize\": 1e300, \"checksum\": "
        "\"md5:0123456789abcdef0123456789abcdef\"}]",
        "[{\"filesize\": 1, \"checksum\": \"md5:0123456789abcdef0123456789abcdef\"}]"};
    static const char *want[] = {
        "GET /files: not a list of at most 1000 files", "GET /files: file 0 is malformed",
        "GET /files: file 0 is malformed", "GET /files: file 0 is malformed",
        "GET /files: file 0 is malformed"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mtp_error e = MTP_ERROR_INIT;
        ck_assert_int_eq(
            mtp_zenodo_parse_files(bad[i], strlen(bad[i]), "GET /files", &files, &n, &e),
            MTP_EFORMAT);
        ck_assert_ptr_null(files);
        ck_assert_int_eq(n, 0);
        ck_assert_str_eq(e.msg, want[i]);
    }
}
END_TEST

START_TEST(refusals_are_one_masked_line)
{
    char line[256];
    const char *v =
        "{\"status\": 400, \"message\": \"Validation error.\", \"errors\": [{\"field\": "
        "\"metadata.creators\", \"message\": \"Missing data.\"}, {\"field\": "
        "\"metadata.title\", \"messages\": [\"tok123 is not\\na title\"]}]}";
    mtp_zenodo_describe_refusal(v, strlen(v), "tok123", line, sizeof line);
    ck_assert_str_eq(line, "Validation error.; metadata.creators: Missing data.; "
                           "metadata.title: ****** is not?a title");
    const char *html = "<html>502 tok123</html>";
    mtp_zenodo_describe_refusal(html, strlen(html), "tok123", line, sizeof line);
    ck_assert_str_eq(line, "<html>502 ******</html>");
    /* Cut to the buffer, still masked and terminated. */
    mtp_zenodo_describe_refusal(html, strlen(html), "tok123", line, 12);
    ck_assert_str_eq(line, "<html>502 *");
    mtp_zenodo_describe_refusal(NULL, 0, "tok123", line, sizeof line);
    ck_assert_str_eq(line, "");
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("zenodo");
    TCase *tc = tcase_create("parsers");
    tcase_add_test(tc, deposit_is_parsed_and_checked);
    tcase_add_test(tc, file_lists_are_checked);
    tcase_add_test(tc, refusals_are_one_masked_line);
    suite_add_tcase(s, tc);
    return s;
}
