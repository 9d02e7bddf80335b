/* fuzz_boss_json.c — the BossDB metadata parsers and the error-body describer, on any body
 * (the first byte picks the parser). */
#include "mtp/boss.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > MTP_BOSS_META_MAX)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    mtp_channel_meta meta;
    mtp_error err = MTP_ERROR_INIT;
    char buf[512];
    switch (data[0] % 4) {
    case 0:
        mtp_boss_parse_experiment_json(text, len, &meta, &err);
        break;
    case 1:
        mtp_boss_parse_coord_json(text, len, &meta, &err);
        break;
    case 2:
        mtp_boss_parse_channel_json(text, len, &meta, &err);
        break;
    default:
        mtp_boss_describe_error(buf, sizeof buf, 400 + data[0] % 200, text, len);
        break;
    }
    return 0;
}
