"""Transform stacks shared by the families: GDN analysis/synthesis and hyper transforms.

Every family names its sub-transforms `analysis`, `synthesis`, `hyper_analysis` and
`hyper_synthesis`; those names become the weights' paths.
"""

from __future__ import annotations

import tensorflow as tf

from zoo import tfc_adapter

#: Nonlinearities a transform can use between its convolutions (seed 004, Fig. 9).
#: "gdn_full" is GDN with the square and square root (`tfc_adapter.gdn`).
NONLINEARITIES = ("gdn", "gdn_full", "relu", "leaky_relu", "tanh", "softplus", "elu", "selu", "swish")


def nonlinearity(kind: str, inverse: bool = False, name: str | None = None) -> tf.keras.layers.Layer:
    """The layer between convolutions; `inverse` selects IGDN for synthesis transforms."""
    if kind in ("gdn", "gdn_full"):
        return tfc_adapter.gdn(inverse=inverse, name=name, full=kind == "gdn_full")
    if kind == "leaky_relu":
        return tf.keras.layers.LeakyReLU(0.2, name=name)
    if kind in NONLINEARITIES:
        return tf.keras.layers.Activation(tf.nn.silu if kind == "swish" else kind, name=name)
    raise ValueError(f"unknown nonlinearity {kind!r}; choose one of {', '.join(NONLINEARITIES)}")


def conv(filters: int, kernel: int, stride: int = 1, name: str | None = None, **kw):
    return tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", name=name, **kw)


def deconv(filters: int, kernel: int, stride: int = 1, name: str | None = None, **kw):
    return tf.keras.layers.Conv2DTranspose(
        filters, kernel, strides=stride, padding="same", name=name, **kw
    )


def analysis_transform(
    num_filters: int, num_latents: int, nonlinearity_kind: str = "gdn", name: str = "analysis"
) -> tf.keras.Sequential:
    """Four 5×5 stride-2 convolutions with a nonlinearity between them (downsamples by 16)."""
    layers = []
    for i in range(3):
        layers += [conv(num_filters, 5, 2, name=f"conv_{i}"), nonlinearity(nonlinearity_kind, name=f"act_{i}")]
    layers.append(conv(num_latents, 5, 2, name="conv_3"))
    return tf.keras.Sequential(layers, name=name)


def synthesis_transform(
    num_filters: int, nonlinearity_kind: str = "gdn", out_channels: int = 3, name: str = "synthesis"
) -> tf.keras.Sequential:
    """Mirror of `analysis_transform`: four 5×5 stride-2 transposed convolutions."""
    layers = []
    for i in range(3):
        layers += [
            deconv(num_filters, 5, 2, name=f"deconv_{i}"),
            nonlinearity(nonlinearity_kind, inverse=True, name=f"act_{i}"),
        ]
    layers.append(deconv(out_channels, 5, 2, name="deconv_3"))
    return tf.keras.Sequential(layers, name=name)


def conv_stack(widths, kernels, name: str, final_activation=None, transpose_strides=None
               ) -> tf.keras.Sequential:
    """Convolutions with ReLU between them (and `final_activation` after the last);
    transposed with `transpose_strides`, else stride 1 (channel-wise slice networks)."""
    stack = []
    for i, (width, kernel) in enumerate(zip(widths, kernels)):
        activation = final_activation if i == len(widths) - 1 else "relu"
        if transpose_strides is None:
            stack.append(conv(width, kernel, name=f"conv_{i}", activation=activation))
        else:
            stack.append(deconv(width, kernel, transpose_strides[i], name=f"deconv_{i}",
                                activation=activation))
    return tf.keras.Sequential(stack, name=name)


def hyper_analysis_transform(
    num_filters: int, num_latents: int, activation: str = "relu", name: str = "hyper_analysis"
) -> tf.keras.Sequential:
    """3×3 stride 1, then two 5×5 stride-2 convolutions (downsamples by 4)."""
    return tf.keras.Sequential(
        [
            conv(num_filters, 3, 1, name="conv_0"),
            nonlinearity(activation, name="act_0"),
            conv(num_filters, 5, 2, name="conv_1"),
            nonlinearity(activation, name="act_1"),
            conv(num_latents, 5, 2, name="conv_2"),
        ],
        name=name,
    )


def hyper_synthesis_transform(
    num_filters: int,
    out_channels: int,
    activation: str = "relu",
    middle_filters: int | None = None,
    name: str = "hyper_synthesis",
    bias_initializer="zeros",
) -> tf.keras.Sequential:
    """Two 5×5 stride-2 transposed convolutions, then a 3×3 one (upsamples by 4).

    `bias_initializer` sets the output's initial value (e.g. a sensible scale index)."""
    return tf.keras.Sequential(
        [
            deconv(num_filters, 5, 2, name="deconv_0"),
            nonlinearity(activation, name="act_0"),
            deconv(middle_filters or num_filters, 5, 2, name="deconv_1"),
            nonlinearity(activation, name="act_1"),
            deconv(out_channels, 3, 1, name="deconv_2", bias_initializer=bias_initializer),
        ],
        name=name,
    )


def compute_in_float32(*modules: tf.Module) -> None:
    """Mixed precision: makes `modules` and every Keras layer inside them compute in
    float32 (their variables are float32 under any policy; only the compute dtype
    changes). The rule of every family: analysis and synthesis compute in the policy's
    bfloat16, the latent codec (hyper transforms, context models, entropy models, noise,
    likelihoods and bits) in float32. Idempotent; a no-op on float32 layers.
    """
    for module in modules:
        for layer in (module, *module.submodules):
            if isinstance(layer, tf.keras.layers.Layer) and layer.dtype_policy.name != "float32":
                # Keras 2 has no public setter; this is what Layer.__init__ calls.
                layer._set_dtype_policy("float32")


def run_float64(layer: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """Applies a built layer (or Sequential of them) in float64, with its own weights.

    For coding paths whose outputs choose entropy-model tables: float32 results of the
    same network differ slightly between graphs (grappler fuses ops differently in an
    encoder's and a decoder's graph) and can move a scale index across a table boundary,
    desynchronizing the range decoder. In float64 such differences are ~1e-16, far
    below anything that moves an index; and decoders that must give the same pixels
    under any math library (oneDNN or Eigen) and thread count compute in float64 too.
    Supports Conv2D, Conv2DTranspose ('same' padding), Dense, GDN/IGDN, Activation,
    ReLU and LeakyReLU layers, and layers with a `call_float64`.
    """
    x = tf.cast(x, tf.float64)
    if isinstance(layer, tf.keras.Sequential):
        for sub in layer.layers:
            x = run_float64(sub, x)
        return x
    if hasattr(layer, "call_float64"):
        return layer.call_float64(x)
    if isinstance(layer, tf.keras.layers.Conv2DTranspose):
        kernel = tf.cast(layer.kernel, tf.float64)
        shape = tf.shape(x)
        out = tf.stack([shape[0], shape[1] * layer.strides[0], shape[2] * layer.strides[1],
                        kernel.shape[2]])
        y = tf.nn.conv2d_transpose(x, kernel, out, layer.strides, padding="SAME")
    elif isinstance(layer, tf.keras.layers.Conv2D):
        y = tf.nn.conv2d(x, tf.cast(layer.kernel, tf.float64), layer.strides, padding="SAME")
    elif isinstance(layer, tf.keras.layers.Dense):
        y = tf.tensordot(x, tf.cast(layer.kernel, tf.float64), [[x.shape.rank - 1], [0]])
    elif isinstance(layer, tf.keras.layers.Activation):
        return layer.activation(x)
    elif isinstance(layer, tf.keras.layers.LeakyReLU):
        return tf.nn.leaky_relu(x, float(layer.alpha))
    elif isinstance(layer, tf.keras.layers.ReLU) and layer.max_value is None and not layer.threshold:
        return tf.nn.relu(x) if not layer.negative_slope else tf.nn.leaky_relu(
            x, float(layer.negative_slope))
    elif tfc_adapter.is_gdn(layer):
        return tfc_adapter.gdn_float64(layer, x)
    else:
        raise TypeError(f"no float64 form for {type(layer).__name__} ({layer.name})")
    if layer.use_bias:
        y = tf.nn.bias_add(y, tf.cast(layer.bias, tf.float64))
    return layer.activation(y)
