"""Training data: random crops from an image folder, a glob, or a TFDS dataset.

    spec ──image_paths──> files ──shuffle/repeat──> decode (parallel) ──> crop, flip
         ──> batch ──> prefetch                                    (tf.data, AUTOTUNE)
    (cache=True: files ──> decode ──> cache in memory ──> shuffle/repeat ──> crop, flip …)

Every map runs in parallel with AUTOTUNE'd parallelism and the batches are prefetched
(AUTOTUNE'd buffer). Training pipelines are not deterministic (`deterministic=False`:
parallel maps may hand out elements in the order they finish rather than wait for a
slow decode); the crops are random either way.

Files or TFDS is decided by `recipes.sources.resolve` (the rule evaluation uses too): a
spec that exists, holds a glob character or is written like a path is read from disk;
any other spec is a TFDS dataset name (`clic`, `name:version`, `name/config`; prefix
`tfds:` to force). TFDS data must already be prepared: training never downloads.

Folders are listed by `zoo.image_io.IMAGE_SUFFIXES`. PNG, JPEG, BMP and GIF decode inside
the graph (`tf.io.decode_image`, recognized by their first bytes); the other formats are
decoded by Pillow (`zoo.image_io.read_image`, alpha dropped), and a file neither can read
becomes an empty image that the size filter drops.

Images smaller than the crop are skipped and counted (folders are scanned once from
image headers, so the count is known before training; TFDS records are filtered in the
pipeline). Grayscale and palette images become RGB.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from recipes import sources
from recipes.sources import GLOB_CHARS, is_local  # noqa: F401  (re-exported)
from zoo import image_io
from zoo.image_io import IMAGE_SUFFIXES


class DataError(ValueError):
    """The training data cannot be found or read."""


@dataclass
class ImageSet:
    """Image files usable for a crop size, and those that were not."""

    paths: list[str]
    skipped_small: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    #: Pixels of the usable images, from their headers (× 3 bytes decoded).
    pixels: int = 0

    @property
    def decoded_bytes(self) -> int:
        """Memory the usable images take decoded (uint8 RGB)."""
        return 3 * self.pixels


def image_paths(spec: str) -> list[str]:
    """The image files (`IMAGE_SUFFIXES`) a folder, a single file or a glob pattern names,
    sorted (`recipes.sources.image_files`). Raises DataError when nothing matches."""
    found = sources.image_files(spec)
    if not found:
        raise DataError(
            f"no training images ({', '.join(IMAGE_SUFFIXES)}) found at {spec!r}; give a "
            "folder, a glob pattern such as 'photos/**/*.png', or a prepared TFDS dataset name"
        )
    return found


def scan_images(paths: Iterable[str], min_size: int) -> ImageSet:
    """Sorts files into usable, too small (either side < `min_size`) and unreadable.

    Reads only image headers (Pillow opens lazily), so it is quick even for thousands
    of files.
    """
    from PIL import Image

    result = ImageSet(paths=[])
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # Pillow raises many types for a damaged or foreign file.
            result.unreadable.append(path)
            continue
        if min(width, height) < min_size:
            result.skipped_small.append(path)
        else:
            result.paths.append(path)
            result.pixels += width * height
    return result


def _decodes_in_graph(contents: tf.Tensor) -> tf.Tensor:
    """Whether `tf.io.decode_image` reads these bytes: PNG, GIF, BMP or JPEG signatures."""
    head = tf.strings.substr(contents, 0, 4)
    signatures = [
        tf.io.is_jpeg(contents),
        tf.equal(head, b"\x89PNG"),
        tf.equal(head, b"GIF8"),
        tf.equal(tf.strings.substr(contents, 0, 2), b"BM"),
    ]
    return tf.reduce_any(tf.stack(signatures))


def _pillow_decode(path: bytes) -> np.ndarray:
    try:
        return image_io.read_image(path.decode(), alpha="drop")
    except Exception:  # Unreadable: an empty image, dropped by the size filter.
        return np.zeros((0, 0, 3), np.uint8)


def _decode(path: tf.Tensor) -> tf.Tensor:
    contents = tf.io.read_file(path)
    # channels=3 turns grayscale into RGB and drops alpha; expand_animations=False
    # keeps a GIF to its first frame with a static rank.
    image = tf.cond(
        _decodes_in_graph(contents),
        lambda: tf.io.decode_image(contents, channels=3, expand_animations=False),
        lambda: tf.numpy_function(_pillow_decode, [path], tf.uint8, stateful=False),
    )
    image.set_shape([None, None, 3])
    return image


def _big_enough(image: tf.Tensor, patchsize: int) -> tf.Tensor:
    shape = tf.shape(image)
    return tf.logical_and(shape[0] >= patchsize, shape[1] >= patchsize)


def _crop_and_flip(image: tf.Tensor, patchsize: int) -> tf.Tensor:
    patch = tf.image.random_crop(image, [patchsize, patchsize, 3])
    patch = tf.image.random_flip_left_right(patch)
    return tf.cast(patch, tf.float32)


def crops(images: tf.data.Dataset, patchsize: int, batchsize: int,
          deterministic: bool = False) -> tf.data.Dataset:
    """Decoded uint8 images -> batches of random float crops (0..255), prefetched.

    Images smaller than the crop are dropped here as well, so a bad size can never stop
    training with a shape error.
    """
    images = images.filter(lambda image: _big_enough(image, patchsize))
    patches = images.map(
        lambda image: _crop_and_flip(image, patchsize), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=deterministic,
    )
    batches = patches.batch(batchsize, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return batches.with_options(options)


def _shard_for(paths: list[str], context: tf.distribute.InputContext | None):
    """Each input pipeline of a multi-worker run reads its own files when there are enough."""
    if context is None or context.num_input_pipelines <= 1:
        return paths, 0
    if len(paths) >= 2 * context.num_input_pipelines:
        return paths[context.input_pipeline_id :: context.num_input_pipelines], context.input_pipeline_id
    # Too few files to split: every pipeline reads all of them in its own random order.
    return paths, context.input_pipeline_id


def train_dataset(
    spec: str | list[str],
    patchsize: int,
    batchsize: int,
    *,
    seed: int | None = None,
    context: tf.distribute.InputContext | None = None,
    split: str = "train",
    data_dir: str | None = None,
    deterministic: bool = False,
    cache: bool = False,
) -> tf.data.Dataset:
    """An endless dataset of [batchsize, patchsize, patchsize, 3] float32 crops.

    Args:
      spec: folder, glob, file, list of files, or TFDS dataset name.
      patchsize: side of the square crops.
      batchsize: images per batch of this input pipeline (per replica under
        tf.distribute; see `InputContext.get_per_replica_batch_size`).
      seed: shuffle/crop seed; each input pipeline offsets it by its id.
      context: the tf.distribute input context, if any.
      split, data_dir: TFDS split and data directory.
      deterministic: whether parallel maps keep the input order (tf.data's
        `deterministic`); False lets a slow image not hold the others up.
      cache: (files only) decode each image once and keep it in memory, shuffling the
        decoded images every epoch; a step then costs one crop per image instead of one
        PNG decode. The caller checks that the set fits (`ImageSet.decoded_bytes`): the
        cache and the shuffle buffer each hold it whole.

    Raises:
      DataError: no images (folders/globs) or a TFDS dataset that is not prepared.
    """
    if isinstance(spec, str) and not sources.is_local(spec):
        images = tfds_images(spec, split=split, data_dir=data_dir, deterministic=deterministic)
        if context is not None and context.num_input_pipelines > 1:
            images = images.shard(context.num_input_pipelines, context.input_pipeline_id)
            seed = None if seed is None else seed + context.input_pipeline_id
        images = images.shuffle(256, seed=seed).repeat()
        return crops(images, patchsize, batchsize, deterministic)
    paths = list(spec) if not isinstance(spec, str) else image_paths(spec)
    paths, offset = _shard_for(paths, context)
    seed = None if seed is None else seed + offset
    files = tf.data.Dataset.from_tensor_slices(paths)
    if cache:
        images = files.map(_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).cache()
        images = images.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
        return crops(images, patchsize, batchsize, deterministic)
    files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    images = files.map(_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return crops(images, patchsize, batchsize, deterministic)


def tfds_images(name: str, split: str = "train", data_dir: str | None = None,
                deterministic: bool | None = None) -> tf.data.Dataset:
    """uint8 RGB images of a prepared TFDS dataset; never downloads.

    `deterministic`: tf.data's, for the parallel map (None: the dataset options' default,
    in order); training passes False.

    Raises:
      DataError: the dataset is unknown or not prepared in `data_dir`.
    """
    import tensorflow_datasets as tfds

    name = name.removeprefix(sources.TFDS_PREFIX)
    try:  # The project's own TFDS builders register on import (if that package exists).
        import recipes.datasets  # noqa: F401
    except ImportError:
        pass
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # tfds raises DatasetNotFoundError and friends.
        raise DataError(f"unknown TFDS dataset {name!r}: {exc}") from None
    if not builder.is_prepared():
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir} and training does not "
            "download. Prepare it once (`tfds build "
            f"{name}` on a machine with network access, then copy ~/tensorflow_datasets), "
            "or pass --train_data with a folder or glob of images."
        )
    dataset = builder.as_dataset(split=split, shuffle_files=True)
    image_key = next(
        (k for k, v in builder.info.features.items() if isinstance(v, tfds.features.Image)),
        None,
    )
    if image_key is None:
        raise DataError(f"TFDS dataset {name!r} has no image feature")

    def to_rgb(example):
        image = example[image_key]
        # Grayscale TFDS images have one channel; tile to three like the folder path.
        return tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image[..., :3]

    return dataset.map(to_rgb, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def measure_throughput(dataset: tf.data.Dataset, num_batches: int = 10) -> dict[str, float]:
    """Images per second the pipeline delivers on its own (after one warm-up batch)."""
    iterator = iter(dataset)
    first = next(iterator)
    batch = int(first.shape[0])
    start = time.perf_counter()
    for _ in range(num_batches):
        next(iterator)
    seconds = time.perf_counter() - start
    return {
        "batches": num_batches,
        "images_per_second": num_batches * batch / seconds,
        "seconds": seconds,
    }
