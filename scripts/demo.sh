#!/usr/bin/env bash
# One command to a verified demo release: build the tools if needed, start a local
# bossdb-mock on a free port, build configs/demo.yaml into ./release, verify it, stop the
# mock (also on failure or Ctrl-C).
#   DEMO_OUT=DIR     where the release goes (default ./release)
#   DEMO_CACHE=DIR   block cache (default: a fresh temporary directory, removed afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${DEMO_OUT:-$root/release}
build=${MTP_BUILD_DIR:-$root/build}

if [ ! -x "$build/mtneuro-pack" ] || [ ! -x "$build/bossdb-mock" ]; then
  scripts/setup.sh
fi

work=$(mktemp -d)
cache=${DEMO_CACHE:-$work/cache}
mock_pid=
cleanup() {
  if [ -n "$mock_pid" ]; then kill "$mock_pid" 2>/dev/null || true; wait "$mock_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$build/bossdb-mock" --port 0 > "$work/mock.out" 2> "$work/mock.err" &
mock_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/mock.out" || true)
  [ -n "$url" ] && break
  kill -0 "$mock_pid" 2>/dev/null || { cat "$work/mock.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "demo: bossdb-mock did not start" >&2; exit 1; }
echo "demo: bossdb-mock serving synthetic prasad2020 at $url"

"$build/mtneuro-pack" build configs/demo.yaml --out "$out" --cache "$cache" --source-url "$url"
release="$out/mtneuro-demo-1.0.0"
"$build/mtneuro-pack" verify "$release"

cat <<TXT

demo: a verified release is in $release
  ls $release                          the files (task*.h5, manifest.json, README.md, ...)
  less $release/README.md              the datasheet: sources, splits, labels, class balance
  $build/mtneuro-pack inspect $release/task1.h5
  h5ls -r $release/task1.h5
  python3 -c "import h5py; f = h5py.File('$release/task1.h5'); print(f['train/images'].shape)"
TXT
