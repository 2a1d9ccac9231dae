#!/usr/bin/env bash
# Issue 5's check: mean_scale vs joint vs channelwise trained alike: each warm-started from
# the shipped hyperprior λ=0.013 weights, 5,000 steps at λ=0.013, N=64/M=96, 128×128 CID22
# crops, batch 8 (the base runs of results/pretrained/train_ladder.sh), then measured on
# all 24 Kodak images with real files.
#   bash results/context_comparison/run.sh runs/pt
set -euo pipefail
out="${1:-runs/pt}"
export BASE_STEPS=5000 BASE_INIT=zoo/weights/hyperprior-mse-0.013-v1.npz STAGES=" "  # no fine-tunes: base runs only
bash results/pretrained/train_ladder.sh mean_scale mse "$out"
bash results/pretrained/train_ladder.sh joint mse "$out"
OVERRIDES='{"num_filters": 64, "num_latents": 96, "num_hyper_latents": 64, "num_slices": 8, "max_support_slices": 4}' \
  bash results/pretrained/train_ladder.sh channelwise mse "$out"
python -m recipes.evaluate --codecs none --output results/context_comparison/kodak \
  --weights "$out/mean_scale_mse_0.013/weights.npz,$out/joint_mse_0.013/weights.npz,$out/channelwise_mse_0.013/weights.npz"
