/*
 * fuzz.h — what every harness in tests/fuzz/ shares. Each fuzz_<target>.c defines
 * LLVMFuzzerTestOneInput; built with clang -fsanitize=fuzzer it is a libFuzzer target
 * (scripts/fuzz.sh), built with replay_main.c it is a program that runs the files given on
 * its command line (or every file of the directories given) through the same function —
 * ctest's fuzz_replay_<target> does that over the committed seeds and regressions.
 */
#ifndef MTP_FUZZ_H
#define MTP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory for harnesses that need files (made once per process, never removed
 * while the process runs; replay_main removes it at exit). */
const char *fuzz_tmpdir(void);

/* Write `size` bytes to `<fuzz_tmpdir()>/<name>`; returns the path (static buffer per name
 * slot 0..3) or NULL on failure. */
const char *fuzz_write_file(int slot, const char *name, const uint8_t *data, size_t size);

#endif
