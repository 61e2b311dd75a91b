#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz (libFuzzer), installing cargo-fuzz if it is missing.
#
#   fuzz/run.sh list                 the targets
#   fuzz/run.sh seed                 write the seed corpus from the vectors and example records
#   fuzz/run.sh smoke [SECONDS]      every target SECONDS each (default 10), seeded
#   fuzz/run.sh ci [SECONDS]         the protocol targets SECONDS each (default 5), unseeded:
#                                    what CI runs (they need no daemon or CLI build)
#   fuzz/run.sh all [SECONDS]        every target SECONDS each (default 600): the long run
#   fuzz/run.sh run TARGET [SECONDS] [-- LIBFUZZER ARGS...]   one target (default 600 s)
#
# A crash stops the run with a non-zero status; libFuzzer prints the input and cargo-fuzz
# saves it under fuzz/artifacts/TARGET/ (`cargo fuzz tmin TARGET FILE` minimises it). Keep
# each one as a regression test in the crate whose decoder crashed.
set -euo pipefail
cd "$(dirname "$0")"

# cargo-fuzz passes -Z flags (sanitizers, coverage instrumentation) that only nightly
# compilers accept; RUSTC_BOOTSTRAP lets the pinned stable toolchain take them. It is set for
# these builds only, never for the workspace.
export RUSTC_BOOTSTRAP=1
CARGO_FUZZ_VERSION=0.13.2
# cargo-fuzz flags for the protocol targets: without the node feature, so their build leaves
# out the daemon and the CLI; AddressSanitizer on, as by default.
PROTOCOL_FLAGS=(--no-default-features)
# The node targets link the daemon, whose jemalloc takes the place of the C allocator in every
# program that links it (SQLite's allocations included). AddressSanitizer must take that place
# too, and a program holding both crashes before its first input. So the node targets run
# without a sanitizer, built in a directory of their own: they parse in safe Rust, where a
# wrong index panics anyway, and libFuzzer still reports every panic.
NODE_FLAGS=(-s none --target-dir target/no-sanitizer)

# The protocol targets link the protocol crate only; the node targets also the daemon and CLI.
PROTOCOL_TARGETS=(
    frame frame_sequence peer_message peer_reply staff_request staff_reply sealed_summary
    roster_bytes roster_toml note checkpoint cosignature witness_request
    tile_path merkle_proof entry_bundle log_entry key_file audit_bundle
)
NODE_TARGETS=(node_config credential records_csv records_json)
TARGETS=("${PROTOCOL_TARGETS[@]}" "${NODE_TARGETS[@]}")

setup() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    fi
}

seed() {
    echo "== seed corpus"
    cargo run --quiet --locked --example seed -- corpus
}

build() {
    setup
    echo "== build"
    cargo fuzz build "${PROTOCOL_FLAGS[@]}"
    for t in "${NODE_TARGETS[@]}"; do
        cargo fuzz build "${NODE_FLAGS[@]}" "$t"
    done
}

# Prints the cargo-fuzz flags of target $1, one per line.
flags_of() {
    local t
    for t in "${NODE_TARGETS[@]}"; do
        if [[ $t == "$1" ]]; then
            printf '%s\n' "${NODE_FLAGS[@]}"
            return
        fi
    done
    printf '%s\n' "${PROTOCOL_FLAGS[@]}"
}

# One target for $2 seconds; prints a line `target: N runs in S s` for the summary.
run_one() {
    local target=$1 seconds=$2
    shift 2
    local log
    log=$(mktemp)
    local flags
    mapfile -t flags < <(flags_of "$target")
    echo "== $target ($seconds s)"
    if ! cargo fuzz run "${flags[@]}" "$target" -- -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 "$@" >"$log" 2>&1; then
        tail -n 60 "$log"
        rm -f "$log"
        echo "fuzz target $target failed: see the input saved under fuzz/artifacts/$target/" >&2
        return 1
    fi
    local runs
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log")
    rm -f "$log"
    SUMMARY+=("$target: ${runs:-no count}")
}

every() {
    local seconds=$1
    SUMMARY=()
    seed
    build
    for t in "${TARGETS[@]}"; do
        run_one "$t" "$seconds"
    done
    echo "== summary"
    printf '%s\n' "${SUMMARY[@]}"
}

# CI: the protocol targets, from an empty corpus (libFuzzer starts from scratch), without
# building the daemon and the CLI under the sanitizer.
ci() {
    local seconds=$1
    SUMMARY=()
    setup
    # The lock file must follow the workspace (the seeder and the long runs use --locked).
    cargo metadata --locked --format-version 1 >/dev/null
    echo "== build (protocol targets)"
    cargo fuzz build "${PROTOCOL_FLAGS[@]}"
    for t in "${PROTOCOL_TARGETS[@]}"; do
        run_one "$t" "$seconds"
    done
    echo "== summary"
    printf '%s\n' "${SUMMARY[@]}"
}

case "${1:-}" in
list) printf '%s\n' "${TARGETS[@]}" ;;
setup) setup ;;
seed) seed ;;
build) build ;;
smoke) every "${2:-10}" ;;
ci) ci "${2:-5}" ;;
all) every "${2:-600}" ;;
run)
    target=${2:?usage: fuzz/run.sh run TARGET [SECONDS] [-- LIBFUZZER ARGS...]}
    seconds=${3:-600}
    shift $(($# < 3 ? $# : 3))
    [[ ${1:-} == -- ]] && shift
    SUMMARY=()
    seed
    build
    run_one "$target" "$seconds" "$@"
    printf '%s\n' "${SUMMARY[@]}"
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
