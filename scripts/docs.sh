#!/usr/bin/env bash
# Builds the DocC catalog of the Collectives library (Sources/Collectives/Collectives.docc and
# every `///` comment of its public API) and fails on any warning: a broken symbol link, an
# ambiguous one, an undocumented parameter of a documented function. The archive lands in
# .build/plugins/Swift-DocC/outputs/Collectives.doccarchive (open it with `xcrun docc preview`
# on a Mac, or serve it with `swift package --disable-sandbox preview-documentation --target Collectives`).
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --disable-sandbox generate-documentation --target Collectives --warnings-as-errors
