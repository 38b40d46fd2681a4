#!/usr/bin/env bash
# Fuzzes, for a bounded time each, the Rust layer unpacker (cargo fuzz targets
# unpack_bytes: arbitrary bytes as a layer; unpack_tar: a tar built from
# fuzzer-chosen entries, plain/gzip/zstd) and the Dockerfile parser (atheris,
# benches/fuzz_dockerfile.py). Not part of CI or pytest; see benches/RESULTS.md.
#
#   benches/fuzz.sh [--time SECONDS] [--targets unpack_bytes,unpack_tar,dockerfile]
#                   [--sanitizer none|address]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`; stable rustc takes its -Z flags
# with RUSTC_BOOTSTRAP=1, set here) and atheris in $PYTHON's environment
# (default .venv/bin/python). Run as root: the unpack targets then fuzz in a
# mount namespace where everything but a tmpfs and libFuzzer's directories is
# read-only (fuzz/src/lib.rs). Corpora grow in fuzz/corpus/<target>, crashes
# and findings land in fuzz/artifacts/<target>, logs in fuzz/logs. Prints what
# each run did and found; exits 1 when anything was found.
set -u

TIME=300
TARGETS="unpack_bytes unpack_tar dockerfile"
SANITIZER=none
usage() { sed -n '2,/^set -u/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -u/d'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --time) TIME="${2:?--time needs seconds}"; shift 2 ;;
        --time=*) TIME="${1#*=}"; shift ;;
        --targets) TARGETS="${2//,/ }"; shift 2 ;;
        --targets=*) TARGETS="${1#*=}"; TARGETS="${TARGETS//,/ }"; shift ;;
        --sanitizer) SANITIZER="$2"; shift 2 ;;
        --sanitizer=*) SANITIZER="${1#*=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$TIME" in ''|*[!0-9]*) echo "fuzz.sh: --time takes whole seconds, not '$TIME'" >&2; exit 2 ;; esac

cd "$(dirname "$0")/.." || exit 2
ROOT="$PWD"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
export RUSTC_BOOTSTRAP=1
mkdir -p fuzz/logs
STAMP="$(date +%Y%m%d-%H%M%S)"
found=0
summary=()

rust_targets=""
for t in $TARGETS; do
    case "$t" in
        unpack_bytes|unpack_tar) rust_targets="$rust_targets $t" ;;
        dockerfile) ;;
        *) echo "fuzz.sh: unknown target '$t' (unpack_bytes, unpack_tar, dockerfile)" >&2; exit 2 ;;
    esac
done
if [ -n "$rust_targets" ]; then
    echo "== building the fuzz targets (cargo fuzz build -s $SANITIZER)"
    nice -n 10 cargo fuzz build -s "$SANITIZER" || exit 2
fi

for t in $TARGETS; do
    corpus="fuzz/corpus/$t"
    artifacts="$ROOT/fuzz/artifacts/$t/"
    log="fuzz/logs/$t-$STAMP.log"
    mkdir -p "$corpus" "$artifacts"
    marker="$(mktemp)"
    seeds=()
    [ -d "fuzz/seeds/$t" ] && seeds=("fuzz/seeds/$t")
    if [ "$t" = unpack_bytes ] && [ ! -e "$corpus/plain.tar" ]; then
        gzip -dc fuzz/seeds/unpack_bytes/seed.tar.gz > "$corpus/plain.tar"
    fi
    common=(-max_total_time="$TIME" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
            -artifact_prefix="$artifacts")
    echo "== $t: ${TIME} s, log in $log"
    start=$(date +%s)
    case "$t" in
        unpack_bytes|unpack_tar)
            # unpack_bytes: room for a few entries of seed-sized tars; unpack_tar: the
            # whole length from the start (libFuzzer's slow growth kept it at 1-3 entries).
            shape=(-max_len=16384)
            [ "$t" = unpack_tar ] && shape=(-max_len=4096 -len_control=0)
            nice -n 10 timeout $((TIME + 300)) cargo fuzz run -s "$SANITIZER" "$t" "$corpus" "${seeds[@]}" -- \
                "${common[@]}" "${shape[@]}" > "$log" 2>&1
            rc=$? ;;
        dockerfile)
            PYTHONPATH="$ROOT/python" nice -n 10 timeout $((TIME + 300)) "$PYTHON" benches/fuzz_dockerfile.py \
                "$corpus" "${seeds[@]}" "${common[@]}" -max_len=4096 -dict=fuzz/dockerfile.dict > "$log" 2>&1
            rc=$? ;;
    esac
    secs=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<< "$last")
    new=$(find "$artifacts" -type f -newer "$marker" ! -name '*.txt' | sort)
    rm -f "$marker"
    status="nothing found"
    if [ "$rc" -ne 0 ] || [ -n "$new" ]; then
        found=1
        status="FOUND (libFuzzer exit $rc)"
        grep -E '^(==== FINDING|SUMMARY|thread .* panicked|==[0-9]+== ?ERROR|ALARM|.*Test unit written to)' "$log" | head -20
        for f in $new; do echo "   input: $f"; done
    fi
    line="$t: ${secs} s, ${execs:-?} executions, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?} (entries/bytes): $status"
    echo "== $line"
    summary+=("$line")
done

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%MZ), --time $TIME, sanitizer $SANITIZER)"
printf '   %s\n' "${summary[@]}"
exit "$found"
