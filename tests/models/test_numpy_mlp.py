"""The NumPy MLP: gradients against finite differences, learning, the Keras-like API."""

import math

import numpy as np
import pytest

from models.numpy_mlp import ACTIVATIONS, INITIALISERS, Model


def small_model(activation, init, dtype=np.float64, weight_decay=0.0, momentum=0.0,
                dropout=0.0, seed=0):
    model = Model(seed=seed, dtype=dtype)
    model.add_layer(7, activation, input_size=5, init=init, std=0.5, dropout=dropout)
    model.add_layer(6, activation, init=init, std=0.5)
    model.add_layer(4, "softmax", init=init, std=0.5)
    return model.compile(lr=0.1, momentum=momentum, weight_decay=weight_decay)


def batch(n=8, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 4, n)


HIDDEN = [a for a in ACTIVATIONS if a not in ("softmax", "linear")]


@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("init", INITIALISERS)
@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01),
                                                    (0.9, 0.01)])
def test_gradients_match_finite_differences(activation, init, momentum, weight_decay):
    x, y = batch()
    model = small_model(activation, init, momentum=momentum, weight_decay=weight_decay)
    for _ in range(3):  # move away from the initial point with the optimiser under test
        model.train_step(x, y)
    for layer in range(3):
        rel = model.grad_check(x, y, layer=layer, eps=1e-5, p=42, relative=True)
        assert rel < 1e-6, (activation, init, layer, rel)


def test_grad_check_catches_a_wrong_gradient():
    x, y = batch()
    model = small_model("tanh", "glorot")
    good = model.grad_check(x, y, layer=1, eps=1e-6, relative=True)
    model.gradients = lambda *a: [(dW * 1.01, db) for dW, db in Model.gradients(model, *a)]
    assert good < 1e-6 < model.grad_check(x, y, layer=1, eps=1e-6, relative=True)


def test_update_is_sgd_with_momentum_and_weight_decay():
    x, y = batch()
    model = small_model("relu", "glorot", momentum=0.9, weight_decay=0.01)
    W0 = model.layers[0].W.copy()
    g = model.gradients(x, y)[0][0]  # includes the L2 term
    model.train_step(x, y)
    v = -0.1 * g
    np.testing.assert_allclose(model.layers[0].W, W0 + v, rtol=1e-10, atol=1e-12)
    W1 = model.layers[0].W.copy()
    g = model.gradients(x, y)[0][0]
    model.train_step(x, y)
    np.testing.assert_allclose(model.layers[0].W, W1 + 0.9 * v - 0.1 * g, rtol=1e-9, atol=1e-12)


def test_dropout_is_inverted_and_only_in_training():
    model = Model(seed=0).add_layer(2000, "linear", input_size=1, init="normal", dropout=0.5)
    model.add_layer(2, "softmax")
    ws = model._ws(1)
    x = np.ones((1, 1), np.float32)
    out = model._forward(x, ws, training=True)
    dropped = ws.dropped[0][0]
    kept = dropped != 0
    assert 0.4 < kept.mean() < 0.6  # about half the units dropped
    np.testing.assert_allclose(dropped[kept], 2 * ws.acts[0][0][kept], rtol=1e-6)
    np.testing.assert_allclose(model.predict(x), model.predict(x))  # deterministic off
    assert out.shape == (1, 2)


def test_loss_falls_and_model_learns():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 10)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + 2 * (x[:, 2] > 0)
    model = Model(seed=0).add_layer(32, "relu", input_size=10).add_layer(4, "softmax")
    model.compile(lr=0.1, momentum=0.9)
    history = model.fit(x, y, epochs=15, batch_size=32, eval_sets={"train": (x, y)}, verbose=0)
    losses = [row["loss"] for row in history]
    assert losses[-1] < 0.5 * losses[0]
    assert history[-1]["train_accuracy"] > 0.9


def test_zero_init_stays_at_ln10():
    rng = np.random.default_rng(0)
    x = rng.random((500, 20), dtype=np.float32)
    y = np.arange(500) % 10  # balanced classes: the output bias gradient is zero too
    model = Model().add_layer(16, "relu", input_size=20, init="zero")
    model.add_layer(10, "softmax", init="zero").compile(lr=0.5)
    history = model.fit(x, y, epochs=3, batch_size=50, shuffle=False, verbose=0)
    for row in history:
        assert row["loss"] == pytest.approx(math.log(10), abs=1e-5)
    assert not model.layers[0].W.any()  # symmetry is never broken


def test_keras_like_api():
    model = Model().add_layer(64, "sigmoid", input_size=784).add_layer(10, "softmax")
    assert model.params == 784 * 64 + 64 + 64 * 10 + 10
    assert model.describe() == "784-64-10 sigmoid/softmax"
    assert model.predict(np.zeros((3, 784))).shape == (3, 10)
    with pytest.raises(ValueError, match="input_size"):
        Model().add_layer(3, "relu")
    with pytest.raises(ValueError, match=r"^activation must be one of relu, sigmoid, tanh, "
                       r"improved_sigmoid, linear, softmax; got 'swish'\.$"):
        Model().add_layer(3, "swish", input_size=2)
    with pytest.raises(ValueError, match=r"^init must be one of zero, normal, glorot, fan_in; "
                       r"got 'he'\.$"):
        Model().add_layer(3, "relu", input_size=2, init="he")
    with pytest.raises(ValueError, match=r"^dropout must be a number in \[0, 1\); got 1\.0\.$"):
        Model().add_layer(3, "relu", input_size=2, dropout=1.0)


def test_initialisers_have_the_promised_scale():
    rng = np.random.default_rng(0)
    from models.numpy_mlp import initial_weights

    W = initial_weights(rng, 300, 200, "glorot", 1.0, np.float32)
    d = math.sqrt(6 / 500)
    assert W.max() <= d and W.min() >= -d and W.max() > 0.95 * d
    assert initial_weights(rng, 400, 300, "fan_in", 1.0, np.float64).std() == pytest.approx(
        1 / 20, rel=0.02)
    assert initial_weights(rng, 400, 300, "normal", 0.3, np.float64).std() == pytest.approx(
        0.3, rel=0.02)
    assert W.dtype == np.float32


def test_training_stays_float32():
    x = np.random.default_rng(0).random((64, 5))  # float64 input is converted once
    model = Model().add_layer(4, "relu", input_size=5).add_layer(3, "softmax")
    model.fit(x, np.zeros(64, int), epochs=1, verbose=0)
    assert all(layer.W.dtype == np.float32 and layer.b.dtype == np.float32
               for layer in model.layers)
    assert model.astype(np.float64).layers[0].W.dtype == np.float64
