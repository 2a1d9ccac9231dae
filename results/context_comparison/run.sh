#!/usr/bin/env bash
# Issue 5's check: mean_scale vs joint vs channelwise trained alike (λ=0.013, same steps,
# same data, N=64/M=96), then measured on Kodak with real files.
#   bash results/context_comparison/run.sh runs/context 1500
set -euo pipefail
out="${1:-runs/context}"; steps="${2:-1500}"
for model in mean_scale joint channelwise; do
  overrides='{"num_filters": 64, "num_latents": 96}'
  [[ $model == channelwise ]] && overrides='{"num_filters": 64, "num_latents": 96, "num_hyper_latents": 64, "num_slices": 8, "max_support_slices": 4}'
  python -m recipes.train --model "$model" --lmbda 0.013 --train_data ../shared/datasets/cid22/training \
    --patchsize 128 --batchsize 8 --learning_rate 2e-4 --num_steps "$steps" --checkpoint_every 500 \
    --model_overrides "$overrides" --workdir "$out/$model"
done
weights=$(printf "$out/%s/weights.npz," mean_scale joint channelwise)
python -m recipes.evaluate --weights "${weights%,}" --codecs none --max_images 24 --output "$out/kodak"
