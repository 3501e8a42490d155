"""A multilayer perceptron in NumPy alone: forward, backward and SGD, written as the maths.

    model = Model(seed=0)
    model.add_layer(500, "relu", input_size=784, init="glorot")
    model.add_layer(400, "relu")
    model.add_layer(10, "softmax")
    model.compile(lr=7e-4, momentum=0.0)
    history = model.fit(x_train, y_train, epochs=10, batch_size=64)

Shapes: a batch `x` is (B, n_0); layer l has weights W_l (n_{l-1}, n_l) and bias b_l (n_l,).
Forward: z_l = a_{l-1} W_l + b_l, a_l = f_l(z_l), the last f softmax. Loss: mean cross-entropy
plus (weight_decay / 2) * sum ||W_l||^2. Backward: delta_L = (p - onehot(y)) / B,
dW_l = a_{l-1}^T delta_l, db_l = sum_rows(delta_l), delta_{l-1} = (delta_l W_l^T) * f'(a_{l-1}).

Speed: training runs in float32 on buffers allocated once per batch size; every matmul writes
into its buffer (`out=`), activations and updates are in place, so a training step allocates
nothing of the batch's size and no float64 sneaks in (bench/numpy_vs_keras.py measures it).
Gradient checks run on a float64 copy (`astype(np.float64)`).

The same maths without the speed, one line per equation, closes the file: `reference_forward`,
`reference_loss` and `reference_gradients` (float64, no buffers); the tests hold the engine
to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("relu", "sigmoid", "tanh", "improved_sigmoid", "linear", "softmax")
INITIALISERS = ("zero", "normal", "glorot", "fan_in")
LECUN_A, LECUN_S = 1.7159, 2.0 / 3.0  # "improved sigmoid" f(x) = 1.7159 tanh(2x/3)


@dataclass
class Layer:
    """One dense layer: weights (n_in, n_out), bias (n_out,), activation, dropout rate."""

    W: np.ndarray
    b: np.ndarray
    activation: str
    dropout: float = 0.0

    @property
    def units(self) -> int:
        return self.W.shape[1]


def initial_weights(rng, n_in, n_out, init, std, dtype):
    """Weights drawn as the reports describe; biases always start at zero."""
    if init == "zero":
        return np.zeros((n_in, n_out), dtype)
    if init == "normal":  # N(0, std^2), std 1 by default
        return (rng.standard_normal((n_in, n_out)) * std).astype(dtype)
    if init == "glorot":  # uniform in [-d, d], d = sqrt(6 / (fan_in + fan_out))
        d = math.sqrt(6.0 / (n_in + n_out))
        return rng.uniform(-d, d, (n_in, n_out)).astype(dtype)
    if init == "fan_in":  # LeCun's "tricks of the trade": N(0, 1 / fan_in)
        return (rng.standard_normal((n_in, n_out)) / math.sqrt(n_in)).astype(dtype)
    raise ValueError(f"init must be one of {', '.join(INITIALISERS)}; got {init!r}.")


def activate_(z, activation, rowbuf=None):
    """Apply `activation` to z in place (z becomes a)."""
    if activation == "relu":
        np.maximum(z, 0, out=z)
    elif activation == "sigmoid":
        with np.errstate(over="ignore"):  # exp(-z) -> inf gives 1 / inf = 0, as it should
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1
            np.reciprocal(z, out=z)
    elif activation == "tanh":
        np.tanh(z, out=z)
    elif activation == "improved_sigmoid":
        z *= LECUN_S
        np.tanh(z, out=z)
        z *= LECUN_A
    elif activation == "softmax":
        rowbuf = np.empty((len(z), 1), z.dtype) if rowbuf is None else rowbuf
        np.max(z, axis=1, keepdims=True, out=rowbuf)
        z -= rowbuf  # exp of the shifted logits cannot overflow
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=rowbuf)
        z /= rowbuf
    elif activation != "linear":
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}.")
    return z


def backprop_activation_(grad, a, activation, tmp):
    """grad *= f'(z), written with the output a = f(z); `tmp` is scratch of a's shape."""
    if activation == "relu":
        np.greater(a, 0, out=tmp)
        grad *= tmp
    elif activation == "sigmoid":  # a (1 - a)
        np.subtract(1, a, out=tmp)
        tmp *= a
        grad *= tmp
    elif activation == "tanh":  # 1 - a^2
        np.multiply(a, a, out=tmp)
        np.subtract(1, tmp, out=tmp)
        grad *= tmp
    elif activation == "improved_sigmoid":  # A S (1 - (a / A)^2) = S (A - a^2 / A)
        np.multiply(a, a, out=tmp)
        tmp *= -1.0 / LECUN_A
        tmp += LECUN_A
        tmp *= LECUN_S
        grad *= tmp
    elif activation != "linear":
        raise ValueError(f"no derivative for {activation!r} in a hidden layer")


class _Workspace:
    """Buffers for one batch size: activations, dropout masks, deltas, scratch."""

    def __init__(self, layers, batch_size, dtype):
        n = batch_size
        self.size = n
        self.acts = [np.empty((n, layer.units), dtype) for layer in layers]
        # Input of layer l+1 when layer l drops units: a_l * mask / (1 - p).
        self.dropped = [np.empty((n, layer.units), dtype) if layer.dropout else None
                        for layer in layers]
        self.masks = [np.empty((n, layer.units), dtype) if layer.dropout else None
                      for layer in layers]
        widest = max(layer.units for layer in layers)
        self.deltas = (np.empty((n, widest), dtype), np.empty((n, widest), dtype))
        self.scratch = np.empty((n, widest), dtype)
        self.rowbuf = np.empty((n, 1), dtype)
        self.rows = np.arange(n)


class Model:
    """An MLP with a Keras-like API; see the module docstring for the maths.

    Args:
        seed: seeds the initial weights, the shuffling and the dropout masks.
        dtype: float32 for training (default), float64 for gradient checks.
    """

    def __init__(self, seed: int = 0, dtype=np.float32):
        self.rng = np.random.default_rng(seed)
        self.dtype = np.dtype(dtype)
        self.layers: list[Layer] = []
        self.compile()
        self._workspace = None

    # -- building ------------------------------------------------------------------------
    def add_layer(self, units: int, activation: str = "relu", input_size: int | None = None,
                  init: str = "glorot", std: float = 1.0, dropout: float = 0.0) -> Model:
        """Append a dense layer; the first needs `input_size`. Returns the model.

        Args:
            units: neurons in the layer.
            activation: one of ACTIVATIONS; softmax only on the last layer.
            init: one of INITIALISERS; `std` is the normal initialiser's deviation.
            dropout: inverted-dropout rate on this layer's output while training.
        """
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; "
                             f"got {activation!r}.")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1); got {dropout!r}.")
        if self.layers:
            n_in = self.layers[-1].units
            if self.layers[-1].activation == "softmax":
                raise ValueError("softmax must be the last layer")
        elif input_size is None:
            raise ValueError("the first layer needs input_size")
        else:
            n_in = input_size
        W = initial_weights(self.rng, n_in, units, init, std, self.dtype)
        self.layers.append(Layer(W, np.zeros(units, self.dtype), activation, dropout))
        self._workspace = None
        return self

    def compile(self, lr: float = 0.1, momentum: float = 0.0, lr_decay: float = 0.0,
                weight_decay: float = 0.0) -> Model:
        """Set the optimiser: SGD with optional momentum, 1/(1 + decay * epoch) learning-rate
        decay, and L2 weight decay (on weights, not biases). Returns the model."""
        self.lr, self.momentum, self.lr_decay = lr, momentum, lr_decay
        self.weight_decay = weight_decay
        self.epochs_done = 0
        self._velocity = None
        return self

    @property
    def params(self) -> int:
        return sum(layer.W.size + layer.b.size for layer in self.layers)

    @property
    def input_size(self) -> int:
        return self.layers[0].W.shape[0]

    def describe(self) -> str:
        """'784-500-400-10 relu/relu/softmax'."""
        sizes = [self.input_size] + [layer.units for layer in self.layers]
        return "-".join(map(str, sizes)) + " " + "/".join(layer.activation for layer in self.layers)

    def astype(self, dtype) -> Model:
        """A copy in another float type (float64 for gradient checks)."""
        copy = Model(dtype=dtype)
        copy.rng = np.random.default_rng(self.rng.integers(2**32))
        copy.layers = [Layer(layer.W.astype(dtype), layer.b.astype(dtype), layer.activation,
                             layer.dropout) for layer in self.layers]
        copy.compile(self.lr, self.momentum, self.lr_decay, self.weight_decay)
        return copy

    # -- forward and backward ------------------------------------------------------------
    def _ws(self, n: int) -> _Workspace:
        if self._workspace is None or self._workspace.size < n:
            self._workspace = _Workspace(self.layers, n, self.dtype)
        return self._workspace

    def _forward(self, x, ws: _Workspace, training: bool) -> np.ndarray:
        """Fill ws.acts for batch x (n <= ws.size rows); return the softmax output (n, C)."""
        n = len(x)
        a = x
        for i, layer in enumerate(self.layers):
            z = ws.acts[i][:n]
            np.matmul(a, layer.W, out=z)  # (n, n_in) @ (n_in, n_out)
            z += layer.b
            activate_(z, layer.activation, ws.rowbuf[:n])
            a = z
            if training and layer.dropout:
                keep = 1.0 - layer.dropout
                mask = ws.masks[i][:n]
                self.rng.random(out=mask, dtype=self.dtype)
                np.less(mask, keep, out=mask)  # 1 where the unit is kept
                mask *= 1.0 / keep  # inverted dropout: the expected activation is unchanged
                a = np.multiply(z, mask, out=ws.dropped[i][:n])
        return a

    def _backward(self, x, y, ws: _Workspace, grads, training: bool, scale=None) -> None:
        """Fill `grads` [(dW, db), ...] with `scale` x the gradient of the summed cross-entropy.

        scale = 1/n gives the gradient of the mean; training passes -lr/n, so the buffers
        hold the SGD step itself and the update is one addition per parameter (backprop is
        linear in delta, so scaling it once at the top scales every layer's gradient).
        """
        n = len(x)
        scale = 1.0 / n if scale is None else scale
        current = 0  # delta lives in ws.deltas[current]; the next one goes to the other
        delta = ws.deltas[current][:n, : self.layers[-1].units]
        np.copyto(delta, ws.acts[-1][:n])
        delta[ws.rows[:n], y] -= 1  # softmax + cross-entropy: p - onehot(y)
        delta *= scale
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            dW, db = grads[i]
            below = x if i == 0 else self._layer_output(i - 1, ws, n, training)
            np.matmul(below.T, delta, out=dW)  # (n_in, n) @ (n, n_out)
            np.sum(delta, axis=0, out=db)
            if i == 0:
                break
            prev = self.layers[i - 1]
            current = 1 - current
            grad = ws.deltas[current][:n, : prev.units]
            np.matmul(delta, layer.W.T, out=grad)  # (n, n_out) @ (n_out, n_in)
            if training and prev.dropout:
                grad *= ws.masks[i - 1][:n]
            backprop_activation_(grad, ws.acts[i - 1][:n], prev.activation,
                                 ws.scratch[:n, : prev.units])
            delta = grad

    def _layer_output(self, i, ws, n, training):
        return ws.dropped[i][:n] if training and self.layers[i].dropout else ws.acts[i][:n]

    def _grad_buffers(self):
        return [(np.empty_like(layer.W), np.empty_like(layer.b)) for layer in self.layers]

    # -- training ------------------------------------------------------------------------
    def current_lr(self) -> float:
        return self.lr / (1.0 + self.lr_decay * self.epochs_done)

    def train_step(self, x, y) -> float:
        """One SGD step on batch (x, y); returns the batch's mean cross-entropy."""
        ws = self._ws(len(x))
        if self._velocity is None:
            self._grads = self._grad_buffers()
            self._velocity = [(np.zeros_like(layer.W), np.zeros_like(layer.b))
                              for layer in self.layers] if self.momentum else []
            self._decay_tmp = [np.empty_like(layer.W) for layer in self.layers] \
                if self.weight_decay and self.momentum else []
        probs = self._forward(x, ws, training=True)
        loss = _cross_entropy(probs, y, ws.rows)
        lr = self.current_lr()
        self._backward(x, y, ws, self._grads, training=True, scale=-lr / len(x))
        self._update(lr)
        return loss

    def _update(self, lr: float) -> None:
        """Apply the steps in self._grads (already -lr x gradient).

        Plain SGD: W <- (1 - lr wd) W + step. Momentum: v <- momentum v + step - lr wd W,
        W <- W + v (biases are not decayed).
        """
        for i, (layer, (dW, db)) in enumerate(zip(self.layers, self._grads)):
            if self.weight_decay and self.momentum:
                tmp = self._decay_tmp[i]
                np.multiply(layer.W, lr * self.weight_decay, out=tmp)
                dW -= tmp
            elif self.weight_decay:
                layer.W *= 1.0 - lr * self.weight_decay
            for param, step, j in ((layer.W, dW, 0), (layer.b, db, 1)):
                if self.momentum:
                    v = self._velocity[i][j]
                    v *= self.momentum
                    v += step
                    param += v
                else:
                    param += step

    def fit(self, x, y, epochs: int = 1, batch_size: int = 64, shuffle: bool = True,
            evals_per_epoch: int = 1, eval_sets: dict | None = None, verbose: int = 1,
            max_steps: int | None = None, callback=None) -> list[dict]:
        """Train with mini-batch SGD; return the history, one row per evaluation.

        Args:
            x, y: float inputs (N, n_0) and integer labels (N,).
            shuffle: reshuffle the training set at the start of every epoch.
            evals_per_epoch: evaluate this many times an epoch (for smooth curves).
            eval_sets: {"val": (x_val, y_val), ...}; each evaluation records `<name>_loss`
                and `<name>_accuracy`, plus `loss` (mean training loss since the last
                evaluation) and `accuracy` on the training set when "train" is given.
            verbose: 1 shows a `keras.utils.Progbar` per epoch.
            max_steps: stop after this many SGD steps in all (the reports' "1,500 steps").
            callback: called with each history row (e.g. to checkpoint or print).
        """
        x = np.ascontiguousarray(x, dtype=self.dtype)
        y = np.asarray(y, dtype=np.int64)
        n = len(x)
        steps_per_epoch = math.ceil(n / batch_size)
        eval_at = {round(steps_per_epoch * k / evals_per_epoch)
                   for k in range(1, evals_per_epoch + 1)}
        history, steps = [], 0
        # Shuffled batches are gathered one at a time into two small buffers: a gathered
        # batch is still in cache for its first matmul, and no copy of x is ever made.
        x_batch = np.empty((batch_size, x.shape[1]), x.dtype) if shuffle else None
        y_batch = np.empty(batch_size, y.dtype) if shuffle else None
        order = None
        for _ in range(epochs):
            if shuffle:
                order = self.rng.permutation(n)
            bar = _progbar(steps_per_epoch, self.epochs_done + 1, verbose)
            loss_sum, loss_count = 0.0, 0
            for step in range(1, steps_per_epoch + 1):
                batch = slice((step - 1) * batch_size, step * batch_size)
                if shuffle:  # mode="clip" skips the bounds check, and with it a buffered copy
                    rows = order[batch]
                    xb = np.take(x, rows, axis=0, out=x_batch[: len(rows)], mode="clip")
                    yb = np.take(y, rows, out=y_batch[: len(rows)], mode="clip")
                else:
                    xb, yb = x[batch], y[batch]
                loss = self.train_step(xb, yb)
                loss_sum, loss_count = loss_sum + loss, loss_count + 1
                steps += 1
                if bar is not None and (step % 20 == 0 or step == steps_per_epoch):
                    bar.update(step, [("loss", loss)])
                last = max_steps is not None and steps >= max_steps
                if step in eval_at or last:
                    row = self._history_row(step / steps_per_epoch, steps,
                                            loss_sum / loss_count, eval_sets)
                    loss_sum, loss_count = 0.0, 0
                    history.append(row)
                    if callback:
                        callback(row)
                if last:
                    return history
            self.epochs_done += 1
        return history

    def _history_row(self, epoch_fraction, steps, mean_loss, eval_sets) -> dict:
        """One evaluation's row: where training is, its mean loss, each eval set's scores."""
        row = {"epoch": round(self.epochs_done + epoch_fraction, 4), "step": steps,
               "lr": self.current_lr(), "loss": mean_loss}
        for name, (xe, ye) in (eval_sets or {}).items():
            row[f"{name}_loss"], row[f"{name}_accuracy"] = self.evaluate(xe, ye)
        return row

    # -- inference -----------------------------------------------------------------------
    def predict(self, x, batch_size: int = 1000) -> np.ndarray:
        """Softmax outputs (N, C), dropout off."""
        x = np.asarray(x, dtype=self.dtype)
        ws = self._ws(min(batch_size, len(x)))
        out = np.empty((len(x), self.layers[-1].units), self.dtype)
        for start in range(0, len(x), ws.size):
            chunk = x[start:start + ws.size]
            out[start:start + len(chunk)] = self._forward(chunk, ws, training=False)
        return out

    def evaluate(self, x, y, batch_size: int = 1000) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) with dropout off; the loss has no L2 term."""
        probs = self.predict(x, batch_size)
        y = np.asarray(y)
        loss = _cross_entropy(probs, y, np.arange(len(y)))
        return loss, float(np.mean(probs.argmax(axis=1) == y))

    # -- gradient checks -----------------------------------------------------------------
    def loss(self, x, y) -> float:
        """The objective SGD minimises: mean cross-entropy + (weight_decay / 2) sum ||W||^2."""
        probs = self._forward(np.asarray(x, self.dtype), self._ws(len(x)), training=False)
        value = _cross_entropy(probs, np.asarray(y), np.arange(len(y)))
        if self.weight_decay:
            value += 0.5 * self.weight_decay * sum(float(np.sum(layer.W ** 2))
                                                   for layer in self.layers)
        return value

    def gradients(self, x, y) -> list[tuple[np.ndarray, np.ndarray]]:
        """Analytic gradients of `loss` (dropout off): [(dW, db), ...], the training code path."""
        x, y = np.asarray(x, self.dtype), np.asarray(y, np.int64)
        ws = self._ws(len(x))
        grads = self._grad_buffers()
        self._forward(x, ws, training=False)
        self._backward(x, y, ws, grads, training=False)
        if self.weight_decay:
            for layer, (dW, _) in zip(self.layers, grads):
                dW += self.weight_decay * layer.W
        return grads

    def grad_check(self, x, y, layer: int = 1, eps: float = 1e-4, p: int = 10,
                   relative: bool = False, floor: float = 1e-4) -> float:
        """Max |analytic - finite difference| over the first p = min(p, m) weights of `layer`.

        Central differences (L(w + eps) - L(w - eps)) / (2 eps), with eps = 1/N in the
        report's study. Run it on a float64 copy: `model.astype(np.float64).grad_check(...)`.
        With `relative`, each difference is divided by max(|analytic|, |numeric|, floor):
        a relative error, except that gradients smaller than `floor` are judged absolutely
        (float64 rounding leaves ~1e-11 in any finite difference at eps = 1e-5, which would
        read as a large relative error of a gradient that is itself ~1e-7).
        """
        W = self.layers[layer].W
        analytic = self.gradients(x, y)[layer][0].ravel()
        flat = W.reshape(-1)  # a view: editing it edits W
        worst = 0.0
        for k in range(min(p, flat.size)):
            saved = flat[k]
            flat[k] = saved + eps
            plus = self.loss(x, y)
            flat[k] = saved - eps
            minus = self.loss(x, y)
            flat[k] = saved
            numeric = (plus - minus) / (2 * eps)
            diff = abs(analytic[k] - numeric)
            if relative:
                diff = diff / max(abs(analytic[k]), abs(numeric), floor)
            worst = max(worst, float(diff))
        return worst


def _cross_entropy(probs, y, rows) -> float:
    """Mean -log p(true class); p clipped at the smallest normal float so log(0) stays finite."""
    picked = probs[rows[: len(y)], y]
    tiny = np.finfo(probs.dtype).tiny
    return float(-np.mean(np.log(np.maximum(picked, tiny)), dtype=np.float64))


def _progbar(steps, epoch, verbose):
    if not verbose:
        return None
    from keras.utils import Progbar  # imported only when a bar is shown

    print(f"epoch {epoch}")
    return Progbar(steps, stateful_metrics=["loss"])


# -- reference pass: the maths, one line per equation --------------------------------------
# The engine above is written for speed (float32, buffers, in place). The functions below are
# the same network as the lecture notes write it: float64, new arrays, no tricks. They are
# slow and are not used for training; tests/models/test_numpy_mlp_reference.py holds the engine to
# them. Layers are counted from 1 as in the notes (the module docstring's l, here k; ruff
# reserves `l`): layer k is `layers[k - 1]`, with W_k (n_{k-1}, n_k), b_k (n_k,) and f_k;
# a_0 = x; B is the batch size, C the number of classes, L the number of layers.

def reference_activation(z, activation):
    """a = f(z), elementwise (softmax: per row)."""
    if activation == "relu":
        return np.maximum(z, 0)                          # max(0, z)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-z))                      # 1 / (1 + e^-z)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "improved_sigmoid":
        return LECUN_A * np.tanh(LECUN_S * z)            # 1.7159 tanh(2z / 3)
    if activation == "linear":
        return z
    if activation == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))     # shifted: same result, no overflow
        return e / e.sum(axis=1, keepdims=True)          # e^z_k / sum_j e^z_j
    raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}.")


def reference_derivative(z, activation):
    """f'(z), elementwise, for a hidden layer (softmax is folded into the loss's delta)."""
    if activation == "relu":
        return (z > 0).astype(z.dtype)                   # 1 where z > 0, else 0
    if activation == "sigmoid":
        s = 1 / (1 + np.exp(-z))
        return s * (1 - s)                               # sigma(z) (1 - sigma(z))
    if activation == "tanh":
        return 1 - np.tanh(z) ** 2
    if activation == "improved_sigmoid":
        return LECUN_A * LECUN_S * (1 - np.tanh(LECUN_S * z) ** 2)
    if activation == "linear":
        return np.ones_like(z)
    raise ValueError(f"no derivative for {activation!r} in a hidden layer")


def reference_forward(layers, x, masks=None):
    """Forward pass in float64: (z, a), lists indexed by layer, z[k] = z_k and a[k] = a_k.

    a[0] is the input x and a[L] the softmax output p (B, C); z[0] is None.
    `masks` (optional, one per layer, None where no dropout) are inverted-dropout masks,
    already divided by the keep probability, to replay a training step.
    """
    z, a = [None], [np.asarray(x, np.float64)]           # a_0 = x: (B, n_0)
    for k, layer in enumerate(layers, start=1):
        W_k = layer.W.astype(np.float64)                 # (n_{k-1}, n_k)
        b_k = layer.b.astype(np.float64)                 # (n_k,)
        z.append(a[k - 1] @ W_k + b_k)                   # z_k = a_{k-1} W_k + b_k: (B, n_k)
        a.append(reference_activation(z[k], layer.activation))  # a_k = f_k(z_k): (B, n_k)
        if masks is not None and masks[k - 1] is not None:
            a[k] = a[k] * masks[k - 1]                   # a_k = f_k(z_k) * m_k / (1 - p)
    return z, a


def reference_loss(layers, x, y, weight_decay=0.0):
    """The objective J = -(1/B) sum_i log p_i[y_i] + (weight_decay / 2) sum_k ||W_k||^2, float64.

    (J, not L: L is the number of layers.)
    """
    p = reference_forward(layers, x)[1][-1]              # a_L: (B, C)
    cross_entropy = -np.mean(np.log(p[np.arange(len(y)), y]))
    l2 = 0.5 * weight_decay * sum(np.sum(layer.W.astype(np.float64) ** 2) for layer in layers)
    return cross_entropy + l2


def reference_gradients(layers, x, y, weight_decay=0.0, masks=None):
    """Backward pass in float64: [(dJ/dW_k, dJ/db_k) for k = 1 ... L] of `reference_loss` J.

    With `masks`, the gradient of the training step that drew them (see reference_forward).
    """
    z, a = reference_forward(layers, x, masks)
    L, B, C = len(layers), len(x), layers[-1].units
    Y = np.eye(C)[y]                                     # one-hot labels: (B, C)
    delta = (a[L] - Y) / B                               # delta_L = dJ/dz_L = (a_L - y) / B
    grads = [None] * L
    for k in range(L, 0, -1):
        W_k = layers[k - 1].W.astype(np.float64)         # (n_{k-1}, n_k)
        dW = a[k - 1].T @ delta + weight_decay * W_k     # (n_{k-1}, B) @ (B, n_k)
        db = delta.sum(axis=0)                           # (n_k,)
        grads[k - 1] = (dW, db)
        if k == 1:
            break
        delta = delta @ W_k.T                            # dJ/da_{k-1}: (B, n_{k-1})
        if masks is not None and masks[k - 2] is not None:
            delta = delta * masks[k - 2]                 # a dropped unit passes no gradient
        delta = delta * reference_derivative(z[k - 1], layers[k - 2].activation)  # delta_{k-1}
    return grads
