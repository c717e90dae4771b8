#!/usr/bin/env bash
# The main job: install what is missing, build in release, and train an MLP on Fashion-MNIST
# with 4 local ranks that all-reduce their gradients (no parameter server).
# Extra arguments go to mnist-train, for example: bash scripts/demo.sh --epochs 3 --no-overlap
# RANKS=2 bash scripts/demo.sh runs 2 ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-data
swift build -c release --product collectives-run
swift build -c release --product mnist-train
bin="$(swift build -c release --show-bin-path)"
exec "$bin/collectives-run" -n "${RANKS:-4}" -- "$bin/mnist-train" "$@"
