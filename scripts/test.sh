#!/usr/bin/env bash
# Sets up and runs every test: unit, in-process ranks, TCP ranks as threads, and real processes
# started by collectives-run. Release mode: the large all-reduce checks need optimized code.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --build-tests
swift test -c release --skip-build
