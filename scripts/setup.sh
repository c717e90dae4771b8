#!/usr/bin/env bash
# Installs the Debian packages the build needs when they are missing: OpenBLAS and zlib (with
# pkg-config to find them), and the RDMA verbs header (libibverbs-dev; the library itself is
# loaded at run time when present, so builds without it still work, without verbs support).
# With --with-data, also Fashion-MNIST, the demo's default data; with --for-tests, that too (the
# PyTorch backend's DDP test trains on it), a C++ compiler and python3-venv, iproute2 (the
# tests make network namespaces), OpenMPI's mpirun, MPICH's mpiexec.hydra and Slurm with munge
# (they start ranks with them), and spin (the membership model).
# Swift itself (6.2 or later) must be on PATH: see README.md.
set -euo pipefail
packages=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || packages+=(libopenblas-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || packages+=(zlib1g-dev)
command -v pkg-config >/dev/null 2>&1 || packages+=(pkg-config)
dpkg -s libibverbs-dev >/dev/null 2>&1 || packages+=(libibverbs-dev)
if { [ "${1:-}" = "--with-data" ] || [ "${1:-}" = "--for-tests" ]; } && [ ! -d /usr/share/datasets/fashion-mnist ]; then
    packages+=(dataset-fashion-mnist)
fi
# The tests emulate hosts with network namespaces (ip netns, veth, tc), as root, and start ranks
# across them with mpirun too.
if [ "${1:-}" = "--for-tests" ]; then
    command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1 || packages+=(iproute2)
    command -v mpirun >/dev/null 2>&1 || packages+=(openmpi-bin)
    # MPICH's mpiexec.hydra too (OpenMPI stays the default mpirun: its alternative ranks higher).
    command -v mpiexec.hydra >/dev/null 2>&1 || packages+=(mpich)
    # A real sshd in each emulated host, for collectives-run's and mpirun's ssh agents.
    [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1 || packages+=(openssh-server)
    # The membership protocol's Promela model (scripts/check-models.sh).
    command -v spin >/dev/null 2>&1 || packages+=(spin)
    command -v unshare >/dev/null 2>&1 || packages+=(util-linux)
    # The C interface's header is compiled as C++17 too, and the PyTorch backend is C++.
    command -v c++ >/dev/null 2>&1 || packages+=(g++)
    # The PyTorch backend's environment (scripts/torch-env.sh) is a venv.
    python3 -c "import ensurepip, venv" >/dev/null 2>&1 || packages+=(python3-venv)
    # and under a one-node Slurm (scripts/one-node-slurm.sh).
    command -v srun >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 && command -v slurmctld >/dev/null 2>&1 \
        && command -v munged >/dev/null 2>&1 || packages+=(slurmctld slurmd slurm-client munge)
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH; install Swift 6.2 or later (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    echo "setup: installing ${packages[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
fi
