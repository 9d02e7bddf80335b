#include "mock.h"
int mtp_mock_placeholder(void)
{
    return 0;
}
