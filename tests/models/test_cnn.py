"""The one Conv-BN-ReLU block (models/layers.py) builds every model exactly as before.

The parameter counts, layer names and weight shapes below were recorded from the builders
before their three Conv-BN-ReLU copies became `models.layers.conv_bn_relu`; a change to the
block that moves any of them fails here.
"""

import keras
import numpy as np
import pytest

from models import cnn, vgg
from models.layers import conv_bn_relu


def _auto(prefix, n):
    """Keras's automatic names for the n layers of one kind: prefix, prefix_1, ..."""
    return [prefix] + [f"{prefix}_{i}" for i in range(1, n)]


def _cbr(convs, bns, relus):
    return [name for triple in zip(convs, bns, relus) for name in triple]


_C, _B, _A = _auto("conv2d", 5), _auto("batch_normalization", 5), _auto("activation", 5)
STRONG_NAMES = (["input_layer", *_cbr(_C[:1], _B[:1], _A[:1]), "max_pooling2d",
                 *_cbr(_C[1:3], _B[1:3], _A[1:3]), "max_pooling2d_1",
                 *_cbr(_C[3:], _B[3:], _A[3:]), "max_pooling2d_2", "flatten", "dropout",
                 "dense"])
CNN_206K_BN_NAMES = ["input_layer", "conv_1", "batch_normalization", "activation",
                     "max_pooling2d", "conv_2", "batch_normalization_1", "activation_1",
                     "conv_3", "batch_normalization_2", "activation_2", "max_pooling2d_1",
                     "flatten", "dense", "batch_normalization_3", "activation_3", "dense_1"]
BN_SHALLOW_NAMES = ["image", *[n for b in (1, 2, 3) for n in (
    f"block{b}_conv1", f"block{b}_bn1", f"block{b}_relu1", f"block{b}_pool")], "flatten",
    "fc1", "fc1_bn", "fc1_relu", "fc2", "fc2_bn", "fc2_relu", "predictions"]
CPU_NET_NAMES = ["image", "stem_conv", "stem_bn", "stem_relu", "block1_conv", "block1_bn",
                 "block1_relu", "block1_pool", "block2_conv", "block2_bn", "block2_relu",
                 "block2_pool", "block3a_conv", "block3a_bn", "block3a_relu", "block3b_conv",
                 "block3b_bn", "block3b_relu", "block3_pool", "block4_conv", "block4_bn",
                 "block4_relu", "avg_pool", "dropout", "predictions"]

BUILDERS = {
    "strong_cnn": (lambda: cnn.make_strong_cnn((28, 28, 1), 10), 165_634, STRONG_NAMES),
    "cnn_206k_batchnorm": (lambda: cnn.make_cnn_206k((28, 28, 1), 10, "batchnorm"), 208_270,
                           CNN_206K_BN_NAMES),
    "bn_shallow": (lambda: vgg.build_model("bn_shallow"), 5_279_202, BN_SHALLOW_NAMES),
    "cpu_net": (lambda: vgg.build_model("cpu_net"), 545_130, CPU_NET_NAMES),
}


@pytest.mark.parametrize("key", sorted(BUILDERS))
def test_models_keep_their_params_and_layer_names(key):
    build, params, names = BUILDERS[key]
    keras.utils.clear_session()  # automatic layer names count from zero again
    model = build()
    assert model.count_params() == params
    assert [layer.name for layer in model.layers] == names


@pytest.mark.parametrize("variant, params", [("plain", 55_690), ("dropout", 55_690),
                                             ("batchnorm", 56_230)])
def test_cnn_50k_params(variant, params):
    assert cnn.make_cnn_50k((28, 28, 1), 10, variant).count_params() == params


def test_conv_bn_relu_names_shapes_and_bias():
    inputs = keras.Input((8, 8, 3))
    x = conv_bn_relu(inputs, 4, strides=2, name="stem")
    model = keras.Model(inputs, x)
    assert [layer.name for layer in model.layers[1:]] == ["stem_conv", "stem_bn", "stem_relu"]
    assert tuple(x.shape) == (None, 4, 4, 4)
    # 3*3*3*4 kernel, no bias; batch norm: gamma, beta, moving mean and variance (4 each)
    assert model.count_params() == 3 * 3 * 3 * 4 + 4 * 4
    with_bias = keras.Model(inputs, conv_bn_relu(inputs, 4, use_bias=True, name=("c", None, "r")))
    assert with_bias.count_params() == 3 * 3 * 3 * 4 + 4 + 4 * 4
    assert with_bias.layers[1].name == "c" and with_bias.layers[3].name == "r"


def test_bad_names_are_worded_as_every_bad_value():
    from models.mlp import make_initializer, make_regularizer

    with pytest.raises(ValueError, match=r"^variant must be one of plain, dropout, batchnorm; "
                       r"got 'bn'\.$"):
        cnn.make_cnn_50k((28, 28, 1), 10, "bn")
    with pytest.raises(ValueError, match=r"^initializer must be one of normal, glorot, "
                       r"glorot_normal, uniform, he; got 'zeros'\.$"):
        make_initializer("zeros", 1.0)
    with pytest.raises(ValueError, match=r"^regularizer must be one of none, l1, l2; got 'l3'\.$"):
        make_regularizer("l3", 0.1)


def test_whitening_kernel_projects_patches_on_their_uncorrelated_principal_directions():
    from models.layers import whitening_kernel

    rng = np.random.default_rng(0)
    # Photos whose channels and neighbouring pixels are correlated, as real ones are.
    base = rng.normal(size=(64, 17, 17, 1))
    images = np.concatenate([base, 0.5 * base + 0.1 * rng.normal(size=base.shape),
                             rng.normal(size=base.shape)], axis=-1)
    images = images[:, :16, :16] + 0.8 * images[:, 1:, 1:]
    kernel = whitening_kernel(images.astype(np.float32), 3, 8)
    assert kernel.shape == (3, 3, 3, 8)
    directions = kernel.reshape(27, 8)
    np.testing.assert_allclose(directions[:, 4:], -directions[:, :4])
    np.testing.assert_allclose(directions[:, :4].T @ directions[:, :4], np.eye(4), atol=1e-5)
    # Projected on them (as a 'valid' conv would), every other patch's values are
    # uncorrelated, the first direction holding the most variance.
    windows = np.lib.stride_tricks.sliding_window_view(images, (3, 3), axis=(1, 2))
    patches = windows[:, ::2, ::2].transpose(0, 1, 2, 4, 5, 3).reshape(-1, 27)
    projected = (patches - patches.mean(axis=0)) @ directions[:, :4]
    covariance = projected.T @ projected / len(projected)
    variances = np.diag(covariance)
    assert np.all(np.diff(variances) < 0)
    np.testing.assert_allclose(covariance - np.diag(variances), 0, atol=1e-6 * variances[0])
    # No other unit direction holds more variance than the first (a random one, tried).
    others = rng.normal(size=(27, 200))
    others /= np.linalg.norm(others, axis=0)
    centred = patches - patches.mean(axis=0)
    assert np.var(centred @ others, axis=0).max() < variances[0]


def test_whitening_kernel_of_an_odd_count_leaves_out_the_last_negative():
    from models.layers import whitening_kernel

    images = np.random.default_rng(1).normal(size=(8, 10, 10, 3)).astype(np.float32)
    even, odd = whitening_kernel(images, 3, 8), whitening_kernel(images, 3, 7)
    np.testing.assert_array_equal(odd, even[..., [0, 1, 2, 3, 4, 5, 6]])
    assert whitening_kernel(images, 3, 1).shape == (3, 3, 3, 1)


@pytest.mark.parametrize("filters", [55, 0])
def test_whitening_kernel_has_at_most_twice_the_patch_size_in_filters(filters):
    from models.layers import whitening_kernel

    with pytest.raises(ValueError, match="1 to 54 filters for 3x3 patches of 3 channels"):
        whitening_kernel(np.zeros((2, 8, 8, 3), np.float32), 3, filters)
