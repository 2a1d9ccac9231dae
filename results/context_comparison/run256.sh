#!/usr/bin/env bash
# Issue 5's check, second form: the crop-size study (crop_sizes.txt) shows hyper-prior
# models trained on 128×128 crops (2×2 hyper-latents, all border) generalize poorly to
# whole images. Here the three families train alike on 256×256 CID22 crops, batch 2
# (the same pixels per step as 128×128 × 8): each warm-started from the shipped
# hyperprior λ=0.013 weights, STEPS steps at λ=0.013, N=64/M=96, then measured on all 24
# Kodak images with real files.
#   bash results/context_comparison/run256.sh runs/ctx256
set -euo pipefail
out="${1:-runs/ctx256}"; steps="${STEPS:-4000}"
data="${TRAIN_DATA:-../shared/datasets/cid22/training}"
base='"num_filters": 64, "num_latents": 96'
declare -A overrides=(
  [mean_scale]="{$base}"
  [joint]="{$base}"
  [channelwise]="{$base, \"num_hyper_latents\": 64, \"num_slices\": 8, \"max_support_slices\": 4}"
)
for model in mean_scale joint channelwise; do
  dir="$out/$model"
  [[ -f "$dir/weights.npz" ]] && continue
  python -m recipes.train --model "$model" --metric mse --lmbda 0.013 --train_data "$data" \
    --patchsize 256 --batchsize 2 --num_steps "$steps" --learning_rate 2e-4 \
    --model_overrides "${overrides[$model]}" --checkpoint_every 500 --log_every 100 \
    --init_from zoo/weights/hyperprior-mse-0.013-v1.npz --workdir "$dir" &
done
wait
python -m recipes.evaluate --codecs none --output results/context_comparison/kodak256 \
  --weights "$out/mean_scale/weights.npz,$out/joint/weights.npz,$out/channelwise/weights.npz"
