#!/usr/bin/env bash
# Runs the tests whose ranks are threads of one process (in-process transports, TCP ranks as
# threads over loopback, the elastic membership tests, 120 property cases) under ThreadSanitizer: any data race they
# hit stops the run with a report. Release mode with -sanitize=thread, in its own build folder.
#
#   bash scripts/tsan-check.sh
#
# Suppressions, each with the reason it is not a race, are in scripts/tsan-suppressions.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=.build-tsan
# The suites whose ranks are threads that wait on each other: transports (conformance, failures,
# authentication, shared memory), stores, communicators over TCP and in process (reliability,
# elastic membership, metrics, the property cases over all four transports). The kernels and the
# exhaustive in-process sweeps are single-threaded per rank and take too long under the sanitizer.
suites="TransportConformanceTests|TransportFailureTests|FrameAuthenticationTests|SharedMemoryTests|HandshakeTests|StoreTests|TCPCommunicatorTests|ReliabilityTests|ElasticMembershipTests|MetricsTests|CollectivesPropertyTests|FlightRecorderTests"
swift build -c release --scratch-path "$scratch" --sanitize thread --build-tests > "$scratch.log" 2>&1 \
    || { tail -50 "$scratch.log"; exit 1; }
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
# The sanitizer's report is what matters; Swift's own backtracer would hang on its exit.
export SWIFT_BACKTRACE=enable=no
# The largest in-process counts are scaled down (COLLECTIVES_TEST_SCALE): the sanitizer makes
# every access about ten times slower, and races do not need 2^20 elements to show.
COLLECTIVES_TEST_SCALE=small COLLECTIVES_PROPERTY_CASES=${COLLECTIVES_PROPERTY_CASES:-30} timeout -k 10 900 swift test -c release --scratch-path "$scratch" --sanitize thread --skip-build --filter "$suites"
echo "tsan-check: no data race reported"
