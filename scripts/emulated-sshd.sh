#!/usr/bin/env bash
# A real OpenSSH server in each host of an emulated cluster (scripts/emulated-cluster.sh), so that
# `ssh`, and launchers that use it (collectives-run --hosts, mpirun), reach the hosts as they
# reach machines: a key made here, host keys checked against known_hosts, no password.
#
#   scripts/emulated-sshd.sh up NAME HOSTS SUBNET DIR   e.g. up ec 2 10.88.7 /tmp/ec-ssh
#   scripts/emulated-sshd.sh down DIR
#
# Host i (namespace NAME<i>) gets an sshd on SUBNET.(i+1):22, started with `ip netns exec`.
# DIR receives the keys, each sshd's configuration and pid file, and ssh_config: give it to the
# client (`ssh -F DIR/ssh_config HOST`, `collectives-run --launch-agent "ssh -F DIR/ssh_config"`,
# `mpirun --mca plm_rsh_args "-F DIR/ssh_config"`). A session in host i has
# OMPI_MCA_orte_tmpdir_base=DIR/host<i> (OpenMPI's session folders: the namespaces share /tmp and
# the host name). Needs root, iproute2 and Debian's openssh-server.
set -euo pipefail

action=${1:?usage: $0 up NAME HOSTS SUBNET DIR | down DIR}

down() {
    local dir=$1
    for pidfile in "$dir"/sshd-*.pid; do
        [ -f "$pidfile" ] || continue
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

case "$action" in
up)
    name=${2:?missing NAME}; hosts=${3:?missing HOSTS}; subnet=${4:?missing SUBNET}; dir=${5:?missing DIR}
    mkdir -p "$dir" /run/sshd
    chmod 700 "$dir"
    rm -f "$dir/client" "$dir/client.pub" "$dir/host" "$dir/host.pub"
    ssh-keygen -q -t ed25519 -N "" -C "collectives-test-client" -f "$dir/client"
    ssh-keygen -q -t ed25519 -N "" -C "collectives-test-host" -f "$dir/host"
    cp "$dir/client.pub" "$dir/authorized_keys"
    : > "$dir/known_hosts"
    for ((i = 0; i < hosts; i++)); do
        address="$subnet.$((i + 1))"
        mkdir -p "$dir/host$i"
        echo "$address $(cut -d' ' -f1,2 "$dir/host.pub")" >> "$dir/known_hosts"
        cat > "$dir/sshd-$i.conf" <<EOF
ListenAddress $address
Port 22
HostKey $dir/host
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd-$i.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv OMPI_MCA_orte_tmpdir_base=$dir/host$i
EOF
        ip netns exec "$name$i" /usr/sbin/sshd -f "$dir/sshd-$i.conf" -E "$dir/sshd-$i.log"
    done
    cat > "$dir/ssh_config" <<EOF
Host *
    IdentityFile $dir/client
    IdentitiesOnly yes
    UserKnownHostsFile $dir/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 10
    LogLevel ERROR
EOF
    # Each sshd is listening once ssh reaches it.
    for ((i = 0; i < hosts; i++)); do
        for attempt in $(seq 50); do
            ssh -F "$dir/ssh_config" "$subnet.$((i + 1))" true 2>/dev/null && break
            if [ "$attempt" = 50 ]; then echo "$0: sshd in $name$i did not answer; $dir/sshd-$i.log:" >&2; cat "$dir/sshd-$i.log" >&2; down "$dir"; exit 1; fi
            sleep 0.1
        done
    done
    ;;
down)
    down "${2:?missing DIR}"
    ;;
*)
    echo "usage: $0 up NAME HOSTS SUBNET DIR | down DIR" >&2
    exit 2
    ;;
esac
