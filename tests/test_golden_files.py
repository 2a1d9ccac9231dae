"""Files written before the latent-codec redesign decode exactly as they did.

`tests/data/golden/` holds format v3 files made at commit 585d63e by
`tests/data/golden/make_golden_files.py`: every tiny family with the seeded weights of
`tests/data/legacy/`, and every shipped family at λ = 0.013, with the pixels the default
and the portable (float64) decoders produced then (on an AMD EPYC: the portable pixels must
match exactly on any machine, the default ones within a level, as `zoo.Codec` promises,
since another CPU's float32 kernels may round a pixel differently). The shipped models' pixels are compared
with the input crop too, so what is stored is the picture, not just a bit pattern (the
tiny models' weights are seeded, untrained).
"""

from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import container

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
KODIM01 = Path(zoo.__file__).parent.parent / "recipes/data/kodak/kodim01.png"


def _files():
    return sorted(GOLDEN.glob("*.lic"))


def _codec(stem: str, portable: bool) -> zoo.Codec:
    if "-" in stem:  # a shipped model, `<name>-<λ>`
        name, lmbda = stem.split("-")
        return zoo.Codec(zoo.get(name, lmbda=float(lmbda)).model, portable=portable)
    return zoo.Codec(zoo.load(DATA / "legacy" / f"{stem}.weights.npz").model, portable=portable)


def test_every_family_has_a_golden_file():
    stems = {p.stem.rsplit("-v", 1)[0] for p in _files()}
    tiny = {n for n in zoo.list_models() if n.endswith("_tiny")}
    assert {s for s in stems if "-" not in s} == tiny & {p.stem.split(".")[0]
                                                         for p in (DATA / "legacy").glob("*.npz")}
    assert {s.split("-")[0] for s in stems if "-" in s} == {e.name for e in zoo.list_pretrained()}


@pytest.mark.parametrize("portable", [False, True], ids=["default", "portable"])
@pytest.mark.parametrize("path", _files(), ids=lambda p: p.stem)
def test_golden_files_decode_to_their_stored_pixels(path, portable):
    stem = path.stem.rsplit("-v", 1)[0]
    data = path.read_bytes()
    assert container.peek(data).version == 3
    decoded = _codec(stem, portable).decompress(data)
    stored = np.load(GOLDEN / f"{path.stem}{'.portable' if portable else ''}.npy")
    if portable:  # float64 after entropy decoding: the same pixels on every machine
        np.testing.assert_array_equal(decoded, stored)
    else:  # float32: another CPU's kernels (AVX2 / AVX-512 / AMX) may round a pixel
        # differently by a level, never more (zoo.Codec's contract)
        assert decoded.shape == stored.shape
        diff = np.abs(decoded.astype(np.int16) - stored.astype(np.int16))
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.001 * diff.size, stem
    image = zoo.read_image(KODIM01)
    crop = image[50:111, 300:383] if "-" in stem else image[100:137, 200:253]
    assert decoded.shape == crop.shape
    if "-" in stem:  # a trained model: that picture is the input crop, coded
        assert zoo.metrics.psnr(crop, decoded) > 22.0, stem
