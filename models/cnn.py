"""The task-3 CNNs, each a pure function `make_...(input_shape, num_classes, ...) -> keras.Model`.

- `make_cnn_50k`: report B's four 3x3 conv layers 12-24-48-96, each followed by 2x2 pooling
  (55,714 parameters on 28x28x1).
- `make_cnn_206k`: report A's conv 20@5x5, conv 30@4x4, conv 40@3x3, dense 500
  (206,500 parameters on 28x28x1, as the report counted); `variant` adds dropout or batch norm.
- `make_course_convnet`: the course's default CIFAR-10 ConvNet (the TensorFlow CIFAR-10
  tutorial's layout without local response normalisation: conv 64@5x5, pool 3x3/2, conv
  64@5x5, pool 3x3/2, dense 384, dense 192; normal initialisation; weight decay on every kernel).
- `make_strong_cnn`: a small VGG-style net with batch norm and dropout, sized for a 2-core
  CPU (about 0.17M parameters, ~12M multiply-adds per 28x28 image).
"""

from __future__ import annotations

import functools

from models.layers import conv_bn_relu

VARIANTS = ("plain", "dropout", "batchnorm")


def _conv_block(x, filters, kernel_size, variant, padding="valid", name=None):
    """Conv (+ batch norm before the ReLU when `variant == "batchnorm"`)."""
    from keras import layers

    if variant == "batchnorm":
        return conv_bn_relu(x, filters, kernel_size, padding=padding, name=(name, None, None))
    return layers.Conv2D(filters, kernel_size, padding=padding, activation="relu", name=name)(x)


def make_cnn_50k(input_shape, num_classes: int, variant: str = "plain", dropout: float = 0.25):
    """Report B's CNN: conv 3x3 12-24-48-96 ('same'), each with 2x2 max pooling, softmax."""
    import keras
    from keras import layers

    _check_variant(variant)
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for i, filters in enumerate((12, 24, 48, 96)):
        x = _conv_block(x, filters, 3, variant, padding="same", name=f"conv_{i + 1}")
        x = layers.MaxPooling2D(2, padding="same")(x)  # 28 -> 14 -> 7 -> 4 -> 2
        if variant == "dropout":
            x = layers.Dropout(dropout)(x)
    x = layers.GlobalMaxPooling2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"cnn_50k_{variant}")


def make_cnn_206k(input_shape, num_classes: int, variant: str = "plain", dropout: float = 0.5):
    """Report A's CNN: conv 20@5x5, pool, conv 30@4x4, conv 40@3x3, pool, dense 500, softmax.

    On 28x28x1: 28 -> 24 -> 12 -> 9 -> 7 -> 3, so the dense layer sees 3*3*40 = 360 values
    and the net has 206,500 parameters (report A's figure). `variant="dropout"` adds dropout
    before the two dense layers; `"batchnorm"` a BatchNormalization after every layer but the
    last, in place of the bias.
    """
    import keras
    from keras import layers

    _check_variant(variant)
    inputs = keras.Input(shape=tuple(input_shape))
    x = _conv_block(inputs, 20, 5, variant, name="conv_1")
    x = layers.MaxPooling2D(2)(x)
    x = _conv_block(x, 30, 4, variant, name="conv_2")
    x = _conv_block(x, 40, 3, variant, name="conv_3")
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    if variant == "dropout":
        x = layers.Dropout(dropout / 2)(x)
    if variant == "batchnorm":
        x = layers.Dense(500, use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
    else:
        x = layers.Dense(500, activation="relu")(x)
    if variant == "dropout":
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"cnn_206k_{variant}")


def make_course_convnet(input_shape, num_classes: int, weight_decay: float = 1e-3,
                        variant: str = "plain", dropout: float = 0.5):
    """The course's default CIFAR-10 ConvNet (see the module docstring).

    `weight_decay` is an L2 penalty `weight_decay * sum(w**2)` on every kernel; kernels start
    from truncated normals (std 0.05 conv, 0.04 dense), as in the TensorFlow tutorial.
    """
    import keras
    from keras import layers

    _check_variant(variant)
    l2 = keras.regularizers.L2(weight_decay) if weight_decay else None
    conv_init = keras.initializers.TruncatedNormal(stddev=0.05)
    dense_init = keras.initializers.TruncatedNormal(stddev=0.04)
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for i in (1, 2):
        x = layers.Conv2D(64, 5, padding="same", kernel_initializer=conv_init,
                          kernel_regularizer=l2, name=f"conv_{i}")(x)
        if variant == "batchnorm":
            x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    for units in (384, 192):
        if variant == "dropout":
            x = layers.Dropout(dropout)(x)
        x = layers.Dense(units, activation="relu", kernel_initializer=dense_init,
                         kernel_regularizer=l2)(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=l2,
                           kernel_initializer=keras.initializers.TruncatedNormal(stddev=1 / 192))(x)
    return keras.Model(inputs, outputs, name=f"course_convnet_{variant}")


def make_strong_cnn(input_shape, num_classes: int, width: int = 24, dropout: float = 0.2,
                    weight_decay: float = 1e-4):
    """A small VGG-style net for a CPU: three stages of 3x3 conv + BN + ReLU, widths w-2w-4w.

    Stage 1 has one conv at full resolution (the costly place on a CPU), stages 2 and 3 two
    convs each; 2x2 max pooling after every stage, then the 3x3 (28x28 input) or 4x4 (32x32)
    maps flattened, dropout, softmax. It needs task 3's shifts and label smoothing, without
    which it over-fits in a 20-minute run; global average pooling in place of the flattened
    maps did worse (tasks/task3/README.md, `cifar10-cnn`, has the runs).
    """
    import keras
    from keras import layers

    l2 = keras.regularizers.L2(weight_decay) if weight_decay else None
    conv = functools.partial(conv_bn_relu, kernel_regularizer=l2, kernel_initializer="he_normal")

    inputs = keras.Input(shape=tuple(input_shape))
    x = conv(inputs, width)
    x = layers.MaxPooling2D(2)(x)
    x = conv(conv(x, 2 * width), 2 * width)
    x = layers.MaxPooling2D(2)(x)
    x = conv(conv(x, 4 * width), 4 * width)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_regularizer=l2)(x)
    return keras.Model(inputs, outputs, name="strong_cnn")


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}.")
