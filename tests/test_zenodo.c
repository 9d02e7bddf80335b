/* The Zenodo client's parsers of what a server answers, and one request path the
 * integration tests cannot reach through `publish`: a stalled upload, retried (zenodo-mock
 * --stall-upload, with a 1 s stall rule). test_publish and test_zenodo_mock drive the rest. */
#include "mtp_test.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* zenodo-mock from this build on a free port, in a temporary directory; its URL in url. */
static pid_t start_mock(char *dir, char *url, size_t n, const char *stall_name)
{
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char state[300], log[300];
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(log, sizeof log, "%s/out", dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (freopen(log, "w", stdout) == NULL)
            _exit(127);
        execl(MTP_BUILD_DIR "/zenodo-mock", "zenodo-mock", "--dir", state, "--token", "tok123",
              "--stall-upload", stall_name, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(log, "r");
        char line[256] = "";
        if (f != NULL) {
            if (fgets(line, sizeof line, f) == NULL)
                line[0] = '\0';
            fclose(f);
        }
        if (sscanf(line, "listening on %255s", url) == 1 && strlen(url) < n)
            return pid;
        nanosleep(&(struct timespec){0, 50000000L}, NULL);
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    ck_abort_msg("zenodo-mock did not start");
    return -1;
}

START_TEST(stalled_upload_is_retried)
{
    char dir[] = "/tmp/mtp-zenodo-XXXXXX", url[256];
    pid_t pid = start_mock(dir, url, sizeof url, "a.bin");
    char path[300];
    snprintf(path, sizeof path, "%s/a.bin", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("0123456789", f);
    fclose(f);

    mtp_zenodo_options opt = MTP_ZENODO_OPTIONS_INIT;
    opt.url = url;
    opt.token = "tok123";
    opt.stall_s = 1;
    /* The retry waits 4.5-9 s (jittered backoff): after the mock's 5 s stall. */
    opt.backoff_ms = 9000;
    opt.backoff_max_ms = 9000;
    mtp_zenodo *z = NULL;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_zenodo_new(&z, &opt, &err), 0);
    mtp_zenodo_deposit dep;
    ck_assert_msg(mtp_zenodo_create(z, &dep, &err) == 0, "%s", err.msg);
    /* md5 of "0123456789". The first attempt gets no answer for 5 s: abandoned after ~1 s
     * without progress, then asked again (answered once the mock wakes up). */
    ck_assert_msg(mtp_zenodo_upload(z, dep.bucket, "a.bin", path,
                                    "781e5e245d69b566979b86e28d23f2c7", &err) == 0,
                  "%s", err.msg);
    mtp_zenodo_stats st = mtp_zenodo_get_stats(z);
    ck_assert_int_eq(st.retries, 1);
    ck_assert_int_eq(st.uploads, 1);
    mtp_zenodo_file *files = NULL;
    int n = 0;
    ck_assert_int_eq(mtp_zenodo_list_files(z, dep.id, &files, &n, &err), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(files[0].name, "a.bin");
    ck_assert_int_eq(files[0].size, 10);
    free(files);
    mtp_zenodo_free(z);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
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
    TCase *io = tcase_create("zenodo-mock");
    tcase_set_timeout(io, 60);
    tcase_add_test(io, stalled_upload_is_retried);
    suite_add_tcase(s, io);
    return s;
}
