#!/usr/bin/env bash
# The long tier, run by hand before a release (the test suite's tiers are scripts/test.sh and
# scripts/test.sh --fast). Each part is bounded: killed after LIMIT seconds (default 1800).
#
#   1. 16 ranks on this host, every collective and algorithm, over shared memory and TCP.
#   2. Messages over 2 GiB: an all-reduce, a broadcast and an all-gather of 2^29 + 7 float32
#      (2 GiB + 28 bytes) between 2 ranks, checked element by element (about 12 GiB of memory).
#   3. The fuzz and cycle soaks: FRAMES random, truncated, malformed and wrongly tagged frames
#      against a live store and a rank's data port with 2,000 silent connections during
#      bootstrap, then CYCLES communicator create/use/close cycles in one process per transport.
#   4. The property-based collectives tests with CASES random cases (default 20,000).
#
#   FRAMES=1000000 CYCLES=10000 CASES=20000 bash scripts/soak.sh
#
# Needs a release build with tests (bash scripts/test.sh makes one). Random parts print their seed;
# COLLECTIVES_TEST_SEED=N replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
FRAMES="${FRAMES:-1000000}"
CYCLES="${CYCLES:-10000}"
CASES="${CASES:-20000}"
LIMIT="${LIMIT:-1800}"
swift build -c release --build-tests
bin=.build/release
for transport in shm tcp; do
    echo "soak: 16 ranks over $transport"
    COLLECTIVES_TIMEOUT=300 COLLECTIVES_TRANSPORT=$transport timeout -k 10 "$LIMIT" \
        $bin/collectives-run -n 16 -- $bin/collectives-check --collectives all \
        --algorithms ring tree recursive-doubling hierarchical auto --counts 0 1 15 17 1001 1048583 \
        --types float32 bfloat16 int64 --ops sum max --out-of-place
done
echo "soak: messages over 2 GiB"
COLLECTIVES_TIMEOUT=600 timeout -k 10 "$LIMIT" \
    $bin/collectives-run -n 2 -- $bin/collectives-check --collectives all-reduce broadcast all-gather \
    --counts 536870919 --types float32 --ops sum
COLLECTIVES_FUZZ_FRAMES="$FRAMES" timeout -k 10 "$LIMIT" \
    swift test -c release --skip-build --filter fuzzAndSilentConnectionsDuringBootstrap
for transport in tcp shm; do
    timeout -k 10 "$LIMIT" $bin/collectives-check --cycles "$CYCLES" --cycle-transport "$transport"
done
COLLECTIVES_PROPERTY_CASES="$CASES" timeout -k 10 "$LIMIT" \
    swift test -c release --skip-build --filter "CollectivesPropertyTests"
echo "soak: done"
