#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for CI and for trying deploy/slurm locally:
# munged, slurmctld and slurmd on 127.0.0.1, every file (configuration, state, spool, pid
# files, logs) under one folder, started and stopped by pid.
#
#   deploy/slurm/cluster.sh start DIR    start (or find running) the daemons; prints
#                                        `export SLURM_CONF=DIR/slurm.conf` on stdout
#   deploy/slurm/cluster.sh stop DIR     stop slurmd, slurmctld and munged by their pid files
#
# Typical use:  eval "$(deploy/slurm/cluster.sh start /tmp/slurm)"; srun -n 3 -O hostname
#
# Needs root and Debian's `slurm-wlm` and `munge` (see deploy/slurm/README.md for the
# install command that keeps the package scripts from starting daemons of their own).
# The ports are Slurm's fixed 6817 (slurmctld) and 6818 (slurmd): one cluster per machine.
# Messages go to stderr, so stdout is only the export line.
set -euo pipefail

readonly WAIT_IDLE_S=30 # how long `start` waits for the node to show idle
readonly WAIT_STOP_S=15 # how long `stop` waits for each daemon after SIGTERM

say() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# The pid in pid file $1 when that process is alive and its command is $2; empty otherwise
# (a stale file, or a pid since reused by another program, is never signalled).
live_pid() {
    local file=$1 comm=$2 pid
    [ -s "$file" ] || return 0
    pid=$(tr -dc '0-9' <"$file")
    [ -n "$pid" ] || return 0
    if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$comm" ]; then
        echo "$pid"
    fi
}

check_installed() {
    local missing=() cmd
    for cmd in munged munge unmunge slurmctld slurmd srun sinfo; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    if ((${#missing[@]} > 0)); then
        die "not found: ${missing[*]}
  install them (as root, with no daemon started by the package scripts):
    printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y slurm-wlm munge
    rm /usr/sbin/policy-rc.d    # unless it was there before"
    fi
    [ "$(id -u)" = 0 ] || die "run as root (munged runs as the munge user, slurmd as root)"
}

# munge: a key if there is none, the socket folder, and a munged of our own unless one
# already answers on the default socket (another cluster.sh, or the system's).
start_munge() {
    local key=/etc/munge/munge.key
    if [ ! -e "$key" ]; then
        say "creating $key"
        install -d -o munge -g munge -m 0700 /etc/munge
        if ! mungekey --create --keyfile="$key" 2>/dev/null; then
            dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
        fi
        chown munge:munge "$key"
        chmod 0400 "$key"
    fi
    # munged refuses a socket folder that others can write to.
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0755 "$DIR/munge"
    runuser -u munge -- test -w "$DIR/munge" ||
        die "the munge user cannot reach $DIR/munge (a folder above it is private): \
choose a DIR under /tmp, /var/tmp or another folder every user can traverse"
    if [ -n "$(live_pid "$DIR/munge/munged.pid" munged)" ]; then
        say "munged already running (pid $(cat "$DIR/munge/munged.pid"))"
        return
    fi
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        say "a munged already answers on the default socket; using it"
        return
    fi
    say "starting munged"
    runuser -u munge -- munged --pid-file="$DIR/munge/munged.pid" \
        --log-file="$DIR/munge/munged.log" ||
        die "munged did not start; see $DIR/munge/munged.log"
    local i
    for ((i = 0; i < 50; i++)); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged started but munge -n | unmunge fails; see $DIR/munge/munged.log"
}

write_conf() {
    local host cpus
    host=$(hostname -s)
    cpus=$(nproc)
    # No RealMemory: a value above the machine's own drains the node ("Low RealMemory").
    # NodeAddr: slurmctld and slurmd reach each other on loopback, no DNS needed.
    # OverSubscribe=FORCE:4 and `srun -O` let more tasks than CPUs run (shards are mostly
    # waiting on the network).
    cat >"$CONF" <<EOF
# Written by deploy/slurm/cluster.sh; rewritten at every start.
ClusterName=skeinci
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/ctld.log
SlurmdLogFile=$DIR/log/d.log
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=load Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

# Start daemon $1 (slurmctld or slurmd) unless its pid file names a live one.
start_daemon() {
    local name=$1 pid
    pid=$(live_pid "$DIR/$name.pid" "$name")
    if [ -n "$pid" ]; then
        say "$name already running (pid $pid)"
        return
    fi
    say "starting $name"
    "$name" -f "$CONF" || die "$name did not start; see $DIR/log/"
}

wait_idle() {
    local state="" i
    for ((i = 0; i < WAIT_IDLE_S * 2; i++)); do
        state=$(SLURM_CONF=$CONF sinfo -h -o %T 2>/dev/null | head -n 1) || state=""
        # `idle`, or `mixed`/`allocated` when a job already runs on a cluster started before.
        case $state in idle | mixed | allocated) return 0 ;; esac
        sleep 0.5
    done
    say "the node is not idle after ${WAIT_IDLE_S}s (sinfo says: ${state:-nothing}); last log lines:"
    tail -n 15 "$DIR/log/ctld.log" "$DIR/log/d.log" >&2 2>/dev/null || true
    return 1
}

start() {
    check_installed
    install -d -m 0755 "$DIR" "$DIR/state" "$DIR/spool" "$DIR/log"
    start_munge
    write_conf
    start_daemon slurmctld
    start_daemon slurmd
    if ! wait_idle; then
        stop
        die "cluster did not come up; daemons stopped"
    fi
    say "cluster up: $(SLURM_CONF=$CONF sinfo -h -o '%P %D %T %c' | head -n 1)"
    printf 'export SLURM_CONF=%q\n' "$CONF"
}

# SIGTERM the daemon in pid file $1 (command $2) and wait until it is gone; SIGKILL after
# WAIT_STOP_S.
stop_pid() {
    local file=$1 name=$2 pid i
    pid=$(live_pid "$file" "$name")
    if [ -z "$pid" ]; then
        rm -f "$file"
        return
    fi
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < WAIT_STOP_S * 10; i++)); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        say "$name (pid $pid) still running after ${WAIT_STOP_S}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
    fi
    rm -f "$file"
}

stop() {
    stop_pid "$DIR/slurmd.pid" slurmd
    stop_pid "$DIR/slurmctld.pid" slurmctld
    stop_pid "$DIR/munge/munged.pid" munged
}

(($# == 2)) || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
CONF=$DIR/slurm.conf
readonly DIR CONF
case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
