"""Task 3: the dropout-inference schemes by hand, the weight-norm callback, the CNNs' sizes,
and every experiment with --quick on small generated arrays."""

import csv
import json

import numpy as np
import pytest

from tests.support import retrained_after_losing, tiny_splits


@pytest.fixture
def fake_data(monkeypatch):
    import data

    monkeypatch.setattr(data, "load_dataset",
                        lambda name, data_dir=None, seed=0: tiny_splits(128, 32, 32))


def run(argv):
    from tasks.task3 import task

    return task.main(argv)


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


# -- dropout at inference, against a hand computation on a 2-layer net ---------------------------
X = np.array([[1.0, 2.0]])
W1, B1 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, -1.0])  # hidden = relu([1, 1])
W2, B2 = np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([0.0, 0.0])  # Keras's W (rate 0.5)


def test_dropout_schemes_by_hand():
    from tasks.task3.experiments import (first_hidden, logits_with_masks, softmax, trained_weights,
                             weight_scaling_logits)

    params = trained_weights([(W1, B1), (W2, B2)], rate=0.5)
    np.testing.assert_allclose(params[1][0], [[4, 0], [0, 8]])  # W~ = W / (1 - 0.5)
    hidden = first_hidden(params, X)
    np.testing.assert_allclose(hidden, [[1, 1]])
    # (i): W~ * 0.5 = [[2, 0], [0, 4]] on h = [1, 1] -> logits [2, 4].
    np.testing.assert_allclose(weight_scaling_logits(params, hidden, 0.5), [[2, 4]])
    # Two masks by hand: keep unit 1 -> [4, 0]; keep unit 2 -> [0, 8].
    a = logits_with_masks(params, hidden, [np.array([[1.0, 0.0]])])
    b = logits_with_masks(params, hidden, [np.array([[0.0, 1.0]])])
    np.testing.assert_allclose(a, [[4, 0]])
    np.testing.assert_allclose(b, [[0, 8]])
    # (ii) mean of softmax: class 1 gets (e^0/(e^4+1) + e^8/(1+e^8)) / 2.
    mean_probs = (softmax(a) + softmax(b)) / 2
    by_hand = (1 / (np.e ** 4 + 1) + np.e ** 8 / (1 + np.e ** 8)) / 2
    assert mean_probs[0, 1] == pytest.approx(by_hand)
    # (iii) softmax of mean logits [2, 4]: the same as (i) for a net with one dropout layer.
    np.testing.assert_allclose(softmax((a + b) / 2), softmax(np.array([[2.0, 4.0]])))


def test_mask_average_converges_to_expectation():
    from tasks.task3.experiments import first_hidden, mask_average_accuracies, trained_weights

    params = trained_weights([(W1, B1), (W2, B2)], rate=0.5)
    hidden = first_hidden(params, X)
    by_probs, by_logits = mask_average_accuracies(params, hidden, np.array([1]), 0.5, 50, 0)
    assert by_probs.shape == by_logits.shape == (50,)
    # Unit 2 (weight 8 to class 1) is kept in about half the masks: class 1 wins on average.
    assert by_probs[-1] == 1.0 and by_logits[-1] == 1.0


def test_keras_inference_is_weight_scaling():
    """Keras's inverted dropout at inference equals scheme (i) on the converted weights."""
    from models.mlp import make_mlp
    from tasks.task3.experiments import (dense_parameters, first_hidden, softmax, trained_weights,
                             weight_scaling_logits)

    model = make_mlp((6,), 3, hidden=(5, 4), dropout=0.5, seed=1)
    x = np.random.default_rng(0).random((7, 6)).astype(np.float32)
    params = trained_weights(dense_parameters(model), 0.5)
    ours = softmax(weight_scaling_logits(params, first_hidden(params, x), 0.5))
    np.testing.assert_allclose(ours, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# -- callbacks --------------------------------------------------------------------------------
@pytest.mark.parametrize("steps_per_execution, updates", [
    (1, list(range(1, 16))),  # 5 updates per epoch, 3 epochs: a norm after each
    (2, [2, 4, 5, 7, 9, 10, 12, 14, 15]),  # one per call: its last update's
])
def test_weight_norm_logger_numbers_its_updates(steps_per_execution, updates):
    import keras

    from tasks.task3.experiments import weight_norm_logger

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), "mse", steps_per_execution=steps_per_execution)
    logger = weight_norm_logger()
    x, y = np.ones((20, 3), np.float32), np.zeros((20, 2), np.float32)
    model.fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[logger])
    assert [update for update, _ in logger.points] == updates
    assert logger.updates == 15
    final = np.sqrt(sum(np.sum(np.square(np.asarray(w))) for w in model.trainable_weights))
    assert logger.points[-1][1] == pytest.approx(final, rel=1e-6)
    assert logger.points[0][1] > logger.points[-1][1]  # SGD to a zero target shrinks them


def test_label_smoothing_by_hand():
    from training.fitting import smoothed_crossentropy

    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    labels = np.array([0, 2])
    loss = np.asarray(smoothed_crossentropy(0.1, 3)(labels, probs))
    target = np.full((2, 3), 0.1 / 3)
    target[[0, 1], labels] += 0.9
    assert loss == pytest.approx(-(target * np.log(probs)).sum(axis=1), rel=1e-5)


def test_cnn_sizes_match_the_reports():
    from models.cnn import make_cnn_50k, make_cnn_206k

    assert make_cnn_206k((28, 28, 1), 10).count_params() == 206_500  # report A's count
    assert 45_000 <= make_cnn_50k((28, 28, 1), 10).count_params() <= 60_000  # "about 50k"


# -- the experiments, quick ----------------------------------------------------------------
@pytest.mark.parametrize("name, files", [
    ("cnn-vs-mlp", ["errors.png", "results.csv", "history.csv"]),
    ("weight-decay", ["test_error.png", "weight_norm.png", "weight_norm.csv"]),
    ("dropout-inference", ["accuracy_vs_masks.png", "accuracy_vs_masks.csv"]),
    ("bn-vs-dropout", ["test_error.png", "results.csv"]),
    ("cifar10-cnn", ["curves.png", "loss_every_100_steps.csv", "results.csv"]),
])
def test_experiment_quick(tmp_path, fake_data, name, files):
    out = tmp_path / name
    assert run([name, "--quick", "--dataset", "fashion_mnist", "--out", str(out)]) == 0
    for file in files + ["report.md", "metrics.json", "config.json"]:
        assert (out / file).is_file(), file
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    m = metrics(out)
    if name == "cnn-vs-mlp":
        assert m["models"]["cnn_206k"]["params"] == 206_500
        assert 0 <= m["best_cnn_test_accuracy"] <= 1
    if name == "weight-decay":
        norms = (out / "weight_norm.csv").read_text().splitlines()[1:]
        for model in m["models"].values():  # 128 / 64 = 2 updates per epoch
            assert model["updates"] == 2 * model["epochs"]
        # One compiled call per epoch (2 steps < STEPS_PER_EXECUTION): a norm after each.
        assert len(norms) == sum(model["epochs"] for model in m["models"].values())
    if name == "dropout-inference":
        # NumPy (float64) against Keras (float32) on 32 test images: a near-tie may round
        # either way, so the two may differ by one image, never more.
        assert abs(m["weight_scaling_accuracy"] - m["keras_inference_accuracy"]) <= 1 / 32
        assert len((out / "accuracy_vs_masks.csv").read_text().splitlines()) == 1 + m["masks"]
    if name == "cifar10-cnn":
        assert set(m["models"]) == {"course", "strong"}
        assert all(r["steps"] == 8 for r in m["models"].values())
        assert {"course_test_accuracy", "strong_test_accuracy"} <= set(m)


@pytest.mark.slow
def test_all_quick(tmp_path, fake_data):
    from tasks.task3.experiments import EXPERIMENTS

    out = tmp_path / "all"
    assert run(["all", "--quick", "--out", str(out)]) == 0
    for name in EXPERIMENTS:
        assert (out / name / "report.md").is_file(), name


def test_weight_decay_stops_on_crossentropy_and_resumes_at_the_unfinished_model(
        tmp_path, fake_data, monkeypatch):
    import tasks.task3.experiments as task3

    out = tmp_path / "wd"
    argv = ["weight-decay", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]
    assert run(argv) == 0
    rows = [r for r in csv.DictReader(open(out / "history.csv")) if r["model"] != "no_decay"]
    # The decayed model's val_loss carries the L2 penalty; what early stopping watches does not.
    assert task3.DECAY_MONITOR == "val_crossentropy"
    assert all(float(r["val_loss"]) > float(r["val_crossentropy"]) for r in rows)
    first = metrics(out)["models"]

    # Interrupted during the second model: only its record is missing. A rerun trains it alone.
    assert retrained_after_losing("l2_0.0001", out, lambda: run(argv), task3,
                                  "train_decay_model", 3, monkeypatch) == ["l2_0.0001"]
    assert metrics(out)["models"]["no_decay"] == first["no_decay"]


def test_weight_decay_seeds_give_each_model_a_spread(tmp_path, fake_data):
    out = tmp_path / "wd"
    assert run(["weight-decay", "--quick", "--dataset", "fashion_mnist", "--seeds", "2",
                "--seed", "5", "--out", str(out)]) == 0
    m = metrics(out)
    assert sorted(p.stem for p in (out / "variants").glob("*.json")) == [
        "l2_0.0001", "l2_0.0001_seed6", "no_decay", "no_decay_seed6"]
    results = list(csv.DictReader(open(out / "results.csv")))
    for model, spread in m["seeds"].items():
        errors = [float(r["test_error"]) for r in results if r["model"] == model]
        assert [int(r["seed"]) for r in results if r["model"] == model] == [5, 6]
        assert spread["test_errors"] == pytest.approx(errors)
        assert spread["mean"] == pytest.approx(np.mean(errors))
        assert spread["std"] == pytest.approx(np.std(errors, ddof=1))
        assert m["models"][model]["seed"] == 5  # the first seed's run draws the curves
    means = {model: spread["mean"] for model, spread in m["seeds"].items()}
    assert means[m["lower_test_error"]] == min(means.values())  # tiny data: a tie may be


def test_batch_norm_first_epoch_is_measured_again_without_the_start_share(monkeypatch):
    import keras

    from tasks.task3.experiments import first_epoch_without_start_share

    rng = np.random.default_rng(0)
    x = (0.01 * rng.standard_normal((64, 3))).astype(np.float32)  # small variances
    y = (x[:, 0] > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.9),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    norm, seen = model.layers[0], {}

    class Spy(keras.callbacks.Callback):  # the moving averages as epoch 1 left them
        def on_epoch_end(self, epoch, logs=None):
            seen.setdefault("left", (np.asarray(norm.moving_mean),
                                     np.asarray(norm.moving_variance)))

    evaluate = keras.Model.evaluate

    def spying_evaluate(self, *args, **kwargs):  # the averages the measurement used
        seen["measured"] = (np.asarray(norm.moving_mean), np.asarray(norm.moving_variance))
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", spying_evaluate)
    import tensorflow as tf

    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    probe = first_epoch_without_start_share(test)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[Spy(), probe])
    share = 0.9 ** 4  # 4 steps: the start's share of the averages
    (mean, variance), (measured_mean, measured_variance) = seen["left"], seen["measured"]
    assert np.all(variance > share)  # the start's variance 1 dominates these small ones
    np.testing.assert_allclose(measured_mean, mean / (1 - share), rtol=1e-5)
    np.testing.assert_allclose(measured_variance, (variance - share) / (1 - share), rtol=1e-4)
    assert 0 <= probe.accuracy <= 1
    np.testing.assert_array_equal(np.asarray(norm.moving_variance), variance)  # put back

    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.compile("sgd", "mse")
    no_norm = first_epoch_without_start_share(test)
    plain.fit(x, np.zeros((64, 2)), epochs=1, verbose=0, callbacks=[no_norm])
    assert no_norm.accuracy is None


def test_cifar10_cnn_bad_models_is_one_sentence(tmp_path, fake_data, capsys):
    with pytest.raises(SystemExit) as exit_:  # read as the flag is parsed, before any folder
        run(["cifar10-cnn", "--quick", "--dataset", "fashion_mnist", "--models", "big",
             "--out", str(tmp_path / "c")])
    assert exit_.value.code == 2 and not (tmp_path / "c").exists()
    assert "--models must be one or more of course, strong (comma separated); got 'big'" in \
        capsys.readouterr().err


def test_bn_vs_dropout_rerun_trains_only_the_unfinished_variant(tmp_path, fake_data,
                                                                 monkeypatch):
    import tasks.task3.experiments as task3

    out = tmp_path / "bn"
    argv = ["bn-vs-dropout", "--quick", "--dataset", "fashion_mnist", "--out", str(out)]
    assert run(argv) == 0
    first = metrics(out)["variants"]
    assert retrained_after_losing("batchnorm", out, lambda: run(argv), task3,
                                  "train_cnn_variant", 3, monkeypatch) == ["batchnorm"]
    again = metrics(out)["variants"]
    assert again["plain"] == first["plain"] and again["dropout"] == first["dropout"]
    assert set(again) == {"plain", "dropout", "batchnorm"}
    # The table keeps the study's order, resumed or not.
    assert [r["variant"] for r in csv.DictReader(open(out / "results.csv"))] == [
        "plain", "dropout", "batchnorm"]
