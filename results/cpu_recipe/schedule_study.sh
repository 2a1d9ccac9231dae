#!/usr/bin/env bash
# Schedule study at a fixed wall-clock budget per arm (issue "Training at this CPU's
# limit", point 4): hyperprior N=64, M=96, λ = 0.013, CID22 training, mixed_bfloat16,
# from scratch. Every arm trains for the same BUDGET seconds of training wall time
# (`--time_budget`: its decay follows time, so every arm decays fully); it is stopped at
# ¼, ½, ¾ and the whole budget (`--stop_after`), and its weights of each quarter are
# coded for real on the natural-size validation crops (CID22 validation cut to odd
# sizes), the final ones also on the 24 Kodak images, after all arms have trained. Two arms run at a time, one thread each (the
# fastest use of 2 cores, results/cpu_recipe/README.md); eight arms, so that every arm
# shares the machine alike. Then `python results/cpu_recipe/schedule_plot.py`.
#   results/cpu_recipe/schedule_study.sh            # every arm; BUDGET=480 s by default
#   ARMS="cosine_3e-4 constant_1e-4" results/cpu_recipe/schedule_study.sh
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/../.."
export BUDGET="${BUDGET:-480}" STUDY_ROOT="${STUDY_ROOT:-runs/schedule}"
export CID22="${CID22:-../shared/datasets/cid22/training}" KODAK="${KODAK:-../shared/datasets/kodak}"
export NATURAL="${NATURAL:-runs/natural}"
out=results/cpu_recipe/schedule

if [ "${1:-}" = "--arm" ]; then  # one arm: --arm NAME [recipes.train flags...]
  arm="$2"; shift 2
  mkdir -p "$out/$arm"
  printf '%s\n' "$*" > "$out/$arm/flags.txt"
  for quarter in 1 2 3 4; do
    python -m recipes.train --model=hyperprior --lmbda=0.013 \
      --model_overrides='{"num_filters": 64, "num_latents": 96}' --train_data="$CID22" \
      --patchsize=128 --batchsize=8 --num_steps=1000000 --time_budget="$BUDGET" \
      --stop_after=$((BUDGET * quarter / 4)) --checkpoint_every=1000 --image_every=1000000 \
      --precision=mixed_bfloat16 --intra_op_threads=1 --inter_op_threads=1 \
      --workdir="$STUDY_ROOT/$arm" "$@"
    cp "$STUDY_ROOT/$arm/training_log.json" "$out/$arm/training_log_$quarter.json"
    cp "$STUDY_ROOT/$arm/weights.npz" "$STUDY_ROOT/$arm/weights_$quarter.npz"
  done
  exit 0
fi
if [ "${1:-}" = "--evaluate" ]; then  # --evaluate ARM, after training: no evaluation slows an arm
  arm="$2"
  for quarter in 1 2 3 4; do
    [ -f "$out/$arm/natural_$quarter/hyperprior-mse.json" ] ||
      python -m recipes.evaluate --weights="$STUDY_ROOT/$arm/weights_$quarter.npz" \
        --dataset="$NATURAL" --codecs=none --noplot --output="$out/$arm/natural_$quarter"
  done
  [ -f "$out/$arm/kodak_4/hyperprior-mse.json" ] ||
    python -m recipes.evaluate --weights="$STUDY_ROOT/$arm/weights_4.npz" \
      --dataset="$KODAK" --codecs=none --noplot --output="$out/$arm/kodak_4"
  exit 0
fi

[ -d "$NATURAL" ] || python -m recipes.natural_crops --output="$NATURAL"
mkdir -p "$STUDY_ROOT"
warm="--warmup_steps=500"
all=$(cat <<ARMS
constant_1e-4 --schedule=constant --learning_rate=1e-4
constant_3e-4 --schedule=constant --learning_rate=3e-4 $warm
cosine_3e-4 --schedule=cosine --learning_rate=3e-4 $warm
cosine_1e-3 --schedule=cosine --learning_rate=1e-3 $warm
step_3e-4 --schedule=step --learning_rate=3e-4 $warm
cosine_3e-4_noclip --schedule=cosine --learning_rate=3e-4 $warm --clip_norm=0
cosine_3e-4_256b2 --schedule=cosine --learning_rate=3e-4 $warm --patchsize=256 --batchsize=2
cosine_3e-4_256b8 --schedule=cosine --learning_rate=3e-4 $warm --patchsize=256 --batchsize=8
ARMS
)
if [ -n "${ARMS:-}" ]; then
  all=$(for a in $ARMS; do grep "^$a " <<<"$all"; done)
fi
# Two at a time; each arm's log in runs/schedule/<arm>.log. Then the real files.
xargs -P 2 -L 1 sh -c 'exec "$0" --arm "$@" > "$STUDY_ROOT/$1.log" 2>&1' "$self" <<<"$all"
cut -d' ' -f1 <<<"$all" | xargs -P 2 -I{} sh -c 'exec "$0" --evaluate {} >> "$STUDY_ROOT/{}.log" 2>&1' "$self"
