/* mtp_test.h — every tests/test_<module>.c includes this and defines mtp_test_suite(). */
#ifndef MTP_TEST_H
#define MTP_TEST_H
#include <check.h>
Suite *mtp_test_suite(void);
#endif
