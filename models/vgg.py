"""VGG-style convolutional networks for 64x64 Dogs vs. Cats (task 4 and tuning).

One builder, `build_vgg`, makes every net of the course reports: blocks of 'same' convolutions
with ReLU, a 2x2 max-pool after each block, then dense layers and a softmax. The reports' nets
are configurations of it, reachable by name:

    model = build_model("vgg13")           # report B: 45,238,466 parameters
    model = build_model("bn_deep")         # report C's deep batch-norm net
    model = build_model("cpu_net")         # this suite's fast net for 2 CPU cores

Models are returned uncompiled, built with the functional API and `keras.ops`-free layers,
so they run on any Keras backend.
"""

from __future__ import annotations

from models.layers import conv_bn_relu

# Conv filters per block for each depth of the report's depth table (6 ... 19 conv layers).
# Only 13 is pinned by the report: its 64,64 | 128,128 | 256x3 | 512x3 | 640x3 net has
# exactly 45,238,466 parameters with dense 4096, 4096. The depth table's own parameter
# counts (2,736,066 / 5,147,458 / 17,076,546 / 23,111,490 / 39,896,898) belong to nets the
# report does not describe: no VGG layout with its filter widths (64 ... 640), 2x2 pools and
# dense sizes 64 ... 4096 reproduces them (searched exhaustively), so none is matched and the
# other depths spread their layers over the same five blocks the way VGG-11/16/19 do.
VGG_DEPTHS = {
    6: [[64], [128], [256], [512], [640, 640]],
    10: [[64, 64], [128, 128], [256, 256], [512, 512], [640, 640]],
    13: [[64, 64], [128, 128], [256] * 3, [512] * 3, [640] * 3],
    16: [[64, 64], [128, 128], [256] * 4, [512] * 4, [640] * 4],
    19: [[64, 64], [128, 128], [256] * 5, [512] * 5, [640] * 5],
}
REPORT_DENSE = (4096, 4096)

# Report C's three batch-norm nets: one conv per block, two dense 1024. Its parameter counts
# (5,274,882 / 9,539,074 / 1,373,986) are the *trainable* ones: batch norm's moving mean and
# variance (2 per channel) are not in them.
BN_NETS = {
    "bn_shallow": [[16], [32], [64]],
    "bn_shallow_fat": [[32], [64], [128]],
    "bn_deep": [[32], [64], [128], [64], [32]],
}
BN_DENSE = (1024, 1024)

MODEL_NAMES = (*(f"vgg{d}" for d in VGG_DEPTHS), *BN_NETS, "cpu_net")


def block_filters(depth: int) -> list[list[int]]:
    """The filters per block of the `depth`-conv VGG (a key of `VGG_DEPTHS`)."""
    if depth not in VGG_DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, VGG_DEPTHS))}; got {depth!r}.")
    return [list(block) for block in VGG_DEPTHS[depth]]


def build_vgg(depth: int = 13, kernel_size: int = 3, filters=None, dense=REPORT_DENSE,
              batch_norm: bool = False, dropout: float = 0.0, input_shape=(64, 64, 3),
              num_classes: int = 2, name: str | None = None):
    """A VGG-style CNN: conv blocks, each followed by a 2x2 max-pool, dense layers, softmax.

    Args:
        depth: number of conv layers, a key of `VGG_DEPTHS` (ignored when `filters` is given).
        kernel_size: side of every conv kernel (the report's kernel table tries 2 to 5).
        filters: blocks of conv filter counts, e.g. `[[32], [64, 64]]`; overrides `depth`.
        dense: sizes of the hidden dense layers.
        batch_norm: batch normalisation between every conv/dense layer and its ReLU.
        dropout: dropout rate after every hidden dense layer (0 = none).
        input_shape: (height, width, channels).
        num_classes: outputs of the softmax.
        name: the model's name (default `vgg<depth>`).

    Returns:
        An uncompiled `keras.Model` that outputs class probabilities.

    Raises:
        ValueError: a block would pool a map below 1x1, or a kernel is wider than 2 * side - 1.

    Example:
        model = build_vgg(13)
        model.count_params()  # 45238466
    """
    import keras
    from keras import layers

    blocks = [list(b) for b in filters] if filters is not None else block_filters(depth)
    if not blocks or not all(blocks):
        raise ValueError(f"filters must be non-empty blocks of filter counts; got {filters!r}.")
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be a positive integer; got {kernel_size!r}.")
    _check_fits(blocks, kernel_size, input_shape)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for b, block in enumerate(blocks, start=1):
        for c, n in enumerate(block, start=1):
            if batch_norm:  # the report's nets keep the conv bias
                x = conv_bn_relu(x, n, kernel_size, use_bias=True, name=(
                    f"block{b}_conv{c}", f"block{b}_bn{c}", f"block{b}_relu{c}"))
            else:
                x = layers.Conv2D(n, kernel_size, padding="same", activation="relu",
                                  name=f"block{b}_conv{c}")(x)
        x = layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    for d, units in enumerate(dense, start=1):
        x = layers.Dense(units, activation=None if batch_norm else "relu", name=f"fc{d}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"fc{d}_bn")(x)
            x = layers.Activation("relu", name=f"fc{d}_relu")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{d}_dropout")(x)
    # float32 even under a mixed (bfloat16) policy: the softmax and the loss stay exact.
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions",
                           dtype="float32")(x)
    conv_layers = sum(len(b) for b in blocks)
    return keras.Model(inputs, outputs, name=name or f"vgg{conv_layers}")


def _check_fits(blocks, kernel_size: int, input_shape) -> None:
    """Fail early, with the block named, when the net does not fit the input size (a net
    for any size, None a side, is checked by its caller at the sizes it will see)."""
    if input_shape[0] is None or input_shape[1] is None:
        return
    side = min(input_shape[0], input_shape[1])
    if side >> len(blocks) < 1:
        raise ValueError(f"{len(blocks)} 2x2 pools are too many for a {input_shape[0]}x"
                         f"{input_shape[1]} input; use fewer blocks or a larger input_shape.")
    for b in range(1, len(blocks) + 1):
        if kernel_size > 2 * side - 1:
            raise ValueError(f"kernel_size {kernel_size} is too large for block {b}'s "
                             f"{side}x{side} feature maps (at most {2 * side - 1}); use a "
                             f"smaller kernel or fewer blocks.")
        side //= 2


def build_bn_net(name: str, input_shape=(64, 64, 3), num_classes: int = 2, **kw):
    """One of report C's batch-norm nets (`bn_shallow`, `bn_shallow_fat`, `bn_deep`)."""
    if name not in BN_NETS:
        raise ValueError(f"batch-norm net must be one of {', '.join(BN_NETS)}; got {name!r}.")
    kw.setdefault("dense", BN_DENSE)
    return build_vgg(filters=BN_NETS[name], batch_norm=True, input_shape=input_shape,
                     num_classes=num_classes, name=name, **kw)


# The CPU net at the report's depths (tuning's CPU-sized space): conv layers per stage after
# the stride-2 stem, at 32x32, 16x16, 8x8 and 4x4 for a 64x64 photo. Depth 6 is `cpu_net`
# itself; deeper nets add layers where the maps are small, each costing about 9.4 MMAC per
# image (channels double as the area quarters), so depth 19 costs 4.9x depth 6.
CPU_NET_DEPTHS = {6: (1, 1, 2, 1), 10: (1, 2, 3, 3), 13: (2, 2, 4, 4), 16: (2, 3, 5, 5),
                  19: (2, 4, 6, 6)}


def build_cpu_net(input_shape=(64, 64, 3), num_classes: int = 2, width: int = 32,
                  dropout: float = 0.3, depth: int = 6, kernel_size: int = 3,
                  name: str = "cpu_net"):
    """This suite's net for 2 CPU cores: the most accuracy per minute of training.

    A VGG with batch norm that spends its compute where the maps are small: a stride-2 stem
    halves 64x64 to 32x32 at once, one conv per block at 32x32 and 16x16, two at 8x8, one at
    4x4, then global average pooling instead of a 4096-wide dense stack (the report's dense
    layers hold 27M of its 45M parameters). About 0.55M parameters and 31 MMAC per image:
    a quarter of a plain VGG-BN of the same widths and a hundredth of the report's VGG-13.

    Args:
        width: filters of the first full block; later blocks double it (32 -> 256).
        dropout: rate before the softmax.
        depth: conv layers in all, a key of `CPU_NET_DEPTHS` (6, the default, is the net
            above; tuning's depth table tries the others).
        kernel_size: side of every conv kernel.
    """
    import keras
    from keras import layers

    if depth not in CPU_NET_DEPTHS:
        raise ValueError(f"depth must be one of {', '.join(map(str, CPU_NET_DEPTHS))}; "
                         f"got {depth!r}.")
    stages = CPU_NET_DEPTHS[depth]
    _check_fits([[width]] * len(stages), kernel_size, input_shape)  # a stem, 3 pools

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = conv_bn_relu(inputs, 3 * width // 4, kernel_size, strides=2, name="stem")  # 32x32
    for stage, convs in enumerate(stages, start=1):
        for c in range(convs):
            suffix = "" if convs == 1 else "abcdefgh"[c]  # block3a, block3b, ...
            x = conv_bn_relu(x, width << (stage - 1), kernel_size, name=f"block{stage}{suffix}")
        if stage < len(stages):
            x = layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)     # 16, 8, 4
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    # float32 even under a mixed (bfloat16) policy: the softmax and the loss stay exact.
    outputs = layers.Dense(num_classes, activation="softmax", name="predictions",
                           dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_model(name: str, **kw):
    """The net called `name` (one of `MODEL_NAMES`); `kw` go to its builder.

    Example:
        build_model("vgg16", kernel_size=5, dropout=0.5)
    """
    if name.startswith("vgg") and name[3:].isdigit() and int(name[3:]) in VGG_DEPTHS:
        kw.setdefault("name", name)
        return build_vgg(depth=int(name[3:]), **kw)
    if name in BN_NETS:
        return build_bn_net(name, **kw)
    if name == "cpu_net":
        return build_cpu_net(**kw)
    raise ValueError(f"model must be one of {', '.join(MODEL_NAMES)}; got {name!r}.")


def trainable_params(model) -> int:
    """Trainable parameters (the count report C quotes for its batch-norm nets)."""
    import math

    return sum(math.prod(w.shape) for w in model.trainable_weights)
