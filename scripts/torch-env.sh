#!/usr/bin/env bash
# The Python environment of the PyTorch backend's tests and benchmarks: .build-torch/venv with
# torch (the CPU wheel on disk when there is one for this Python, else PyPI's), numpy and ninja,
# and the backend itself (pip install ./python) over the Swift library already built in
# .build/release (swift build -c release --product SwiftCollectivesC). The extension is rebuilt
# only when its sources change; the Swift library is copied in every time.
#
#   bash scripts/torch-env.sh            make or refresh it; prints the environment's python
#
# COLLECTIVES_PYTHON chooses the interpreter (python3 by default); COLLECTIVES_TORCH_WHEEL a wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.build-torch/venv
python=${COLLECTIVES_PYTHON:-python3}
library=$root/.build/release/libSwiftCollectivesC.so
[ -f "$library" ] || { echo "torch-env: no $library: swift build -c release --product SwiftCollectivesC" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || { echo "torch-env: $python -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    tag=$("$venv/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    wheel=${COLLECTIVES_TORCH_WHEEL:-$(ls /opt/wheels/torch-2.13.0+cpu-"$tag"-*.whl 2>/dev/null | head -1 || true)}
    echo "torch-env: installing ${wheel:-torch from PyPI} with numpy and ninja"
    "${pip[@]}" install ${wheel:-torch} numpy ninja
fi

# Rebuild the extension when its sources or the header changed.
stamp=$root/.build-torch/extension.sha256
sources=$(cat python/setup.py python/pyproject.toml python/build_backend.py python/csrc/* python/swift_collectives/*.py include/collectives.h | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sources" ] || ! "$venv/bin/python" -c "import swift_collectives" >/dev/null 2>&1; then
    echo "torch-env: building the backend (pip install ./python)"
    COLLECTIVES_LIBRARY_DIR=$root/.build/release "${pip[@]}" install ./python
    echo "$sources" > "$stamp"
fi
installed=$("$venv/bin/python" -c 'import os, importlib.util; print(os.path.dirname(importlib.util.find_spec("swift_collectives").origin))')
# Copied beside, then renamed over: a process still running the old one keeps its copy.
cp "$library" "$installed/lib/.libSwiftCollectivesC.so.new"
mv -f "$installed/lib/.libSwiftCollectivesC.so.new" "$installed/lib/libSwiftCollectivesC.so"
echo "$venv/bin/python"
