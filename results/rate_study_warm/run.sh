#!/usr/bin/env bash
# Seed 004 Fig. 12 / seed 001 Fig. 5 at this machine's scale: every variant fine-tuned
# for 1,500 steps from the shipped hyperprior (λ = 0.013, N=64/M=96), 128×128 CID22
# crops, batch 8, Adam 1e-4 (×0.1 after 90 %), functions of λ learning 100× faster.
# Two processes train disjoint groups at once (~54 min on 2 cores), a third evaluates
# on the 24 Kodak images (~13 min). Resumable: rerun the same commands.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs
ARGS=(--workdir runs/rate_warm --init_from hyperprior@0.013 --function_lr_multiplier 100
      --num_steps 1500)
python -m recipes.rate_study "${ARGS[@]}" --groups full,step > runs/rate_warm_full_step.log 2>&1 &
python -m recipes.rate_study "${ARGS[@]}" --groups vr > runs/rate_warm_vr.log 2>&1
wait
python -m recipes.rate_study "${ARGS[@]}"          # evaluates; --report_only redraws
cp runs/rate_warm/results/* results/rate_study_warm/
python - <<'PY'   # steps and wall time of every variant
import glob, json
rows = [{"variant": p.split("/")[2], **{k: json.load(open(p))[k] for k in
         ("steps", "wall_time_seconds", "steps_per_second")}}
        for p in sorted(glob.glob("runs/rate_warm/*/training_log.json"))]
json.dump(rows, open("results/rate_study_warm/training.json", "w"), indent=1)
PY
