#!/usr/bin/env bash
# A longer fuzz and soak run than the test suite's (which sends 100,000 store frames and makes
# 1,000 communicator cycles): FRAMES random, truncated, malformed and wrongly tagged frames against
# a live store and a rank's data port with 2,000 silent connections during bootstrap, then CYCLES
# communicator create/use/close cycles in one process. Bounded: each part is killed after
# LIMIT seconds (default 1800). Needs a release build with tests (bash scripts/test.sh makes one).
#   FRAMES=1000000 CYCLES=10000 bash scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES="${FRAMES:-1000000}"
CYCLES="${CYCLES:-10000}"
LIMIT="${LIMIT:-1800}"
swift build -c release --build-tests
COLLECTIVES_FUZZ_FRAMES="$FRAMES" timeout -k 10 "$LIMIT" \
    swift test -c release --skip-build --filter fuzzAndSilentConnectionsDuringBootstrap
for transport in tcp shm; do
    timeout -k 10 "$LIMIT" .build/release/collectives-check --cycles "$CYCLES" --cycle-transport "$transport"
done
