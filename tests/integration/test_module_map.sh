#!/usr/bin/env bash
# src/README.md maps every module of src/ (and of include/mtp/), the public headers live only
# under include/mtp/ (src/ keeps only the private h5util.h), and the foreign libraries stay
# behind their boundaries: HDF5 in h5util, h5bundle, h5read and preview; libcurl in boss;
# tools/ neither.
set -euo pipefail
SOURCE_DIR=${MTP_SOURCE_DIR:?MTP_SOURCE_DIR must be set}
cd "$SOURCE_DIR"
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

mapped=$(sed -n 's/^| [^|]* | `\([a-z0-9_]*\)` |.*/\1/p' src/README.md | sort)
modules=$(ls src/*.c src/*.h include/mtp/*.h | sed 's|.*/||; s|\.[ch]$||' | sort -u)
missing=$(comm -13 <(echo "$mapped") <(echo "$modules"))
stale=$(comm -23 <(echo "$mapped") <(echo "$modules"))
[ -z "$missing" ] || fail "modules missing from src/README.md: $missing"
[ -z "$stale" ] || fail "src/README.md maps modules that do not exist: $stale"
echo "module map: $(echo "$modules" | wc -l) modules, all mapped"
private=$(ls src/*.h | sed 's|src/||')
[ "$private" = "h5util.h" ] || fail "headers in src/ besides the private h5util.h: $private"
bad=$(grep -rhoE '#include "[a-z0-9_]+\.h"' src include tools/*.c tools/cli tests/*.c tests/fuzz |
    sed 's/#include "//; s/"$//' | sort -u |
    while read -r n; do [ -e "include/mtp/$n" ] && echo "$n"; done || true)
[ -z "$bad" ] || fail "public headers included without the mtp/ prefix: $bad"

only_in() { # only_in PATTERN ALLOWED-FILES...: the files of src/ and tools/ that match PATTERN
    local pattern=$1
    shift
    local found
    found=$(grep -rlE "$pattern" src include tools --include='*.c' --include='*.h' | sort)
    local allowed
    allowed=$(printf '%s\n' "$@" | sort)
    [ "$found" = "$allowed" ] || fail "'$pattern' is included by: $(echo $found) (allowed: $*)"
}
only_in '#include <hdf5(_hl)?\.h>' src/h5bundle.c src/h5read.c src/h5util.h src/preview.c
only_in '#include "h5util\.h"' src/h5bundle.c src/h5read.c src/h5util.c src/preview.c
only_in '#include <curl/curl\.h>' src/boss.c
echo "boundaries: HDF5 in h5util/h5bundle/h5read/preview, libcurl in boss only"
echo "ok"
