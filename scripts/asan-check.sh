#!/usr/bin/env bash
# Builds collectives-check with AddressSanitizer and runs the late-rank scenario of docs/errors.md
# over TCP and shared memory: each rank's all-reduce fails (rank 0 times out, rank 1 arrives
# three timeouts late and finds rank 0 gone), each rank frees its buffer and waits while the other
# rank's data could still arrive, then checks that the next call fails with the same error.
# A write into a freed buffer stops the rank with an AddressSanitizer report and fails the check.
#
#   bash scripts/asan-check.sh
#
# The instrumented build goes to .build-asan (debug; about as long as a first build).
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-asan
swift build -c debug --scratch-path "$scratch" -Xswiftc -sanitize=address --product collectives-check > "$scratch.log" 2>&1 \
    || { tail -50 "$scratch.log"; exit 1; }
swift build -c debug --scratch-path "$scratch" --product collectives-run >> "$scratch.log" 2>&1 \
    || { tail -50 "$scratch.log"; exit 1; }
bin="$scratch/debug"
passed=0 failed=0
for transport in tcp shm; do
    output=$(ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 COLLECTIVES_TIMEOUT=2 COLLECTIVES_TRANSPORT=$transport \
        timeout -k 5 120 "$bin/collectives-run" -n 2 -- "$bin/collectives-check" --mismatch late 2>&1) && status=0 || status=$?
    if [ "$status" = 0 ] && ! grep -q "AddressSanitizer" <<< "$output" \
        && [ "$(grep -c 'barrier failed in .* with the same error' <<< "$output")" = 2 ]; then
        echo "asan-check: $transport: no write after the failed call, later calls fail with the same error"
        passed=$((passed + 1))
    else
        echo "asan-check: $transport: FAILED (status $status)"
        echo "$output"
        failed=$((failed + 1))
    fi
done
[ "$failed" = 0 ]
