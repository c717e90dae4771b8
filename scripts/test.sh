#!/usr/bin/env bash
# The tests, in two tiers (a third, scripts/soak.sh, is run by hand before a release):
#
#   bash scripts/test.sh          the full tier, README's and CI's command: sets up, builds in
#                                 release (the large checks need optimized code), then the
#                                 late-rank scenario under AddressSanitizer's runtime, every test
#                                 (unit, in-process, TCP ranks as threads, property-based, real
#                                 processes, emulated hosts, mpirun, Slurm) with the membership
#                                 model (spin) beside them, the in-process and TCP-thread suites
#                                 under ThreadSanitizer, and the DocC catalog, which must have no
#                                 warning.
#   bash scripts/test.sh --fast   the edit-test loop: unit, in-process, property-based and TCP-thread
#                                 tests, and one process run per transport (under 3 minutes
#                                 after the build on 2 cores).
#
# Random tests print their seed; COLLECTIVES_TEST_SEED=N replays one.
set -euo pipefail
cd "$(dirname "$0")/.."
tier=full
case "${1:-}" in
    --fast) tier=fast ;;
    "") ;;
    *) echo "usage: bash scripts/test.sh [--fast]" >&2; exit 2 ;;
esac
bash scripts/setup.sh --for-tests
swift build -c release --build-tests
# The C interface's shared library, which the C program of the tests links against.
swift build -c release --product SwiftCollectivesC
if [ "$tier" = fast ]; then
    swift test -c release --skip-build --skip "MultiProcessTests\."
    swift test -c release --skip-build --filter "QuickProcessTests"
    exit
fi
# The PyTorch backend over that library, in .build-torch/venv (TorchBackendTests).
bash scripts/torch-env.sh
# A failed call must never write into the caller's buffer afterwards: checked under AddressSanitizer.
bash scripts/asan-check.sh
# The membership protocol's model (today's must pass exhaustively, the old one must fail) runs on
# one core beside the tests, which leave about a core idle while their ranks wait on each other.
models_log=$(mktemp "${TMPDIR:-/tmp}/check-models.XXXXXX")
bash scripts/check-models.sh > "$models_log" 2>&1 &
models=$!
tests_status=0
swift test -c release --skip-build || tests_status=$?
models_status=0
wait "$models" || models_status=$?
cat "$models_log"
rm -f "$models_log"
[ "$tests_status" = 0 ] && [ "$models_status" = 0 ] || exit 1
# The threads of one process (in-process ranks, TCP ranks as threads) race-free under ThreadSanitizer.
bash scripts/tsan-check.sh
# The documentation builds without a warning.
bash scripts/docs.sh
