"""The two SavedModels a zoo model is served as.

    codec      image ──compress──> payload strings + shape ──decompress──> image
               (range coding inside the graph: needs tensorflow-compression's ops)
    transform  image ──analysis──> integer latents + coding parameters
               z symbols ──side_params──> y indexes (hyperprior families)
               integer latents ──synthesis──> image
               (core TensorFlow ops only: a stock TF Serving binary loads it; the
               client range codes the integers with `zoo.tfc_adapter`)

Both wrap the model's variables (range coding tables included) in a `tf.Module`
whose signatures are the model's own tf.functions, so a reloaded servable computes
exactly what `zoo.Codec` computes. Each version directory also holds
`assets.extra/lic_zoo.json`: the model's identity (name, metric, λ, weights
fingerprint, payload count) a client needs to write `.lic` file headers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo import container, index_guard, tfc_adapter, weights
from zoo.errors import UnsupportedError
from zoo.models.base import ceil_div, pad_to_stride, to_pixels

METADATA_FILE = os.path.join("assets.extra", "lic_zoo.json")

#: Range coding ops of tensorflow-compression (a stock TF Serving binary lacks them).
TFC_OPS = frozenset({
    "CreateRangeEncoder", "CreateRangeDecoder", "EntropyEncodeChannel", "EntropyEncodeIndex",
    "EntropyEncodeFinalize", "EntropyDecodeChannel", "EntropyDecodeIndex",
    "EntropyDecodeFinalize", "EntropyDecodeFailure", "PmfToQuantizedCdf", "RangeEncode",
    "RangeDecode", "StochasticRoundOp", "RunLengthGammaEncode", "RunLengthGammaDecode",
    "RunLengthEncode", "RunLengthDecode",
})


def register_custom_ops() -> None:
    """Registers tensorflow-compression's ops, which loading a codec servable needs."""
    import tensorflow_compression  # noqa: F401  (import registers the ops)


def _to_image(x_hat: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    # Same cropping and rounding as CompressionModel._decompress_graph.
    return to_pixels(x_hat[0, : shape[0], : shape[1], :])


def model_metadata(model: tf.keras.Model) -> dict[str, Any]:
    """What a client needs besides the graph: identity for `.lic` headers."""
    return {
        "name": model.registry_name,
        "metric": model.metric,
        "lmbda": model.lmbda,
        "fingerprint": weights.fingerprint(model),
        "num_payloads": model.num_payloads,
        "rate_parameter": model.rate_parameter,
        "config": model.builder_config,
    }


class _Servable(tf.Module):
    """Tracks the model's variables (not the Keras model, whose layers Keras would
    try to retrace on save) so every variable a signature reads is saved."""

    def __init__(self, model: tf.keras.Model, name: str):
        super().__init__(name=name)
        if not model.coders_ready:
            model.build_coders()
        self.model_variables = list(model.variables)
        # A string, not the model: tf.Module would track the Keras model otherwise.
        self._metadata_json = json.dumps(model_metadata(model), indent=1, sort_keys=True)

    def signatures(self) -> dict[str, Any]:
        """The servable's signatures; each subclass defines its own."""
        raise NotImplementedError(f"{type(self).__name__} must define signatures()")

    def save(self, directory: str | os.PathLike) -> Path:
        """Writes the SavedModel and its `assets.extra/lic_zoo.json`."""
        directory = Path(directory)
        tf.saved_model.save(self, str(directory), signatures=self.signatures())
        meta = directory / METADATA_FILE
        meta.parent.mkdir(parents=True, exist_ok=True)
        meta.write_text(self._metadata_json)
        return directory


class CodecServable(_Servable):
    """`compress`/`decompress` with range coding in the graph, for any zoo model."""

    def __init__(self, model: tf.keras.Model):
        super().__init__(model, name="codec")
        compress_fn = model.coding_function("compress")
        decompress_fn = model.coding_function("decompress")
        image = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
        strings = tf.TensorSpec([model.num_payloads], tf.string, name="strings")
        shape = tf.TensorSpec([2], tf.int32, name="shape")
        rate = tf.TensorSpec([], tf.float32, name="rate")
        # Without a rate, a variable-rate model codes at its default (fixed-rate models
        # ignore the input).
        default = 0.0 if model.rate_spec is None else model.rate_spec.default

        def compress(image, rate=default):
            payloads, bits = compress_fn(image, tf.convert_to_tensor(rate, tf.float32))
            return {"strings": payloads, "shape": tf.shape(image)[:2], "bits": bits}

        def decompress(strings, shape, rate=default):
            rate = tf.convert_to_tensor(rate, tf.float32)
            return {"image": decompress_fn(strings, shape, rate)}

        def fixed_compress(image):
            return compress(image)

        def fixed_decompress(strings, shape):
            return decompress(strings, shape)

        # Fixed-rate models take no rate input; variable-rate ones require it.
        if model.rate_parameter is not None:
            self.compress = tf.function(compress, input_signature=[image, rate])
            self.decompress = tf.function(decompress, input_signature=[strings, shape, rate])
        else:
            self.compress = tf.function(fixed_compress, input_signature=[image])
            self.decompress = tf.function(fixed_decompress, input_signature=[strings, shape])

    def signatures(self) -> dict[str, Any]:
        compress = self.compress.get_concrete_function()
        return {
            "serving_default": compress,
            "compress": compress,
            "decompress": self.decompress.get_concrete_function(),
        }


def transform_supported(model: tf.keras.Model) -> bool:
    """Whether the model's integers are those its range coder codes, computable without
    the coder (its latent codec's `has_symbols`; not context models, not variable rates)."""
    return bool(model.has_symbols)


class TransformServable(_Servable):
    """Analysis to integer latents and synthesis from them, in core TensorFlow ops.

    The metadata's `symbol_layout` (from the model's latent codec) tells a client how
    to range code each payload (`transform_compress`, `transform_decompress`)."""

    def __init__(self, model: tf.keras.Model):
        if model.rate_parameter is not None:
            raise UnsupportedError("variable-rate transform servables are not supported; "
                                   "export the codec servable")
        if not transform_supported(model):
            raise UnsupportedError(
                f"{model.registry_name} has no integer-latent interface; export its codec "
                f"servable instead"
            )
        super().__init__(model, name="transform")
        metadata = json.loads(self._metadata_json)
        metadata.update(symbol_layout=model.symbol_layout(), stride=model.stride)
        self._metadata_json = json.dumps(metadata, indent=1, sort_keys=True)
        image = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
        shape = tf.TensorSpec([2], tf.int32, name="shape")
        specs = model.symbol_specs()

        # Format v3: the analysis runs on the image padded to the model's stride; the
        # latents' own sizes then tell the synthesis the size to decode at.
        def analysis(image):
            return model.analysis_to_symbols(
                pad_to_stride(tf.cast(image, tf.float32)[None], model.stride))

        def to_image(symbols, shape):
            return {"image": _to_image(model.synthesis_from_symbols(symbols, shape), shape)}

        def hyper_synthesis(shape, y_symbols, z_symbols):
            return to_image({"y_symbols": y_symbols, "z_symbols": z_symbols}, shape)

        def factorized_synthesis(shape, y_symbols):
            return to_image({"y_symbols": y_symbols}, shape)

        def side_params(z_symbols, shape):
            return model.side_to_params(z_symbols, ceil_div(model.coded_shape(shape), 16))

        self.analysis = tf.function(analysis, input_signature=[image])
        # The signatures' argument names are the symbols' (`symbol_specs`).
        if "z_symbols" in specs:
            self.synthesis = tf.function(
                hyper_synthesis, input_signature=[shape, specs["y_symbols"], specs["z_symbols"]])
            self.side_params = tf.function(side_params, input_signature=[specs["z_symbols"], shape])
        else:
            self.synthesis = tf.function(factorized_synthesis,
                                         input_signature=[shape, specs["y_symbols"]])
        self.tables = tf.function(model.coding_tables, input_signature=[])

    def signatures(self) -> dict[str, Any]:
        analysis = self.analysis.get_concrete_function()
        found = {
            "serving_default": analysis,
            "analysis": analysis,
            "synthesis": self.synthesis.get_concrete_function(),
            "tables": self.tables.get_concrete_function(),
        }
        if hasattr(self, "side_params"):
            found["side_params"] = self.side_params.get_concrete_function()
        return found


def coding_tables(model: tf.keras.Model) -> dict[str, tf.Tensor]:
    """Range coding tables of the payloads, keyed `<payload>_cdf(_offset)`."""
    return model.coding_tables()


# The client side of the transform servable: range coding in Python, driven by the
# metadata's `symbol_layout` (one entry per payload, in file order) -----------------


def _channel_indexes(symbols: np.ndarray | tf.Tensor) -> tf.Tensor:
    # A factorized density codes channel c of every position with table c.
    shape = tf.shape(symbols)
    return tf.broadcast_to(tf.range(shape[-1]), shape)


def _encode(symbols, indexes, tables, prefix) -> bytes:
    strings = tfc_adapter.encode_indexed(
        symbols, indexes, tables[f"{prefix}_cdf"], tables[f"{prefix}_cdf_offset"]
    )
    return bytes(strings.numpy()[0])


def _decode(data: bytes, indexes, tables, prefix) -> tf.Tensor:
    return tfc_adapter.decode_indexed(
        tf.constant([data]), indexes, tables[f"{prefix}_cdf"], tables[f"{prefix}_cdf_offset"]
    )


def _outputs(result: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    return {k: tf.convert_to_tensor(v) for k, v in result.items()}


def _num_scales(tables, prefix) -> int:
    return int(tables[f"{prefix}_cdf_offset"].shape[0])


def _layout(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    if "symbol_layout" not in metadata:
        raise ValueError("the servable's metadata has no symbol_layout (exported by an older "
                         "lic-zoo): export it again")
    return metadata["symbol_layout"]


def transform_compress(servable: Any, image: np.ndarray, metadata: dict[str, Any]) -> bytes:
    """`.lic` file bytes from a loaded transform servable plus Python range coding."""
    tables = _outputs(servable.signatures["tables"]())
    out = _outputs(servable.signatures["analysis"](image=tf.constant(image, tf.uint8)))
    payloads = []
    for entry in _layout(metadata):
        if "guards" in entry:  # the encoder's index guard of a scale-indexed payload
            of = entry["guards"]
            payloads.append(index_guard.encode(
                tf.reshape(out[f"{of}_scale_index"], [-1]), tf.reshape(out[f"{of}_indexes"], [-1]),
                _num_scales(tables, of)).numpy())
            continue
        symbols = out[entry["symbols"]]
        indexes = (_channel_indexes(symbols) if entry["indexes"] == "channels"
                   else out[entry["indexes"]])
        payloads.append(_encode(symbols, indexes, tables, entry["tables"]))
    header = container.Header(
        metadata["name"], metadata["metric"], metadata["lmbda"],
        bytes.fromhex(metadata["fingerprint"])[: container.FINGERPRINT_BYTES],
        image.shape[0], image.shape[1],
    )
    return container.pack(header, payloads)


def transform_decompress(servable: Any, data: bytes, metadata: dict[str, Any]) -> np.ndarray:
    """Decodes `.lic` bytes with a loaded transform servable plus Python range coding:
    first the payloads under per-channel tables, then (from the side symbols' parameters,
    with the index guard applied) the scale-indexed ones."""
    header, payloads = container.unpack(data)
    if header.fingerprint.hex() != metadata["fingerprint"][: 2 * container.FINGERPRINT_BYTES]:
        raise ValueError("the file was made by other weights than this servable's")
    layout = _layout(metadata)
    names = [e["payload"] for e in layout]
    if header.version == 1 and len(payloads) == len(names) - 1:
        names = [e["payload"] for e in layout if "guards" not in e]  # before the index guard
    if len(payloads) != len(names):
        raise ValueError(f"the file has {len(payloads)} payloads, the servable's model "
                         f"writes {len(layout)}")
    strings = dict(zip(names, payloads))
    tables = _outputs(servable.signatures["tables"]())
    shape = tf.constant(header.shape, tf.int32)
    stride = metadata["stride"]
    coded = ceil_div(shape, stride) * stride if header.version >= container.PADDED_SINCE else shape
    symbols, indexed = {}, []
    for entry in layout:
        if entry.get("indexes") == "channels":
            grid = ceil_div(coded, entry["factor"])
            zeros = tf.zeros(tf.concat([[1], grid, tf.shape(tables[f"{entry['tables']}_cdf_offset"])], 0))
            symbols[entry["symbols"]] = _decode(
                strings[entry["payload"]], _channel_indexes(zeros), tables, entry["tables"])
        elif "indexes" in entry:
            indexed.append(entry)
    guards = {e["guards"]: e["payload"] for e in layout if "guards" in e}
    if indexed:
        params = _outputs(servable.signatures["side_params"](z_symbols=symbols["z_symbols"],
                                                             shape=shape))
        for entry in indexed:
            # The servable computes the parameters on the v3 grid (4 per z position); a
            # v1/v2 encoder coded their top-left ceil(H/16) × ceil(W/16).
            grid = ceil_div(coded, entry["factor"])
            name = entry["payload"]
            found = {k: v[:, : grid[0], : grid[1]] for k, v in params.items()}
            indexes = found[entry["indexes"]]
            if name in guards and guards[name] in strings:
                flat = index_guard.apply(
                    tf.reshape(indexes, [-1]), tf.reshape(found[f"{name}_scale_index"], [-1]),
                    index_guard.decode(tf.constant(strings[guards[name]])), 0,
                    _num_scales(tables, entry["tables"]))
                indexes = tf.reshape(flat, tf.shape(indexes))
            symbols[entry["symbols"]] = _decode(strings[name], indexes, tables, entry["tables"])
    return servable.signatures["synthesis"](shape=shape, **symbols)["image"].numpy()


def read_metadata(version_dir: str | os.PathLike) -> dict[str, Any]:
    return json.loads((Path(version_dir) / METADATA_FILE).read_text())


def graph_op_types(saved_model_dir: str | os.PathLike) -> set[str]:
    """Every op type in a SavedModel: graph nodes and all library functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(saved_model_dir) / "saved_model.pb").read_bytes())
    ops = set()
    for graph in proto.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def non_core_ops(saved_model_dir: str | os.PathLike) -> set[str]:
    """Op types a stock TensorFlow (Serving) binary would not know."""
    core = set(dir(tf.raw_ops))
    return {op for op in graph_op_types(saved_model_dir) if op not in core or op in TFC_OPS}
