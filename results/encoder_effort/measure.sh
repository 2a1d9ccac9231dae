#!/usr/bin/env bash
# Encoder effort (zoo.effort) on Kodak with the shipped weights: for each supported family,
# every shipped λ coded at effort "fast" and "refine" (real files), BD-rate of refine
# against fast and encode seconds per image (recipes.evaluate's encoding_time).
#   results/encoder_effort/measure.sh [family ...]      (default: hyperprior)
#   MAX_IMAGES=8 LMBDA=0.0018,0.013,0.0483 results/encoder_effort/measure.sh factorized hyperprior
set -euo pipefail
kodak="${KODAK:-../shared/datasets/kodak}"
for family in "${@:-hyperprior}"; do
  python -m recipes.evaluate --model="$family" --dataset="$kodak" --codecs=none \
    ${MAX_IMAGES:+--max_images=$MAX_IMAGES} ${LMBDA:+--lmbda=$LMBDA} --effort=fast,refine \
    --output="results/encoder_effort/$family"
done
python results/encoder_effort/table.py > results/encoder_effort/table.md
cat results/encoder_effort/table.md
