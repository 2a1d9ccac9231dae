"""`Codec`: real compression of images to files and back with any zoo model.

    codec = zoo.Codec(zoo.create_model("hyperprior_tiny"))
    data = codec.compress(image)            # uint8 [H, W, 3] -> bytes (container v3)
    data = codec.compress(image, effort="refine")   # slower encoder, same decoder (zoo.effort)
    assert (codec.decompress(data) == codec.compress_with_reconstruction(image)[1]).all()
"""

from __future__ import annotations

import contextlib
import math
import os

import numpy as np
import tensorflow as tf

from zoo import container, image_io, weights
from zoo.errors import BitstreamError, ImageError, ModelMismatchError, op_error_summary


class Codec:
    """Wraps a model (trained or freshly built) with range coding and the file format.

    `portable=True` decodes with every network after entropy decoding in float64: the
    pixels are then the same under any math library (oneDNN on or off) and thread count
    (the default float32 decoder may differ by 1 in a few pixels across those, like
    libjpeg's float IDCT). Files are the same either way; entropy decoding is exact in
    both (`zoo.index_guard`).

    `rate`: where a variable-rate model (`model.rate_spec`) codes when `compress` is
    given no rate; its `rate_spec.default` when None. A fixed-rate model takes none.
    """

    def __init__(self, model: tf.keras.Model, portable: bool = False, rate: float | None = None):
        if not model.coders_ready:
            model.build_coders()
        self.model = model
        self.portable = bool(portable)
        self.rate = model.check_rate(rate)
        self.fingerprint = weights.fingerprint(model)

    # Identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.model.registry_name

    @property
    def metric(self) -> str:
        return self.model.metric

    @property
    def lmbda(self) -> float:
        return self.model.lmbda

    @property
    def fingerprint_bytes(self) -> bytes:
        return bytes.fromhex(self.fingerprint)[: container.FINGERPRINT_BYTES]

    def __repr__(self) -> str:
        return (
            f"Codec({self.name}, metric={self.metric}, λ={self.lmbda:g}, "
            f"weights={self.fingerprint[:12]})"
        )

    def resolve_rate(self, rate: float | None) -> float | None:
        """The rate a file is coded at: `rate` checked against the model's `rate_spec`,
        else the codec's own `rate`; None for a fixed-rate model (which refuses one)."""
        return self.rate if rate is None else self.model.check_rate(rate)

    # Coding ---------------------------------------------------------------------------

    def compress_with_reconstruction(
        self, image: np.ndarray, rate: float | None = None, effort: str | int = "fast",
        progress: bool = False,
    ) -> tuple[bytes, np.ndarray]:
        """Compresses uint8 [H, W, 3]; returns (file bytes, the image a decoder will get)."""
        steps = self._effort(effort)
        image = self._check_size(image)
        rate = self.resolve_rate(rate)
        payloads = self._payloads(image, rate, steps, progress)
        header = container.Header(
            self.name, self.metric, self.lmbda, self.fingerprint_bytes,
            image.shape[0], image.shape[1], rate,
        )
        data = container.pack(header, payloads)
        return data, self._decode(header, payloads, progress)

    def compress(
        self, image: np.ndarray, rate: float | None = None, effort: str | int = "fast",
        progress: bool = False,
    ) -> bytes:
        """Compresses uint8 [H, W, 3] to file bytes.

        `effort`: "fast" (the one-shot encoder), "refine", "max" or a number of steps of
        per-image refinement of the latents (`zoo.effort`; slower to encode, fewer bits at
        the same quality, decoded by any decoder); `progress` shows a bar of those steps,
        and of the analysis tiles of a large image (`zoo.tiling`).
        """
        steps = self._effort(effort)
        image = self._check_size(image)
        rate = self.resolve_rate(rate)
        header = container.Header(
            self.name, self.metric, self.lmbda, self.fingerprint_bytes,
            image.shape[0], image.shape[1], rate,
        )
        return container.pack(header, self._payloads(image, rate, steps, progress))

    def _check_size(self, image: np.ndarray) -> np.ndarray:
        image = image_io.check_image_array(image)
        if image.shape[0] * image.shape[1] > self.model.max_pixels:
            raise ImageError(
                f"image of {image.shape[0]}×{image.shape[1]} exceeds the "
                f"{self.model.max_pixels} pixels {self.name} codes")
        return image

    def _effort(self, effort: str | int) -> int:
        """Refinement steps for `effort`; refuses effort the model's family does not offer."""
        from zoo import effort as effort_lib

        steps = effort_lib.parse_effort(effort)
        if steps:
            effort_lib.check_supported(self.model)
        return steps

    def _payloads(
        self, image: np.ndarray, rate: float | None, steps: int = 0, progress: bool = False
    ) -> list[bytes]:
        if steps:
            from zoo import effort as effort_lib

            return effort_lib.compress(self.model, image, rate, steps, progress)
        with _tile_bar(self.model, image.shape[:2], "encoding", progress) as on_tile:
            strings, _ = self.model.compress(_tensor(image), rate, on_tile=on_tile,
                                             estimate=False)
        return [bytes(s) for s in strings.numpy()]

    def estimate_bits(self, image: np.ndarray, rate: float | None = None) -> float:
        """The model's own estimate of the payload size in bits (information content)."""
        image = self._check_size(image)
        _, bits = self.model.compress(tf.constant(image), self.resolve_rate(rate))
        return float(bits)

    def decompress(self, data: bytes, progress: bool = False) -> np.ndarray:
        """File bytes -> uint8 [H, W, 3]. Raises `BitstreamError` on any damaged file.

        `progress` shows a bar of the synthesis tiles of a large image."""
        header, payloads = container.unpack(data)
        self.check_header(header)
        return self._decode(header, payloads, progress)

    def check_header(self, header: container.Header) -> None:
        """Refuses files made by another model or other weights."""
        made_by = f"{header.model} ({header.metric}, λ={header.lmbda:g})"
        if (header.model, header.metric) != (self.name, self.metric) or not math.isclose(
            header.lmbda, self.lmbda, rel_tol=1e-9
        ):
            raise ModelMismatchError(f"file was made by {made_by}, not by {self!r}")
        if header.fingerprint != self.fingerprint_bytes:
            raise ModelMismatchError(
                f"file was made by {made_by} with weights {header.fingerprint.hex()}"
                f"{_known_weights(header)}, but this codec has weights {self.fingerprint[:16]}"
            )
        limit = min(image_io.MAX_PIXELS, self.model.max_pixels)
        if header.height * header.width > limit:
            # The encoder never writes such a file; decoding it could exhaust memory.
            raise BitstreamError(
                f"file declares a {header.height}×{header.width} image, larger than any "
                f"{self.name} writes ({limit} pixels)"
            )
        if (header.rate is None) != (self.model.rate_spec is None):
            raise BitstreamError("rate parameter presence does not match the model")

    def _decode(self, header: container.Header, payloads: list[bytes],
                progress: bool = False) -> np.ndarray:
        if (header.version == 1 and self.model.index_guarded
                and len(payloads) == self.model.num_payloads - 1):
            payloads = [*payloads, b""]  # written before the index guard: an empty one
        if len(payloads) != self.model.num_payloads:
            raise BitstreamError(
                f"file has {len(payloads)} payloads, {self.name} writes {self.model.num_payloads}"
            )
        if header.rate is not None:
            try:
                self.model.check_rate(header.rate)
            except ValueError as exc:
                raise BitstreamError(f"file names an invalid rate: {exc}") from None
        try:
            with _tile_bar(self.model, header.shape, "decoding", progress) as on_tile:
                image = self.model.decompress(
                    tf.constant(payloads, tf.string),
                    tf.constant(header.shape, tf.int32),
                    header.rate,
                    portable=self.portable,
                    padded=header.version >= container.PADDED_SINCE,
                    on_tile=on_tile,
                )
        except (tf.errors.OpError, ValueError) as exc:
            raise BitstreamError(f"payload failed to decode: {op_error_summary(exc)}") from None
        return image.numpy()

    # Files ------------------------------------------------------------------------------

    def compress_file(
        self, source: str | os.PathLike, target: str | os.PathLike, alpha: str = "error",
        rate: float | None = None, effort: str | int = "fast",
    ) -> int:
        """Compresses an image file; returns the number of bytes written."""
        data = self.compress(image_io.read_image(source, alpha=alpha), rate, effort)
        write_atomically(target, data)
        return len(data)

    def decompress_file(self, source: str | os.PathLike, target: str | os.PathLike,
                        progress: bool = False) -> None:
        with open(source, "rb") as f:
            image = self.decompress(f.read(), progress)
        image_io.write_png(image, target)


def _known_weights(header: container.Header) -> str:
    """" (pretrained … weights vN[, retired …])" when the file's weights are a registry
    entry's, shipped or retired; "" otherwise (or when the records cannot be read)."""
    from zoo import pretrained
    from zoo.errors import WeightsError

    try:
        entry = pretrained.entry_by_fingerprint(header.model, header.metric, header.fingerprint)
    except WeightsError:
        return ""
    if entry is None:
        return ""
    return f" (pretrained {entry.describe()}" + (
        f", retired: {entry.retired})" if entry.retired else ")")


def _tensor(image: np.ndarray) -> tf.Tensor:
    """The pixels as a tensor: shared with the array when it is `image_io.aligned` (as
    `read_image` returns them), copied otherwise."""
    if (image.flags.c_contiguous and image.flags.writeable
            and image.ctypes.data % image_io.ALIGNMENT == 0):
        return tf.experimental.dlpack.from_dlpack(image.__dlpack__())
    return tf.constant(image)


@contextlib.contextmanager
def _tile_bar(model, shape, desc: str, progress: bool):
    """A progress bar over the model's transform tiles for an image of size `shape`, when
    asked for and the image takes more than one tile; yields its `on_tile` (or None)."""
    tiles = model.tiles(shape) if progress else 1
    if tiles <= 1:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(total=tiles, desc=desc, unit="tile", leave=False) as bar:
        yield bar.update


def write_atomically(path: str | os.PathLike, data: bytes) -> None:
    tmp = f"{os.fspath(path)}.partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)

