#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan) into build-fuzz/ (or
# $MTP_FUZZ_BUILD_DIR) and
# run each for SECONDS (default 60), one after the other, from a writable copy of its seed
# corpus. Prints one line per target (runs, corpus size, crashes); exit 1 if any target
# found a crash (the input is kept in <build dir>/artifacts/<target>/).
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 600 config codec
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        targets+=("${t#fuzz_}")
    done
fi

build_dir=${MTP_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$build_dir" -DCMAKE_C_COMPILER=clang -DMTP_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)" --target "${targets[@]/#/fuzz_}" >/dev/null

# Leaks in a harness's libraries are not what these targets look for; everything else aborts.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0
for t in "${targets[@]}"; do
    work="$build_dir/corpus/$t"
    art="$build_dir/artifacts/$t"
    mkdir -p "$work" "$art"
    cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log="$build_dir/$t.log"
    set +e
    "$build_dir/fuzz_$t" "$work" "${dict[@]}" -max_total_time="$seconds" -max_len=65536 \
        -rss_limit_mb=2048 -timeout=20 -artifact_prefix="$art/" -print_final_stats=1 \
        >"$log" 2>&1
    status=$?
    set -e
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    crashes=$(find "$art" -type f | wc -l)
    printf '%-10s %4ss  %10s runs  corpus %5s files  crashes %s  (exit %s, log %s)\n' \
        "$t" "$seconds" "${runs:-?}" "$(find "$work" -type f | wc -l)" "$crashes" "$status" "$log"
    if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
        failed=1
        grep -m5 -E 'ERROR|runtime error|SUMMARY' "$log" || true
    fi
done
exit "$failed"
