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
