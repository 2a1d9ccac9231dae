"""Tiled transforms (`zoo.tiling`): coding a photo in tiles gives the file and the pixels
of the whole-image computation, for every image family.

The default tile (48 latent positions, 768² pixels at a factor of 16) leaves the small
test images in one piece; `set_tiling` forces several tiles on them here, so the tests
are fast. The large-photo round trip with the shipped weights is a slow test.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import zoo
from recipes.faults.images import png_header_only
from zoo import image_io, tiling
from zoo.metrics import psnr
from zoo.models.base import pad_to_stride

from .conftest import tiny_image_models

#: 197×331 crop: prime sides, padded to 256×384 (stride 64), a 16×24 latent grid at
#: factor 16, so 2-position tiles give 8×12 tiles with neighbours on every side.
SIZE = (197, 331)


def _codec(name, portable=False):
    tf.keras.utils.set_random_seed(0)
    return zoo.Codec(zoo.create_model(name), portable=portable)


@pytest.mark.parametrize("name", tiny_image_models())
def test_tiles_give_the_whole_image_file_and_pixels(name, kodak_image):
    image = np.ascontiguousarray(kodak_image[: SIZE[0], : SIZE[1]])
    codec = _codec(name)
    whole_file = codec.compress(image)
    whole = codec.decompress(whole_file)
    codec.model.set_tiling(2)
    tiled_file = codec.compress(image)
    tiled = codec.decompress(whole_file)
    assert tiled_file == whole_file
    assert tiled.shape == (*SIZE, 3)
    # float32 convolutions of a tile and of the whole image may round differently in the
    # last bit (oneDNN blocks them by shape); at most a pixel level, in a few pixels.
    diff = np.abs(tiled.astype(int) - whole)
    assert diff.max() <= 1 and np.mean(diff > 0) < 1e-3, (diff.max(), np.mean(diff > 0))


@pytest.mark.parametrize("name", ["hyperprior_tiny", "joint_tiny", "vq_tiny"])
def test_portable_tiled_decoding_is_exact(name, kodak_image):
    image = np.ascontiguousarray(kodak_image[: SIZE[0], : SIZE[1]])
    codec = _codec(name, portable=True)
    data = codec.compress(image)
    whole = codec.decompress(data)
    codec.model.set_tiling(3)
    np.testing.assert_array_equal(codec.decompress(data), whole)


def test_the_halo_is_what_makes_tiles_agree(kodak_image):
    """Without a halo the tiles' edges differ: the equality above is not vacuous."""
    model = _codec("hyperprior_tiny").model
    x = tf.constant(kodak_image[None, :256, :384])
    whole = model.analyze(x).numpy()
    for halo, agrees in [(0, False), (4, True)]:
        model.set_tiling(2, halo)
        tiled = model.analyze(x).numpy()
        assert tiled.shape == whole.shape
        assert np.allclose(tiled, whole, atol=1e-4) == agrees, halo


@pytest.mark.parametrize("tile", [48, 2])
def test_tiles_read_the_padding_without_a_padded_copy(tile, kodak_image):
    """`analyze` of the unpadded image is the analysis of the image padded to `stride`
    (tiles at the bottom right lie wholly in the padding), and `synthesize` crops each
    tile to the image instead of cropping a whole padded reconstruction."""
    model = _codec("hyperprior_tiny").model
    x = tf.constant(kodak_image[None, : SIZE[0], : SIZE[1]])
    padded = pad_to_stride(x, model.stride)
    whole = model.analysis(tf.cast(padded, tf.float32) / 255.0)
    model.set_tiling(tile)
    model._tiled = True  # as in a coding graph, which gets the image unpadded
    try:
        tiled = model.analyze(x).numpy()
    finally:
        model._tiled = False
    np.testing.assert_allclose(tiled, whole.numpy(), atol=1e-4)
    model._output_size = tf.constant(SIZE)
    try:
        cropped = model.synthesize(tf.round(whole)).numpy()
    finally:
        model._output_size = None
    full = model.synthesize(tf.round(whole)).numpy()
    assert cropped.shape == (1, *SIZE, 3) and full.shape == (1, *padded.shape[1:3], 3)
    np.testing.assert_array_equal(cropped, full[:, : SIZE[0], : SIZE[1]])


def test_tiling_arguments_are_checked():
    with pytest.raises(ValueError, match="tile"):
        tiling.apply(tf.identity, tf.zeros([1, 4, 4, 1]), 1, 1, tile=0, halo=1)
    with pytest.raises(ValueError, match="tile"):
        zoo.create_model("hyperprior_tiny").set_tiling(0)


def test_sizes_above_the_limit_are_refused_from_the_header():
    side = int(np.sqrt(image_io.MAX_PIXELS)) + 1
    with pytest.raises(zoo.ImageError, match="are not supported"):
        zoo.read_image(png_header_only(side, side))
    # 100 MP (12000×8400) is within it: the header passes, the (missing) data fails.
    with pytest.raises(zoo.ImageError, match="could not be decoded|truncated"):
        zoo.read_image(png_header_only(12000, 8400))


def test_models_with_a_lower_limit_refuse_before_coding():
    codec = _codec("ladder_tiny")
    assert codec.model.max_pixels < image_io.MAX_PIXELS
    too_big = np.zeros((4097, 4096, 3), np.uint8)
    with pytest.raises(zoo.ImageError, match="exceeds"):
        codec.compress(too_big)


@pytest.mark.slow
def test_a_large_photo_round_trips_in_tiles():
    """A 6 MP upscale of a Kodak photo with the shipped hyperprior: several 768² tiles,
    the decoded pixels close to the input, and the file of the whole-image computation."""
    from PIL import Image

    from .conftest import kodak_path

    photo = Image.open(kodak_path(5)).convert("RGB")
    image = np.asarray(photo.resize((3001, 2003), Image.LANCZOS))
    codec = zoo.get("hyperprior", lmbda=0.0483)
    data = codec.compress(image)
    decoded = codec.decompress(data)
    assert decoded.shape == image.shape
    assert psnr(image, decoded) > 30.0
    codec.model.set_tiling(256)  # one piece
    try:
        assert codec.compress(image) == data
    finally:
        codec.model.set_tiling(type(codec.model).tile)
