#!/usr/bin/env bash
# One Skein run as N shards on N hosts over SSH, merged and judged once here.
#
#   deploy/ssh/skein-ssh.sh -f FILE -H HOSTS -o DIR [options] [-- RUN_ARGS...]
#
#   -f FILE          the scenario, copied to every host
#   -F FILE          a file the scenario reads (a feeder CSV, a targets file), copied next to
#                    it; may be given several times
#   -H HOSTS         the hosts, one shard each, in shard order: `a,b,c`, or a file with one
#                    host a line (`user@host` works; # starts a comment)
#   -o DIR           where the shards' folders are collected and merged: DIR/RUN_ID/
#   --start-in T     the common start, from now: 60s (default), 2m, 90
#   --target URL     the base URL each shard attacks (instead of the scenario's `target:`)
#   --run-id ID      the run id (default ssh-<UTC date>-<time>); lowercase letters, digits, -
#   --timeout T      how long each shard may take, start included (default 1h); then it is
#                    killed and this script fails
#   -- RUN_ARGS      more `skein run` arguments for every shard (--seed 7, --targets t.yaml)
#
# Environment: SSH (default `ssh -o BatchMode=yes`), SCP (default `scp -q -o BatchMode=yes`),
# SKEIN (the skein binary on the hosts; default `skein`), SKEIN_LOCAL (the one that merges
# here; default SKEIN), REMOTE_DIR (the hosts' working folder, default /tmp/skein-ssh-RUN_ID). SSH is called as `$SSH HOST COMMAND...`,
# so `SSH="ip netns exec"` or `SSH="docker exec"` work too. SCP is called as
# `$SCP -r SRC DST` with `HOST:PATH` on the host's side; when SCP is `cp` (hosts that share
# this filesystem: namespaces, containers with a bind mount) the paths are used as they are.
#
# Exit code: the merge's (0 passed, 1 a target failed, 2 the shards do not belong together);
# a failed shard's own code (and no merge); 124 when a shard ran past --timeout; 2 for bad
# arguments.
set -euo pipefail

SSH=${SSH:-ssh -o BatchMode=yes}
SCP=${SCP:-scp -q -o BatchMode=yes}
SKEIN=${SKEIN:-skein}
SKEIN_LOCAL=${SKEIN_LOCAL:-$SKEIN}

say() { printf 'skein-ssh: %s\n' "$*" >&2; }
usage() {
    [ $# -eq 0 ] || say "$*"
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# Seconds in a duration written 90, 90s, 2m or 1h.
seconds() {
    case $1 in
    *[!0-9smh]* | "" | [smh]*) return 1 ;;
    *s) echo "${1%s}" ;;
    *m) echo "$((${1%m} * 60))" ;;
    *h) echo "$((${1%h} * 3600))" ;;
    *) echo "$1" ;;
    esac
}

# The words this script puts on a host's command line are not quoted (ssh joins them into a
# shell command; `ip netns exec` runs them as they are), so each must be shell-safe.
safe() {
    local what=$1 value=$2
    case $value in
    "" | *[!A-Za-z0-9._/:@%+=,~-]*)
        usage "$what '$value' may hold only letters, digits and . _ / : @ % + = , ~ -"
        ;;
    esac
}

file="" out="" hosts_arg="" start_in=60s target="" run_id="" timeout_arg=1h
extra_files=() run_args=()
# Option $1 needs a value ($2).
need() { (($# >= 2)) || usage "$1 needs a value"; }
while (($# > 0)); do
    case $1 in
    -f) need "$@" && file=$2 ;;
    -F) need "$@" && extra_files+=("$2") ;;
    -H) need "$@" && hosts_arg=$2 ;;
    -o) need "$@" && out=$2 ;;
    --start-in) need "$@" && start_in=$2 ;;
    --target) need "$@" && target=$2 ;;
    --run-id) need "$@" && run_id=$2 ;;
    --timeout) need "$@" && timeout_arg=$2 ;;
    --) shift && run_args=("$@") && break ;;
    -h | --help) usage ;;
    *) usage "unknown argument '$1'" ;;
    esac
    shift 2
done
[ -n "$file" ] || usage "-f FILE is required"
[ -n "$hosts_arg" ] || usage "-H HOSTS is required"
[ -n "$out" ] || usage "-o DIR is required"
[ -f "$file" ] || usage "no scenario file $file"
delay=$(seconds "$start_in") || usage "--start-in '$start_in': expected 60s, 2m or 90"
limit=$(seconds "$timeout_arg") || usage "--timeout '$timeout_arg': expected 1h, 30m or 600"

hosts=()
if [ -f "$hosts_arg" ]; then
    while read -r line; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [ -z "$line" ] || hosts+=("$line")
    done <"$hosts_arg"
else
    IFS=', ' read -r -a hosts <<<"$hosts_arg"
fi
n=${#hosts[@]}
((n > 0)) || usage "no hosts in '$hosts_arg'"

run_id=${run_id:-ssh-$(date -u +%Y%m%d-%H%M%S)}
[[ $run_id =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] ||
    usage "--run-id '$run_id': expected lowercase letters, digits and '-', at most 63 characters"
remote=${REMOTE_DIR:-/tmp/skein-ssh-$run_id}
for h in "${hosts[@]}"; do safe "host" "$h"; done
safe "REMOTE_DIR" "$remote"
[ -z "$target" ] || safe "--target" "$target"
for a in "${run_args[@]}"; do safe "run argument" "$a"; done
for f in "$file" "${extra_files[@]}"; do
    [ -f "$f" ] || usage "no file $f"
    safe "file name" "$(basename "$f")"
done

# `cp` copies between paths of one filesystem; anything else (scp, rsync) takes HOST:PATH.
read -r -a scp_cmd <<<"$SCP"
read -r -a ssh_cmd <<<"$SSH"
read -r -a skein_cmd <<<"$SKEIN"
read -r -a merge_cmd <<<"$SKEIN_LOCAL"
at() {
    if [ "$(basename "${scp_cmd[0]}")" = cp ]; then echo "$2"; else echo "$1:$2"; fi
}

# One start for every shard, computed here once.
start=$(date -u -d "+$delay seconds" +%Y-%m-%dT%H:%M:%SZ)
scenario=$remote/$(basename "$file")
logs=$out/$run_id-logs
mkdir -p "$out/$run_id" "$logs"
say "$n shards of $file on ${hosts[*]}, run id $run_id, start at $start"

for i in "${!hosts[@]}"; do
    h=${hosts[$i]}
    timeout 60 "${ssh_cmd[@]}" "$h" mkdir -p "$remote" </dev/null ||
        { say "shard $i: cannot create $remote on $h" && exit 3; }
    for f in "$file" "${extra_files[@]}"; do
        timeout 300 "${scp_cmd[@]}" "$f" "$(at "$h" "$remote/")" ||
            { say "shard $i: cannot copy $f to $h" && exit 3; }
    done
done

# Every shard in the background; each is killed at the start plus --timeout, and all of
# them when this script is stopped.
pids=()
# shellcheck disable=SC2317 # run by the traps below
stop_shards() {
    say "stopped: stopping the shards"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait || true
    exit "$1"
}
trap 'stop_shards 143' TERM
trap 'stop_shards 130' INT
for i in "${!hosts[@]}"; do
    h=${hosts[$i]}
    cmd=("${skein_cmd[@]}" run "$scenario" --shard "$i/$n" --run-id "$run_id"
        --start-at "$start" -o "$remote/out" -q)
    [ -z "$target" ] || cmd+=(--target "$target")
    cmd+=("${run_args[@]}")
    timeout -k 10 "$((delay + limit))" "${ssh_cmd[@]}" "$h" "${cmd[@]}" \
        </dev/null >"$logs/shard-$i.log" 2>&1 &
    pids+=($!)
done

failed=0
for i in "${!pids[@]}"; do
    rc=0
    wait "${pids[$i]}" || rc=$?
    if ((rc != 0)); then
        say "shard $i on ${hosts[$i]} failed (exit $rc); its output, $logs/shard-$i.log, ends:"
        tail -n 5 "$logs/shard-$i.log" >&2 || true
        ((failed != 0)) || failed=$rc
    fi
done

for i in "${!hosts[@]}"; do
    h=${hosts[$i]}
    timeout 300 "${scp_cmd[@]}" -r "$(at "$h" "$remote/out/$run_id/shard-$i")" "$out/$run_id/" ||
        say "shard $i: no folder to copy back from $h:$remote/out/$run_id/shard-$i"
done

if ((failed != 0)); then
    say "not merging: a shard failed (folders collected in $out/$run_id)"
    exit "$failed"
fi
rc=0
"${merge_cmd[@]}" merge "$out/$run_id" || rc=$?
say "merged $n shards into $out/$run_id: exit $rc"
exit "$rc"
