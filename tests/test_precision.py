"""Mixed-precision training (`--precision`): what stays float32, and what the run saves.

In-process and small: the tiny hyperprior, a few steps on 32 px crops of generated PNGs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import write_smooth_images

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: /proc/cpuinfo excerpts (one processor; the real file repeats the block per CPU).
ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext invpcid_single ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr arat npt nrip_save umip vaes vpclmulqdq rdpid fsrm
bugs\t\t: sysret_ss_attrs spectre_v1 spectre_v2 spec_store_bypass srso
"""
SAPPHIRE_RAPIDS = ZEN3.replace("AMD EPYC 7B13", "Intel(R) Xeon(R) Platinum 8481C").replace(
    "fsrm", "fsrm avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8")
COOPER_LAKE = ZEN3.replace("fsrm", "fsrm avx512f avx512_bf16")
#: The flag's name in a "bugs" line or a model name must not count.
DECOY = ZEN3.replace("bugs\t\t:", "bugs\t\t: avx512_bf16 amx_bf16")


def test_auto_picks_bf16_only_where_it_is_native():
    from recipes.trainer import choose_precision, cpu_bf16_flags, read_cpuinfo

    assert cpu_bf16_flags(ZEN3) == [] and cpu_bf16_flags(DECOY) == []
    assert cpu_bf16_flags(SAPPHIRE_RAPIDS) == ["amx_bf16", "avx512_bf16"]
    assert cpu_bf16_flags(COOPER_LAKE) == ["avx512_bf16"]
    zen3 = choose_precision("auto", "CPU", ZEN3)
    assert zen3.policy == "float32" and "emulated" in zen3.reason
    assert choose_precision("auto", "CPU", DECOY).policy == "float32"
    spr = choose_precision("auto", "CPU", SAPPHIRE_RAPIDS)
    assert spr.policy == "mixed_bfloat16" and "amx_bf16" in spr.reason
    assert choose_precision("auto", "CPU", COOPER_LAKE).policy == "mixed_bfloat16"
    assert choose_precision("auto", "CPU", None).policy == "float32"  # not Linux
    assert choose_precision("auto", "TPU").policy == "mixed_bfloat16"
    assert choose_precision("auto", "GPU", capability=(8, 0)).policy == "mixed_bfloat16"
    assert choose_precision("auto", "GPU", capability=(7, 0)).policy == "float32"  # V100
    assert choose_precision("auto", "GPU").policy == "mixed_bfloat16"
    # Explicit requests are honoured; an emulated bf16 says so.
    forced = choose_precision("mixed_bfloat16", "CPU", ZEN3)
    assert forced.policy == "mixed_bfloat16" and "slower" in forced.reason
    assert choose_precision("float32", "CPU", SAPPHIRE_RAPIDS).policy == "float32"
    with pytest.raises(ValueError, match="unknown precision"):
        choose_precision("mixed_float16", "CPU", ZEN3)
    # This machine: whatever its flags say.
    here = read_cpuinfo()
    if here is not None:
        expected = "mixed_bfloat16" if cpu_bf16_flags(here) else "float32"
        assert choose_precision("auto", "CPU", here).policy == expected


def test_under_bf16_the_transforms_are_bf16_and_the_rate_and_loss_float32():
    import tensorflow as tf

    from recipes.trainer import keras_policy
    from zoo import registry

    with keras_policy("mixed_bfloat16"):
        model = registry.create_model("hyperprior_tiny")
        model(tf.zeros([1, 64, 64, 3]), training=True)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored
    x = tf.random.stateless_uniform([2, 64, 64, 3], [1, 2], 0.0, 255.0)
    y = model.analysis(x / 255.0)
    assert y.dtype == tf.bfloat16  # the transforms run in bf16 …
    assert model.synthesis(y).dtype == tf.bfloat16
    # … the latent codec (hyper transforms, entropy models) in float32.
    codec_layers = [model.latent_codec, *model.latent_codec.submodules]
    assert all(layer.dtype_policy.name == "float32" for layer in codec_layers
               if isinstance(layer, tf.keras.layers.Layer))
    y = tf.cast(y, tf.float32)
    z = model.hyper_analysis(tf.abs(y))
    assert z.dtype == tf.float32
    z_tilde, side_bits = model.side_entropy_model(z, True)
    assert side_bits.dtype == tf.float32 and z_tilde.dtype == tf.float32
    from zoo.latent_codecs import TRAIN

    _, index = model.latent_codec.params(model.step(TRAIN), z_tilde, tf.shape(y)[1:3])
    y_tilde, bits = model.conditional(y, index, None, training=True)
    assert bits.dtype == tf.float32 and y_tilde.dtype == tf.float32
    # Noise added in float32: ỹ − y is uniform in [−½, ½] to float32's resolution, where
    # bfloat16 would have rounded it to multiples of 0.25 for |y| in 32–64.
    noise = (y_tilde - y).numpy()
    assert np.abs(noise).max() <= 0.5 + 1e-5 and len(np.unique(noise)) > 0.9 * noise.size
    assert np.isfinite(bits.numpy()).all() and np.isfinite(side_bits.numpy()).all()
    with tf.GradientTape() as tape:
        terms = model.rd_losses(x, training=True)
        loss = tf.reduce_mean(terms["loss"])
    for key in ("loss", "bpp", "mse", "distortion", "x_hat"):
        assert terms[key].dtype == tf.float32, key  # … the rate and the loss do not
    gradients = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and g.dtype == tf.float32 for g in gradients)
    assert all(v.dtype == tf.float32 for v in model.variables)
    # The same variable names as a float32 model's (the weights' keys).
    from zoo import weights

    plain = registry.create_model("hyperprior_tiny")
    plain(tf.zeros([1, 64, 64, 3]), training=True)
    assert list(weights.variable_arrays(model)) == list(weights.variable_arrays(plain))


IMAGE_FAMILIES = ("factorized", "hyperprior", "mean_scale", "joint", "channelwise", "vq",
                  "learned_step", "gdn_fixed_step", "hierarchical", "ladder", "vae",
                  "factorized_vr", "hyperprior_vr")


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_every_image_family_trains_under_bf16(family):
    import tensorflow as tf

    from recipes.trainer import keras_policy
    from zoo import registry

    with keras_policy("mixed_bfloat16"):
        tf.random.set_seed(0)
        model = registry.create_model(f"{family}_tiny")
        x = tf.random.stateless_uniform([2, 64, 64, 3], [3, 4], 0.0, 255.0)
        with tf.GradientTape() as tape:
            terms = model.rd_losses(x, training=True)
            loss = tf.reduce_mean(terms["loss"])
        gradients = tape.gradient(loss, model.trainable_variables)
    assert model.analysis.compute_dtype == "bfloat16"  # the transforms do compute in bf16
    assert all(terms[k].dtype == tf.float32 for k in ("loss", "bpp", "mse"))
    assert np.isfinite(loss.numpy()) and np.all(terms["bpp"].numpy() > 0)
    present = [g for g in gradients if g is not None]
    assert len(present) >= len(gradients) // 2
    assert all(np.isfinite(g.numpy()).all() for g in present)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return write_smooth_images(tmp_path_factory.mktemp("images"), 4)


def test_bf16_run_saves_float32_weights_that_code_and_resume_in_float32(images, tmp_path):
    import tensorflow as tf

    import zoo
    from recipes import trainer
    from zoo import registry, weights

    workdir = tmp_path / "run"
    config = trainer.resolve_config(
        "hyperprior_tiny", str(workdir), smoke=True, train_data=str(images), patchsize=32,
        num_steps=4, checkpoint_every=4, data_throughput_batches=1, precision="mixed_bfloat16",
        schedule="cosine", warmup_steps=2)
    log = trainer.run(config)
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    assert log["precision"]["policy"] == "mixed_bfloat16" and log["precision"]["compute"] == "bfloat16"
    assert log["precision"]["variables"] == "float32"
    assert [r["step"] for r in log["history"]] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in log["history"])
    # A plain float32 model loads the artifact (the fingerprint is checked on load) …
    model = weights.load(workdir / "weights.npz")
    assert weights.fingerprint(model) == log["fingerprint"] == model.artifact_metadata["fingerprint"]
    assert model.artifact_metadata["training"]["precision"] == "mixed_bfloat16"
    assert all(type(v).__name__ != "AutoCastVariable" for v in model.variables)
    assert model.analysis.layers[0].compute_dtype == "float32"
    # … with exactly a float32 model's keys and dtypes.
    plain = registry.create_model("hyperprior_tiny")
    plain.build_coders(compute=False)
    arrays = weights.variable_arrays(model)
    assert {k: v.dtype for k, v in weights.variable_arrays(plain).items()} == {
        k: v.dtype for k, v in arrays.items()}
    # Coding tables built from the trained variables in float32 are the saved ones.
    fresh = registry.create_model("hyperprior_tiny")
    fresh(tf.zeros([1, 64, 64, 3]), training=True)
    trained = [v for v in model.variables if "tables_" not in v.name]
    assert [v.name for v in fresh.variables] == [v.name for v in trained]
    for src, dst in zip(trained, fresh.variables):
        dst.assign(src)
    fresh.build_coders()
    assert weights.fingerprint(fresh) == log["fingerprint"]
    # Round trip through the codec (and the portable float64 decoder).
    image = np.asarray(Image.open(images / "img0.png").convert("RGB"))
    data = zoo.Codec(model).compress(image)
    for portable in (False, True):
        decoded = zoo.Codec(model, portable=portable).decompress(data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
    # The bf16 checkpoint resumes in float32 (the variables are float32 either way).
    resumed = trainer.run(trainer.resolve_config(
        "hyperprior_tiny", str(workdir), smoke=True, train_data=str(images), patchsize=32,
        num_steps=6, checkpoint_every=6, data_throughput_batches=1, precision="float32",
        schedule="cosine", warmup_steps=2))
    assert resumed["start_step"] == 4 and resumed["steps"] == 6
    assert resumed["precision"]["policy"] == "float32"


def test_a_model_that_fails_under_bf16_falls_back_only_when_auto(monkeypatch, tmp_path):
    import tensorflow as tf

    from recipes import trainer

    real = trainer.registry.create_model

    def fussy(name, **kwargs):  # a model whose code breaks under a mixed policy
        if tf.keras.mixed_precision.global_policy().name != "float32":
            raise TypeError("x and y must have the same dtype, got bfloat16 != float32")
        return real(name, **kwargs)

    monkeypatch.setattr(trainer.registry, "create_model", fussy)
    config = trainer.resolve_config("hyperprior_tiny", str(tmp_path / "a"), smoke=True)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    auto = trainer.PrecisionChoice("mixed_bfloat16", "auto", "CPU has amx_bf16")
    built = trainer.Trainer(config, strategy, precision=auto)
    assert built.precision.policy == "float32" and "does not run under" in built.precision.reason
    assert tf.keras.mixed_precision.global_policy().name == "float32"
    asked = trainer.PrecisionChoice("mixed_bfloat16", "mixed_bfloat16", "requested")
    with pytest.raises(ValueError, match="--precision=float32"):
        trainer.Trainer(config, strategy, precision=asked)
    assert tf.keras.mixed_precision.global_policy().name == "float32"
