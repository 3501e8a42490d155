"""A recipe's net: built, its stem whitened, compiled with its optimiser in its precision,
and saved in float32. `train`, the tuner's trials, the benches and the GPU path all build
their nets here.

    model = compiled_model(recipe, whitening=whitening_photos(recipe, data))
"""

from __future__ import annotations

from models.vgg import build_model, build_vgg
from suite.errors import UsageError
from training.fitting import compile_classifier
from training.optimizers import make_optimizer
from training.precision import compute_precision

# Training steps per compiled call. One: the budget schedule sets the learning rate before
# every step (more would be allowed, the rate being set at each call's start, but
# `bench/train_speed.py`'s `eight_steps` variant says whether it pays).
STEPS_PER_CALL = 1
# XLA for the training step (Keras's "auto" leaves it off on a machine without an accelerator).
JIT_COMPILE = "auto"


def make_model(recipe, image_size: int | None):
    """The recipe's net for photos `image_size` a side (None: any size, for progressive
    resizing), uncompiled, in the current dtype policy."""
    shape = (image_size, image_size, 3)
    arch = recipe.arch
    try:
        if recipe.model.startswith("vgg"):
            return build_vgg(input_shape=shape, name=recipe.model, **arch)
        return build_model(recipe.model, input_shape=shape, **arch)
    except (ValueError, TypeError) as error:
        raise UsageError(f"cannot build {recipe.model} with {arch}: {error}") from None


def whiten_stem(model, photos) -> None:
    """Make `model`'s stem conv the whitening one for `photos` (N, H, W, 3 floats as the
    net sees them), frozen; before compiling."""
    from models.layers import whitening_kernel

    stem = model.get_layer("stem_conv")
    try:
        kernel = whitening_kernel(photos, stem.kernel_size[0], stem.filters)
    except ValueError as error:
        raise UsageError(f"cannot whiten {model.name}'s stem: {error} Turn whitening off "
                         f"(--no-whiten).") from None
    stem.set_weights([kernel])
    stem.trainable = False


def compiled_model(recipe, whitening=None, steps_per_call: int = STEPS_PER_CALL,
                   jit_compile=JIT_COMPILE, verbose: bool = True):
    """The recipe's net, seeded, built in its precision and compiled with its optimiser,
    loss (label smoothing) and rate. Under progressive resizing it takes photos of any
    size, once checked at the smallest; with `recipe.whiten` its stem whitens the patches
    of `whitening`, photos as `training.photos.whitening_photos` draws them. The speed
    settings are arguments so that `bench/train_speed.py` can vary them."""
    import keras

    if recipe.progressive:
        make_model(recipe, recipe.progressive)  # fails with a sentence if the net does not fit
    keras.utils.set_random_seed(recipe.seed)
    with compute_precision(recipe.precision):
        model = make_model(recipe, None if recipe.progressive else recipe.image_size)
    if recipe.whiten:
        whiten_stem(model, whitening)
    optimizer = make_optimizer(recipe.optimizer, recipe.learning_rate,
                               momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    compile_classifier(model, optimizer, label_smoothing=recipe.label_smoothing,
                       steps_per_execution=steps_per_call, jit_compile=jit_compile)
    if verbose:
        print(f"{model.name}: {model.count_params():,} parameters; {recipe.optimizer} lr "
              f"{recipe.learning_rate:g}, batch {recipe.batch_size}; {recipe.precision} "
              f"arithmetic", flush=True)
    return model


def save_float32(model, path, recipe) -> None:
    """Save `model`'s net and weights, uncompiled, to compute in float32, at the recipe's
    photo size.

    A bfloat16-trained net's weights are float32 already, and the float32 copy predicts at
    full speed on any CPU (one without bfloat16 instructions would emulate them). Uncompiled,
    the file loads with a plain `keras.models.load_model` anywhere: a net compiled with
    label smoothing carries a loss Keras cannot rebuild from the file.
    """
    with compute_precision("float32"):
        copy = make_model(recipe, recipe.image_size)
    copy.set_weights(model.get_weights())
    copy.save(path)
