#include <stdio.h>
int main(void)
{
    fprintf(stderr, "bossdb-mock: not implemented yet\n");
    return 2;
}
