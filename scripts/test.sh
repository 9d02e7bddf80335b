#!/usr/bin/env bash
# Build (installing what is missing), then run every test:
#   1. the Check unit suites and the fuzz replays again, built with ASan + UBSan (build-asan/);
#   2. every fuzz target for a short smoke run (scripts/fuzz.sh, clang + libFuzzer);
#   3. every unit and integration test on the normal build (build/), last, so that its
#      summary closes the output.
# Exit status is the test result. MTP_SKIP_SANITIZERS=1 skips 1 and 2 (a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
# Check's default 4 s per test is short on a loaded 2-core machine (and under ASan).
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}
scripts/setup.sh

if [ "${MTP_SKIP_SANITIZERS:-0}" != 1 ]; then
    echo "== unit suites with ASan + UBSan (build-asan/)"
    cmake -S . -B build-asan -DMTP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build-asan --parallel "$(nproc)" >/dev/null
    (cd build-asan &&
        ASAN_OPTIONS=abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
            ctest --output-on-failure --parallel "$(nproc)" -R '^(test_|fuzz_replay_)')
    echo "== fuzz smoke (scripts/fuzz.sh ${MTP_FUZZ_SECONDS:-15})"
    scripts/fuzz.sh "${MTP_FUZZ_SECONDS:-15}"
fi

echo "== all tests (build/)"
cd build
ctest --output-on-failure --parallel "$(nproc)" "$@"
