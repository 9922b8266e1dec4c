#!/usr/bin/env bash
# Separate network stacks for tests/netns.rs: a target and N shards, each in a network
# namespace of its own, joined by a bridge. Everything lives in a private mount and network
# namespace (`unshare -m -n`), so nothing is added to this machine's network, its
# /run/netns, or its hostname, and everything is gone when the script ends.
#
#   topology.sh check SKEIN WORK              the topology, the target, and a request from
#                                             each shard's namespace (curl); no load
#   topology.sh run SKEIN WORK ARGS...        the same, then deploy/ssh/skein-ssh.sh ARGS...
#                                             with one shard per namespace; exits with its code
#   topology.sh exec NS COMMAND...            (the SSH of skein-ssh.sh) COMMAND in namespace
#                                             NS with hostname NS
#
# The target is `SKEIN serve-demo --bind 10.201.0.1 --port 0` in namespace `t`, on a bridge
# at 10.201.0.1/24; shard i is namespace `s<i>` at 10.201.0.1<i>/24 on a veth to the bridge.
# `run` adds `-H s0,s1,s2 --target URL` to skein-ssh.sh's arguments and prints
# `target URL` before it. WORK holds the target's output and the shards' working folder.
# Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN), unshare, ip.
set -euo pipefail

readonly SHARDS=${SHARDS:-3}
readonly NET=10.201.0
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
readonly HERE

say() { printf 'topology.sh: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# `exec NS COMMAND...`: what `ssh HOST COMMAND...` is to a real host.
if [ "${1:-}" = exec ]; then
    ns=$2
    shift 2
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    exec ip netns exec "$ns" unshare -u sh -c 'hostname "$0" && exec "$@"' "$ns" "$@"
fi

(($# >= 3)) || die "usage: topology.sh check|run SKEIN WORK [ARGS...]"
mode=$1 skein=$2 work=$3
shift 3
case $mode in check | run) ;; *) die "unknown mode '$mode'" ;; esac

# Once, from outside: the same script again inside new mount and network namespaces.
if [ -z "${TOPOLOGY_INSIDE:-}" ]; then
    TOPOLOGY_INSIDE=1 exec unshare -m -n --propagation private \
        "$HERE/topology.sh" "$mode" "$skein" "$work" "$@"
fi

target_pid="" driver_pid=""
cleanup() {
    local rc=$? i
    if [ -n "$driver_pid" ]; then
        kill -TERM "$driver_pid" 2>/dev/null || true
        wait "$driver_pid" 2>/dev/null || true
    fi
    if [ -n "$target_pid" ]; then
        kill "$target_pid" 2>/dev/null || true
        wait "$target_pid" 2>/dev/null || true
    fi
    for ((i = 0; i < SHARDS; i++)); do ip netns del "s$i" 2>/dev/null || true; done
    ip netns del t 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# A /run/netns of our own: the names below cannot clash with anyone else's.
mkdir -p /run/netns
mount -t tmpfs -o mode=0755 skein-netns /run/netns
ip link set lo up

ip netns add t
ip -n t link set lo up
ip -n t link add br0 type bridge
ip -n t addr add "$NET.1/24" dev br0
ip -n t link set br0 up
for ((i = 0; i < SHARDS; i++)); do
    ip netns add "s$i"
    ip -n "s$i" link set lo up
    ip link add "veth$i" type veth peer name "port$i"
    ip link set "veth$i" netns "s$i"
    ip link set "port$i" netns t
    ip -n t link set "port$i" master br0 up
    ip -n "s$i" addr add "$NET.$((11 + i))/24" dev "veth$i"
    ip -n "s$i" link set "veth$i" up
done

mkdir -p "$work"
ip netns exec t "$skein" serve-demo --bind "$NET.1" --port 0 >"$work/target.out" 2>&1 &
target_pid=$!
url=""
for ((i = 0; i < 100; i++)); do
    url=$(grep -o 'http://[0-9.:]*' "$work/target.out" | head -n 1) || true
    [ -z "$url" ] || break
    kill -0 "$target_pid" 2>/dev/null || die "the target exited: $(cat "$work/target.out")"
    sleep 0.1
done
[ -n "$url" ] || die "the target printed no URL in 10s: $(cat "$work/target.out")"
say "target $url (pid $target_pid) in namespace t"

# Each shard reaches the target across its veth and the bridge (and only that way: its
# namespace has no other route).
for ((i = 0; i < SHARDS; i++)); do
    if command -v curl >/dev/null 2>&1; then
        ip netns exec "s$i" curl -sS -f -o /dev/null --max-time 5 "$url/health" ||
            die "namespace s$i cannot reach $url"
    fi
    if [ "$mode" = check ]; then
        host=$("$HERE/topology.sh" exec "s$i" hostname)
        addr=$(ip -n "s$i" -4 -o addr show dev "veth$i" | awk '{ print $4 }')
        say "s$i: hostname $host, address $addr"
    fi
done
say "$SHARDS shard namespaces reach the target"
echo "target $url"

if [ "$mode" = run ]; then
    hosts=$(seq -f 's%g' -s, 0 $((SHARDS - 1)))
    # In the background, so that a SIGTERM to this script is handled at once (bash runs a
    # trap only after its foreground command ends) and passed on.
    SSH="$HERE/topology.sh exec" SCP=cp SKEIN="$skein" REMOTE_DIR="$work/remote" \
        "$HERE/../../deploy/ssh/skein-ssh.sh" -H "$hosts" --target "$url" "$@" &
    driver_pid=$!
    rc=0
    wait "$driver_pid" || rc=$?
    driver_pid=""
    exit "$rc"
fi
