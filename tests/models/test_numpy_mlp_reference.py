"""The fast NumPy engine against the plain float64 reference pass written as the maths.

The engine (float32 by default, buffers, in place) and the reference (`reference_forward`,
`reference_gradients`: float64, one line per equation) are the same function of the same
weights and inputs, so they may differ only by the engine's rounding. Each number the
engine computes here goes through 3 layers of (a dot product of at most 7 terms, an
activation) forward and as many backward: some 50 roundings, each of relative size at most
eps = np.finfo(dtype).eps. The tolerance allows 1000 eps, an order of magnitude above that
count (the worst seen over 30 seeds and every activation was 15 eps): 1.2e-4 for float32,
2.2e-13 for float64. A gradient wrong by 0.1% is 8 times over the float32 tolerance.
"""

import numpy as np
import pytest

from models.numpy_mlp import (ACTIVATIONS, Model, reference_forward, reference_gradients,
                              reference_loss)

ROUNDINGS = 1000  # allowed error, in units of the engine's machine epsilon (see above)
HIDDEN = [a for a in ACTIVATIONS if a != "softmax"]  # every activation a hidden layer takes
DTYPES = [np.float32, np.float64]


def tolerance(dtype) -> float:
    return ROUNDINGS * float(np.finfo(dtype).eps)


def relative_error(fast, reference) -> float:
    """||fast - reference|| / ||reference||, norm-wise: an entry near 0 cannot blow it up."""
    fast = np.asarray(fast, np.float64)
    return float(np.linalg.norm(fast - reference) / np.linalg.norm(reference))


def small_net(activation, dtype, weight_decay=0.0, dropout=0.0, seed=0):
    """5-7-6-4, trained 3 SGD steps away from its initial point; with a batch (x, y)."""
    model = Model(seed=seed, dtype=dtype)
    model.add_layer(7, activation, input_size=5, init="glorot", dropout=dropout)
    model.add_layer(6, activation, init="glorot", dropout=dropout)
    model.add_layer(4, "softmax", init="glorot")
    model.compile(lr=0.1, weight_decay=weight_decay)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((8, 5)).astype(dtype)  # both passes see the same rounded input
    y = rng.integers(0, 4, 8)
    for _ in range(3):
        model.train_step(x, y)
    return model, x, y


def assert_gradients_close(fast, reference, tol):
    for k, ((dW, db), (dW_ref, db_ref)) in enumerate(zip(fast, reference), start=1):
        assert relative_error(dW, dW_ref) < tol, (f"dW_{k}", relative_error(dW, dW_ref))
        assert relative_error(db, db_ref) < tol, (f"db_{k}", relative_error(db, db_ref))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", HIDDEN)
def test_forward_matches_reference(activation, dtype):
    model, x, _ = small_net(activation, dtype)
    p_ref = reference_forward(model.layers, x)[1][-1]
    assert relative_error(model.predict(x), p_ref) < tolerance(dtype)
    np.testing.assert_allclose(p_ref.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_gradients_match_reference(activation, dtype, weight_decay):
    model, x, y = small_net(activation, dtype, weight_decay=weight_decay)
    reference = reference_gradients(model.layers, x, y, weight_decay)
    assert_gradients_close(model.gradients(x, y), reference, tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", HIDDEN)
def test_training_gradients_with_dropout_match_reference(activation, dtype):
    """The training path: the masks the engine draws, replayed in the reference."""
    model, x, y = small_net(activation, dtype, dropout=0.3)
    ws = model._ws(len(x))
    grads = model._grad_buffers()
    model._forward(x, ws, training=True)
    model._backward(x, y, ws, grads, training=True)  # scale 1/B: the mean's gradient
    masks = [ws.masks[i][:len(x)].copy() if layer.dropout else None
             for i, layer in enumerate(model.layers)]
    assert any((m == 0).any() for m in masks if m is not None)  # some units were dropped
    reference = reference_gradients(model.layers, x, y, masks=masks)
    assert_gradients_close(grads, reference, tolerance(dtype))


def test_the_tolerance_catches_a_small_error():
    model, x, y = small_net("tanh", np.float32)
    reference = reference_gradients(model.layers, x, y)
    wrong = [(dW * 1.001, db) for dW, db in model.gradients(x, y)]
    with pytest.raises(AssertionError, match="dW_1"):
        assert_gradients_close(wrong, reference, tolerance(np.float32))


@pytest.mark.parametrize("activation", HIDDEN)
def test_reference_gradients_match_finite_differences(activation):
    """The reference is checked on its own, not only against the engine."""
    model, x, y = small_net(activation, np.float64, weight_decay=0.01)
    grads = reference_gradients(model.layers, x, y, weight_decay=0.01)
    eps = 1e-6
    for layer, (dW, db) in zip(model.layers, grads):
        for param, grad in ((layer.W, dW), (layer.b, db)):
            flat, numeric = param.reshape(-1), np.empty(param.size)
            for j in range(param.size):
                saved = flat[j]
                flat[j] = saved + eps
                plus = reference_loss(model.layers, x, y, 0.01)
                flat[j] = saved - eps
                minus = reference_loss(model.layers, x, y, 0.01)
                flat[j] = saved
                numeric[j] = (plus - minus) / (2 * eps)
            # central differences: O(eps^2) truncation, ~1e-16 / eps rounding
            assert relative_error(numeric, grad.ravel()) < 1e-7, activation
