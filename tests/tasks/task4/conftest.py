"""Task 4's shared fixture: one tiny training run, made once for the module's tests."""

import contextlib
from types import SimpleNamespace

import pytest

from tasks.task4.experiments import task
from tests.support import make_kaggle, write_bad_files

# float32 on every CPU: these tests compare what fit measured with the saved model's own
# figures to the last bit (bfloat16 has its own test).
TINY = ["--image-size", "32", "--batch-size", "8", "--threads", "1", "--seed", "0",
        "--precision", "float32"]


def train_argv(data, out, epochs=2):
    return ["train", "--data-dir", str(data), "--out", str(out), "--epochs", str(epochs),
            "--model", "cpu_net", *TINY]


@contextlib.contextmanager
def validation_passes():
    """Record every `evaluate` of any Keras model (fit validates through it) while open."""
    import keras

    passes = []
    original = keras.Model.evaluate

    def evaluate(model, *args, **kwargs):
        passes.append(model.name)
        return original(model, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "evaluate", evaluate)
        yield passes


@pytest.fixture(scope="package")
def trained(tmp_path_factory):
    """Made once for all of tests/tasks/task4: a 2-epoch cpu_net run on a Kaggle-layout
    folder with 3 unreadable photos of 31."""
    import io

    tmp = tmp_path_factory.mktemp("trained")
    data = make_kaggle(tmp / "dogs", per_class=12, test=6)
    write_bad_files(data / "train", stem="dog.")
    out = tmp / "run"
    err, printed = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(printed), \
            validation_passes() as passes:
        status = task.main(train_argv(data, out))
    return SimpleNamespace(data=data, out=out, status=status, err=err.getvalue(),
                           printed=printed.getvalue(), validation_passes=len(passes))
