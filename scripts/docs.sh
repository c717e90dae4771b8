#!/usr/bin/env bash
# Builds the DocC catalog of the Collectives library (Sources/Collectives/Collectives.docc and
# every `///` comment of its public API) and fails on any warning: a broken symbol link, an
# ambiguous one, an undocumented parameter of a documented function.
#
#   bash scripts/docs.sh
#
# The symbols come from the release build's module (swift-symbolgraph-extract, seconds), not from
# a debug build of their own as `swift package generate-documentation` would make (minutes);
# the release build is made first if it is not there. The archive lands in
# .build/documentation/Collectives.doccarchive (serve it with any static web server, or open it
# with `xcrun docc preview` on a Mac).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product Collectives > /dev/null
build=$(swift build -c release --show-bin-path)
work=$(mktemp -d "${TMPDIR:-/tmp}/collectives-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The C modules the library's Swift modules import.
clang_args=()
for map in "$build"/*.build/module.modulemap Sources/*/module.modulemap; do
    [ -f "$map" ] && clang_args+=(-Xcc "-fmodule-map-file=$map")
done
for include in Sources/*/include; do clang_args+=(-Xcc "-I$include"); done
swift-symbolgraph-extract -module-name Collectives -I "$build/Modules" "${clang_args[@]}" \
    -target "$(uname -m)-unknown-linux-gnu" -minimum-access-level public -emit-extension-block-symbols \
    -skip-inherited-docs -output-dir "$work"
mkdir -p .build/documentation
docc convert Sources/Collectives/Collectives.docc --additional-symbol-graph-dir "$work" \
    --fallback-display-name Collectives --fallback-bundle-identifier Collectives \
    --output-path .build/documentation/Collectives.doccarchive --warnings-as-errors
echo "docs: no warning; .build/documentation/Collectives.doccarchive"
