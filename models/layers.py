"""Layer blocks shared by the model builders (one home per block)."""

from __future__ import annotations


def conv_bn_relu(x, filters, kernel_size=3, *, strides=1, padding="same", use_bias=False,
                 kernel_regularizer=None, kernel_initializer="glorot_uniform", name=None):
    """Conv2D, then BatchNormalization, then ReLU, applied to the tensor `x`.

    Args:
        filters, kernel_size, strides, padding, kernel_regularizer, kernel_initializer: as
            for `keras.layers.Conv2D`.
        use_bias: give the conv a bias; off by default, since batch norm's beta does its job
            (the report-A and report-C nets keep theirs, to keep their parameter counts).
        name: a prefix naming the layers `{name}_conv`, `{name}_bn`, `{name}_relu`; or a
            tuple of the three names, any None for Keras's automatic one; None for all three.

    Returns:
        The ReLU's output tensor.

    Example:
        x = conv_bn_relu(inputs, 32, strides=2, name="stem")  # stem_conv, stem_bn, stem_relu
    """
    from keras import layers

    if name is None or isinstance(name, str):
        conv_name, bn_name, relu_name = ((None,) * 3 if name is None else
                                         (f"{name}_conv", f"{name}_bn", f"{name}_relu"))
    else:
        conv_name, bn_name, relu_name = name
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
                      kernel_regularizer=kernel_regularizer,
                      kernel_initializer=kernel_initializer, name=conv_name)(x)
    x = layers.BatchNormalization(name=bn_name)(x)
    return layers.Activation("relu", name=relu_name)(x)


def whitening_kernel(images, kernel_size: int, filters: int):
    """A first conv's kernel, (kernel_size, kernel_size, channels, filters), that projects
    each patch of photos like `images` (N, H, W, channels floats, as the net sees them) on
    the principal directions of such patches: the half (rounded up) of most variance,
    largest first, then the same directions negated (an odd count leaves out the last
    negative), so that a ReLU after it keeps either sign.
    This is the frozen whitening layer of Keller Jordan's airbench (after Coates and Ng);
    the batch norm after the conv scales each direction to unit variance, which completes
    the whitening, so the kernel holds unit-length directions.

    Example:
        kernel = whitening_kernel(photos / 255, kernel_size=3, filters=24)  # 12 directions
    """
    import numpy as np

    channels = images.shape[-1]
    dims = kernel_size * kernel_size * channels
    if not 0 < filters <= 2 * dims:
        raise ValueError(f"a whitening kernel has 1 to {2 * dims} filters for "
                         f"{kernel_size}x{kernel_size} patches of {channels} channels; got "
                         f"{filters}.")
    windows = np.lib.stride_tricks.sliding_window_view(images, (kernel_size, kernel_size),
                                                       axis=(1, 2))  # N, H', W', C, k, k
    # Every other patch each way (a stride-2 stem's share), in the kernel's (k, k, C) order.
    patches = windows[:, ::2, ::2].transpose(0, 1, 2, 4, 5, 3).reshape(-1, dims)
    patches = patches.astype(np.float64) - patches.mean(axis=0)
    _, vectors = np.linalg.eigh(patches.T @ patches / len(patches))  # ascending variance
    top = vectors[:, ::-1][:, :(filters + 1) // 2]
    kernel = np.concatenate([top, -top], axis=1)[:, :filters]
    return kernel.reshape(kernel_size, kernel_size, channels, filters).astype(np.float32)
