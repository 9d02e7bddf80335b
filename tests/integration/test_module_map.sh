#!/usr/bin/env bash
# src/README.md maps every module of src/ (and of include/mtp/), the public headers live only
# under include/mtp/ (src/ keeps only the private h5util.h), and the foreign libraries stay
# behind their boundaries: HDF5 in h5util, h5write, h5bundle, h5volumes, h5read, h5check and
# preview; libcurl in boss_transport.h (included by boss and boss_meta), zenodo and net;
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
# Headers in src/ are private to the library: none may also be public, and tools/ (built
# without src/ on the include path) must not include one.
for h in src/*.h; do
    n=${h#src/}
    [ ! -e "include/mtp/$n" ] || fail "$n is both private (src/) and public (include/mtp/)"
    ! grep -rqE "#include \"$n\"" tools || fail "tools/ includes the private header $n"
done
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
only_in '#include <hdf5(_hl)?\.h>' src/h5bundle.c src/h5check.c src/h5read.c src/h5read_internal.h \
    src/h5util.h src/h5volumes.c src/h5write.c src/h5write.h src/preview.c
only_in '#include "h5util\.h"' src/h5check.c src/h5read.c src/h5util.c src/h5write.h src/preview.c
only_in '#include <curl/curl\.h>' src/boss_transport.h src/net.c src/zenodo.c
only_in '#include "boss_transport\.h"' src/boss.c src/boss_meta.c
echo "boundaries: HDF5 in h5util/h5write/h5bundle/h5volumes/h5read/h5check/preview, libcurl in boss_transport.h (boss, boss_meta), zenodo and net"

# src/FORMAT.md states the format names, versions and the block layout the code uses.
fmt=src/FORMAT.md
value() { sed -n "s/^#define $1 \(.*\)$/\1/p" "$2" | head -1; }
for pair in "MTP_BUNDLE_FORMAT include/mtp/h5bundle.h" "MTP_VOLUMES_FORMAT include/mtp/h5bundle.h" \
    "MTP_RELEASE_FORMAT include/mtp/release.h"; do
    set -- $pair
    v=$(value "$1" "$2" | tr -d '"')
    [ -n "$v" ] && grep -qF "\`$v\`" "$fmt" || fail "$fmt does not name $1 ($v)"
done
v=$(value MTP_BUNDLE_FORMAT_VERSION include/mtp/h5bundle.h)
grep -qF "\`mtneuro-bundle\` $v" "$fmt" || fail "$fmt: bundle format version is not $v"
v=$(value MTP_RELEASE_MANIFEST_VERSION include/mtp/release.h)
grep -qF "(manifest_version $v)" "$fmt" || fail "$fmt: manifest version is not $v"
magic=$(value BLK2_MAGIC src/cache.c | tr -d '"' | sed 's/\\n$//')
header=$(value BLK2_HEADER src/cache.c)
grep -qF "\"$magic\\n\"" "$fmt" || fail "$fmt: block magic is not $magic"
grep -qE "^\| $header \| … \| one blosc1 chunk" "$fmt" || fail "$fmt: block payload does not start at $header"
echo "format spec: names, versions and the block layout agree with the code"
echo "ok"
