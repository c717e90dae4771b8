#!/usr/bin/env bash
# Runs OpenMPI's all-reduce and ours on the same sizes, one after the other on this machine, and
# prints the ratio per size.
#
#   bash Benchmarks/compare-openmpi.sh [-n RANKS] [--btl tcp|vader] [--install] [-- BENCH FLAGS]
#
#   -n RANKS     local ranks (default 4)
#   --btl tcp    OpenMPI over TCP on loopback: --mca btl tcp,self (the default)
#   --btl vader  OpenMPI over shared memory: --mca btl vader,self (compare with our shared
#                memory transport, COLLECTIVES_TRANSPORT=shm)
#   --install    apt-get install openmpi-bin libopenmpi-dev if mpicc is missing
#   BENCH FLAGS  passed to both benchmarks (default: -b 8 -e 256M -f 2 -n 20 -w 5)
#
# Our transport follows COLLECTIVES_TRANSPORT (default: what the communicator picks). Output: both
# tables, then per size: time (us) and busbw (GB/s) of each, busbw ratio ours/OpenMPI and time
# ratio ours/OpenMPI, out of place and in place.
set -euo pipefail
cd "$(dirname "$0")/.."

ranks=4 btl=tcp install=0
flags=(-b 8 -e 256M -f 2 -n 20 -w 5)
while [ $# -gt 0 ]; do
    case "$1" in
        -n) ranks="$2"; shift 2 ;;
        --btl) btl="$2"; shift 2 ;;
        --install) install=1; shift ;;
        --) shift; flags=("$@"); break ;;
        *) echo "compare-openmpi: unknown argument $1 (see the comment at the top of the script)" >&2; exit 2 ;;
    esac
done
case "$btl" in tcp|vader) ;; *) echo "compare-openmpi: --btl takes tcp or vader" >&2; exit 2 ;; esac

# MPICH may own the plain mpicc/mpirun names and the <mpi.h> alternative: use OpenMPI's own.
mpicc=mpicc.openmpi mpirun=mpirun.openmpi
command -v "$mpicc" > /dev/null || mpicc=mpicc
command -v "$mpirun" > /dev/null || mpirun=mpirun
if [ ! -e /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] || ! command -v "$mpicc" > /dev/null; then
    if [ "$install" = 1 ]; then
        apt-get install -y -q openmpi-bin libopenmpi-dev > /dev/null
    else
        echo "compare-openmpi: OpenMPI is not installed; run with --install, or apt-get install openmpi-bin libopenmpi-dev" >&2
        exit 2
    fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$mpicc" -O2 -o "$work/allreduce_bench" Benchmarks/openmpi/allreduce_bench.c
swift build -c release --product collectives-bench > /dev/null
swift build -c release --product collectives-run > /dev/null

mpi_flags=(--oversubscribe -np "$ranks" --mca btl "$btl,self")
[ "$btl" = tcp ] && mpi_flags+=(--mca btl_tcp_if_include lo)
[ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $ranks ranks"
echo "# OpenMPI $("$mpirun" --version | head -1 | awk '{print $NF}') with --mca btl $btl,self"
"$mpirun" "${mpi_flags[@]}" "$work/allreduce_bench" "${flags[@]}" | tee "$work/mpi.txt"
echo
echo "# swift-collectives (COLLECTIVES_TRANSPORT=${COLLECTIVES_TRANSPORT:-default})"
# -a 3: the largest time over ranks, as the MPI program takes it.
.build/release/collectives-run -n "$ranks" -- .build/release/collectives-bench all-reduce -a 3 "${flags[@]}" \
    | sed 's/^\[rank 0\] //' | grep -v '^\[rank' | tee "$work/ours.txt"
echo
echo "# ratios (ours / OpenMPI): busbw above 1 and time below 1 favour swift-collectives"
printf '#%12s %10s %10s %10s %10s %9s %9s %9s %9s\n' size "mpi us" "ours us" "mpi GB/s" "ours GB/s" \
    "busbw out" "busbw in" "time out" "time in"
awk '
    FNR == 1 { file++ }
    /^ *[0-9]/ {
        size = $1
        if (file == 1) { mt[size] = $6; mb[size] = $8; mti[size] = $10; mbi[size] = $12 }
        else { ot[size] = $6; ob[size] = $8; oti[size] = $10; obi[size] = $12; order[++n] = size }
    }
    END {
        for (i = 1; i <= n; i++) {
            s = order[i]
            if (!(s in mt)) continue
            r1 = mb[s] > 0 ? ob[s] / mb[s] : 0; r2 = mbi[s] > 0 ? obi[s] / mbi[s] : 0
            printf " %12d %10.2f %10.2f %10.2f %10.2f %9.2f %9.2f %9.2f %9.2f\n", s, mt[s], ot[s], mb[s], ob[s], r1, r2, ot[s] / mt[s], oti[s] / mti[s]
        }
    }' "$work/mpi.txt" "$work/ours.txt"
