"""Ablation: the `gdn` parameterization with functions of λ at 30×, 100× and 300× the
learning rate (everything else as in run.sh). Run after run.sh:

    python results/rate_study_warm/multiplier.py          # trains the two new variants, then evaluates

Prints the coverage / BD-rate table against the study's separate models.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import zoo  # noqa: E402
from recipes import datasets, evaluation, rate_study  # noqa: E402

STUDY = Path("runs/rate_warm")
rows = []
for multiplier in (30, 100, 300):
    config = rate_study.StudyConfig(
        workdir=str(STUDY if multiplier == 100 else Path(f"runs/rate_warm_m{multiplier}")),
        init_from="hyperprior@0.013", function_lr_multiplier=multiplier, num_steps=1500,
        parameterizations=("gdn",), groups=("vr",))
    try:
        rows.append((multiplier, rate_study.train_all(config)["vr"]["gdn"]))
    except Exception as exc:  # a diverging run stops with a clear error: record it
        print(f"multiplier {multiplier}: {type(exc).__name__}: {exc}")
full = evaluation.read_curve(STUDY / "results", rate_study.FULL)
images = datasets.load_images(str(datasets.KODAK_DIR))
curves = [full] + [
    rate_study.sweep_rates(f"gdn, {m}x", zoo.load(path), list(rate_study.StudyConfig().lambdas),
                           "lmbda", images, progress=True)
    for m, path in rows
]
print(rate_study.coverage_table(curves, evaluation.bd_rates(curves, [full])))
