"""`python -m tasks.task4`: train, resume, hparams, submit and its validator, on tiny data."""

import argparse
import contextlib
import json
import math
import re
import time
from types import SimpleNamespace

import numpy as np
import pytest

from suite.io import read_csv, read_json
from suite.runs import RunDir
from tasks.task4.experiments import run_all, task
import tasks.task4.train as train_module
from tasks.task4.submit import submission_text, validate_submission
from tests.support import UNREADABLE, make_kaggle, saved_val_accuracy, write_bad_files

# float32 on every CPU: these tests compare what fit measured with the saved model's own
# figures to the last bit (bfloat16 has its own test).
TINY = ["--image-size", "32", "--batch-size", "8", "--threads", "1", "--seed", "0",
        "--precision", "float32"]


def test_submission_is_sorted_by_numeric_id_and_validated():
    text = submission_text([10, 9, 100, 1], np.array([0.9, 0.2, 0.5, 0.49]))
    assert text == "id,label\n1,Cat\n9,Cat\n10,Dog\n100,Dog\n"
    validate_submission(text, [1, 9, 10, 100])
    probs = submission_text([2, 1], np.array([0.25, 1.0]), probabilities=True)
    assert probs == "id,label\n1,1.000000\n2,0.250000\n"
    validate_submission(probs, [1, 2], probabilities=True)


@pytest.mark.parametrize("text, ids, problem", [
    ("id,label\n1,Cat\n", [1, 2], "1 ids are missing"),
    ("id,label\n1,Cat\n2,Dog\n3,Dog\n", [1, 2], "1 are extra"),
    ("id,label\n1,Cat\n1,Dog\n", [1], "more than once"),
    ("id,label\n2,Cat\n1,Dog\n", [1, 2], "increasing"),
    ("id,label\n1,cat\n", [1], "not Cat or Dog"),
    ("file,label\n1,Cat\n", [1], "header"),
    ("id,label\n1,Cat,0.3\n", [1], "not '<id>,<label>'"),
])
def test_validator_rejects_bad_files(text, ids, problem):
    with pytest.raises(ValueError, match=problem):
        validate_submission(text, ids)
    with pytest.raises(ValueError, match="outside"):
        validate_submission("id,label\n1,1.5\n", [1], probabilities=True)


def test_hparams_file_from_tuning_sets_model_and_optimiser(tmp_path):
    path = tmp_path / "best_hparams.json"
    path.write_text(json.dumps({"learning_rate": 0.01, "batch_size": 8, "depth": 6,
                                "kernel_size": 2, "optimizer": "Adam", "score": 0.93,
                                "momentum": 0.0, "trial_id": "07"}))
    args = argparse.Namespace(hparams=str(path), model="cpu_net", optimizer=None, lr=None,
                              batch_size=None, epochs=None, budget_minutes=None, quick=False,
                              augment=None, label_smoothing=None, cutout=None, width=None,
                              warmup=None, whiten=None)
    config = train_module.settings(args)
    assert config["model"] == "vgg6" and config["optimizer"] == "adam"
    assert config["learning_rate"] == 0.01 and config["batch_size"] == 8
    assert config["momentum"] == 0.0
    assert config["architecture"] == {"depth": 6, "kernel_size": 2}
    args.lr = 0.5  # an explicit flag wins over the file
    assert train_module.settings(args)["learning_rate"] == 0.5
    path.write_text(json.dumps({"filters": [[4], [8]], "dense": [16], "model": "vgg13"}))
    args.lr = None
    model = train_module.make_model(train_module.settings(args), 16)
    assert model.count_params() == 112 + 296 + (4 * 4 * 8 * 16 + 16) + 34


def test_hparams_file_from_a_cpu_size_search_builds_that_cpu_net(tmp_path):
    from models.vgg import build_cpu_net

    path = tmp_path / "best_hparams.json"
    path.write_text(json.dumps({"learning_rate": 0.03, "batch_size": 64, "depth": 10,
                                "kernel_size": 5, "optimizer": "sgd", "seed": 1,
                                "model": "cpu_net", "width": 16, "momentum": 0.9}))
    args = argparse.Namespace(hparams=str(path), model="vgg13", optimizer=None, lr=None,
                              batch_size=None, epochs=None, budget_minutes=None, quick=False,
                              augment=None, label_smoothing=None, cutout=None, width=None,
                              warmup=None, whiten=None)
    config = train_module.settings(args)
    assert config["model"] == "cpu_net" and config["momentum"] == 0.9
    model = train_module.make_model(config, 32)
    assert model.count_params() == build_cpu_net((32, 32, 3), width=16, depth=10,
                                                 kernel_size=5).count_params()


def test_best_record_counts_only_when_written_after_its_checkpoint(tmp_path):
    import os

    run = SimpleNamespace(file=lambda name: tmp_path / name)
    assert train_module.best_record(run) is None
    weights, record = tmp_path / "best.keras", tmp_path / "best.json"
    weights.write_bytes(b"weights")
    record.write_text('{"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.5}')
    now = time.time_ns()
    os.utime(weights, ns=(now, now))
    os.utime(record, ns=(now + 1000, now + 1000))
    assert train_module.best_record(run) == {"epoch": 2, "val_accuracy": 0.75,
                                             "val_loss": 0.5}
    os.utime(record, ns=(now - 1000, now - 1000))  # a kill between the two writes
    assert train_module.best_record(run) is None


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




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-epoch cpu_net run on a Kaggle-layout folder with 3 unreadable photos of 31."""
    import io

    tmp = tmp_path_factory.mktemp("trained")
    data = make_kaggle(tmp / "dogs", per_class=12, test=6)
    write_bad_files(data / "train", stem="dog.")
    out = tmp / "run"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), validation_passes() as passes:
        status = task.main(train_argv(data, out))
    return SimpleNamespace(data=data, out=out, status=status, err=err.getvalue(),
                           validation_passes=len(passes))


def test_train_keeps_the_best_epoch_and_writes_everything(trained, capsys):
    data, out, status, err = trained.data, trained.out, trained.status, trained.err
    assert status == 0
    assert err.count("warning") == 1 and "skipped 3 of 31" in err
    rows = read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert trained.validation_passes == 2  # fit's, one per epoch; none after it
    metrics = read_json(out / "metrics.json")
    best = max(rows, key=lambda r: float(r["val_accuracy"]))
    assert metrics["val_accuracy"] == float(best["val_accuracy"])
    assert metrics["val_loss"] == float(best["val_loss"])
    assert metrics["best_epoch"] == int(best["epoch"])
    # model.keras is the best-validation checkpoint: evaluated again, it scores that epoch.
    assert saved_val_accuracy(out / "model.keras", data) == pytest.approx(
        metrics["val_accuracy"], abs=1e-6)
    assert metrics["skipped_images"] == 3 and metrics["params"] == 545_130  # cpu_net
    # Without test-time augmentation, the kept model scores what fit measured (give or
    # take a photo whose two probabilities tie to float32's last bit).
    tta = metrics["val_accuracy_tta"]
    assert set(tta) == {"none", "flip", "flip-shift", "flip-zoom"}
    assert tta["none"] == pytest.approx(metrics["val_accuracy"], abs=1 / metrics["val_images"])
    assert all(0 <= accuracy <= 1 for accuracy in tta.values())
    for name in ("model.keras", "best.keras", "learning_curves.png", "report.md"):
        assert (out / name).is_file()
    assert any((out / "tensorboard").rglob("*tfevents*"))
    assert not (out / "backup").exists()  # a finished run leaves no backup behind
    # The same command again does not train again.
    assert task.main(train_argv(data, out)) == 0
    assert "already holds a finished run" in capsys.readouterr().out


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    import keras

    data = make_kaggle(tmp_path / "dogs", per_class=10)
    out = tmp_path / "run"
    original = train_module.checkpoint_callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the backup of epoch 2 (this callback comes last)
                raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Interrupt()])
    assert task.main(train_argv(data, out, epochs=3)) == 130
    assert [int(r["epoch"]) for r in read_csv(out / "history.csv")] == [1, 2]
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()

    started = []
    monkeypatch.setattr(train_module, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Record(started)])
    assert task.main(train_argv(data, out, epochs=3)) == 0
    assert started == [2]  # only the third epoch ran
    rows = read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert read_json(out / "metrics.json")["val_accuracy"] == pytest.approx(
        max(float(r["val_accuracy"]) for r in rows), abs=1e-6)


class Record:
    """A callback that records the epochs it sees begin."""

    def __new__(cls, seen):
        import keras

        class _Record(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                seen.append(epoch)

        return _Record()


def test_refit_trains_on_every_labelled_photo_and_validates_nothing(trained, tmp_path):
    out = tmp_path / "refit"
    with validation_passes() as passes:
        assert task.main(train_argv(trained.data, out) + ["--refit"]) == 0
    metrics, split = read_json(out / "metrics.json"), read_json(trained.out / "metrics.json")
    assert metrics["refit"] is True and not passes
    assert metrics["train_images"] == split["train_images"] + split["val_images"]
    assert metrics["val_images"] == 0 and metrics["val_accuracy"] is None
    assert metrics["epochs"] == 2 and metrics["best_epoch"] == 2  # the last weights are kept
    assert (out / "model.keras").is_file() and not (out / "best.keras").exists()
    assert all("val_accuracy" not in row for row in read_csv(out / "history.csv"))
    assert "none held out" in (out / "report.md").read_text()


def test_submit_writes_one_row_per_readable_photo(trained, tmp_path, capsys, monkeypatch):
    data, run = trained.data, trained.out
    bad = write_bad_files(data / "test1", stem="90")  # ids 900 ... 906
    monkeypatch.chdir(tmp_path)  # the report goes to ./runs/task4/submit
    csv = tmp_path / "submission.csv"
    argv = ["submit", "--model", str(run / "model.keras"), "--images", str(data / "test1"),
            "--out", str(csv), "--tta", "flip-shift", "--threads", "1"]
    assert task.main(argv) == 0
    err = capsys.readouterr().err
    lines = csv.read_text().splitlines()
    unreadable = sorted(int(bad[k].stem) for k in UNREADABLE)
    readable = [1, 2, 3, 4, 5, 6] + sorted(int(p.stem) for k, p in bad.items()
                                           if k not in UNREADABLE)
    assert lines[0] == "id,label" and [int(x.split(",")[0]) for x in lines[1:]] == readable
    assert all(x.split(",")[1] in ("Cat", "Dog") for x in lines[1:])
    assert f"no row for 3 unreadable test photos, ids {', '.join(map(str, unreadable))}" in err
    assert read_json(tmp_path / "runs/task4/submit/metrics.json")["rows"] == len(readable)
    assert task.main(argv + ["--probabilities"]) == 0  # replaces the report folder
    assert all(0 <= float(x.split(",")[1]) <= 1 for x in csv.read_text().splitlines()[1:])


def test_budget_stops_mid_epoch_when_an_epoch_outlasts_it():
    import keras

    now = [0.0]
    from training.callbacks import budget_schedule

    budget = budget_schedule(
        train_module.BUDGET_TAIL_SECONDS + 100, lambda: now[0], base_lr=0.1, max_epochs=5,
        steps_per_epoch=10, tail_seconds=train_module.BUDGET_TAIL_SECONDS)

    class Clock(keras.callbacks.Callback):  # every batch takes 30 "seconds"
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            Clock.batches += 1
            now[0] += 30.0

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.ones((80, 2), np.float32)
    model.fit(x, x[:, :1], batch_size=8, epochs=5, verbose=0, callbacks=[Clock(), budget])
    assert Clock.batches == 4  # 120 "seconds" > 100: stopped within the first epoch


def test_warmup_rises_linearly_to_the_rate_then_follows_the_cosine_to_zero():
    from training.callbacks import cosine_rate, warmup_cosine_rate

    rate = warmup_cosine_rate
    # Two warm-up epochs of 4 steps: each step adds an eighth of the rate.
    assert [rate(0.8, e / 4, 10, warmup=2, step=0.25) for e in range(8)] == \
        pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert rate(0.8, 2.0, 10, 2) == pytest.approx(0.8)  # then the cosine over 8 epochs
    assert rate(0.8, 6.0, 10, 2) == pytest.approx(0.4)
    assert rate(0.8, 10.0, 10, 2) == pytest.approx(0.0, abs=1e-12)
    assert rate(0.8, 3.0, None, 2) == 0.8  # before any plan, the full rate
    assert rate(0.8, 1.0, 3, 2) == pytest.approx(0.8 / 1.5)  # 3 planned: 1.5 epochs warm
    assert rate(0.8, 1.0, 3, 2, step=0.25) == pytest.approx(0.8 * 1.25 / 1.5)
    assert rate(0.8, 1.5, 3, 2) == pytest.approx(0.8)
    # No warm-up is the plain cosine.
    assert rate(0.8, 3.0, 10) == pytest.approx(cosine_rate(0.8, 0.3))


def test_a_budget_with_warmup_sets_each_steps_rate_from_the_first(tmp_path):
    import keras

    from training.callbacks import budget_schedule

    tail = train_module.BUDGET_TAIL_SECONDS
    budget = budget_schedule(tail + 300, lambda: 0.0, base_lr=0.1, max_epochs=3,
                             steps_per_epoch=4, tail_seconds=tail, warmup=1)
    rates = []

    class Rates(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.ones((16, 2), np.float32)
    model.fit(x, x[:, :1], batch_size=4, epochs=3, verbose=0, callbacks=[budget, Rates()])
    assert budget.planned_epochs == 3
    # Epoch 1 warms up; epochs 2 and 3 follow the cosine from 0.1 over the 2 left.
    expected = [0.025, 0.05, 0.075, 0.1] + [0.05 * (1 + math.cos(math.pi * k / 8))
                                             for k in range(8)]
    assert rates == pytest.approx(expected)


def test_warmup_without_a_budget_is_one_sentence(tmp_path, capsys):
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    assert task.main(train_argv(data, tmp_path / "run") + ["--warmup", "2"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--warmup needs --budget-minutes" in line


def test_whiten_freezes_the_stem_as_the_training_photos_whitening_conv(tmp_path):
    import keras

    from models.layers import whitening_kernel

    data = make_kaggle(tmp_path / "dogs", per_class=6, test=0)
    out = tmp_path / "run"
    argv = train_argv(data, out) + ["--whiten"]
    assert task.main(argv) == 0
    args = task.parser().parse_args(argv)
    photos = train_module.whitening_photos(args, train_module.load_data(args))
    assert photos.shape == (len(train_module.load_data(args).train_files), 32, 32, 3)
    assert 0 <= photos.min() and photos.max() <= 1
    stem = keras.models.load_model(out / "model.keras", compile=False).get_layer("stem_conv")
    # Two epochs later the kept kernel is still the whitening one: it was not trained.
    np.testing.assert_allclose(stem.get_weights()[0],
                               whitening_kernel(photos, 3, stem.filters), atol=1e-6)
    assert read_json(out / "metrics.json")["whiten"] is True
    assert "a whitening stem (frozen)" in (out / "report.md").read_text()


def test_a_stem_too_wide_to_whiten_is_one_sentence(tmp_path, capsys):
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    # Width 76: a stem of 57 filters, more than twice the 27 values of a 3x3x3 patch.
    assert task.main(train_argv(data, tmp_path / "run") + ["--width", "76"]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "cannot whiten cpu_net's stem: a whitening kernel has 1 to 54 filters" in line
    assert line.endswith("Pass --no-whiten.")


def test_whiten_on_a_net_without_a_stem_is_one_sentence(tmp_path, capsys):
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    argv = train_argv(data, tmp_path / "run") + ["--whiten", "--model", "vgg6"]
    assert task.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "--whiten's model must be cpu_net; got 'vgg6'" in line


def test_progressive_sizes_shrink_the_plans_first_half_and_never_go_back():
    from training.callbacks import EpochSizes

    sizes = EpochSizes(32, 64, 0.5)
    assert [sizes.at(e, 10) for e in range(10)] == [32] * 5 + [64] * 5
    assert sizes.at(0, None) == 32  # before the first plan
    assert sizes.counts(3, 10) == {32: 2, 64: 5} and sizes.counts(7, 10) == {32: 0, 64: 3}
    assert [sizes.begin(e, 10) for e in range(6)] == [32] * 5 + [64]
    assert sizes.first_full == 5 and sizes.current == 64
    # A longer plan later on does not shrink the photos again.
    assert sizes.at(6, 20) == 64 and sizes.counts(6, 20) == {32: 0, 64: 14}
    rows = [{"epoch": 1, "image_size": 32.0}, {"epoch": 2, "image_size": 64.0}]
    config = {"progressive": 32}
    assert train_module.epoch_sizes(config, 64, rows).first_full == 1  # resumed
    assert train_module.epoch_sizes(config, 64, rows[:1]).first_full is None
    assert train_module.epoch_sizes({"progressive": 0}, 64, rows) is None
    with pytest.raises(ValueError, match="low size"):
        EpochSizes(64, 64, 0.5)


def test_a_budget_plans_progressive_epochs_at_each_sizes_own_cost():
    from training.callbacks import EpochSizes, budget_schedule

    tail = train_module.BUDGET_TAIL_SECONDS
    budget = budget_schedule(tail + 300, lambda: 0.0, base_lr=0.1, max_epochs=100,
                             steps_per_epoch=10, tail_seconds=tail,
                             sizes=EpochSizes(32, 64, 0.5))
    budget.seconds[32] = 10.0  # untimed, a 64-pixel epoch is costed by its pixels: 40 s
    assert budget.plan(0) == 12 and budget.planned_epochs == 12  # 6 x 10 s + 6 x 40 s
    budget.seconds[64] = 20.0  # once timed, at its own cost
    assert budget.plan(0) == 20  # 10 x 10 s + 10 x 20 s
    plain = budget_schedule(tail + 300, lambda: 0.0, base_lr=0.1, max_epochs=100,
                            steps_per_epoch=10, tail_seconds=tail)
    plain.seconds[None] = 30.0
    assert plain.plan(2) == 10 and plain.planned_epochs == 12
    resumed = budget_schedule(tail + 300, lambda: 0.0, 0.1, 100, 10, tail, prior_rows=[
        {"epoch": 1, "elapsed_seconds": 50.0, "image_size": 32.0},
        {"epoch": 2, "elapsed_seconds": 62.5, "image_size": 32.0}],
        sizes=EpochSizes(32, 64, 0.5))
    assert resumed.seconds == {32: 12.5}


def test_progressive_training_feeds_small_photos_first_and_keeps_a_full_size_model(
        tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    data = make_kaggle(tmp_path / "dogs", per_class=8, test=0)
    out = tmp_path / "run"
    sides = []
    make_datasets = train_module.make_datasets

    def recorded(args, data, config, resize=None):  # the side of every training batch
        train_data, val_data = make_datasets(args, data, config, resize)

        def record(x, y):
            side = tf.py_function(lambda s: sides.append(int(s)) or s, [tf.shape(x)[1]],
                                  tf.int32)
            with tf.control_dependencies([side]):
                return tf.identity(x), y

        return train_data.map(record), val_data

    monkeypatch.setattr(train_module, "make_datasets", recorded)
    assert task.main(train_argv(data, out) + ["--progressive", "16"]) == 0
    rows = read_csv(out / "history.csv")
    assert [float(r["image_size"]) for r in rows] == [16, 32]
    per_epoch = len(sides) // 2
    assert per_epoch >= 1 and sides == [16] * per_epoch + [32] * per_epoch
    assert read_json(out / "metrics.json")["progressive"] == 16
    assert keras.models.load_model(out / "model.keras").input_shape == (None, 32, 32, 3)
    assert keras.models.load_model(out / "best.keras", compile=False).input_shape == (
        None, None, None, 3)
    assert "progressive resizing from side 16" in (out / "report.md").read_text()


@pytest.mark.parametrize("flags, problem", [
    (["--model", "vgg13"], "--progressive's model must be cpu_net (a net that takes photos "
                           "of any size); got 'vgg13'."),
    (["--progressive", "32"], "--progressive must be under --image-size (32); got 32."),
    (["--progressive", "4"], "cannot build cpu_net"),
])
def test_a_bad_progressive_size_is_one_sentence(flags, problem, tmp_path, capsys):
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    argv = train_argv(data, tmp_path / "run") + ["--progressive", "16", *flags]
    assert task.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert problem in line


def test_a_budget_run_validates_once_after_its_mid_epoch_stop(tmp_path, monkeypatch):
    """The clock starts 40 s into a 1-minute budget, past its 45 s tail: the first batch
    stops training, and fit's validation of that part-epoch is the run's only one."""
    data = make_kaggle(tmp_path / "dogs", per_class=10, test=0)
    out = tmp_path / "run"
    monkeypatch.setattr("tasks.task4.experiments.STARTED", time.time() - 40)
    argv = ["train", "--data-dir", str(data), "--out", str(out), "--budget-minutes", "1",
            "--model", "cpu_net", *TINY]
    with validation_passes() as passes:
        assert task.main(argv) == 0
    assert len(passes) == 1
    [row] = read_csv(out / "history.csv")
    metrics = read_json(out / "metrics.json")
    assert metrics["epochs"] == metrics["best_epoch"] == 1
    assert metrics["val_accuracy"] == float(row["val_accuracy"])
    assert metrics["val_loss"] == float(row["val_loss"])
    assert saved_val_accuracy(out / "model.keras", data) == pytest.approx(
        metrics["val_accuracy"], abs=1e-6)


def help_entries(experiment: str, capsys) -> list[str]:
    """`<experiment> --help`'s option entries, each on one line."""
    with pytest.raises(SystemExit):
        task.parser().parse_args([experiment, "--help"])
    text = capsys.readouterr().out
    return [" ".join(entry.split()) for entry in re.split(r"\n(?=  -)", text)]


@pytest.mark.parametrize("experiment", ["train", "all"])
def test_augment_names_its_choice_and_keeps_the_short_forms(experiment, capsys):
    parser = task.parser()

    def augment(*flags):  # the run's augmentation: the flag's, else the model's recipe's
        return train_module.settings(parser.parse_args([experiment, *flags]))["augment"]

    # train's default net is cpu_net (medium), all's the report's VGG-13 (the report's).
    assert augment() == ("medium" if experiment == "train" else "report")
    assert augment("--model", "cpu_net") == "medium"
    assert augment("--model", "vgg13") == augment("--model", "bn_deep") == "report"
    assert augment("--no-augment") == "none"
    assert augment("--augment") == augment("--model", "cpu_net", "--augment") == "report"
    assert augment("--augment", "light", "--model", "vgg13") == "light"
    # A long budget turns cpu_net's recipe to the strong augmentation; a flag still wins.
    long = str(train_module.LONG_BUDGET_MINUTES)
    assert augment("--budget-minutes", "30", "--model", "cpu_net") == "medium"
    assert augment("--budget-minutes", long, "--model", "cpu_net") == "strong"
    assert augment("--budget-minutes", long, "--augment", "medium") == "medium"
    assert augment("--budget-minutes", long, "--model", "vgg13") == "report"
    [entry] = [e for e in help_entries(experiment, capsys) if e.startswith("--augment ")]
    assert entry.count(f"(default: the model's recipe: medium for cpu_net, strong under "
                       f"--budget-minutes {long} or more; report for the VGGs and batch-norm "
                       "nets)") == 1
    smoothing = train_module.settings(parser.parse_args([experiment]))["label_smoothing"]
    assert smoothing == (0.1 if experiment == "train" else 0.0)
    assert train_module.settings(parser.parse_args(
        [experiment, "--label-smoothing", "0"]))["label_smoothing"] == 0.0
    with pytest.raises(SystemExit):
        parser.parse_args([experiment, "--augment", "heavy"])
    assert "--augment must be one of flip, light, medium, strong, report, none; got 'heavy'" in (
        capsys.readouterr().err)


def test_all_hands_the_recipe_flags_on_to_train(tmp_path, monkeypatch):
    handed = []

    class Handed(Exception):
        pass

    def run(args):
        config = train_module.settings(args)
        handed.append((args.experiment, config["augment"], config["label_smoothing"],
                       config["cutout"], args.weight_decay, train_module.patience_epochs(args),
                       config["progressive"], config["warmup"], config["whiten"]))
        raise Handed

    monkeypatch.setattr(task, "run", run)
    for flags in ([], ["--no-augment"], ["--augment", "light", "--label-smoothing", "0.1",
                                         "--cutout", "0.25", "--weight-decay", "0.05",
                                         "--patience", "4"],
                  ["--model", "cpu_net", "--budget-minutes", "5", "--progressive", "48",
                   "--warmup", "1.5", "--no-whiten"]):
        with pytest.raises(Handed):
            run_all(task.parser().parse_args(["all", *flags]), RunDir(tmp_path, {}))
    patience = train_module.PATIENCE
    assert handed == [("train", "report", 0.0, 0.0, 0.0, patience, 0, 0.0, False),
                      ("train", "none", 0.0, 0.0, 0.0, patience, 0, 0.0, False),
                      ("train", "light", 0.1, 0.25, 0.05, 4, 0, 0.0, False),
                      ("train", "medium", 0.1, 0.0, 0.0, 0, 48, 1.5, False)]


def test_cpu_nets_recipe_whitens_and_runs_a_one_cycle_under_a_budget_only():
    parser = task.parser()

    def chosen(*flags):
        config = train_module.settings(parser.parse_args(["train", *flags]))
        return config["learning_rate"], config["warmup"], config["whiten"]

    assert chosen() == (2e-3, 0.0, True)
    assert chosen("--budget-minutes", "30") == (4e-3, 2.0, True)
    assert chosen("--budget-minutes", "30", "--lr", "1e-3", "--warmup", "0",
                  "--no-whiten") == (1e-3, 0.0, False)
    assert chosen("--model", "vgg13", "--budget-minutes", "30") == (0.015, 0.0, False)


@pytest.mark.parametrize("experiment", ["train", "all"])
def test_a_long_budget_widens_cpu_net_and_any_budget_turns_early_stopping_off(experiment,
                                                                              capsys):
    import inspect

    from models.vgg import build_cpu_net

    parser = task.parser()
    long = str(train_module.LONG_BUDGET_MINUTES)
    default_width = inspect.signature(build_cpu_net).parameters["width"].default

    def run(*flags):  # (cpu_net's architecture, early stopping's patience) of these flags
        args = parser.parse_args([experiment, "--model", "cpu_net", *flags])
        return train_module.settings(args)["architecture"], train_module.patience_epochs(args)

    assert train_module.LONG_BUDGET_WIDTH > default_width
    assert run() == ({}, train_module.PATIENCE)
    assert run("--budget-minutes", "30") == ({}, 0)
    assert run("--budget-minutes", str(train_module.LONG_BUDGET_MINUTES - 0.5)) == ({}, 0)
    assert run("--budget-minutes", long) == ({"width": train_module.LONG_BUDGET_WIDTH}, 0)
    assert run("--budget-minutes", long, "--width", "8", "--patience", "5") == (
        {"width": 8}, 5)
    assert run("--patience", "0") == ({}, 0)
    vgg = parser.parse_args([experiment, "--model", "vgg13", "--budget-minutes", long])
    assert train_module.settings(vgg)["architecture"] == {}
    [entry] = [e for e in help_entries(experiment, capsys) if e.startswith("--width ")]
    assert (f"{train_module.LONG_BUDGET_WIDTH} under --budget-minutes "
            f"{train_module.LONG_BUDGET_MINUTES} or more" in entry)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_weight_decay_shrinks_kernels_but_not_biases_or_batch_norm(name):
    """A zero gradient moves nothing but the decay: each kernel loses lr * decay of
    itself, and biases and batch norm's scale and shift keep their values."""
    import keras

    from training.optimizers import make_optimizer

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


@pytest.mark.parametrize("experiment", ["analyze", "submit"])
def test_a_missing_model_is_one_sentence_in_the_suite_wording(experiment, tmp_path, capsys):
    missing = str(tmp_path / "nope.keras")
    argv = [experiment, "--model", missing, "--out", str(tmp_path / "out"), "--threads", "1"]
    assert task.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == (f"task4: error: --model must be a saved model.keras file (train first: "
                    f"python -m tasks.task4 train); got {missing!r}.")


def test_precision_auto_is_bfloat16_only_with_native_instructions(tmp_path):
    from training.precision import cpu_flags, resolve

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


def test_bfloat16_training_saves_a_float32_model_of_its_best_weights(tmp_path):
    """Trained in bfloat16 (emulated where the CPU lacks it), kept in float32: the same
    weights, float32 arithmetic in every layer; the global policy is left as it was."""
    import keras

    data = make_kaggle(tmp_path / "dogs", per_class=8, test=0)
    out = tmp_path / "run"
    argv = train_argv(data, out)
    argv[argv.index("float32")] = "bfloat16"
    assert task.main(argv) == 0
    metrics = read_json(out / "metrics.json")
    assert metrics["precision"] == "bfloat16"
    assert metrics["steps_per_call"] == train_module.STEPS_PER_CALL
    best = keras.models.load_model(out / "best.keras", compile=False)  # smoothed loss
    kept = keras.models.load_model(out / "model.keras")  # plain: it holds no loss
    assert not kept.compiled
    assert {layer.dtype_policy.name for layer in best.layers if layer.weights} == {
        "mixed_bfloat16", "float32"}  # the softmax layer computes in float32 throughout
    assert {layer.dtype_policy.name for layer in kept.layers} == {"float32"}
    for trained_weights, kept_weights in zip(best.get_weights(), kept.get_weights(),
                                             strict=True):
        np.testing.assert_array_equal(trained_weights, kept_weights)
    assert keras.config.dtype_policy().name == "float32"
    assert "bfloat16 arithmetic" in (out / "report.md").read_text()


def test_width_widens_cpu_net_and_is_refused_for_a_vgg(tmp_path, capsys):
    import inspect

    from models.vgg import build_cpu_net

    parser = task.parser()
    default = inspect.signature(build_cpu_net).parameters["width"].default
    [entry] = [e for e in help_entries("train", capsys) if e.startswith("--width ")]
    assert f"(default {default}: " in entry
    config = train_module.settings(parser.parse_args(["train", "--width", "8"]))
    assert config["architecture"] == {"width": 8}
    assert train_module.make_model(config, 32).count_params() == build_cpu_net(
        (32, 32, 3), width=8).count_params()
    argv = ["train", "--model", "vgg13", "--width", "8", "--out", str(tmp_path / "out"),
            "--threads", "1"]
    assert task.main(argv) == 2
    assert ("--width's model must be cpu_net (the only net it widens); got 'vgg13'."
            in capsys.readouterr().err)


def test_light_augmentation_cutout_smoothing_and_decay_train_and_are_recorded(tmp_path):
    import keras

    data = make_kaggle(tmp_path / "dogs", per_class=8, test=0)
    out = tmp_path / "run"
    argv = train_argv(data, out, epochs=1) + ["--augment", "light", "--cutout", "0.25",
                                              "--label-smoothing", "0.2",
                                              "--weight-decay", "0.05"]
    assert task.main(argv) == 0
    metrics = read_json(out / "metrics.json")
    assert (metrics["augment"], metrics["cutout"], metrics["label_smoothing"],
            metrics["weight_decay"]) == ("light", 0.25, 0.2, 0.05)
    assert ("augmentation light (flip, shifts of up to 1/16), cutout 0.25, label smoothing "
            "0.2, weight decay 0.05") in (out / "report.md").read_text()
    # The loss trains towards 0.9 / 0.1: a certain, right answer still costs
    # -0.9 log(1) - 0.1 log(eps) > 0, where the plain loss is ~0.
    args = task.parser().parse_args(argv)
    data = train_module.load_data(args)
    model = train_module.compiled_model(args, train_module.settings(args), data)
    def cost(model):  # of a certain, right answer
        loss = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        return float(np.sum(loss(np.array([0]), np.array([[1.0, 0.0]], "float32"))))

    assert cost(model) > 1.0
    assert model.optimizer.weight_decay == pytest.approx(0.05)
    args.label_smoothing = 0.0
    assert cost(train_module.compiled_model(args, train_module.settings(args), data)) < 1e-3


def test_weight_average_follows_the_weights_stands_in_and_resumes(tmp_path, monkeypatch):
    """Driven by hand: the average's update rule, its stand-in for validation and the
    checkpoint, its file, which only the fit resuming at the epoch after it reads."""
    import keras

    from training.callbacks import weight_average

    monkeypatch.setattr("training.callbacks.AVERAGE_EVERY", 1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1),
                              keras.layers.BatchNormalization()])
    path = tmp_path / "backup" / "average.npz"
    average = weight_average(0.5, path)
    for callback in (average, average.restore):
        callback.set_model(model)
    assert len(average._variables()) == 6  # kernel, bias, gamma, beta and BN's statistics
    start = [np.array(w) for w in model.get_weights()]
    average.on_epoch_begin(0)
    model.set_weights([w + 1 for w in start])
    average.on_train_batch_end(0)
    d = min(0.5, 2 / 11)  # held back at the first update
    expected = [w + (1 - d) for w in start]

    def weights():
        return model.get_weights()

    for got, want in zip(average.average, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    average.on_test_begin()
    for got, want in zip(weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    average.on_test_end()
    for got, want in zip(weights(), start, strict=True):
        np.testing.assert_allclose(got, want + 1)
    average.on_epoch_end(0)  # the checkpoint sees the average ...
    np.testing.assert_allclose(weights()[0], expected[0], rtol=1e-6, atol=1e-6)
    average.restore.on_epoch_end(0)  # ... the backup the weights that train
    np.testing.assert_allclose(weights()[0], start[0] + 1)
    assert path.is_file()

    def reopened(epoch):
        again = weight_average(0.5, path)
        again.set_model(model)
        again.on_epoch_begin(epoch)
        return again

    resumed = reopened(1)  # the file holds 1 epoch: a fit resuming at epoch 1 reads it
    assert resumed.updates == 1
    for got, want in zip(resumed.average, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    fresh = reopened(0)  # a fit starting over (its backup older than the file) does not
    assert fresh.updates == 0
    for got, want in zip(fresh.average, start, strict=True):
        np.testing.assert_allclose(got, want + 1)
    resumed.apply()
    np.testing.assert_allclose(weights()[0], expected[0], rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"decay must be a number in \[0, 1\); got 1.0"):
        weight_average(1.0)


def spy_on_averages(monkeypatch) -> list:
    """The `weight_average` instances train makes, in order."""
    from training.callbacks import weight_average

    made = []

    def spy(*args, **kwargs):
        made.append(weight_average(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(train_module, "weight_average", spy)
    return made


def test_ema_checkpoints_what_it_validated_and_refit_keeps_the_average(trained, tmp_path,
                                                                       monkeypatch):
    import keras

    made = spy_on_averages(monkeypatch)
    out = tmp_path / "ema"
    assert task.main(train_argv(trained.data, out) + ["--ema", "0.9"]) == 0
    metrics = read_json(out / "metrics.json")
    assert metrics["ema"] == 0.9 and "weight average (EMA) decay 0.9" in (
        out / "report.md").read_text()
    # model.keras holds the weights its best epoch validated: the average's.
    assert saved_val_accuracy(out / "model.keras", trained.data) == pytest.approx(
        metrics["val_accuracy"], abs=1e-6)

    refit = tmp_path / "refit"
    assert task.main(train_argv(trained.data, refit) + ["--ema", "0.9", "--refit"]) == 0
    kept = keras.models.load_model(refit / "model.keras")
    floats = [w for w in kept.weights if "float" in str(w.dtype)]
    for weight, average in zip(floats, made[-1].average, strict=True):
        np.testing.assert_array_equal(np.asarray(weight), average)


def test_ema_resumes_its_average_after_an_interruption(tmp_path, monkeypatch):
    import keras

    monkeypatch.setattr("training.callbacks.AVERAGE_EVERY", 1)  # an update every step
    made = spy_on_averages(monkeypatch)
    data = make_kaggle(tmp_path / "dogs", per_class=10)
    out = tmp_path / "run"
    original = train_module.checkpoint_callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the backup of epoch 2
                raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Interrupt()])
    argv = train_argv(data, out, epochs=3) + ["--ema", "0.99"]
    assert task.main(argv) == 130
    with np.load(out / "backup" / train_module.AVERAGE_FILE) as saved:
        assert int(saved["epochs"]) == 2
        two_epochs = int(saved["updates"])
    assert two_epochs == made[0].updates > 0
    monkeypatch.setattr(train_module, "checkpoint_callbacks", original)
    assert task.main(argv) == 0
    assert made[1].updates == two_epochs * 3 // 2  # two epochs' updates read back, one more
    assert not (out / "backup").exists()
