#!/usr/bin/env bash
# A real scheduler, on this one machine: installs Debian's slurm-wlm and munge (as root), starts
# munged, slurmctld and slurmd as a one-node cluster, runs a job array of `urisc run-block`
# (deploy/slurm/urisc-array.sbatch) over a synthetic 2000 × 1800 section, assembles the result
# and checks it equals single-process `urisc predict` pixel for pixel. Stops the daemons after.
#   deploy/slurm/test-single-node.sh            (URISC=path/to/urisc to use another binary)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
urisc="${URISC:-$repo/target/release/urisc}"
[ -x "$urisc" ] || (cd "$repo" && cargo build --release --locked)
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
work="$(mktemp -d /tmp/urisc-slurm.XXXXXX)"
chmod 755 "$work"
host="$(hostname -s)"
cpus="$(nproc)"
mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))"

# munge: a fresh key if none.
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
pgrep -x munged >/dev/null || runuser -u munge -- munged --force

# A one-node cluster without cgroups (works inside containers).
mkdir -p /etc/slurm /var/spool/slurmd /var/spool/slurmctld /var/log/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=urisc-test
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmUser=root
SlurmdUser=root
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmdSpoolDir=/var/spool/slurmd
StateSaveLocation=/var/spool/slurmctld
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=urisc Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
stop() { pkill -x slurmd || true; pkill -x slurmctld || true; }
trap stop EXIT
stop; sleep 1
slurmctld -i
slurmd
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed)' && break
  sleep 1
done
sinfo

# The job: a synthetic section, predicted once whole and once as a job array of blocks.
cd "$work"
"$urisc" synth section --data "$repo/data/isbi2012" --size 2000x1800 --out syn --name section
"$urisc" predict syn/images/section.png --out whole
"$urisc" plan syn/images/section.png --out store --chunk 512 --blocks-per-task 2 --threads 1 | tee plan.txt
tasks="$(python3 -c 'import json,sys; print(json.load(open("store/manifest.json"))["tasks"])')"
mem="$(python3 -c 'import json,sys; print(json.load(open("store/manifest.json"))["resources"]["memory_mib"])')"
export URISC="$urisc"
started=$(date +%s)
sbatch --wait --array="0-$((tasks - 1))" --cpus-per-task=1 --mem="${mem}M" \
  --output="$work/urisc-%A_%a.log" "$repo/deploy/slurm/urisc-array.sbatch" "$work/store/manifest.json"
echo "job array of $tasks tasks finished in $(( $(date +%s) - started )) s"
sacct -n -X -o JobID,State,ExitCode 2>/dev/null | tail -n "$tasks" || true
"$urisc" status --manifest store/manifest.json
"$urisc" assemble --manifest store/manifest.json --out assembled
if cmp -s assembled/section.png whole/section.png; then
  echo "PASS: the job array's assembled map equals single-process urisc predict (identical PNG files)"
else
  echo "FAIL: the assembled map differs from urisc predict" >&2
  exit 1
fi
