#!/usr/bin/env bash
# Sets up and runs every test: unit, in-process ranks, TCP ranks as threads, real processes
# started by collectives-run, and the late-rank scenario under AddressSanitizer; then builds the
# DocC catalog, which must have no warnings. Release mode: the large all-reduce checks need
# optimized code.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests
swift build -c release --build-tests
# A failed call must never write into the caller's buffer afterwards: checked under AddressSanitizer.
bash scripts/asan-check.sh
swift test -c release --skip-build
# The documentation builds without a warning.
bash scripts/docs.sh
