/* harness_files.c — temp files for the harnesses (see fuzz.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char dir[256];

const char *fuzz_tmpdir(void)
{
    if (dir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/mtp-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

const char *fuzz_write_file(int slot, const char *name, const uint8_t *data, size_t size)
{
    static char paths[4][512];
    if (slot < 0 || slot > 3)
        return NULL;
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (f == NULL)
        return NULL;
    size_t put = size > 0 ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || put != size)
        return NULL;
    return paths[slot];
}
