#!/usr/bin/env bash
# Thread study of 2026-12-07 (Xeon with AMX, 2 cores): one or two training benchmarks at
# once, with TensorFlow's default threads or one intra-/inter-op thread each.
# Run from the repository root; outputs runs/threads/*.json (copied here).
set -x; mkdir -p runs/threads
B="python -m recipes.benchmark --train --train_steps=30 --train_precisions=mixed_bfloat16"
$B --intra_op_threads=2 --inter_op_threads=1 --output=runs/threads/B.json > runs/threads/B.log 2>&1
$B --intra_op_threads=1 --inter_op_threads=1 --output=runs/threads/C1.json > runs/threads/C1.log 2>&1 &
$B --intra_op_threads=1 --inter_op_threads=1 --output=runs/threads/C2.json > runs/threads/C2.log 2>&1
wait
$B --output=runs/threads/D1.json > runs/threads/D1.log 2>&1 &
$B --output=runs/threads/D2.json > runs/threads/D2.log 2>&1
wait
echo finished
