#include "mtp_test.h"
#include <string.h>

#include "mtp/error.h"
#include "mtp/types.h"

START_TEST(error_set_formats_and_returns_code)
{
    mtp_error err = MTP_ERROR_INIT;
    int rc = mtp_error_set(&err, MTP_EIO, "%s: %d", "file.h5", 7);
    ck_assert_int_eq(rc, MTP_EIO);
    ck_assert_int_eq(err.code, MTP_EIO);
    ck_assert_str_eq(err.msg, "file.h5: 7");
}
END_TEST

START_TEST(error_messages_are_one_line)
{
    mtp_error err = MTP_ERROR_INIT;
    mtp_error_set(&err, MTP_ESERVER, "bad\nthing\r");
    ck_assert_str_eq(err.msg, "bad thing ");
    mtp_error_prefix(&err, "url %s", "http://x");
    ck_assert_str_eq(err.msg, "url http://x: bad thing ");
}
END_TEST

START_TEST(exit_status_maps_codes)
{
    ck_assert_int_eq(mtp_exit_status(MTP_OK), 0);
    ck_assert_int_eq(mtp_exit_status(MTP_ECONFIG), 2);
    ck_assert_int_eq(mtp_exit_status(MTP_ENET), 1);
    /* A caller bug is an internal error: a runtime failure for the user, not a usage one. */
    ck_assert_int_eq(mtp_exit_status(MTP_EINVAL), 1);
    ck_assert_str_eq(mtp_strerror(MTP_EINVAL), "internal error (invalid argument)");
    for (int code = MTP_EBUSY; code < 0; code++)
        ck_assert_int_eq(mtp_exit_status(code), code == MTP_ECONFIG ? 2 : 1);
    ck_assert_str_eq(mtp_strerror(MTP_ENOMEM), "out of memory");
}
END_TEST

START_TEST(box_intersection)
{
    mtp_box a = {0, 10, 0, 10, 0, 10}, b = {5, 15, 8, 20, 9, 10}, r;
    ck_assert_int_eq(mtp_box_intersect(&a, &b, &r), 1);
    ck_assert_int_eq(mtp_box_voxels(&r), 5 * 2 * 1);
    mtp_box c = {10, 11, 0, 1, 0, 1};
    ck_assert_int_eq(mtp_box_intersects(&a, &c), 0);
    ck_assert_int_eq(mtp_dtype_size(mtp_dtype_parse("uint64")), 8);
    ck_assert_int_eq(mtp_dtype_parse("float32"), MTP_DTYPE_UNKNOWN);
}
END_TEST

START_TEST(text_printable_replaces_controls_and_bad_utf8)
{
    char s[] = "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\x1b[31m|\x7f|\xc9x|\xc0\xaf|\xed\xa0\x80|"
               "\xf4\x90\x80\x80|\xe2\x82";
    mtp_text_printable(s);
    ck_assert_str_eq(s, "ok \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|?[31m|?|?x|??|???|????|??");
    char empty[] = "";
    mtp_text_printable(empty);
    ck_assert_str_eq(empty, "");
    mtp_text_printable(NULL);
}
END_TEST

Suite *mtp_test_suite(void)
{
    Suite *s = suite_create("error");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, error_set_formats_and_returns_code);
    tcase_add_test(tc, error_messages_are_one_line);
    tcase_add_test(tc, exit_status_maps_codes);
    tcase_add_test(tc, text_printable_replaces_controls_and_bad_utf8);
    tcase_add_test(tc, box_intersection);
    suite_add_tcase(s, tc);
    return s;
}
