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
# The one-node cluster (daemons stopped on exit); sets $work.
# shellcheck source=single-node-cluster.sh
source "$repo/deploy/slurm/single-node-cluster.sh"

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
