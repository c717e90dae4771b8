#!/usr/bin/env bash
# Runs the late-rank scenario of docs/errors.md under AddressSanitizer, over TCP and shared
# memory: each rank's all-reduce fails (rank 0 times out, rank 1 arrives three timeouts late and
# finds rank 0 gone), each rank frees its buffer and keeps its transport's progress engine moving
# while the other rank's data arrives, then checks that the next call fails with the same error.
# A write into the freed buffer stops the rank with an AddressSanitizer report and fails the check.
#
#   bash scripts/asan-check.sh
#
# The release build runs with the AddressSanitizer runtime preloaded (LD_PRELOAD), which poisons
# freed memory and checks every write that goes through memcpy, memmove, memset or a receive
# system call: every path by which a transport puts bytes into a caller's buffer (shared-memory
# copies, TCP's recvmsg, in-memory verbs completions). Plain stores of uninstrumented code are not
# checked, which an instrumented build would add at the price of a build of its own (minutes):
# with a failed receive left queued, this check reports the shared-memory copy into the freed
# buffer as heap-use-after-free (tried when it was written).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product collectives-check > /dev/null
swift build -c release --product collectives-run > /dev/null
bin=$(swift build -c release --show-bin-path)
toolchain=$(dirname "$(readlink -f "$(command -v swift)")")/..
runtime=$(ls "$toolchain"/lib/clang/*/lib/linux/libclang_rt.asan-"$(uname -m)".so 2>/dev/null | head -1)
if [ -z "$runtime" ]; then
    echo "asan-check: no AddressSanitizer runtime (libclang_rt.asan-$(uname -m).so) under $toolchain/lib/clang" >&2
    exit 1
fi
# The runtime must really be loaded, or every run below would pass without a check.
loaded=$(LD_PRELOAD="$runtime" ASAN_OPTIONS=verbosity=1 "$bin/collectives-run" --version 2>&1 || true)
if ! grep -q "AddressSanitizer: libc interceptors initialized" <<< "$loaded"; then
    echo "asan-check: $runtime did not load into $bin/collectives-run" >&2
    exit 1
fi
passed=0 failed=0
for transport in tcp shm; do
    output=$(LD_PRELOAD="$runtime" ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 COLLECTIVES_TIMEOUT=2 COLLECTIVES_TRANSPORT=$transport \
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
