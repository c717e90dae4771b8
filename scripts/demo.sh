#!/usr/bin/env bash
# The main job: build in release, then start 4 local ranks that check all-reduce results and
# measure all-reduce bandwidth from 8 B to 64 MiB (nccl-tests style table).
# Extra arguments go to collectives-bench, for example: bash scripts/demo.sh -b 1M -e 256M
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product collectives-run
swift build -c release --product collectives-bench
swift build -c release --product collectives-check
bin="$(swift build -c release --show-bin-path)"
ranks="${RANKS:-4}"
echo "== $ranks ranks: checking all-reduce of every type and operation against a sequential reference"
"$bin/collectives-run" -n "$ranks" -- "$bin/collectives-check" --counts 0 1 3 1000 1048583
echo "== $ranks ranks: all-reduce benchmark"
"$bin/collectives-run" -n "$ranks" -- "$bin/collectives-bench" -b 8 -e 64M -f 4 "$@"
