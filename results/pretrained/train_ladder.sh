#!/usr/bin/env bash
# Trains one family's pretrained ladder on this machine (2 CPU cores): a base run at
# λ=0.013, then fine-tunes (--init_from) along the λ axis, each stage "λ:parent λ".
# Re-running resumes every stage.
#   bash results/pretrained/train_ladder.sh hyperprior mse runs/pretrained
# BASE_INIT=W warm-starts the base run from another family's weights W (the transforms the
# two share, see recipes.trainer.Trainer.initialize_from), e.g. mean_scale from hyperprior.
# STAGES="0.0067:0.013 0.0018:0.0067 0.0483:0.013" picks the fine-tunes (default: five λ).
# INIT_PATTERN=path-with-%s starts every stage from that artifact at the stage's parent λ,
# with no base run: INIT_PATTERN=zoo/weights/hyperprior-mse-%s-v1.npz STAGES="8.73:0.0067"
# fine-tunes the shipped MSE λ=0.0067 model to MS-SSIM λ=8.73.
set -euo pipefail
model="${1:-hyperprior}"; metric="${2:-mse}"; out="${3:-runs/pretrained}"
data="${TRAIN_DATA:-../shared/datasets/cid22/training}"
default_overrides='{"num_filters": 64, "num_latents": 96}'
overrides="${OVERRIDES:-$default_overrides}"
base_steps="${BASE_STEPS:-16000}"; tune_steps="${TUNE_STEPS:-1500}"
stages="${STAGES:-0.0067:0.013 0.025:0.013 0.0018:0.0067 0.0483:0.025}"
common=(--model "$model" --metric "$metric" --train_data "$data" --patchsize 128 --batchsize 8
        --model_overrides "$overrides" --checkpoint_every 500 --log_every 100)
run() {  # run LMBDA STEPS LR [INIT]
  local dir="$out/${model}_${metric}_$1"
  if [[ -f "$dir/weights.npz" ]]; then echo "have $dir"; return; fi
  python -m recipes.train "${common[@]}" --lmbda "$1" --num_steps "$2" --learning_rate "$3" \
    --workdir "$dir" ${4:+--init_from "$4"}
}
if [[ -n "${INIT_PATTERN:-}" ]]; then
  for stage in $stages; do
    # shellcheck disable=SC2059
    run "${stage%%:*}" "$tune_steps" 1e-4 "$(printf "$INIT_PATTERN" "${stage##*:}")"
  done
  exit 0
fi
run 0.013 "$base_steps" 2e-4 "${BASE_INIT:-}"
for stage in $stages; do
  run "${stage%%:*}" "$tune_steps" 2e-4 "$out/${model}_${metric}_${stage##*:}/weights.npz"
done
