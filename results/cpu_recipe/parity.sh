#!/usr/bin/env bash
# Per-step parity with CompressAI 1.2.8's ScaleHyperprior (issue set-up): hyperprior
# N=64, M=96, CID22 training, random 128² crops, batch 8, λ=0.013, Adam 1e-4 (constant),
# evaluated on real files of the first 8 Kodak images after 1k, 2k and 5k steps.
#   results/cpu_recipe/parity.sh ARM [extra recipes.train flags...]
# The run is resumed stage by stage (1k → 2k → 5k) in the same workdir; with a constant
# learning rate that is the same run as one of 5k steps with checkpoints.
# Environment: PRECISION (float32), SEED (0), MAX_IMAGES (Kodak images evaluated, 8),
# THREADS (intra-/inter-op threads, 0: TensorFlow's default; 1 to run two arms at once).
set -euo pipefail
arm="$1"; shift
root="${PARITY_ROOT:-runs/parity}"
data="${CID22:-../shared/datasets/cid22/training}"
kodak="${KODAK:-../shared/datasets/kodak}"
out="results/cpu_recipe/parity/$arm"
mkdir -p "$out"
for steps in ${PARITY_STEPS:-1000 2000 5000}; do
  python -m recipes.train --model=hyperprior --lmbda=0.013 \
    --model_overrides='{"num_filters": 64, "num_latents": 96}' \
    --train_data="$data" --patchsize=128 --batchsize=8 --learning_rate=1e-4 \
    --schedule=constant --num_steps="$steps" --checkpoint_every=500 --image_every=100000 \
    --precision="${PRECISION:-float32}" --seed="${SEED:-0}" \
    --intra_op_threads="${THREADS:-0}" --inter_op_threads="${THREADS:-0}" \
    --workdir="$root/$arm" "$@"
  cp "$root/$arm/weights.npz" "$out/weights_$steps.npz.tmp"
  python -m recipes.evaluate --weights="$out/weights_$steps.npz.tmp" --dataset="$kodak" \
    --max_images="${MAX_IMAGES:-8}" --codecs=none --noplot --output="$out/eval_$steps"
  rm "$out/weights_$steps.npz.tmp"
  cp "$root/$arm/training_log.json" "$out/training_log_$steps.json"
done
