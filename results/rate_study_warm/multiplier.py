"""Ablation: functions of λ at 30×, 100× and 300× the transforms' learning rate
(everything else as in run.sh). Run after run.sh:

    python results/rate_study_warm/multiplier.py                 # gdn at 30×, 100×, 300×
    python results/rate_study_warm/multiplier.py layer_scaling 30 100

Trains what is missing (100× is the study's own variant), then prints the coverage /
BD-rate table against the study's separate models.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import zoo  # noqa: E402
from recipes import datasets, evaluation, rate_study  # noqa: E402

STUDY = Path("runs/rate_warm")
parameterization = sys.argv[1] if len(sys.argv) > 1 else "gdn"
multipliers = [float(m) for m in sys.argv[2:]] or [30.0, 100.0, 300.0]
rows = []
for multiplier in multipliers:
    workdir = STUDY if multiplier == 100 else Path(f"runs/rate_warm_m{multiplier:g}")
    config = rate_study.StudyConfig(
        workdir=str(workdir), init_from="hyperprior@0.013", function_lr_multiplier=multiplier,
        num_steps=1500, parameterizations=(parameterization,), groups=("vr",))
    try:
        rows.append((multiplier, rate_study.train_all(config)["vr"][parameterization]))
    except Exception as exc:  # a diverging run stops with a clear error: record it
        print(f"{parameterization}, {multiplier:g}x: {type(exc).__name__}: {exc}")
full = evaluation.read_curve(STUDY / "results", rate_study.FULL)
images = datasets.load_images(str(datasets.KODAK_DIR))
curves = [full] + [
    rate_study.sweep_rates(f"{parameterization}, {m:g}x", zoo.load(path),
                           list(rate_study.StudyConfig().lambdas), "lmbda", images, progress=True)
    for m, path in rows
]
print(rate_study.coverage_table(curves, evaluation.bd_rates(curves, [full])))
