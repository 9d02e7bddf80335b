#!/usr/bin/env bash
# submit.sh CONFIG N [options...] — the one-line launcher: N fetch tasks, then the build.
#
#   scripts/slurm/submit.sh configs/mtneuro.yaml 16 --cache /shared/mtp-cache --out /shared/release
#
# Options go to both fetch and build (each ignores those it has no use for: --out). Extra
# sbatch options (partition, account, time) come from SBATCH_* variables or #SBATCH lines.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
config=${1:?usage: submit.sh CONFIG N [options...]}
n=${2:?usage: submit.sh CONFIG N [options...]}
shift 2
fetch=$(sbatch --parsable --array="0-$((n - 1))" "$here/fetch.sbatch" "$config" "$@")
build=$(sbatch --parsable --dependency="afterok:${fetch%%;*}" "$here/build.sbatch" "$config" "$n" "$@")
echo "fetch array ${fetch%%;*} (${n} tasks), build $build after it"
