#!/bin/sh
# Runs inside the e2e containers (busybox sh): prints what the process sees, one KEY=VALUE per
# line, for tests/e2e/test_runc.sh to compare with the spec.
echo "ARGS=$#|${1:-}|${2:-}"
echo "CWD=$(pwd)"
echo "IDS=$(id -u):$(id -g) NAME=$(id -un 2>/dev/null) GROUPS=$(id -G)"
echo "HOSTNAME=$(hostname)"
env | sort | sed 's/^/ENV /'
sed -n 's/^\(Cap[A-Za-z]*\):[[:space:]]*/\1=/p' /proc/self/status
echo "ULIMIT_N=$(ulimit -n)"
grep -E '^Max (open files|core file size)' /proc/self/limits | sed 's/  */ /g; s/ *$//; s/^/LIMIT /'

# Writable or not: the rootfs, the bind mounts and the tmpfs.
for d in / /data/ro /data/rw /scratch; do
    f="$d/written-by-container"
    if ( : > "$f" ) 2>/dev/null; then echo "WRITE $d=rw"; else echo "WRITE $d=ro"; fi
done
rm -f /scratch/written-by-container
echo "HOSTFILE=$(cat /data/ro/hostfile 2>&1)"
# The tmpfs: its size option, and its mode (/proc/mounts omits mode=1777, the default).
size=$(awk '$2 == "/scratch" { n = split($4, o, ",");
            for (i = 1; i <= n; i++) if (o[i] ~ /^size=/) print o[i] }' /proc/mounts)
echo "TMPFS /scratch $(awk '$2 == "/scratch" { print $3 }' /proc/mounts) $size mode=$(stat -c %a /scratch)"

# Each tmpfs named in PROBE_TMPFS (given without a mode in the spec): can this user write to it?
for d in ${PROBE_TMPFS:-}; do
    if ( : > "$d/written-by-container" ) 2>/dev/null; then w=rw; else w=ro; fi
    echo "TMPFS_WRITE $d=$w mode=$(stat -c %a "$d")"
done

# Masked paths are /dev/null bind mounts (files) or empty read-only tmpfs (directories).
for p in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts; do
    echo "MASKED $p=$(stat -c '%F %t:%T' "$p" 2>&1)"
done
echo "FIRMWARE_ENTRIES=$(ls -A /sys/firmware 2>/dev/null | wc -l)"

# Cgroup limits: v2 unified files, or the v1 memory and pids hierarchies.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    echo "MEMORY=$(cat /sys/fs/cgroup/memory.max 2>&1)"
    echo "PIDS=$(cat /sys/fs/cgroup/pids.max 2>&1)"
else
    echo "MEMORY=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>&1)"
    echo "PIDS=$(cat /sys/fs/cgroup/pids/pids.max 2>&1)"
fi

# Devices named in PROBE_DEVICES: type and numbers, and whether the device cgroup lets us in.
for d in ${PROBE_DEVICES:-}; do
    desc=$(stat -c '%F %t:%T' "$d" 2>&1)
    case $d in
    */zero-clone) echo "DEVICE $d=$desc read=$(head -c 2 "$d" 2>/dev/null | od -An -tx1 | tr -d ' \n')" ;;
    *) if ( exec 3< "$d" ) 2>/dev/null; then open=yes; else open=no; fi
       echo "DEVICE $d=$desc open=$open" ;;
    esac
done
echo "PROBE=done"
