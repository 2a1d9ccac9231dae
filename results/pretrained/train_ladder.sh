#!/usr/bin/env bash
# Trains one family's pretrained ladder on this machine (2 CPU cores) the way the shipped
# weights were made: a base run at λ=0.013, then fine-tunes (--init_from) walking down
# (0.0067, 0.0018) and up (0.025, 0.0483) the λ axis. Re-running resumes every stage.
#   bash results/pretrained/train_ladder.sh hyperprior mse runs/pretrained
set -euo pipefail
model="${1:-hyperprior}"; metric="${2:-mse}"; out="${3:-runs/pretrained}"
data="${TRAIN_DATA:-../shared/datasets/cid22/training}"
overrides="${OVERRIDES:-{\"num_filters\": 64, \"num_latents\": 96}}"
base_steps="${BASE_STEPS:-16000}"; tune_steps="${TUNE_STEPS:-1500}"
common=(--model "$model" --metric "$metric" --train_data "$data" --patchsize 128 --batchsize 8
        --model_overrides "$overrides" --checkpoint_every 500 --log_every 100)
run() {  # run LMBDA STEPS LR [INIT]
  local dir="$out/${model}_${metric}_$1"
  if [[ -f "$dir/weights.npz" ]]; then echo "have $dir"; return; fi
  python -m recipes.train "${common[@]}" --lmbda "$1" --num_steps "$2" --learning_rate "$3" \
    --workdir "$dir" ${4:+--init_from "$4"}
}
run 0.013 "$base_steps" 2e-4
run 0.0067 "$tune_steps" 2e-4 "$out/${model}_${metric}_0.013/weights.npz"
run 0.025 "$tune_steps" 2e-4 "$out/${model}_${metric}_0.013/weights.npz"
run 0.0018 "$tune_steps" 2e-4 "$out/${model}_${metric}_0.0067/weights.npz"
run 0.0483 "$tune_steps" 2e-4 "$out/${model}_${metric}_0.025/weights.npz"
