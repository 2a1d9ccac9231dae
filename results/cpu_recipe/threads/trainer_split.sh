#!/usr/bin/env bash
# The single-run default (session of 2026-12-08): one real `recipes.train` run with
# TensorFlow's own threads (--cpu_devices=1) against the new default on a 2-core host,
# two single-threaded mirrored replicas (no device flags), at the published (N=128,
# M=192, 256²) and the small (N=64, M=96, 128²) size, mixed_bfloat16, batch 8, nothing
# else running. Run from the repository root; writes runs/threads_split/*.json and
# prints one line per run (copy them into results/cpu_recipe/threads/).
set -euo pipefail
out=runs/threads_split; mkdir -p "$out"
data="${TRAIN_DATA:-../shared/datasets/cid22/training}"
run() {  # run NAME N M PATCH STEPS FLAGS...
  local name=$1 n=$2 m=$3 patch=$4 steps=$5; shift 5
  rm -rf "$out/$name"
  python -m recipes.train --model=hyperprior --lmbda=0.013 \
    --model_overrides="{\"num_filters\": $n, \"num_latents\": $m}" --train_data="$data" \
    --patchsize="$patch" --batchsize=8 --num_steps="$steps" --schedule=cpu \
    --precision=mixed_bfloat16 --checkpoint_every=100000 --image_every=100000 \
    --workdir="$out/$name" "$@" > "$out/$name.log" 2>&1
  python - "$out/$name" "$name" <<'PY'
import json, sys
log = json.load(open(f"{sys.argv[1]}/training_log.json"))
cfg = json.load(open(f"{sys.argv[1]}/config.json"))
row = {"run": sys.argv[2], "steps": log["steps"], "steps_per_second": log["steps_per_second"],
       "images_per_second": log["steps_per_second"] * 8, "cpu_devices": cfg["config"]["cpu_devices"],
       "replicas": cfg["strategy"]["replicas"], "threads": log["threads"]}
json.dump(row, open(f"{sys.argv[1]}.json", "w"), indent=1)
print(json.dumps({k: row[k] for k in ("run", "steps", "steps_per_second", "cpu_devices", "replicas")}))
PY
}
run small_one 64 96 128 400 --cpu_devices=1
run small_split 64 96 128 400
run published_one 128 192 256 120 --cpu_devices=1
run published_split 128 192 256 120
