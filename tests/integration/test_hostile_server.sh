#!/usr/bin/env bash
# A server that misbehaves on purpose: it repeats the token in its errors and in a
# redirect's Location, answers 204, 206, a 256 KiB header, or stalls. The client says what
# happened in one line, never shows the token, gives up on a stalled block within
# source.timeout_s, and refuses to send a token over plain http to another machine.
source "$(dirname "$0")/fetchlib.sh"

SECRET="s3cr3t-$$-token"
export HOSTILE_TOKEN="$SECRET"
# One task and a short z range: a handful of blocks; one try per block, fast backoff.
$PY "$HELPER" edit-config "$DEMO" "$TMP/small.yaml" 'z=[110, 128]' \
    'splits={train: [110, 120], val: [120, 124], test: [124, 128]}' \
    source.retries=1 source.backoff_ms=10 source.backoff_max_ms=20 source.token_env=HOSTILE_TOKEN
$PY - "$TMP/small.yaml" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["tasks"] = {"task1": cfg["tasks"]["task1"]}
cfg["source"].pop("token", None)
yaml.safe_dump(cfg, open(sys.argv[1], "w"), sort_keys=False, width=100)
PY

# The token must appear in no output, file or log of the run.
no_secret() {
    local where
    for where in "$TMP/out" "$TMP/err" "$TMP/cache" "$TMP/release" "$TMP"/mock*.log; do
        [ -e "$where" ] || continue
        if grep -r -q -a -F "$SECRET" "$where"; then
            fail "$1: the token appears in $where"
        fi
    done
}

# run_expect WHAT STATUS REGEX COMMAND...: exit STATUS, and stderr's one line matches REGEX.
run_expect() {
    local what=$1 want=$2 regex=$3
    shift 3
    rm -rf "$TMP/cache" "$TMP/release"
    set +e
    "$@" >"$TMP/out" 2>"$TMP/err"
    local status=$?
    set -e
    assert_eq "$what: exit status" "$want" "$status"
    assert_eq "$what: lines on stderr" 1 "$(grep -vc '^retry ' "$TMP/err")"
    grep -v '^retry ' "$TMP/err" | grep -qE "$regex" ||
        fail "$what: stderr does not match /$regex/: $(cat "$TMP/err")"
    no_secret "$what"
    echo "  $what: $(grep -v '^retry ' "$TMP/err" | cut -c1-200)"
}

fetch() { "$PACK" fetch "$TMP/small.yaml" --cache "$TMP/cache" --source-url "$MOCK_URL" "$@"; }

# A wrong token, echoed back by the server in its message and a header.
start_mock "$TMP/mock-echo.log" --echo-token
run_expect "token echoed in a 403" 1 \
    '^mtneuro-pack: GET http://127\.0\.0\.1:[0-9]+/v1/collection/prasad/experiment/prasad2020/: 403 \(code 3000\): Invalid Token \*+$' \
    fetch --quiet
run_expect "token echoed, build" 1 'Invalid Token \*+$' \
    "$PACK" build "$TMP/small.yaml" --cache "$TMP/cache" --source-url "$MOCK_URL" --out "$TMP/release" --quiet
stop_mock

# Answers that are not a cutout; the right token, so that the metadata passes.
hostile() {
    local kind=$1 regex=$2
    start_mock "$TMP/mock-$kind.log" --token "$SECRET" --fail-rate 1 --fail-kinds "$kind"
    run_expect "$kind" 1 "$regex" fetch --quiet
    stop_mock
}
BLOCK='prasad2020/image x\[[0-9]+,[0-9]+\) y\[[0-9]+,[0-9]+\) z\[[0-9]+,[0-9]+\)'
CUT='GET http://127\.0\.0\.1:[0-9]+/v1/cutout/prasad/prasad2020/image/0/[0-9:/]+\?access-mode=no-cache'
hostile redirect "^mtneuro-pack: $BLOCK: $CUT: the server redirected \(302\) to http://127\.0\.0\.2:9/moved/v1/cutout/prasad/prasad2020/image/0/[0-9:/]+; redirects are not followed$"
grep -q 'token=' "$TMP/err" && fail "redirect: the Location's query was shown"
hostile 204 "^mtneuro-pack: $BLOCK: $CUT: unexpected HTTP status 204 \(No Content\)$"
hostile 206 "^mtneuro-pack: $BLOCK: $CUT: unexpected HTTP status 206 \(Partial Content\)$"
hostile bigheader "^mtneuro-pack: $BLOCK: giving up after 1 retries: response headers larger than 64 KiB \(or a single header over libcurl's 100 KiB limit\)$"

# A server that stalls every body: each block gives up within source.timeout_s (4 s here).
$PY "$HELPER" edit-config "$TMP/small.yaml" "$TMP/stall.yaml" source.timeout_s=4 source.retries=8
start_mock "$TMP/mock-stall.log" --token "$SECRET" --fail-rate 1 --fail-kinds slow --slow-ms 60000
t0=$(date +%s%N)
run_expect "stalled server" 1 \
    "^mtneuro-pack: $BLOCK: no answer within source\.timeout_s = 4 s \([0-9]+ attempts\): timed out: " \
    "$PACK" fetch "$TMP/stall.yaml" --cache "$TMP/cache" --source-url "$MOCK_URL" --quiet
elapsed_ms=$((($(date +%s%N) - t0) / 1000000))
[ "$elapsed_ms" -lt 7000 ] || fail "stalled server: gave up after $elapsed_ms ms, over 4 s + 3 s"
echo "  stalled server: gave up after $elapsed_ms ms"
stop_mock

# A token over plain http to another machine: refused before anything is sent.
run_expect "plain http to another host" 2 \
    '^mtneuro-pack: http://example\.invalid: refusing to send a token over plain http to a host that is not this machine \(use https, or the public token\)$' \
    "$PACK" fetch "$TMP/small.yaml" --cache "$TMP/cache" --source-url http://example.invalid
# ... but the public token may go anywhere (here: nowhere to go, so a network error).
echo "ok"
