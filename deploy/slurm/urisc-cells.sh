#!/usr/bin/env bash
# Block-wise cells on Slurm: submits the five stages of a `urisc cells-plan` work folder as jobs
# that depend on each other (afterok): three job arrays over blocks and two single tasks.
#   urisc cells-plan MAP --out WORK --block 2048 [--blocks-per-task K]
#   deploy/slurm/urisc-cells.sh WORK [sbatch options, e.g. --cpus-per-task=2 --mem=2G]
# Prints the job ids; `--wait` among the options makes it return when the last stage ends.
# URISC names the binary (default: urisc on PATH). Finished blocks are skipped on reruns.
set -euo pipefail
work="${1:?usage: deploy/slurm/urisc-cells.sh WORK [sbatch options]}"
shift
urisc="${URISC:-urisc}"
tasks="$(grep -o '"tasks":[0-9]*' "$work/cells-plan.json" | cut -d: -f2)"
[ -n "$tasks" ] || { echo "$work/cells-plan.json: no task count (run urisc cells-plan first)" >&2; exit 2; }
wait_flag=()
opts=()
for o in "$@"; do
  if [ "$o" = --wait ]; then wait_flag=(--wait); else opts+=("$o"); fi
done
dep=()
ids=()
stages=(fragments join first ids labels)
for i in "${!stages[@]}"; do
  stage="${stages[$i]}"
  array=()
  case "$stage" in fragments|first|labels) array=(--array="0-$((tasks - 1))") ;; esac
  last=()
  [ "$i" -eq $((${#stages[@]} - 1)) ] && last=("${wait_flag[@]}")
  id="$(sbatch --parsable --job-name="urisc-cells-$stage" "${array[@]}" "${dep[@]}" "${last[@]}" \
    --output="$work/slurm-$stage-%A_%a.log" "${opts[@]}" \
    --wrap "exec \"$urisc\" cells-run \"$work\" --stage $stage")"
  ids+=("$id")
  dep=(--dependency="afterok:${id%%;*}")
done
echo "submitted: ${stages[*]} → ${ids[*]}"
