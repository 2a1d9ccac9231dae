"""Image sources: folders, globs and the offline tfds builders (kodak, cid22)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from recipes import datasets


def _write_images(folder, count: int, size=(24, 32), seed: int = 0) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = {}
    for i in range(count):
        image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        zoo.write_png(image, folder / f"im{seed}{i}.png")
        images[f"im{seed}{i}"] = image
    return images


def test_folder_glob_and_max_images(tmp_path):
    images = _write_images(tmp_path, 3)
    (tmp_path / "notes.txt").write_text("not an image")
    loaded = datasets.load_images(str(tmp_path))
    assert [name for name, _ in loaded] == sorted(images)
    for name, image in loaded:
        np.testing.assert_array_equal(image, images[name])
    assert len(datasets.load_images(str(tmp_path / "*.png"), max_images=2)) == 2
    with pytest.raises(FileNotFoundError):
        datasets.load_images(str(tmp_path / "*.jpg"))


def test_grayscale_file_becomes_rgb(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((9, 11), 77, np.uint8), "L").save(tmp_path / "gray.png")
    ((name, image),) = datasets.load_images(str(tmp_path))
    assert name == "gray" and image.shape == (9, 11, 3) and (image == 77).all()


def test_kodak_builder_builds_offline_from_shipped_files(tmp_path):
    assert len(datasets.kodak_files()) == 24
    loaded = dict(datasets.iter_images("kodak", data_dir=tmp_path))
    assert sorted(loaded) == [f"kodim{i:02d}" for i in range(1, 25)]
    np.testing.assert_array_equal(
        loaded["kodim07"], zoo.read_image(datasets.KODAK_DIR / "kodim07.png")
    )
    assert {image.shape for image in loaded.values()} == {(512, 768, 3), (768, 512, 3)}


def test_cid22_builder_reads_a_manual_folder(tmp_path):
    root = tmp_path / "cid22"
    train = _write_images(root / "training", 2, seed=1)
    validation = _write_images(root / "validation", 1, size=(20, 28), seed=2)
    data_dir = tmp_path / "tfds"
    got = dict(datasets.iter_images("cid22", split="train", data_dir=data_dir, manual_dir=root))
    assert sorted(got) == sorted(train)
    for name, image in got.items():
        np.testing.assert_array_equal(image, train[name])
    got = datasets.load_images("cid22", data_dir=data_dir)  # default split: validation
    assert [n for n, _ in got] == list(validation)


def test_cid22_without_folder_says_where_to_point(tmp_path, monkeypatch):
    monkeypatch.delenv("LIC_ZOO_CID22_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="LIC_ZOO_CID22_DIR"):
        datasets.load_images("cid22", data_dir=tmp_path)


def test_cid22_env_var(tmp_path, monkeypatch):
    root = tmp_path / "cid"
    images = _write_images(root / "validation", 2, seed=3)
    monkeypatch.setenv("LIC_ZOO_CID22_DIR", str(root))
    got = datasets.load_images("cid22", data_dir=tmp_path / "tfds")
    assert [n for n, _ in got] == sorted(images)
