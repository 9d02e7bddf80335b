/* Shared main() for the Check suites: each tests/test_<module>.c defines mtp_test_suite(). */
#include "mtp_test.h"
#include <stdlib.h>

int main(void)
{
    SRunner *runner = srunner_create(mtp_test_suite());
    srunner_run_all(runner, CK_NORMAL);
    int ran = srunner_ntests_run(runner);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    /* A suite that ran nothing is a broken suite, not a passing one. */
    return (ran > 0 && failed == 0) ? EXIT_SUCCESS : EXIT_FAILURE;
}
