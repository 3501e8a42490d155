"""The VGG builders: the reports' parameter counts, shapes, and clear errors."""

import numpy as np
import pytest

from models.vgg import (BN_NETS, CPU_NET_DEPTHS, MODEL_NAMES, VGG_DEPTHS, build_bn_net,
                        build_cpu_net, build_model, build_vgg, trainable_params)


def conv_count(model):
    return sum(1 for layer in model.layers if type(layer).__name__ == "Conv2D")


def test_report_vgg13_has_exactly_the_reported_parameter_count():
    model = build_vgg(13)
    assert model.count_params() == 45_238_466  # report B
    assert conv_count(model) == 13
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize("name, reported", [("bn_shallow", 5_274_882),
                                            ("bn_shallow_fat", 9_539_074),
                                            ("bn_deep", 1_373_986)])
def test_batch_norm_nets_match_report_c_trainable_counts(name, reported):
    model = build_bn_net(name)
    assert trainable_params(model) == reported
    # The moving mean and variance (2 per channel) are the only other weights.
    channels = sum(sum(b) for b in BN_NETS[name]) + 2 * 1024
    assert model.count_params() - reported == 2 * channels


def test_every_depth_has_that_many_conv_layers_and_five_pools():
    for depth in VGG_DEPTHS:
        model = build_vgg(depth, dense=(8,))
        assert conv_count(model) == depth
        assert model.get_layer("flatten").output.shape[-1] == 2 * 2 * VGG_DEPTHS[depth][-1][-1]


def test_filters_override_depth_and_kernel_size_changes_the_count():
    small = build_vgg(filters=[[4], [8, 8]], dense=(16,), input_shape=(16, 16, 3))
    # conv 3*4*9+4, 4*8*9+8, 8*8*9+8; flatten 4*4*8 -> 16 -> 2
    expected = 112 + 296 + 584 + (128 * 16 + 16) + (16 * 2 + 2)
    assert small.count_params() == expected
    five = build_vgg(filters=[[4], [8, 8]], dense=(16,), input_shape=(16, 16, 3),
                     kernel_size=5)
    assert five.count_params() == expected + (25 - 9) * (3 * 4 + 4 * 8 + 8 * 8)


def test_outputs_are_probabilities():
    model = build_cpu_net(input_shape=(32, 32, 3))
    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    p = np.asarray(model(x))
    assert p.shape == (3, 2)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_cpu_net_is_small():
    assert build_cpu_net().count_params() < 3_000_000


@pytest.mark.parametrize("depth", sorted(CPU_NET_DEPTHS))
def test_cpu_net_depth_counts_its_conv_layers(depth):
    model = build_cpu_net(input_shape=(32, 32, 3), width=8, depth=depth, kernel_size=2)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
    assert len(convs) == depth
    assert {layer.kernel_size for layer in convs} == {(2, 2)}
    # Every stage doubles the width; the stem is 3/4 of the first.
    assert [layer.filters for layer in convs][:2] == [6, 8] and convs[-1].filters == 64


def test_cpu_net_rejects_an_unknown_depth_in_one_sentence():
    with pytest.raises(ValueError, match=r"^depth must be one of 6, 10, 13, 16, 19; got 7\.$"):
        build_cpu_net(depth=7)


def test_every_name_builds():
    for name in MODEL_NAMES:
        kw = {"dense": (8,)} if name.startswith("vgg") else {}
        assert build_model(name, **kw).name == name


def test_kernel_too_large_for_the_feature_map_is_a_clear_error():
    build_vgg(13, kernel_size=5, dense=(8,))  # 5x5 on the last block's 4x4 maps: still fits
    with pytest.raises(ValueError, match="kernel_size 8 is too large for block 5's 4x4"):
        build_vgg(13, kernel_size=8)
    with pytest.raises(ValueError, match="too many"):
        build_vgg(13, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match=r"^model must be one of vgg6, vgg10, vgg13, vgg16, "
                       r"vgg19, bn_shallow, bn_shallow_fat, bn_deep, cpu_net; got 'vgg7'\.$"):
        build_model("vgg7")
    with pytest.raises(ValueError, match=r"^depth must be one of 6, 10, 13, 16, 19; got 7\.$"):
        build_vgg(7)
    with pytest.raises(ValueError, match=r"^batch-norm net must be one of bn_shallow, "
                       r"bn_shallow_fat, bn_deep; got 'bn_wide'\.$"):
        build_bn_net("bn_wide")
    with pytest.raises(ValueError, match=r"^kernel_size must be a positive integer; got 0\.$"):
        build_vgg(13, kernel_size=0)
