"""The training input pipeline (recipes/data.py): folders, globs, crops, skips, TFDS errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recipes import data  # noqa: E402

CID22 = Path("/work/shared/datasets/cid22/training")


def _png(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    rng = np.random.default_rng(len(str(path)))
    shape = (size[1], size[0]) + (() if mode == "L" else (3,))
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _png(tmp_path / "plain.png", (80, 72))
    _png(tmp_path / "with space (1).png", (64, 96))
    _png(tmp_path / "bracket [x].png", (70, 70))
    _png(tmp_path / "gray.png", (66, 66), mode="L")
    _png(tmp_path / "small.png", (40, 90))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_paths_lists_odd_names_and_ignores_other_files(folder: Path):
    paths = data.image_paths(str(folder))
    names = sorted(Path(p).name for p in paths)
    assert names == ["bracket [x].png", "gray.png", "plain.png", "small.png", "with space (1).png"]


def test_image_paths_glob_and_missing(folder: Path):
    assert [Path(p).name for p in data.image_paths(str(folder / "pl*.png"))] == ["plain.png"]
    with pytest.raises(data.DataError, match="no training images"):
        data.image_paths(str(folder / "nothing-*.jpg"))


def test_scan_counts_small_and_unreadable(folder: Path):
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    found = data.scan_images(data.image_paths(str(folder)), min_size=64)
    assert len(found.paths) == 4
    assert [Path(p).name for p in found.skipped_small] == ["small.png"]
    assert [Path(p).name for p in found.unreadable] == ["broken.png"]


def test_train_dataset_crops_flips_and_makes_rgb(folder: Path):
    found = data.scan_images(data.image_paths(str(folder)), min_size=64)
    gray_only = data.train_dataset([str(folder / "gray.png")], 64, 3, seed=1)
    batch = next(iter(gray_only)).numpy()
    assert batch.shape == (3, 64, 64, 3) and batch.dtype == np.float32
    # Grayscale became RGB by copying the channel, not by inventing colour.
    np.testing.assert_array_equal(batch[..., 0], batch[..., 1])
    batches = list(data.train_dataset(found.paths, 64, 4, seed=0).take(3))
    assert all(b.shape == (4, 64, 64, 3) for b in batches)
    assert 0.0 <= float(min(b.numpy().min() for b in batches)) and max(
        float(b.numpy().max()) for b in batches) <= 255.0
    # Random crops: two batches are not the same pixels.
    assert not np.array_equal(batches[0].numpy(), batches[1].numpy())


def test_cached_pipeline_decodes_each_file_once_and_crops_every_epoch(folder: Path):
    found = data.scan_images(data.image_paths(str(folder)), min_size=64)
    assert found.decoded_bytes == 3 * (80 * 72 + 64 * 96 + 70 * 70 + 66 * 66)
    cached = data.train_dataset(found.paths, 64, 4, seed=0, cache=True)
    batches = [b.numpy() for b in cached.take(6)]  # six epochs of the four images
    assert all(b.shape == (4, 64, 64, 3) and b.dtype == np.float32 for b in batches)
    assert not np.array_equal(batches[0], batches[1])  # new crops every epoch
    # Every crop is a crop of one of the files, flipped or not: the cache holds the
    # decoded pixels, not a first batch of crops.
    sources = [np.asarray(Image.open(p).convert("RGB"), np.float32) for p in found.paths]

    def is_crop(patch):
        for image in sources:
            for candidate in (patch, patch[:, ::-1]):
                windows = np.lib.stride_tricks.sliding_window_view(image, (64, 64, 3))[..., 0, :, :, :]
                if np.any(np.all(windows == candidate, axis=(2, 3, 4))):
                    return True
        return False

    assert all(is_crop(patch) for patch in batches[-1])


def test_small_images_are_filtered_in_the_pipeline_too(folder: Path):
    # Even unscanned, a too-small file never reaches random_crop (which would fail).
    paths = [str(folder / "small.png"), str(folder / "plain.png")]
    batch = next(iter(data.train_dataset(paths, 64, 2, seed=0)))
    assert batch.shape == (2, 64, 64, 3)


def test_throughput_is_measured(folder: Path):
    found = data.scan_images(data.image_paths(str(folder)), min_size=64)
    result = data.measure_throughput(data.train_dataset(found.paths, 64, 2), num_batches=3)
    assert result["images_per_second"] > 0 and result["batches"] == 3


def test_one_resolver_decides_files_or_tfds(folder: Path, monkeypatch):
    from recipes import datasets, sources

    monkeypatch.chdir(folder)
    os.mkdir("kodak_local")
    for spec, kind, name in [
        (str(folder), "files", str(folder)),
        ("kodak_local", "files", "kodak_local"),  # an existing relative folder
        ("plain.png", "files", "plain.png"),
        ("missing/*.png", "files", "missing/*.png"),  # a glob, even matching nothing
        ("./nowhere", "files", "./nowhere"),  # written like a path
        ("photo.webp", "files", "photo.webp"),  # an image suffix
        ("clic", "tfds", "clic"),
        ("clic:1.0.0", "tfds", "clic:1.0.0"),
        ("cid22/default", "tfds", "cid22/default"),
        ("tfds:kodak_local", "tfds", "kodak_local"),  # forced, although the folder exists
    ]:
        source = sources.resolve(spec)
        assert (source.kind, source.spec) == (kind, name), spec
        assert data.is_local(spec) == (kind == "files")
    assert sources.resolve("clic/2020:1.0.0").builder_name == "clic"
    # Training and evaluation list the same files by the same suffixes.
    (folder / "extra.webp").write_bytes(b"")
    (folder / "anim.gif").write_bytes(b"")
    names = {Path(p).name for p in data.image_paths(str(folder))}
    assert {"extra.webp", "anim.gif"} <= names and "notes.txt" not in names
    assert sorted(data.image_paths(str(folder))) == sorted(
        str(p) for p in datasets._files(str(folder))
    )


def test_formats_tensorflow_does_not_decode_go_through_pillow(tmp_path: Path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (70, 80, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.tiff")
    Image.fromarray(pixels).save(tmp_path / "a.ppm")
    (tmp_path / "broken.webp").write_bytes(b"RIFF not really")
    paths = data.image_paths(str(tmp_path))
    assert len(paths) == 3
    # Full-height crops of a lossless image: its own pixels (maybe flipped); the unreadable
    # file is dropped, not an error.
    windows = [pixels[:, i : i + 70] for i in range(11)]
    for batch in data.train_dataset(paths, 70, 2, seed=0).take(2):
        for crop in batch.numpy():
            assert any(np.array_equal(c, w) for c in (crop, crop[:, ::-1]) for w in windows)


def test_tfds_not_prepared_fails_clearly(tmp_path: Path):
    assert not data.is_local("clic") and data.is_local(str(tmp_path))
    with pytest.raises(data.DataError, match="not prepared.*does not download"):
        data.train_dataset("clic", 64, 2, data_dir=str(tmp_path))


@pytest.mark.skipif(not CID22.is_dir(), reason="CID22 not available")
def test_cid22_folder_names_and_grayscale():
    paths = data.image_paths(str(CID22))
    assert len(paths) >= 200
    assert any(" " in Path(p).name or "(" in Path(p).name for p in paths)
    gray = [p for p in paths if Image.open(p).mode in ("L", "LA", "I;16")]
    assert gray, "CID22 training should hold grayscale images"
    batch = next(iter(data.train_dataset(gray, 64, len(gray), seed=0)))
    assert batch.shape[-1] == 3
