#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, when they are missing.
# Swift itself (6.1 or later) must be on PATH: see README.md.
set -euo pipefail
packages=()
for tool in timeout:coreutils; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || packages+=("${tool##*:}")
done
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH; install Swift 6.1 or later (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}"
fi
