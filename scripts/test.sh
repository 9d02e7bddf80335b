#!/usr/bin/env bash
# Build (installing what is missing), then run every unit and integration test.
# Exit status is the test result.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" "$@"
