"""What the tests share: tiny generated Dogs-vs-Cats folders (both layouts, bad files) and a
NaN loss on demand.

Dogs-vs-Cats folders: cats are reddish and dogs bluish, so a small net learns them in an
epoch or two.

A NaN loss on demand, for the tests of what the suite does when training diverges. A
learning rate that only usually diverges (1e3) completes on some CPUs: with oneDNN on
(AVX-512 machines), the same steps stay finite. So the tests poison a learning rate instead:
every model compiled with an optimizer at exactly that rate gets a loss that is NaN from its
first batch, on every CPU, with oneDNN on or off. In the test process,
`poisoned_learning_rate(rate)` does it for the body of a `with`; in a child process (a CLI
run by a fault test), `child_env(rate)` makes `sitecustomize` in `tests/nan_site/` do it at
start-up, in that process and in every process it starts.
"""

from __future__ import annotations

import inspect
import io
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from data.splits import Splits
from tests.conftest import ROOT

NAMES = [f"class {i}" for i in range(10)]

# Files training and `submit` must skip, and files they must read (converted to RGB).
UNREADABLE = ("truncated", "empty", "text")
CONVERTIBLE = ("png_as_jpg", "cmyk", "gray", "one_pixel")


def photo(label: int, seed: int, size=(24, 20)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 90, (size[1], size[0], 3))
    image[..., 2 * label] += 150  # red for cats (0), blue for dogs (1)
    return image.astype(np.uint8)


def jpeg_bytes(array, mode=None) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def write_bad_files(folder: Path, stem: str = "") -> dict[str, Path]:
    """The fault suite's odd files, named `<stem><kind>.jpg` (stem e.g. 'cat.' or '90')."""
    folder.mkdir(parents=True, exist_ok=True)
    good = jpeg_bytes(photo(0, 99))
    png = io.BytesIO()
    Image.fromarray(photo(1, 98)).save(png, "PNG")
    contents = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "text": b"this is not an image\n",
        "png_as_jpg": png.getvalue(),
        "cmyk": jpeg_bytes(photo(0, 97), "CMYK"),
        "gray": jpeg_bytes(photo(1, 96), "L"),
        "one_pixel": jpeg_bytes(np.full((1, 1, 3), 200, np.uint8)),
    }
    paths = {}
    for n, (kind, data) in enumerate(contents.items()):
        name = f"{stem}{n}.jpg" if stem.isdigit() or stem == "" else f"{stem}{kind}.jpg"
        paths[kind] = folder / name
        paths[kind].write_bytes(data)
    return paths


def make_kaggle(root: Path, per_class: int = 10, test: int = 6, size=(24, 20)) -> Path:
    """root/train/{cat,dog}.N.jpg and root/test1/<id>.jpg; returns root."""
    train = root / "train"
    train.mkdir(parents=True)
    for label, name in enumerate(("cat", "dog")):
        for i in range(per_class):
            (train / f"{name}.{i}.jpg").write_bytes(jpeg_bytes(photo(label, 1000 * label + i,
                                                                     size)))
    if test:
        (root / "test1").mkdir()
        for i in range(1, test + 1):
            (root / "test1" / f"{i}.jpg").write_bytes(jpeg_bytes(photo(i % 2, 5000 + i, size)))
    return root


def make_class_folders(root: Path, names=("Cat", "Dog"), per_class: int = 10) -> Path:
    """root/Cat/N.jpg and root/Dog/N.jpg (the PetImages layout); returns root."""
    for label, name in enumerate(names):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            (folder / f"{i}.jpg").write_bytes(jpeg_bytes(photo(label, 2000 * label + i)))
    return root


# -- a NaN loss on demand ---------------------------------------------------------------
ENV_RATE = "SUITE_TEST_NAN_LEARNING_RATE"


def initial_learning_rate(optimizer) -> float | None:
    """The rate an optimizer starts at (a schedule's initial rate), or None."""
    rate = getattr(optimizer, "_learning_rate", None)
    rate = getattr(rate, "initial_learning_rate", rate)
    try:
        return float(rate)
    except (TypeError, ValueError):
        return None


def poison(rate: float):
    """Patch `keras.Model.compile`: at learning rate `rate`, the loss is always NaN.
    Returns the original `compile`, for `unpoison`."""
    import keras

    original = keras.Model.compile
    signature = inspect.signature(original)

    def compile_poisoned(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        if initial_learning_rate(bound.arguments.get("optimizer")) == rate:
            loss = keras.losses.get(bound.arguments.get("loss"))
            bound.arguments["loss"] = lambda y_true, y_pred: loss(y_true, y_pred) * float("nan")
        return original(*bound.args, **bound.kwargs)

    keras.Model.compile = compile_poisoned
    return original


@contextmanager
def poisoned_learning_rate(rate: float):
    import keras

    original = poison(rate)
    try:
        yield
    finally:
        keras.Model.compile = original


def child_env(rate: float) -> dict:
    """Environment entries that poison `rate` in a child process (and its children)."""
    path = os.pathsep.join([str(ROOT / "tests" / "nan_site"), str(ROOT),
                            os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {ENV_RATE: repr(float(rate)), "PYTHONPATH": path}


# -- small helpers of several test files --------------------------------------------------
def retrained_after_losing(label, out, rerun, module, trainer: str, label_at: int,
                           monkeypatch) -> list[str]:
    """Delete variant `label`'s record in `out` (a run interrupted while training it), call
    `rerun()` (which must succeed) and return the labels `module.<trainer>` trained again
    (the label is its positional argument `label_at`)."""
    (out / "variants" / f"{label}.json").unlink()
    trained = []
    original = getattr(module, trainer)
    monkeypatch.setattr(module, trainer,
                        lambda *a, **k: trained.append(a[label_at]) or original(*a, **k))
    assert rerun() == 0
    return trained


def tiny_splits(n_train=256, n_val=64, n_test=64, shape=(28, 28, 1), seed=0):
    """Generated images a network can learn: each class a brighter band of rows, plus noise."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, *shape))
        band = shape[0] // 10
        for c in range(10):
            x[y == c, c * band:(c + 1) * band] += 180
        return x.astype(np.uint8), y.astype(np.int64)

    (xt, yt), (xv, yv), (xs, ys) = make(n_train), make(n_val), make(n_test)
    return Splits(xt, yt, xv, yv, xs, ys, NAMES, "fake")


def saved_val_accuracy(model_file, data) -> float:
    """The saved model's accuracy on the run's validation photos, measured afresh."""
    import keras

    from data.dogs import load_dogs_vs_cats, make_dataset

    split = load_dogs_vs_cats(data, seed=0)
    val = make_dataset(split.val_files, split.val_labels, 64, 32, check=False)
    model = keras.models.load_model(model_file)  # uncompiled: the net and its weights
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.evaluate(val, verbose=0)[1]


def write_idx(path: Path, array: np.ndarray) -> None:
    """One gzip IDX file of unsigned bytes (Fashion-MNIST's format), header and all."""
    import gzip

    magic = 2049 if array.ndim == 1 else 2051
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_datasets(root: Path, n_train: int = 12_000, n_test: int = 500) -> Path:
    """A tiny `--data-dir` laid out as ../shared/datasets is: mnist.npz, fashion-mnist/ and
    dogs-vs-cats/ of generated images (enough for the 10,000-image validation splits and
    every command's --quick), no CIFAR-10. Returns root."""
    splits = tiny_splits(n_train, 0, n_test)
    x, y, xt, yt = splits.x_train[..., 0], splits.y_train, splits.x_test[..., 0], splits.y_test
    root.mkdir(parents=True, exist_ok=True)
    np.savez(root / "mnist.npz", x_train=x, y_train=y.astype(np.uint8), x_test=xt,
             y_test=yt.astype(np.uint8))
    fashion = root / "fashion-mnist"
    fashion.mkdir()
    for name, array in (("train-images-idx3-ubyte.gz", x), ("train-labels-idx1-ubyte.gz", y),
                        ("t10k-images-idx3-ubyte.gz", xt), ("t10k-labels-idx1-ubyte.gz", yt)):
        write_idx(fashion / name, array)
    make_kaggle(root / "dogs-vs-cats", per_class=30, test=10)
    return root
