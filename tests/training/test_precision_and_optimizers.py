"""training.precision and training.optimizers: the arithmetic a CPU gets, weight decay."""

import numpy as np
import pytest

from training.optimizers import make_optimizer
from training.precision import cpu_flags, resolve


def test_precision_auto_is_bfloat16_only_with_native_instructions(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert resolve("auto", cpu_flags(cpuinfo)) == "bfloat16"
    assert resolve("auto", frozenset({"amx_bf16"})) == "bfloat16"
    assert resolve("auto", frozenset({"avx2", "avx512f"})) == "float32"
    assert resolve("float32", frozenset({"avx512_bf16"})) == "float32"
    assert resolve("bfloat16", frozenset()) == "bfloat16"
    with pytest.raises(ValueError, match="float16"):
        resolve("float16")


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_weight_decay_shrinks_kernels_but_not_biases_or_batch_norm(name):
    """A zero gradient moves nothing but the decay: each kernel loses lr * decay of
    itself, and biases and batch norm's scale and shift keep their values."""
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                              keras.layers.BatchNormalization()])
    variables = model.trainable_weights
    for variable in variables:
        variable.assign(np.full(variable.shape, 2.0, "float32"))
    optimizer = make_optimizer(name, 0.1, weight_decay=0.5)
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in variables])
    kept = {v.name: float(np.max(np.abs(np.asarray(v) - 2.0))) for v in variables}
    assert kept.keys() == {"kernel", "bias", "gamma", "beta"}
    np.testing.assert_allclose(np.asarray(variables[0]), 2.0 * (1 - 0.1 * 0.5), rtol=1e-6)
    assert kept["bias"] == kept["gamma"] == kept["beta"] == 0.0
    with pytest.raises(ValueError, match="weight decay must be a number >= 0"):
        make_optimizer(name, 0.1, weight_decay=-0.1)
