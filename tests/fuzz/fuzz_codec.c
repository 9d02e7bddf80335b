/*
 * fuzz_codec.c — the blosc body decoder, as a server's answer reaches it: the first byte
 * picks what the client asked for (decode wide, or decode uint16/uint64 straight to bytes)
 * and the expected size comes from the body's own header (as a lying server would send it),
 * or from the next 3 bytes, capped so a run never allocates more than 16 MiB.
 */
#include <stdlib.h>

#include "mtp/codec.h"
#include "fuzz.h"

#define EXPECT_MAX ((size_t)16 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    unsigned mode = data[0] % 4;
    size_t asked = ((size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3]) + 1;
    const uint8_t *body = data + 4;
    size_t len = size - 4;
    mtp_error err = MTP_ERROR_INIT;
    mtp_blosc_header h;
    size_t expected = asked;
    if (mode < 2 && mtp_codec_header(body, len, &h, &err) == 0 && h.nbytes > 0)
        expected = h.nbytes; /* the server's own claim */
    if (expected > EXPECT_MAX)
        expected = asked;
    if (mode % 2 == 0) {
        uint8_t *dst = malloc(expected);
        if (dst != NULL)
            mtp_codec_decode(body, len, dst, expected, &err);
        free(dst);
    } else {
        size_t elem = mode == 1 ? 2 : 8;
        size_t voxels = expected / elem > 0 ? expected / elem : 1;
        uint8_t *dst = malloc(voxels);
        if (dst != NULL)
            mtp_codec_decode_u8(body, len, dst, voxels, elem, &err);
        free(dst);
    }
    return 0;
}
