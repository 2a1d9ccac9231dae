#!/usr/bin/env bash
# Parity judged over seeds, and the paired float32 / mixed_bfloat16 run (session of
# 2026-12-07): the zoo's trainer (parity.sh, clipping at 1.0, the scale-index
# initialization) at seeds 0 and 1 in float32 and seed 0 in mixed_bfloat16, and
# CompressAI 1.2.8 (compressai_reference.py) at seeds 0 and 1; two runs at a time, one
# thread each, every Kodak image evaluated after 1k, 2k and 5k steps.
#   CAI_PYTHON=/path/to/compressai-venv/bin/python results/cpu_recipe/parity_seeds.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cai="${CAI_PYTHON:?a python with compressai==1.2.8}"
here=results/cpu_recipe
jobs=(
  "SEED=0 PRECISION=float32 bash $here/parity.sh seed0_float32"
  "$cai $here/compressai_reference.py --seed 0 --threads 1 --out $here/parity/compressai_seed0"
  "SEED=0 PRECISION=mixed_bfloat16 bash $here/parity.sh seed0_bfloat16"
  "$cai $here/compressai_reference.py --seed 1 --threads 1 --out $here/parity/compressai_seed1"
  "SEED=1 PRECISION=float32 bash $here/parity.sh seed1_float32"
)
export THREADS=1 MAX_IMAGES=24
printf '%s\n' "${jobs[@]}" | xargs -P 2 -I{} bash -c '{} > "runs/parity_$(echo "{}" | md5sum | cut -c1-8).log" 2>&1'
