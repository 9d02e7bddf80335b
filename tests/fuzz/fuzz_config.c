/* fuzz_config.c — the config loader: any bytes as a YAML config (mtp_config_parse). */
#include "mtp/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mtp_config *cfg = NULL;
    mtp_error err = MTP_ERROR_INIT;
    if (mtp_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, &err) == 0)
        mtp_config_free(cfg);
    return 0;
}
