/* fuzz_tar.c — the archive reader: any bytes as a release .tar.gz, scanned (every member
 * digested) and asked for its manifest.json. */
#include <stdlib.h>

#include "fuzz.h"
#include "mtp/tarball.h"

static int count_entry(const char *path, const mtp_digest *digest, void *userdata)
{
    (void)path;
    (void)digest;
    ++*(int *)userdata;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_file(0, "release.tar.gz", data, size);
    if (path == NULL)
        return 0;
    mtp_error err = MTP_ERROR_INIT;
    int entries = 0;
    mtp_archive_scan(path, count_entry, &entries, &err);
    char *text = NULL;
    size_t len = 0;
    if (mtp_archive_read_member(path, "manifest.json", &text, &len, 1 << 20, &err) == 0)
        free(text);
    return 0;
}
