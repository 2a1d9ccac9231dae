"""Toy-source lab of nonlinear transform coding (Ballé et al. 2021, "Nonlinear Transform
Coding", arXiv:2007.03034, sections II-III).

Importing this package registers `toy_vecvq`, `toy_ntc` and `toy_ltc` with the zoo.

Convention used throughout (the toy section's): a sample is one source vector x ∈ R^N;
rate R is in bits per sample, distortion D = ‖x − x̂‖² (summed over the N dims, not
averaged), and every model minimizes R + λ·D. With this λ, the high-rate slope of an
entropy-coded uniform quantizer gives D ≈ N / (2 ln2 · λ).
"""

from zoo.toy import ntc, vecvq
from zoo.toy.ntc import TransformCoder
from zoo.toy.sources import Banana, Laplace, ToySource, get_source
from zoo.toy.training import evaluate, evaluate_on_grid, train
from zoo.toy.vecvq import VECVQ

__all__ = [
    "VECVQ",
    "Banana",
    "Laplace",
    "ToySource",
    "TransformCoder",
    "evaluate",
    "evaluate_on_grid",
    "get_source",
    "ntc",
    "train",
    "vecvq",
]
