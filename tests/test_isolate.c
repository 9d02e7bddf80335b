#include "mtp_test.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtp/isolate.h"

static int answer_hello(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    (void)err;
    return mtp_isolate_append(out, arg, strlen(arg) + 1);
}

static int fail_politely(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    (void)arg;
    (void)out;
    return mtp_error_set(err, MTP_EFORMAT, "x.h5: not an HDF5 file");
}

static int crash(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    (void)arg;
    (void)out;
    (void)err;
    raise(SIGSEGV); /* what libhdf5 does on some crafted files */
    return 0;
}

static int hang(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    (void)arg;
    (void)out;
    (void)err;
    for (;;)
        pause(); /* libhdf5's "infinite loop closing library", in effect */
    return 0;
}

static int vanish(void *arg, mtp_isolate_out *out, mtp_error *err)
{
    (void)arg;
    (void)out;
    (void)err;
    _exit(3);
}

START_TEST(result_and_errors_come_back)
{
    char *result = NULL;
    size_t len = 0;
    bool failed = true;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_isolate_call(answer_hello, "hello", 10, &result, &len, &failed, &err), 0);
    ck_assert(!failed);
    ck_assert_uint_eq(len, 6);
    ck_assert_str_eq(result, "hello");
    free(result);

    ck_assert_int_eq(mtp_isolate_call(fail_politely, NULL, 10, &result, &len, &failed, &err),
                     MTP_EFORMAT);
    ck_assert(!failed);
    ck_assert_ptr_null(result);
    ck_assert_str_eq(err.msg, "x.h5: not an HDF5 file");
}
END_TEST

START_TEST(a_crash_is_an_error_line)
{
    char *result = NULL;
    size_t len = 0;
    bool failed = false;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_isolate_call(crash, NULL, 10, &result, &len, &failed, &err), MTP_EFORMAT);
    ck_assert(failed);
    ck_assert_str_eq(err.msg, "the HDF5 library crashed: signal 11");
    ck_assert_ptr_null(result);
    ck_assert_int_eq(mtp_isolate_call(vanish, NULL, 10, &result, &len, &failed, &err), MTP_EFORMAT);
    ck_assert(failed);
    ck_assert_str_eq(err.msg, "the reader ended without an answer (exit status 3)");
}
END_TEST

START_TEST(a_hang_is_stopped_at_the_timeout)
{
    char *result = NULL;
    size_t len = 0;
    bool failed = false;
    mtp_error err = MTP_ERROR_INIT;
    ck_assert_int_eq(mtp_isolate_call(hang, NULL, 1, &result, &len, &failed, &err), MTP_EFORMAT);
    ck_assert(failed);
    ck_assert_str_eq(err.msg, "no answer within 1 s (the reader was stopped)");
}
END_TEST

START_TEST(append_respects_the_cap)
{
    mtp_isolate_out out = {NULL, 0, 0};
    ck_assert_int_eq(mtp_isolate_append(&out, "abc", 3), 0);
    out.len = MTP_ISOLATE_MAX_RESULT - 1; /* pretend it is nearly full */
    ck_assert_int_eq(mtp_isolate_append(&out, "ab", 2), MTP_ERANGE);
    free(out.data);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("isolate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, result_and_errors_come_back);
    tcase_add_test(tc, a_crash_is_an_error_line);
    tcase_add_test(tc, a_hang_is_stopped_at_the_timeout);
    tcase_add_test(tc, append_respects_the_cap);
    suite_add_tcase(s, tc);
    return s;
}
