#!/usr/bin/env bash
# An emulated cluster on one Linux machine: N network namespaces ("hosts") on a bridge, each
# joined by a veth link shaped to RATE in both directions with tc's token bucket (tbf).
#
#   scripts/emulated-cluster.sh up NAME HOSTS [RATE] [SUBNET]   e.g. up ec 4 1gbit
#   scripts/emulated-cluster.sh down NAME
#
# Host i is namespace NAME<i> with addresses 10.88.SUBNET.(i+1) and fd88:SUBNET::(i+1) on its
# eth0; the bridge NAMEbr holds 10.88.SUBNET.254 and fd88:SUBNET::fe in this (the root)
# namespace, which is where collectives-run serves the store from (--master-addr
# 10.88.SUBNET.254, or the IPv6 one). RATE "none" leaves links unshaped. Prints 10.88.SUBNET.
# Needs root and iproute2 (ip, tc). Everything made is named after NAME: `down` removes it all.
set -euo pipefail

action=${1:?usage: $0 up NAME HOSTS [RATE] [SUBNET] | down NAME}
name=${2:?missing NAME}
if [ ${#name} -gt 8 ]; then echo "$0: NAME must be at most 8 characters (interface names)" >&2; exit 2; fi

# What `up` made, so that `down` removes exactly that (a cluster "ec" must not take "ec1"'s).
record="/tmp/emulated-cluster-${name}.hosts"

down() {
    if [ -f "$record" ]; then
        hosts=$(cat "$record")
        for ((i = 0; i < hosts; i++)); do
            ip netns del "${name}${i}" 2>/dev/null || true
            ip link del "${name}h${i}" 2>/dev/null || true
        done
        rm -f "$record"
    fi
    ip link del "${name}br" 2>/dev/null || true
}

case "$action" in
down)
    down
    ;;
up)
    hosts=${3:?missing HOSTS}
    rate=${4:-1gbit}
    subnet=${5:-$((RANDOM % 250))}
    down
    echo "$hosts" > "$record"
    trap 'down' ERR
    ip link add "${name}br" type bridge
    ip addr add "10.88.${subnet}.254/24" dev "${name}br"
    ip addr add "fd88:${subnet}::fe/64" dev "${name}br" nodad 2>/dev/null || true
    ip link set "${name}br" up
    for ((i = 0; i < hosts; i++)); do
        ns="${name}${i}"
        ip netns add "$ns"
        ip link add "${name}h${i}" type veth peer name eth0 netns "$ns"
        ip link set "${name}h${i}" master "${name}br"
        ip link set "${name}h${i}" up
        ip -n "$ns" addr add "10.88.${subnet}.$((i + 1))/24" dev eth0
        ip -n "$ns" addr add "fd88:${subnet}::$((i + 1))/64" dev eth0 nodad 2>/dev/null || true
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        if [ "$rate" != none ]; then
            # Both directions: towards the host on the bridge side, from it inside.
            tc qdisc add dev "${name}h${i}" root tbf rate "$rate" burst 256kb latency 50ms
            tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
        fi
    done
    echo "10.88.${subnet}"
    ;;
*)
    echo "usage: $0 up NAME HOSTS [RATE] [SUBNET] | down NAME" >&2
    exit 2
    ;;
esac
