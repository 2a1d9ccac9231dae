"""The pretrained registry for real: a tiny model's weights published into a tmp dir
(found through `$LIC_ZOO_RECORDS`), loaded by `zoo.get`, integrity-checked, fetched from
a base URL (local path and an http server on 127.0.0.1), decoded in a fresh process."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import zoo
from export import publish
from zoo import container, pretrained

ROOT = Path(__file__).resolve().parents[1]
NAME, LMBDA = "factorized_tiny", 0.0067
EVALUATION = {"mean": {"bpp": 0.41, "psnr-rgb": 27.5, "ms-ssim-rgb": 0.93}, "images": 24}


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(records dir holding record + weights, the original codec, the weights file)."""
    work = tmp_path_factory.mktemp("published")
    codec = zoo.Codec(zoo.create_model(NAME, lmbda=LMBDA))
    artifact = work / "run" / "weights.npz"
    zoo.weights.save(codec.model, artifact, steps=7, training_data="cid22 training")
    records = work / "records"
    publish.publish(artifact, EVALUATION, 1, records_dir=records, weights_dir=records)
    return records, codec, artifact


@pytest.fixture
def registry(published, monkeypatch, tmp_path):
    records, _, _ = published
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(records))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(pretrained.URL_ENV, raising=False)
    return records


def test_publish_writes_a_complete_frozen_record(published):
    records, codec, artifact = published
    [record] = json.loads((records / "factorized.pretrained.json").read_text())
    assert record["file"] == f"{NAME}-mse-{LMBDA:g}-v1.npz"
    assert record["sha256"] == zoo.weights.file_sha256(records / record["file"])
    assert record["fingerprint"] == codec.fingerprint
    assert (record["quality"], record["steps"], record["training_data"]) == (3, 7, "cid22 training")
    assert record["config"] == {"name": NAME, "kwargs": {"lmbda": LMBDA}}
    assert record["kodak"] == {"bpp": 0.41, "psnr": 27.5, "ms_ssim": 0.93}
    with pytest.raises(zoo.WeightsError, match="already published"):
        publish.publish(artifact, EVALUATION, 1, records_dir=records, weights_dir=records)


def test_publish_never_overwrites_a_file(published, tmp_path):
    _, _, artifact = published
    (tmp_path / f"{NAME}-mse-{LMBDA:g}-v2.npz").write_bytes(b"published earlier")
    with pytest.raises(zoo.WeightsError, match="never overwritten"):
        publish.publish(artifact, EVALUATION, 2, records_dir=tmp_path, weights_dir=tmp_path)
    assert (tmp_path / f"{NAME}-mse-{LMBDA:g}-v2.npz").read_bytes() == b"published earlier"


def test_get_returns_the_published_codec(registry, published, odd_image):
    _, original, _ = published
    codec = zoo.get(NAME, lmbda=LMBDA)
    assert codec.fingerprint == original.fingerprint
    data = codec.compress(odd_image)
    assert data == original.compress(odd_image)
    [entry] = zoo.list_pretrained(NAME)
    assert entry.kodak["psnr"] == 27.5 and entry.metric == "mse"


def test_a_miss_lists_the_available_lambdas(registry):
    with pytest.raises(zoo.WeightsError, match=r"available λ: 0\.0067"):
        zoo.get(NAME, lmbda=0.013)
    with pytest.raises(zoo.WeightsError, match="no pretrained weights"):
        zoo.get(NAME, lmbda=LMBDA, metric="ms-ssim")
    with pytest.raises(zoo.RegistryError):
        zoo.get("factorised_tiny", lmbda=LMBDA)


def test_variable_rate_entry_serves_its_range(registry, tmp_path, monkeypatch):
    [record] = json.loads((registry / "factorized.pretrained.json").read_text())
    record.update(version=9, lmbda_range=[0.002, 0.02])
    (tmp_path / "vr.pretrained.json").write_text(json.dumps([record]))
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(tmp_path / "vr.pretrained.json"))
    assert pretrained.find(NAME, 0.0111).version == 9
    with pytest.raises(zoo.WeightsError, match=r"\[0\.002, 0\.02\]"):
        pretrained.find(NAME, 0.05)


@pytest.mark.parametrize("damage", ["tamper", "truncate"])
def test_damaged_weights_are_refused(registry, tmp_path, monkeypatch, damage):
    copy = tmp_path / "records"
    shutil.copytree(registry, copy)
    [weights_file] = copy.glob("*.npz")
    data = bytearray(weights_file.read_bytes())
    if damage == "tamper":
        data[len(data) // 2] ^= 1
    else:
        data = data[: len(data) - 100]
    weights_file.write_bytes(bytes(data))
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(copy))
    with pytest.raises(zoo.WeightsError, match="integrity check"):
        zoo.get(NAME, lmbda=LMBDA)


def _records_without_weights(registry: Path, target: Path) -> Path:
    target.mkdir()
    shutil.copy(registry / "factorized.pretrained.json", target)
    return target


def test_url_fallback_local_base_fills_the_cache(registry, tmp_path, monkeypatch, published):
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(_records_without_weights(registry, tmp_path / "r")))
    with pytest.raises(zoo.WeightsError, match=pretrained.URL_ENV):
        zoo.get(NAME, lmbda=LMBDA)
    monkeypatch.setenv(pretrained.URL_ENV, str(registry))  # a plain path, read by tf.io.gfile
    codec = zoo.get(NAME, lmbda=LMBDA)
    assert codec.fingerprint == published[1].fingerprint
    assert (tmp_path / "cache" / f"{NAME}-mse-{LMBDA:g}-v1.npz").is_file()


@pytest.fixture
def http_base(tmp_path):
    """An http server on 127.0.0.1 serving tmp_path/served; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_url_fallback_over_http_checks_before_caching(
    registry, tmp_path, monkeypatch, http_base, published
):
    folder, base = http_base
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(_records_without_weights(registry, tmp_path / "r")))
    monkeypatch.setenv(pretrained.URL_ENV, base)
    [source] = registry.glob("*.npz")
    served = folder / source.name
    bad = bytearray(source.read_bytes())
    bad[100] ^= 0xFF
    served.write_bytes(bytes(bad))  # a server handing out damaged bytes
    with pytest.raises(zoo.WeightsError, match="integrity check"):
        zoo.get(NAME, lmbda=LMBDA)
    assert not list((tmp_path / "cache").glob("*"))  # nothing cached from a bad download
    shutil.copy(source, served)
    assert zoo.get(NAME, lmbda=LMBDA).fingerprint == published[1].fingerprint
    assert (tmp_path / "cache" / source.name).read_bytes() == source.read_bytes()


def test_models_command_lists_entries(registry, capsys):
    from zoo import cli

    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    # The shipped entries are listed too, beside the test record.
    assert f"Pretrained weights ({len(zoo.list_pretrained())};" in out
    assert "factorized_tiny" in out and "27.50 dB" in out


def test_fresh_process_decodes_without_flags(registry, tmp_path, odd_image):
    data, reconstruction = zoo.get(NAME, lmbda=LMBDA).compress_with_reconstruction(odd_image)
    (tmp_path / "in.lic").write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "zoo", "decompress", str(tmp_path / "in.lic"), str(tmp_path / "out.png")],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert np.array_equal(zoo.read_image(tmp_path / "out.png"), reconstruction)
    assert np.array_equal(zoo.decompress(data), reconstruction)


def test_a_file_made_with_retired_weights_fails_naming_their_version(
        published, tmp_path, monkeypatch, odd_image):
    """v2 replaces v1 (`publish --retire`): v1's file is gone, its record kept and marked,
    and a file v1 made is refused everywhere with a message naming v1; v2 codes as usual."""
    from zoo import cli

    _, _, artifact = published
    records = tmp_path / "records"
    publish.publish(artifact, EVALUATION, 1, records_dir=records, weights_dir=records)
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(records))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(pretrained.URL_ENV, raising=False)
    old_file = zoo.get(NAME, lmbda=LMBDA).compress(odd_image)
    (tmp_path / "old.lic").write_bytes(old_file)

    retrained = zoo.create_model(NAME, lmbda=LMBDA)
    retrained.rd_losses(np.zeros([1, 32, 32, 3], np.float32), training=False)
    for v in retrained.trainable_variables:
        v.assign(v * 1.01)  # other weights than v1's
    zoo.weights.save(retrained, tmp_path / "v2.npz")
    publish.publish(tmp_path / "v2.npz", EVALUATION, 2, records_dir=records, weights_dir=records)
    publish.retire(NAME, "mse", LMBDA, 1, "2026-12-08, replaced by v2", records, records)

    assert not (records / f"{NAME}-mse-{LMBDA:g}-v1.npz").exists()
    [old] = zoo.list_pretrained(NAME, retired=True)
    assert (old.version, old.retired) == (1, "2026-12-08, replaced by v2")
    assert [e.version for e in zoo.list_pretrained(NAME)] == [2]
    with pytest.raises(zoo.WeightsError, match="retired already"):
        publish.retire(NAME, "mse", LMBDA, 1, "again", records, records)

    retired = rf"{NAME} \(mse, λ={LMBDA:g}\) weights v1 were retired \(2026-12-08, replaced by v2\)"
    with pytest.raises(zoo.WeightsError, match=retired):
        zoo.decompress(old_file)
    assert cli.main(["decompress", str(tmp_path / "old.lic"), str(tmp_path / "out.png")]) != 0
    assert not (tmp_path / "out.png").exists()
    # The new weights' codec names the old ones too, and codes its own files.
    codec = zoo.get(NAME, lmbda=LMBDA)
    assert codec.fingerprint == zoo.weights.fingerprint(retrained)
    with pytest.raises(zoo.ModelMismatchError, match=r"weights v1, retired: 2026-12-08"):
        codec.decompress(old_file)
    data, reconstruction = codec.compress_with_reconstruction(odd_image)
    assert np.array_equal(zoo.decompress(data), reconstruction)
    assert (tmp_path / "old.lic").read_bytes() == old_file  # the refusal lost nothing


def test_variable_rate_model_is_published_with_its_range(tmp_path, monkeypatch, odd_image):
    """A λ-parameterized model's record carries its range; `zoo.get` serves any λ in it."""
    name, lmbda_range = "hyperprior_vr_tiny", (0.003, 0.03)
    model = zoo.create_model(name, parameterization="latent_affine", lmbda_range=lmbda_range)
    artifact = tmp_path / "run" / "weights.npz"
    zoo.weights.save(model, artifact, steps=3)
    records = tmp_path / "records"
    entry = publish.publish(artifact, EVALUATION, 1, records_dir=records, weights_dir=records)
    [record] = json.loads((records / "hyperprior_vr.pretrained.json").read_text())
    assert record["lmbda_range"] == list(lmbda_range) == list(entry.lmbda_range)
    monkeypatch.setenv(pretrained.RECORDS_ENV, str(records))
    monkeypatch.setenv(pretrained.CACHE_ENV, str(tmp_path / "cache"))
    codec = zoo.get(name, lmbda=0.02)
    data = codec.compress(odd_image)
    assert container.peek(data).rate == 0.02  # compresses at the λ it was asked for
    low = codec.compress(odd_image, rate=0.003)
    np.testing.assert_array_equal(zoo.decompress(low), zoo.Codec(model).decompress(low))
    for outside in (0.002, 0.05):
        with pytest.raises(zoo.WeightsError, match=r"\[0\.003, 0\.03\]"):
            zoo.get(name, lmbda=outside)
    # Records without a range field (older publishers) get it from the builder config.
    del record["lmbda_range"]
    (records / "hyperprior_vr.pretrained.json").write_text(json.dumps([record]))
    [entry] = zoo.list_pretrained(name)
    assert entry.lmbda_range == lmbda_range and entry.serves(0.01) and not entry.serves(0.04)
