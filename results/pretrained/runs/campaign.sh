#!/usr/bin/env bash
# The training campaign of the pretrained models: the runs of runs.tsv (beside this file),
# two at a time with one thread each (the highest total throughput on 2 cores,
# results/cpu_recipe/README.md), in mixed_bfloat16 where the CPU has it. Each run trains
# at a constant learning rate, so a run can stop at any session's end and go on in the
# next from its checkpoints, or from the compact weights committed here when the
# checkpoints are gone (Adam's moments are then lost, nothing else); a model is shipped
# after a decay phase (`--schedule=cosine --time_budget=...` from its weights).
#   MINUTES=120 bash results/pretrained/runs/campaign.sh        # from the repository root
# After MINUTES of this session's training each run gets SIGTERM (checkpoint written),
# and its compact weights are written to results/pretrained/runs/<run>.npz (replacing the
# last ones) with `recipes.snapshot`; commit them. The steps and wall time of every
# segment are in runs/<run>/training_log.json and in each snapshot's training record.
set -euo pipefail
cd "$(dirname "$0")/../../.."
here=results/pretrained/runs
minutes="${MINUTES:-60}"
runs_file="${RUNS:-$here/runs.tsv}"  # another list, e.g. to try the script on tiny models
snapshots="${SNAPSHOTS:-$here}"      # where compact weights are read from and written to
data="${TRAIN_DATA:-../shared/datasets/cid22/training}"

run_one() {  # run_one NAME MODEL LMBDA OVERRIDES START FLAGS...
  local name="$1" model="$2" lmbda="$3" overrides="$4" start="$5"; shift 5
  local workdir="runs/$name" init=()
  if [ ! -d "$workdir/checkpoints" ]; then  # a new run, or its checkpoints are gone
    if [ -f "$snapshots/$name.npz" ]; then init=(--init_from="$snapshots/$name.npz")
    elif [ "$start" != "-" ]; then init=(--init_from="$start"); fi
  fi
  local status=0
  timeout -s TERM "${minutes}m" python -m recipes.train --model="$model" --lmbda="$lmbda" \
    --model_overrides="$overrides" --train_data="$data" --num_steps=100000000 \
    --checkpoint_every=500 --image_every=100000000 --intra_op_threads=1 --inter_op_threads=1 \
    --workdir="$workdir" "${init[@]}" "$@" > "runs/$name.log" 2>&1 || status=$?
  echo "$name: recipes.train exited $status (124 or 3: stopped at the time limit)"
  python -m recipes.snapshot --workdir="$workdir" --output="$snapshots/$name.npz"
}
mkdir -p runs
running=0
while IFS=$'\t' read -r name model lmbda overrides start flags; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  # shellcheck disable=SC2086
  run_one "$name" "$model" "$lmbda" "$overrides" "$start" $flags &
  running=$((running + 1))
  if [ "$running" -ge 2 ]; then wait -n || true; running=$((running - 1)); fi
done < "$runs_file"
wait
