"""Compression to a target size or quality: `zoo.compress_to_target`.

    data, report = zoo.compress_to_target(image, target_bpp=0.5, codec=codec)  # β or λ
    data, report = zoo.compress_to_target(image, target_psnr=32, name="hyperprior")  # ladder
    print(report.summary())

Every probe is a real compression (file bytes, header included, over the image's
pixels; PSNR of the decoder's actual output), so what is reported is what the file is.

    variable-rate model (`rate_parameter` set: β of learned_step, λ of λ-parameterized
    models): probe both ends of its range, then bisect on log(rate) between the last
    probe meeting the target and the last one missing it.
    ladder of fixed-λ pretrained models (`name=`): the same bisection over the entries
    sorted by λ (each probed rung is loaded once per process and kept in a small cache).

A bpp target keeps the largest file with bpp ≤ target (stopping once within
`bpp_tolerance` of it); a PSNR target keeps the smallest file with PSNR ≥ target
(stopping once within `psnr_tolerance` dB). Both assume the rate grows monotonically
along the axis, which trained models satisfy; the best probe seen is returned either
way. An unreachable target returns the closest file with `report.satisfied = False`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from zoo import image_io, metrics, pretrained
from zoo.codec import Codec

#: How far a variable-rate model's range is searched when it names none (×2 per step).


@dataclass(frozen=True)
class Probe:
    """One real compression made during the search."""

    model: str
    lmbda: float
    rate: float | None
    bytes: int
    bpp: float
    psnr: float | None = None


@dataclass
class TargetReport:
    """What `compress_to_target` reached, and how."""

    target: str  # "bpp" or "psnr"
    value: float
    model: str
    metric: str
    lmbda: float
    rate_parameter: str | None
    rate: float | None
    bpp: float
    psnr: float
    satisfied: bool
    probes: list[Probe] = field(default_factory=list)

    def summary(self) -> str:
        goal = f"≤ {self.value:g} bpp" if self.target == "bpp" else f"≥ {self.value:g} dB"
        setting = f"λ={self.lmbda:g}"
        if self.rate_parameter not in (None, "lmbda") and self.rate is not None:
            setting += f", {self.rate_parameter}={self.rate:.4g}"
        verdict = "reached" if self.satisfied else "NOT reachable; closest"
        return (
            f"target {goal}: {verdict} {self.bpp:.4f} bpp, {self.psnr:.2f} dB with "
            f"{self.model} ({setting}) after {len(self.probes)} probes"
        )


class _Goal:
    """Feasibility and preference for one target; the rate axis runs from low to high bpp."""

    def __init__(self, target_bpp, target_psnr, bpp_tolerance, psnr_tolerance):
        if (target_bpp is None) == (target_psnr is None):
            raise ValueError("give exactly one of target_bpp and target_psnr")
        self.kind = "bpp" if target_bpp is not None else "psnr"
        self.value = float(target_bpp if target_bpp is not None else target_psnr)
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(f"target_{self.kind} must be a positive number, got {self.value}")
        self.tolerance = bpp_tolerance if self.kind == "bpp" else psnr_tolerance
        #: A bpp target is met at the low-rate end of the axis, a PSNR target at the high.
        self.met_at_high_rate = self.kind == "psnr"

    @property
    def needs_psnr(self) -> bool:
        return self.kind == "psnr"

    def met(self, p: Probe) -> bool:
        if self.kind == "bpp":
            return p.bpp <= self.value
        return p.psnr >= self.value

    def close_enough(self, p: Probe) -> bool:
        if self.kind == "bpp":
            return p.bpp >= self.value * (1.0 - self.tolerance)
        return p.psnr <= self.value + self.tolerance

    def best(self, probes: list[Probe]) -> Probe:
        met = [p for p in probes if self.met(p)]
        if self.kind == "bpp":
            return max(met, key=lambda p: p.bpp) if met else min(probes, key=lambda p: p.bpp)
        return min(met, key=lambda p: p.bpp) if met else max(probes, key=lambda p: p.psnr)


def _bisect(
    probe_at: Callable[[float], Probe],
    low: float,
    high: float,
    goal: _Goal,
    midpoint: Callable[[float, float], float | None],
    max_probes: int,
) -> list[Probe]:
    """Probes the ends of [low, high], then bisects; returns every probe made.

    `probe_at(t)` compresses at axis position t; which end has the higher rate is
    found from the two end probes. `midpoint(a, b)` returns the next position, or None
    when the interval cannot be split further.
    """
    probes: list[Probe] = []
    cache: dict[float, Probe] = {}

    def at(t: float) -> Probe:
        if t not in cache:
            cache[t] = probe_at(t)
            probes.append(cache[t])
        return cache[t]

    low_end, high_end = at(low), at(high)
    if low_end.bpp > high_end.bpp:  # e.g. β: a larger step multiplier gives fewer bits
        low, high = high, low
        low_end, high_end = high_end, low_end
    met_end, missed_end = (high, low) if goal.met_at_high_rate else (low, high)
    if not goal.met(at(met_end)) or goal.met(at(missed_end)):
        return probes  # unreachable, or met across the whole range: an end is the answer
    while len(probes) < max_probes and not goal.close_enough(at(met_end)):
        t = midpoint(met_end, missed_end)
        if t is None:
            break
        if goal.met(at(t)):
            met_end = t
        else:
            missed_end = t
    return probes


def compress_to_target(
    image: np.ndarray,
    *,
    target_bpp: float | None = None,
    target_psnr: float | None = None,
    codec: Codec | None = None,
    name: str | None = None,
    metric: str = "mse",
    bpp_tolerance: float = 0.02,
    psnr_tolerance: float = 0.05,
    max_probes: int = 16,
    effort: str | int = "fast",
) -> tuple[bytes, TargetReport]:
    """Compresses `image` as close as possible to a target bpp or PSNR.

    Args:
      image: uint8 [H, W, 3].
      target_bpp: keep the file at or below this many bits per pixel (whole file).
      target_psnr: reach at least this PSNR (dB, RGB, 0..255) with the fewest bits.
      codec: a variable-rate `Codec` whose rate parameter (β or λ) is searched.
      name: instead of `codec`, a registered name whose pretrained entries of `metric`
        are searched: a variable-rate entry if there is one, else the fixed-λ ladder.
      metric: the pretrained entries' metric (with `name`).
      bpp_tolerance: relative distance below `target_bpp` at which the search stops.
      psnr_tolerance: dB above `target_psnr` at which the search stops.
      max_probes: most compressions made (at least the two ends of the range).
      effort: encoder effort of every probe (`Codec.compress`, `zoo.effort`).

    Returns:
      (file bytes, a `TargetReport` with the reached bpp, PSNR, λ and rate, and probes).

    Raises:
      ValueError: no or two targets, both or neither of `codec` and `name`, or a
        fixed-rate `codec` (search its ladder with `name=` instead).
      WeightsError / RegistryError: `name` has no pretrained entries or is unknown.
    """
    image = image_io.check_image_array(image)
    goal = _Goal(target_bpp, target_psnr, bpp_tolerance, psnr_tolerance)
    max_probes = max(2, int(max_probes))
    if (codec is None) == (name is None):
        raise ValueError("give exactly one of codec= and name=")
    if codec is not None:
        if codec.model.rate_spec is None:
            raise ValueError(
                f"{codec.name} is a fixed-rate model; search a ladder of pretrained models "
                f"with name={codec.name!r} instead"
            )
        search = _search_variable(codec, image, goal, codec.model.rate_spec.bounds, max_probes,
                                 effort)
    else:
        search = _search_pretrained(name, metric, image, goal, max_probes, effort)
    return search.data, search.report(goal, image)


@dataclass
class _Search:
    """Every probe with its file; the chosen one is `goal.best(probes)`."""

    effort: str | int = "fast"
    probes: list[Probe] = field(default_factory=list)
    files: list[tuple[Codec, bytes]] = field(default_factory=list)
    chosen: int = -1

    def add(self, codec: Codec, image: np.ndarray, rate: float | None, goal: _Goal) -> Probe:
        if goal.needs_psnr:
            data, decoded = codec.compress_with_reconstruction(image, rate, self.effort)
            psnr = metrics.psnr(image, decoded)
        else:
            data, psnr = codec.compress(image, rate, self.effort), None
        bpp = 8.0 * len(data) / (image.shape[0] * image.shape[1])
        rate = None if rate is None else float(rate)
        probe = Probe(codec.name, codec.lmbda, rate, len(data), bpp, psnr)
        self.probes.append(probe)
        self.files.append((codec, data))
        return probe

    def choose(self, goal: _Goal, probes: list[Probe]) -> None:
        best = goal.best(probes)
        self.chosen = next(i for i, p in enumerate(self.probes) if p is best)

    @property
    def data(self) -> bytes:
        return self.files[self.chosen][1]

    def report(self, goal: _Goal, image: np.ndarray) -> TargetReport:
        codec, data = self.files[self.chosen]
        best = self.probes[self.chosen]
        psnr = best.psnr if best.psnr is not None else metrics.psnr(image, codec.decompress(data))
        reached = Probe(best.model, best.lmbda, best.rate, best.bytes, best.bpp, psnr)
        return TargetReport(
            target=goal.kind, value=goal.value, model=codec.name, metric=codec.metric,
            # A variable-rate model's λ is the one it coded at, not its default.
            lmbda=best.rate if codec.model.rate_parameter == "lmbda" and best.rate else codec.lmbda,
            rate_parameter=codec.model.rate_parameter, rate=best.rate,
            bpp=best.bpp, psnr=psnr, satisfied=goal.met(reached), probes=list(self.probes),
        )


def _search_variable(codec, image, goal, bounds, max_probes, effort="fast") -> _Search:
    low, high = bounds
    if not 0 < low <= high:
        raise ValueError(f"{codec.name}: invalid rate range [{low:g}, {high:g}]")
    search = _Search(effort)

    def probe_at(t: float) -> Probe:
        # t runs over log(rate): rate parameters (β, λ) act multiplicatively.
        return search.add(codec, image, min(max(math.exp(t), low), high), goal)

    def midpoint(a: float, b: float) -> float | None:
        return (a + b) / 2 if abs(a - b) > 1e-4 else None

    probes = _bisect(probe_at, math.log(low), math.log(high), goal, midpoint, max_probes)
    search.choose(goal, probes)
    return search


@lru_cache(maxsize=8)
def _pretrained_codec(entry: pretrained.PretrainedEntry) -> Codec:
    # Searching many images against one ladder loads each rung once (a ladder has ≤ 8).
    return Codec(pretrained.load_model(entry))


def _search_pretrained(name, metric, image, goal, max_probes, effort="fast") -> _Search:
    entries = pretrained.list_pretrained(name, metric)
    if not entries:
        pretrained.find(name, 1.0, metric)  # raises with the registry's own advice
    variable = [e for e in entries if e.lmbda_range is not None]
    if variable:
        entry = max(variable, key=lambda e: e.version)
        codec = _pretrained_codec(entry)
        low, high = codec.model.rate_spec.bounds
        if entry.tradeoff == codec.model.rate_parameter:
            low, high = max(low, entry.lmbda_range[0]), min(high, entry.lmbda_range[1])
        return _search_variable(codec, image, goal, (low, high), max_probes, effort)

    ladder = sorted({e.lmbda for e in entries})
    search = _Search(effort)

    def probe_at(t: float) -> Probe:
        codec = _pretrained_codec(pretrained.find(name, ladder[int(t)], metric))
        return search.add(codec, image, None, goal)

    def midpoint(a: float, b: float) -> float | None:
        return float((int(a) + int(b)) // 2) if abs(a - b) > 1 else None

    probes = _bisect(probe_at, 0.0, float(len(ladder) - 1), goal, midpoint, max_probes)
    search.choose(goal, probes)
    return search
