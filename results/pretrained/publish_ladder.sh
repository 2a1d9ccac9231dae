#!/usr/bin/env bash
# Compacts (float16 kernels, export.compact), evaluates on all 24 Kodak images (real
# files) and publishes every finished run of a ladder into the package (zoo/weights/,
# zoo/models/<family>.pretrained.json). What is evaluated is exactly what ships.
#   bash results/pretrained/publish_ladder.sh hyperprior mse runs/pretrained 1
set -euo pipefail
model="${1:-hyperprior}"; metric="${2:-mse}"; out="${3:-runs/pretrained}"; version="${4:-1}"
for dir in "$out/${model}_${metric}"_*; do
  [[ -f "$dir/weights.npz" ]] || continue
  lmbda="${dir##*_}"
  if [[ -f "zoo/weights/${model}-${metric}-${lmbda}-v${version}.npz" ]]; then
    echo "already published: $dir"; continue
  fi
  python -m export.compact "$dir/weights.npz" "$dir/compact.npz"
  python -m recipes.evaluate --weights "$dir/compact.npz" --codecs none --plot=false \
    --output "$dir/kodak" > "$dir/kodak.log"
  # Steps and wall time add up along the fine-tuning chain (training_log.json of each
  # stage, or the training record of a published artifact a chain was warm-started from).
  read -r steps hours data < <(python - "$dir" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1]); steps = 0; secs = 0.0; chain = []; warm = ""
while d is not None:
    cfg = json.loads((d / "config.json").read_text())["config"]
    w = json.loads((d / "training_log.json").read_text())
    steps += w["steps"]; secs += w.get("wall_time_seconds", 0.0)
    chain.append(f"λ={cfg['lmbda']:g}")
    init = cfg.get("init_from")
    d = pathlib.Path(init).parent if init else None
    if d is not None and not (d / "config.json").exists():  # a published artifact
        import hashlib, zoo
        digest = hashlib.sha256(pathlib.Path(init).read_bytes()).hexdigest()
        entry = next(e for e in zoo.list_pretrained() if e.sha256 == digest)
        steps += entry.steps; secs += entry.wall_time_hours * 3600
        warm = f"; started from {entry.file} ({entry.training_data})"
        d = None
desc = (f"CID22 training split (209 photos, 512x512), random 128x128 crops, batch 8; "
        f"fine-tuning chain {' <- '.join(chain)}{warm}")
print(steps, secs / 3600, desc)
PY
)
  python -m export.publish --weights "$dir/compact.npz" --eval "$dir/kodak/${model}-${metric}.json" \
    --version "$version" --steps "$steps" --wall_time_hours "$hours" --training_data "$data"
done
