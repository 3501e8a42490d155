"""`python -m tasks.task4 train`, end to end on tiny photos: what it keeps, writes, resumes."""

import time

import numpy as np
import pytest

import training.checkpoints as checkpoints
import training.photos as photos_module
from data.augment import AUGMENTS, TTA_MODES
from suite.io import read_csv, read_json
from tasks.task4.experiments import task
from suite.errors import UsageError
from tasks.task4.flags import recipe_from_args
from tests.support import make_kaggle, saved_val_accuracy
from tests.tasks.task4.conftest import TINY, train_argv, validation_passes
from training.nets import STEPS_PER_CALL, compiled_model
from training.photos import load_photos, whitening_photos


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
    assert set(tta) == set(TTA_MODES)
    assert tta["none"] == pytest.approx(metrics["val_accuracy"], abs=1 / metrics["val_images"])
    assert all(0 <= accuracy <= 1 for accuracy in tta.values())
    for name in ("model.keras", "best.keras", "learning_curves.png", "report.md"):
        assert (out / name).is_file()
    assert any((out / "tensorboard").rglob("*tfevents*"))
    assert not (out / "backup").exists()  # a finished run leaves no backup behind
    # The run followed one recipe, printed at its start and kept in config.json.
    recipe = recipe_from_args(task.parser().parse_args(train_argv(data, out)))
    assert read_json(out / "config.json")["recipe"] == recipe.to_dict()
    assert recipe.describe() in trained.printed
    # The same command again does not train again.
    assert task.main(train_argv(data, out)) == 0
    assert "already holds a finished run" in capsys.readouterr().out


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    import keras

    data = make_kaggle(tmp_path / "dogs", per_class=10)
    out = tmp_path / "run"
    original = checkpoints.checkpoint_callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the backup of epoch 2 (this callback comes last)
                raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Interrupt()])
    assert task.main(train_argv(data, out, epochs=3)) == 130
    assert [int(r["epoch"]) for r in read_csv(out / "history.csv")] == [1, 2]
    assert (out / "backup").is_dir() and not (out / "model.keras").exists()

    started = []
    monkeypatch.setattr(checkpoints, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Record(started)])
    assert task.main(train_argv(data, out, epochs=3)) == 0
    assert started == [2]  # only the third epoch ran
    rows = read_csv(out / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert read_json(out / "metrics.json")["val_accuracy"] == pytest.approx(
        max(float(r["val_accuracy"]) for r in rows), abs=1e-6)


def Record(seen):
    """A callback that records the epochs it sees begin."""
    import keras

    return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))


def test_refit_trains_on_every_labelled_photo_and_validates_nothing(trained, tmp_path):
    out = tmp_path / "refit"
    with validation_passes() as passes:
        assert task.main(train_argv(trained.data, out) + ["--refit"]) == 0
    metrics, split = read_json(out / "metrics.json"), read_json(trained.out / "metrics.json")
    assert metrics["refit"] is True and not passes
    assert metrics["train_images"] == split["train_images"] + split["val_images"]
    assert metrics["val_images"] == 0 and metrics["val_accuracy"] is None
    assert (metrics["epochs"], metrics["kept"], metrics["kept_epoch"]) == (2, "last", 2)
    assert metrics["best_epoch"] is None
    assert (out / "model.keras").is_file() and not (out / "best.keras").exists()
    assert all("val_accuracy" not in row for row in read_csv(out / "history.csv"))
    assert "none held out" in (out / "report.md").read_text()


def test_whiten_freezes_the_stem_as_the_training_photos_whitening_conv(tmp_path):
    import keras

    from models.layers import whitening_kernel

    data = make_kaggle(tmp_path / "dogs", per_class=6, test=0)
    out = tmp_path / "run"
    argv = train_argv(data, out) + ["--whiten"]
    assert task.main(argv) == 0
    recipe = recipe_from_args(task.parser().parse_args(argv))
    photos = whitening_photos(recipe, load_photos(recipe, data))
    assert photos.shape == (min(512, len(load_photos(recipe, data).train_files)), 32, 32, 3)
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
    assert line.endswith("Turn whitening off (--no-whiten).")


def test_progressive_training_feeds_small_photos_first_and_keeps_a_full_size_model(
        tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    data = make_kaggle(tmp_path / "dogs", per_class=8, test=0)
    out = tmp_path / "run"
    sides = []
    make_datasets = photos_module.make_datasets

    def recorded(recipe, data, resize=None):  # the side of every training batch
        train_data, val_data = make_datasets(recipe, data, resize)

        def record(x, y):
            side = tf.py_function(lambda s: sides.append(int(s)) or s, [tf.shape(x)[1]],
                                  tf.int32)
            with tf.control_dependencies([side]):
                return tf.identity(x), y

        return train_data.map(record), val_data

    monkeypatch.setattr(photos_module, "make_datasets", recorded)
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
    assert metrics["steps_per_call"] == STEPS_PER_CALL
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
    report = (out / "report.md").read_text()
    assert f"augmentation light ({AUGMENTS['light'].describe()}), cutout 0.25" in report
    assert "label smoothing 0.2, weight decay 0.05" in report
    # The loss trains towards 0.9 / 0.1: a certain, right answer still costs
    # -0.9 log(1) - 0.1 log(eps) > 0, where the plain loss is ~0.
    recipe = recipe_from_args(task.parser().parse_args(argv))
    photos = load_photos(recipe, data)
    model = compiled_model(recipe, whitening_photos(recipe, photos))
    def cost(model):  # of a certain, right answer
        loss = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        return float(np.sum(loss(np.array([0]), np.array([[1.0, 0.0]], "float32"))))

    assert cost(model) > 1.0
    assert model.optimizer.weight_decay == pytest.approx(0.05)
    plain = recipe.replace(label_smoothing=0.0)
    assert cost(compiled_model(plain, whitening_photos(plain, photos))) < 1e-3


def spy_on_averages(monkeypatch) -> list:
    """The `WeightAverage` instances train makes, in order."""
    import training.averaging as averaging

    made = []
    original = averaging.WeightAverage

    def spy(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(averaging, "WeightAverage", spy)
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

    monkeypatch.setattr("training.averaging.AVERAGE_EVERY", 1)  # an update every step
    made = spy_on_averages(monkeypatch)
    data = make_kaggle(tmp_path / "dogs", per_class=10)
    out = tmp_path / "run"
    original = checkpoints.checkpoint_callbacks

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the backup of epoch 2
                raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints, "checkpoint_callbacks",
                        lambda *a, **k: original(*a, **k) + [Interrupt()])
    argv = train_argv(data, out, epochs=3) + ["--ema", "0.99"]
    assert task.main(argv) == 130
    with np.load(out / "backup" / "average.npz") as saved:
        assert int(saved["epochs"]) == 2
        two_epochs = int(saved["updates"])
    assert two_epochs == made[0].updates > 0
    monkeypatch.setattr(checkpoints, "checkpoint_callbacks", original)
    assert task.main(argv) == 0
    assert made[1].updates == two_epochs * 3 // 2  # two epochs' updates read back, one more
    assert not (out / "backup").exists()


def test_a_budget_is_timed_once_and_its_rules_follow_the_epochs_it_affords(tmp_path,
                                                                           monkeypatch):
    """Timed to afford many epochs, a budgeted cpu_net trains wider; the timing is kept in
    afforded.json and the recipe in config.json; a resumed run reads the timing back, and
    one it cannot read stops it with one sentence."""
    from types import SimpleNamespace

    import training.calibration as calibration
    from tasks.task4.train import fit_to_budget
    from training.recipes import BUDGET_RULES

    timings = []

    def timed(recipe, *args, **kwargs):
        timings.append(recipe.arch["width"])
        return {"epochs": 10_000.0, "epoch_seconds": 0.5}

    monkeypatch.setattr(calibration, "affordable_epochs", timed)
    data = make_kaggle(tmp_path / "dogs", per_class=6, test=0)
    out = tmp_path / "run"
    argv = train_argv(data, out, epochs=1) + ["--budget-minutes", "5"]
    assert task.main(argv) == 0
    widest = max(dict(dict(rule.changes).get("architecture", ())).get("width", 0)
                 for rule in BUDGET_RULES["cpu_net"])
    assert timings == [32] and read_json(out / "metrics.json")["architecture"]["width"] == widest
    assert read_json(out / "config.json")["recipe"]["architecture"]["width"] == widest
    assert read_json(out / "afforded.json")["epochs"] == 10_000.0
    recipe = recipe_from_args(task.parser().parse_args(argv))
    run = SimpleNamespace(file=lambda name: out / name, record=lambda **about: None)
    refit = lambda epochs: recipe_from_args(task.parser().parse_args(argv), epochs)  # noqa: E731
    assert fit_to_budget(recipe, run, None, lambda: 0.0, refit).arch["width"] == widest
    assert timings == [32]  # read back, not timed again
    (out / "afforded.json").write_text('{"epochs": ')
    with pytest.raises(UsageError, match="afforded.json is unreadable .*pass --overwrite"):
        fit_to_budget(recipe, run, None, lambda: 0.0, refit)


def test_the_calibration_times_the_recipes_net_on_this_machine():
    from training.calibration import affordable_epochs
    from training.recipes import resolve

    recipe = resolve("cpu_net", 1.0, flags={"architecture": {"width": 4}, "image_size": 32,
                                            "batch_size": 8, "precision": "float32"})
    timing = affordable_epochs(recipe, train_images=80, val_images=16, elapsed=30.0)
    assert timing["epoch_seconds"] > 0
    assert timing["epochs"] == pytest.approx(30.0 / timing["epoch_seconds"], rel=1e-9)


def test_held_out_photos_are_never_trained_on_and_score_the_final_model(trained, tmp_path):
    """A refit with --holdout 2: the four held-out photos are neither trained on nor
    validated, and the kept model is scored on them under every test-time mode."""
    from data.dogs import load_dogs_vs_cats

    out = tmp_path / "refit"
    argv = train_argv(trained.data, out, epochs=1) + ["--refit", "--holdout", "2"]
    assert task.main(argv) == 0
    metrics = read_json(out / "metrics.json")
    split = load_dogs_vs_cats(trained.data, seed=0, holdout=2)
    assert len(split.holdout_files) == 4 and sorted(split.holdout_labels) == [0, 0, 1, 1]
    assert not set(split.holdout_files) & set(split.train_files + split.val_files)
    assert metrics["train_images"] == len(split.train_files) + len(split.val_files)
    assert metrics["holdout"] == 2 and set(metrics["holdout_accuracy_tta"]) == set(TTA_MODES)
    assert all(v in (0, 0.25, 0.5, 0.75, 1) for v in metrics["holdout_accuracy_tta"].values())
    assert "held-out photos (2 of each class" in (out / "report.md").read_text()
    # The same seed holds out the same photos whatever else is asked; none without it.
    assert load_dogs_vs_cats(trained.data, seed=0, holdout=2, val_fraction=0.3).holdout_files \
        == split.holdout_files
    plain = load_dogs_vs_cats(trained.data, seed=0)
    assert plain.holdout_files == [] and len(plain.train_files) + len(plain.val_files) == \
        len(split.train_files) + len(split.val_files) + 4
