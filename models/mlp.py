"""A configurable Keras MLP: the task-2 model and the task-3 baselines.

    model = make_mlp((28, 28, 1), 10, hidden=(300,), activation="relu",
                     initializer="normal", regularizer="l2", strength=1e-4, dropout=0.0)

A pure function of its arguments; the optimiser is chosen apart
(`training.optimizers.make_optimizer`), so the task-2 studies can vary one thing at a time.
"""

from __future__ import annotations


INITIALIZERS = ("normal", "glorot", "glorot_normal", "uniform", "he")
ACTIVATIONS = ("relu", "elu", "tanh", "sigmoid")
REGULARIZERS = ("none", "l1", "l2")


def make_initializer(name: str, std: float = 1e-4, seed: int | None = None):
    """`normal` is N(0, std) (the report's std 1e-4); `uniform` is Keras's U(-0.05, 0.05)."""
    import keras

    makers = {
        "normal": lambda: keras.initializers.RandomNormal(0.0, std, seed=seed),
        "glorot": lambda: keras.initializers.GlorotUniform(seed=seed),
        "glorot_normal": lambda: keras.initializers.GlorotNormal(seed=seed),
        "uniform": lambda: keras.initializers.RandomUniform(-0.05, 0.05, seed=seed),
        "he": lambda: keras.initializers.HeNormal(seed=seed),
    }
    if name not in makers:
        raise ValueError(f"initializer must be one of {', '.join(makers)}; got {name!r}.")
    return makers[name]()


def make_regularizer(name: str, strength: float):
    """Keras's L1 / L2 penalty: `strength * sum(|w|)` or `strength * sum(w**2)` on the loss."""
    import keras

    if name == "none" or strength == 0:
        return None
    if name == "l1":
        return keras.regularizers.L1(strength)
    if name == "l2":
        return keras.regularizers.L2(strength)
    raise ValueError(f"regularizer must be one of {', '.join(REGULARIZERS)}; got {name!r}.")


def make_mlp(input_shape, num_classes: int, hidden=(300,), activation: str = "relu",
             initializer: str = "glorot", init_std: float = 1e-4, regularizer: str = "none",
             strength: float = 0.0, dropout: float = 0.0, seed: int | None = None):
    """A dense network: Flatten, then per hidden size Dense + activation (+ Dropout), softmax.

    Args:
        input_shape: one example's shape, (28, 28, 1) or (784,); flattened first.
        num_classes: units of the softmax layer.
        hidden: hidden layer sizes, input side first; () gives softmax regression.
        activation: one of `ACTIVATIONS`.
        initializer: one of `INITIALIZERS`, for every kernel (biases start at zero).
        init_std: the standard deviation of the `normal` initialiser.
        regularizer: `none`, `l1` or `l2`, on every kernel, with `strength`.
        dropout: the rate of a Dropout layer after every hidden layer (0 = none).
        seed: seeds the initialisers and dropout masks.

    Example:
        make_mlp((784,), 10, hidden=(64, 32)).count_params()  # 52,650
    """
    import keras
    from keras import layers

    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}.")
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden):
        x = layers.Dense(units, activation=activation,
                         kernel_initializer=make_initializer(initializer, init_std,
                                                             None if seed is None else seed + i),
                         kernel_regularizer=make_regularizer(regularizer, strength),
                         name=f"hidden_{i + 1}")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, seed=None if seed is None else seed + 100 + i)(x)
    outputs = layers.Dense(num_classes, activation="softmax",
                           kernel_initializer=make_initializer(
                               initializer, init_std, None if seed is None else seed + 99),
                           kernel_regularizer=make_regularizer(regularizer, strength),
                           name="softmax")(x)
    name = "mlp_" + ("-".join(str(h) for h in hidden) or "linear")
    return keras.Model(inputs, outputs, name=name)
