#!/usr/bin/env bash
# Issue 7's comparison: hierarchical (6 levels) against hyperprior trained alike
# (λ = 0.0067, N=64/M=96, 1,000 steps from scratch, lr 1e-4, 128×128 CID22 crops, batch 8,
# seed 0), measured on all 24 Kodak images with real files. The hyperprior is the rate
# study's separately trained λ = 0.0067 model (same schedule).
set -euo pipefail
python -m recipes.rate_study --workdir runs/rate_study --lambdas 0.0018,0.0067,0.0483 \
  --num_steps 1000 --groups full
python -m recipes.train --model hierarchical --lmbda 0.0067 \
  --train_data ../shared/datasets/cid22/training --patchsize 128 --batchsize 8 \
  --learning_rate 1e-4 --num_steps 1000 --checkpoint_every 250 --log_every 50 \
  --model_overrides '{"num_filters": 64, "num_latents": 96}' --workdir runs/hierarchical_0.0067
python -m recipes.evaluate --codecs none --output results/hierarchical_vs_hyperprior \
  --weights runs/rate_study/full-0.0067/weights.npz,runs/hierarchical_0.0067/weights.npz
