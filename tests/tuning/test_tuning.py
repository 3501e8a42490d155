"""tuning/: the search space, the oracles' bookkeeping, a real search on tiny data, the report."""

import csv
import json
import time

import keras_tuner as kt
import numpy as np
import pytest
from keras_tuner.src.engine.trial import TrialStatus

from suite.runs import RunDir
from tests.support import poisoned_learning_rate
from tuning.oracles import make_oracle
from tuning.results import REPORTED, write_results
from tuning.space import (
    CPU_HPARAMS,
    REPORT_HPARAMS,
    REPORT_TABLES,
    SEED,
    SearchSpace,
    VGGHyperModel,
    one_at_a_time,
)
from tuning.tuner import VGGTuner


def base(size="cpu", **changes):
    """A search's base recipe for tests: the net's, at 32 px, float32, without whitening
    unless asked, with `changes` (an `architecture` dict among them)."""
    from training.recipes import resolve

    flags = {"image_size": 32, "precision": "float32", **changes}
    if size == "cpu":
        flags.setdefault("whiten", False)
    return resolve("cpu_net" if size == "cpu" else "vgg13", flags=flags)


# -- what to try ----------------------------------------------------------------------------
def test_space_is_the_issues():
    hp = kt.HyperParameters()
    SearchSpace().declare(hp)
    space = {p.name: p.get_config() for p in hp.space}
    assert space["depth"]["values"] == [6, 10, 13, 16, 19]
    assert space["kernel_size"]["values"] == [2, 3, 4, 5]
    assert space["batch_size"]["values"] == [16, 32, 64, 128]
    assert space["optimizer"]["values"] == ["sgd", "adam"]
    lr = space["learning_rate"]
    assert (lr["min_value"], lr["max_value"], lr["sampling"]) == (1e-3, 3e-2, "log")
    # The defaults are the CPU-sized centre, or the report's final model; one fixed seed.
    assert {k: hp.values[k] for k in CPU_HPARAMS} == CPU_HPARAMS
    assert space[SEED]["value"] == 0
    hp = kt.HyperParameters()
    SearchSpace(centre=tuple(REPORT_HPARAMS.items())).declare(hp)
    assert {k: hp.values[k] for k in REPORT_HPARAMS} == REPORT_HPARAMS
    assert SearchSpace().combinations() is None
    assert len(SearchSpace(learning_rates=(0.01, 0.03)).combinations()) == 5 * 4 * 2 * 4 * 2
    seeded = SearchSpace(learning_rates=(0.01,), seeds=(0, 1))
    assert len(seeded.combinations()) == 5 * 4 * 4 * 2 * 2


def test_one_at_a_time_varies_one_hparam_per_table():
    combos = one_at_a_time()
    # 5 + 4 + 4 + 4 rows; the base (13, 3, 16, 0.015) sits in three tables but runs once.
    assert len(combos) == 17 - 2
    assert len({json.dumps(c, sort_keys=True) for c in combos}) == len(combos)
    for name, values in REPORT_TABLES.items():
        for value in values:
            combo = {**REPORT_HPARAMS, name: value, SEED: 0}
            assert combo in combos
    for combo in combos:
        assert sum(combo[k] != v for k, v in REPORT_HPARAMS.items()) <= 1


def test_one_at_a_time_runs_the_centre_again_with_each_other_seed_last():
    combos = one_at_a_time(base=CPU_HPARAMS, seeds=(5, 6, 7))
    # depth 6, kernel 3, batch 64 and lr 0.03 are each in their table: 17 - 3 distinct rows.
    assert len(combos) == 14 + 2
    assert {c[SEED] for c in combos[:14]} == {5}
    assert combos[14:] == [{**CPU_HPARAMS, SEED: 6}, {**CPU_HPARAMS, SEED: 7}]
    assert {**CPU_HPARAMS, SEED: 5} in combos[:14]


def test_build_is_the_report_net_and_rejects_a_kernel_too_large():
    from training.recipes import RECIPES

    report = RECIPES["vgg"].replace(momentum=0.0)
    hypermodel = VGGHyperModel(SearchSpace(centre=tuple(REPORT_HPARAMS.items())), report,
                               size="report")
    model = hypermodel.build(kt.HyperParameters())
    assert model.count_params() == 45_238_466  # report B's VGG13
    assert model.optimizer.__class__.__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.015)
    small = VGGHyperModel(SearchSpace(kernel_sizes=(5,)),
                          base("report", architecture={"dense": (8,)}), size="report",
                          width_scale=1 / 16)
    with pytest.raises(kt.errors.FailedTrialError, match="kernel_size 5 is too large"):
        small.build(kt.HyperParameters())  # 32 px: block 5 sees 2x2 maps


def test_cpu_size_builds_cpu_net_at_each_depth_and_kernel():
    from models.vgg import build_cpu_net

    hypermodel = VGGHyperModel(SearchSpace(), base(image_size=64))  # the tables' centre
    model = hypermodel.build(kt.HyperParameters())
    assert model.count_params() == build_cpu_net().count_params() == 545_130
    assert model.optimizer.__class__.__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.03)
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    for depth in (10, 19):
        hp = kt.HyperParameters()
        hp.Fixed("depth", depth)
        hp.Fixed("kernel_size", 5)
        deep = hypermodel.build(hp)
        convs = [w for w in deep.weights if w.path.endswith("conv/kernel")]
        assert len(convs) == depth and {tuple(w.shape[:2]) for w in convs} == {(5, 5)}
    # What task 4's --hparams needs besides the searched values to build the same net.
    assert hypermodel.fixed_hparams(13) == {"model": "cpu_net", "depth": 13, "whiten": False}


def test_build_makes_the_trials_optimizer_with_the_recipes_momentum():
    space = SearchSpace(depths=(6,), kernel_sizes=(3,), optimizers=("adam",),
                        learning_rates=(0.003,))
    tiny = base(architecture={"width": 4})
    adam = VGGHyperModel(space, tiny).build(kt.HyperParameters())
    assert adam.optimizer.__class__.__name__ == "Adam"
    assert float(adam.optimizer.learning_rate) == pytest.approx(0.003)
    # Keras's own Adam defaults, as before the one optimizer factory.
    assert (adam.optimizer.beta_1, adam.optimizer.beta_2, adam.optimizer.epsilon) == (
        0.9, 0.999, 1e-7)
    sgd = VGGHyperModel(SearchSpace(depths=(6,), kernel_sizes=(3,)),
                        tiny.replace(momentum=0.5)).build(kt.HyperParameters())
    assert sgd.optimizer.__class__.__name__ == "SGD"
    assert float(sgd.optimizer.momentum) == pytest.approx(0.5)


def test_trials_smooth_their_labels_when_the_recipe_does():
    """A certain, right prediction costs nothing with plain labels and more than the
    smoothed target's entropy with smoothing 0.2."""
    space = SearchSpace(depths=(6,), kernel_sizes=(3,))
    y, certain = np.array([1]), np.array([[0.0, 1.0]], "float32")

    def loss(smoothing):
        import keras

        model = VGGHyperModel(space, base(architecture={"width": 4},
                                          label_smoothing=smoothing)).build(
            kt.HyperParameters())
        fn = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
        return float(np.sum(fn(y, certain)))

    assert loss(0.0) < 1e-3
    assert loss(0.2) > 1.0  # 0.1 of the target on a class given probability 0 (clipped)


def test_trials_compute_in_the_chosen_precision_and_leave_the_policy_alone():
    import keras

    space = SearchSpace(depths=(6,), kernel_sizes=(3,))
    model = VGGHyperModel(space, base(architecture={"width": 4}, precision="bfloat16")).build(
        kt.HyperParameters())
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and {layer.compute_dtype for layer in convs} == {"bfloat16"}
    assert {w.dtype for w in model.weights} == {"float32"}  # float32 variables
    assert model.layers[-1].compute_dtype == "float32"  # the softmax, so the loss
    assert keras.config.dtype_policy().name == "float32"
    plain = VGGHyperModel(space, base(architecture={"width": 4})).build(kt.HyperParameters())
    assert {layer.compute_dtype for layer in plain.layers[1:]} == {"float32"}


def test_a_searchs_trials_whiten_warm_up_and_schedule_as_train_does(tmp_path):
    """A search's centre trial is train's budgeted recipe, and its best_hparams.json, read by
    `train --hparams`, resolves to exactly train's default recipe."""
    from tasks.task4.experiments import task
    from tasks.task4.flags import recipe_from_args
    from tuning.space import centre_of
    from tuning.vgg import parser, resolve, search_space

    args = resolve(parser().parse_args(["--data-dir", str(tmp_path)]))
    space, _ = search_space(args)
    hypermodel = VGGHyperModel(space, args.recipe)
    centre = {**dict(space.centre), SEED: args.seed}
    trial = hypermodel.trial_recipe(centre)
    assert trial == args.recipe and centre_of(trial) == dict(space.centre)
    assert (trial.whiten, trial.warmup, trial.learning_rate, trial.budget_minutes) == (
        True, 2.0, 4e-3, args.trial_minutes)
    hparams = tmp_path / "best_hparams.json"
    hparams.write_text(json.dumps({**dict(space.centre), **hypermodel.fixed_hparams(6),
                                   "val_accuracy": 0.9}))

    def train_recipe(*flags):
        return recipe_from_args(task.parser().parse_args(["train", *flags]))

    for budget in ("30", "120"):
        assert train_recipe("--budget-minutes", budget, "--hparams", str(hparams)) == \
            train_recipe("--budget-minutes", budget)
    # The tables' trials keep their own recipe, and --hparams carries it to train.
    tables = resolve(parser().parse_args(["--one-at-a-time", "--data-dir", str(tmp_path)]))
    fixed = VGGHyperModel(space, tables.recipe).fixed_hparams(6)
    assert {k: fixed[k] for k in ("augment", "label_smoothing", "whiten", "warmup",
                                  "width")} == {"augment": "flip", "label_smoothing": 0.0,
                                                "whiten": False, "warmup": 0.0, "width": 16}


def test_space_depths_are_the_vgg_builders():
    from models.vgg import VGG_DEPTHS

    assert SearchSpace().depths == tuple(VGG_DEPTHS) == (6, 10, 13, 16, 19)


# -- how to choose: the ledger ---------------------------------------------------------------
def _oracle(tmp_path, space, **kw):
    oracle = make_oracle("random", "val_accuracy", max_trials=kw.pop("max_trials", 50),
                         seed=0, epochs=1, results_dir=tmp_path, **kw)
    oracle._set_project_dir(str(tmp_path), "kt")
    hp = oracle.get_space()
    space.declare(hp)
    oracle.update_space(hp)
    return oracle


@pytest.mark.parametrize("objective, direction", [
    ("val_accuracy", "max"), ("accuracy", "max"), ("val_loss", "min"), ("loss", "min")])
def test_objective_direction_is_monitor_modes(tmp_path, objective, direction):
    from training.metrics import monitor_mode
    from tuning.results import best_row

    oracle = make_oracle("random", objective, max_trials=2, seed=0, epochs=1)
    assert oracle.objective.direction == direction == monitor_mode(objective)
    rows = [{"trial_id": str(i), "status": "completed", objective: v}
            for i, v in enumerate((0.3, 0.9, 0.6))]
    assert best_row(rows, objective)[objective] == (0.3 if direction == "min" else 0.9)


def test_unknown_tuner_is_one_sentence():
    with pytest.raises(ValueError, match=r"^tuner must be one of random, bayesian, hyperband; "
                                         r"got 'grid'\.$"):
        make_oracle("grid", "val_accuracy", max_trials=2, seed=0, epochs=1)


def _finish(oracle, trial, score=0.5):
    oracle.update_trial(trial.trial_id, {"val_accuracy": score, "val_loss": 0.7,
                                         "params": 10.0, "seconds": 1.0})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)


@pytest.mark.parametrize("tuner", ["random", "bayesian"])
def test_a_search_starts_from_its_centre_then_searches(tmp_path, tuner):
    from tuning.vgg import parser, resolve, search_space

    args = resolve(parser().parse_args(["--tuner", tuner, "--data-dir", str(tmp_path)]))
    space, combinations = search_space(args)
    # A search starts from task 4's budgeted train recipe; the tables, from the report's
    # centre.
    centre = dict(space.centre)
    assert combinations is None and centre == {
        "depth": 6, "kernel_size": 3, "learning_rate": 4e-3, "batch_size": 64,
        "optimizer": "adam"}
    oracle = make_oracle(tuner, "val_accuracy", max_trials=5, seed=0, epochs=1,
                         results_dir=tmp_path)
    oracle._set_project_dir(str(tmp_path), "kt")
    hp = oracle.get_space()
    space.declare(hp)
    oracle.update_space(hp)
    first = oracle.create_trial("worker0")
    assert first.hyperparameters.values == {**centre, SEED: 0}
    _finish(oracle, first)
    second = oracle.create_trial("worker0")
    assert second.status == TrialStatus.RUNNING
    assert second.hyperparameters.values != first.hyperparameters.values
    args = resolve(parser().parse_args(["--one-at-a-time", "--data-dir", str(tmp_path)]))
    assert dict(search_space(args)[0].centre) == CPU_HPARAMS


def test_small_discrete_space_is_searched_completely(tmp_path):
    # keras-team/keras-tuner#596: random sampling gave up with a combination never tried.
    space = SearchSpace(depths=(6, 13), kernel_sizes=(2, 3, 4), batch_sizes=(16, 32),
                        learning_rates=(0.01,), optimizers=("sgd", "adam"))
    oracle = _oracle(tmp_path, space)
    seen = []
    while True:
        trial = oracle.create_trial("worker0")
        if trial.status == TrialStatus.STOPPED:
            break
        seen.append(json.dumps(trial.hyperparameters.values, sort_keys=True))
        _finish(oracle, trial)
    assert len(seen) == len(set(seen)) == len(space.combinations()) == 24
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    assert len(rows) == 24 and {r["status"] for r in rows} == {"completed"}


def test_a_silent_workers_trial_is_requeued_and_counted_once(tmp_path):
    space = SearchSpace(depths=(6,), kernel_sizes=(2, 3), batch_sizes=(16,),
                        learning_rates=(0.01,), optimizers=("sgd",))
    oracle = _oracle(tmp_path, space, lease_seconds=0.05)
    lost = oracle.create_trial("worker1")
    mine = oracle.create_trial("worker0")
    # The space is used up but worker1's trial may come back: worker0 waits, not exits.
    _finish(oracle, mine)
    assert oracle.create_trial("worker0").status == TrialStatus.IDLE
    time.sleep(0.1)
    oracle.heartbeat("worker0")
    assert oracle.reclaim_lost_trials() == ["worker1"]
    again = oracle.create_trial("worker0")
    assert again.trial_id == lost.trial_id
    _finish(oracle, again, score=0.6)
    _finish(oracle, lost, score=0.1)  # the "dead" worker reports late: ignored
    assert oracle.create_trial("worker0").status == TrialStatus.STOPPED
    assert oracle.search_finished()
    rows = {r["trial_id"]: r for r in csv.DictReader(open(tmp_path / "trials.csv"))}
    assert len(rows) == 2
    assert rows[lost.trial_id]["worker"] == "worker0"
    assert float(rows[lost.trial_id]["val_accuracy"]) == 0.6
    assert "worker1 stopped answering" in rows[lost.trial_id]["reason"]


@pytest.mark.parametrize("chief", [True, False])
def test_reload_keeps_running_trials_only_for_a_chief(tmp_path, chief):
    space = SearchSpace(learning_rates=(0.01,))
    oracle = _oracle(tmp_path, space)
    oracle.verbose = oracle._display.verbose = 1  # KerasTuner's display, as on a chief
    done = oracle.create_trial("worker1")
    _finish(oracle, done)
    # Killed right after handing out a trial: its start time never reached oracle.json.
    running = oracle.create_trial("worker0")
    again = make_oracle("random", "val_accuracy", max_trials=50, seed=0, epochs=1,
                        results_dir=tmp_path, keep_running_trials=chief)
    again._set_project_dir(str(tmp_path), "kt")
    again.reload()
    again._display.verbose = 1
    assert again.trials[done.trial_id].status == TrialStatus.COMPLETED
    if chief:  # keras-team/keras-tuner#976: the workers may still be training
        assert again.ongoing_trials["worker0"].trial_id == running.trial_id
        assert again._retry_queue == []
        _finish(again, running, score=0.7)  # its worker reports to the new chief
        assert again.trials[running.trial_id].status == TrialStatus.COMPLETED
    else:  # one process: its trial died with it and runs again
        assert again._retry_queue == [running.trial_id]
        assert again.create_trial("tuner0").trial_id == running.trial_id


# -- how to run: a real search on tiny data --------------------------------------------------
def _tiny_datasets(recipe):
    import tensorflow as tf

    batch_size = recipe.batch_size
    rng = np.random.default_rng(0)
    y = np.arange(48) % 2
    x = (rng.normal(0.3 + 0.4 * y[:, None, None, None], 0.1, (48, 32, 32, 3))
         .astype("float32"))
    train = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(batch_size)
    val = tf.data.Dataset.from_tensor_slices((x[32:], y[32:])).batch(batch_size)
    return train, val


def test_search_records_results_failures_and_nan(tmp_path):
    # Kernel 4 does not fit a 32-px VGG's last block; lr 5 is poisoned: its loss is NaN.
    space = SearchSpace(depths=(6,), kernel_sizes=(3, 4), batch_sizes=(16,),
                        learning_rates=(0.01, 5.0), optimizers=("sgd",))
    run = RunDir(tmp_path / "run", {"test": 1})
    oracle = make_oracle("random", "val_accuracy", max_trials=4, seed=0, epochs=1,
                         results_dir=run.path)
    hypermodel = VGGHyperModel(space, base("report", architecture={"dense": (16,)}, epochs=2),
                               size="report", width_scale=1 / 16)
    tuner = VGGTuner(oracle, hypermodel, directory=str(run.path), project_name="kt")
    import keras

    logs = run.path / "tensorboard"
    with poisoned_learning_rate(5.0):
        tuner.search(_tiny_datasets, epochs=2, verbose=0,
                     callbacks=[keras.callbacks.TensorBoard(str(logs), write_graph=False)])
    rows = oracle.trial_rows()
    assert len(rows) == 4
    by = {(r["kernel_size"], r["learning_rate"]): r for r in rows}
    assert by[(3, 0.01)]["status"] == "completed"
    assert 0 <= by[(3, 0.01)]["val_accuracy"] <= 1
    assert by[(3, 0.01)]["params"] == tuner.hypermodel.build(oracle.trials[
        by[(3, 0.01)]["trial_id"]].hyperparameters).count_params()
    assert by[(3, 5.0)]["status"] == "failed"
    assert "loss became nan" in by[(3, 5.0)]["reason"]
    for lr in (0.01, 5.0):
        assert by[(4, lr)]["status"] == "failed"
        assert "kernel_size 4 is too large" in by[(4, lr)]["reason"]

    write_results(run, rows, "val_accuracy", "tiny", one_at_a_time=False)
    best = json.loads(run.file("best_hparams.json").read_text())
    # What `python -m tasks.task4 train --hparams` reads.
    assert {k: best[k] for k in ("learning_rate", "batch_size", "depth", "kernel_size",
                                 "optimizer")} == {"learning_rate": 0.01, "batch_size": 16,
                                                   "depth": 6, "kernel_size": 3,
                                                   "optimizer": "sgd"}
    report = run.file("report.md").read_text()
    assert "## Failed trials" in report and "objective_vs_hparams.png" in report
    assert run.file("objective_vs_hparams.png").stat().st_size > 1000
    # One log folder per trial, with the HParams dashboard's summary beside the scalars.
    for row in rows:
        assert list((logs / row["trial_id"] / "execution0").glob("events.out.tfevents.*"))


def test_one_at_a_time_report_puts_the_reported_tables_beside(tmp_path):
    rows = []
    for i, combo in enumerate(one_at_a_time()):
        rows.append({"trial_id": str(i), **combo, "val_accuracy": 0.5 + i / 100,
                     "val_loss": 0.69, "params": 1000 + i, "status": "completed",
                     "reason": ""})
    rows[0]["status"], rows[0]["reason"] = "failed", "out of memory"
    run = RunDir(tmp_path / "run", {"test": 1})
    write_results(run, rows, "val_accuracy", "fake", one_at_a_time=True)
    report = run.file("report.md").read_text()
    for title in ("Table 1", "Table 2", "Table 3", "Table 4"):
        assert title in report
    # Depth 6 (the first combination) failed; depth 10 ran as trial 1; the centre (13) as 2.
    assert "| 6 | failed |" in report
    assert f"| 10 | 0.51 | 0.69 | 1,001 | -0.0100 | {REPORTED['depth'][10][0]} |" in report
    assert "| 13 | 0.52 | 0.69 | 1,002 | centre |" in report
    assert "| 0.03 | " in report and str(REPORTED["learning_rate"][0.03][0]) in report
    assert "ran with one seed only" in report


def test_one_at_a_time_report_marks_differences_beyond_the_centres_noise(tmp_path):
    combos = one_at_a_time(base=CPU_HPARAMS, seeds=(0, 1, 2))
    scores = {json.dumps({**CPU_HPARAMS, SEED: s}, sort_keys=True): v
              for s, v in ((0, 0.86), (1, 0.87), (2, 0.85))}  # sd 0.01
    rows = []
    for i, combo in enumerate(combos):
        score = scores.get(json.dumps(combo, sort_keys=True), 0.86)
        if combo["depth"] == 19:
            score = 0.80  # 0.06 below the centre: beyond 2 x sqrt(2) x 0.01
        if combo["learning_rate"] == 0.01:
            score = 0.85  # 0.01 below: within the noise
        rows.append({"trial_id": str(i), **combo, "val_accuracy": score, "val_loss": 0.3,
                     "params": 1000, "status": "completed", "reason": ""})
    run = RunDir(tmp_path / "run", {"test": 1})
    write_results(run, rows, "val_accuracy", "fake", one_at_a_time=True,
                  centre=CPU_HPARAMS)
    report = run.file("report.md").read_text()
    assert "mean 0.8600, standard deviation 0.0100" in report
    assert "| 19 | 0.8 | 0.3 | 1,000 | -0.0600 real |" in report
    assert "| 0.01 | 0.85 | 0.3 | 1,000 | -0.0100 noise |" in report
    metrics = json.loads(run.file("metrics.json").read_text())
    assert metrics["centre_noise"]["values"] == [0.86, 0.87, 0.85]
    assert metrics["centre_noise"]["sd"] == pytest.approx(0.01)
    depth = metrics["tables"]["depth"]
    assert (depth["best_value"], depth["best_val_accuracy"]) == (6, 0.86)
    assert depth["values"] == [6, 10, 13, 16, 19]
    assert depth["val_accuracy"] == [0.86, 0.86, 0.86, 0.86, 0.80]
    assert depth["noise_threshold"] == pytest.approx(2 * 2**0.5 * 0.01)


# -- the command line ------------------------------------------------------------------------
def test_quick_fills_only_the_flags_left_unset():
    from training.recipes import RECIPES
    from tuning.vgg import parser, resolve

    args = resolve(parser().parse_args(["--quick", "--epochs", "3"]))
    assert (args.epochs, args.max_trials, args.width_scale, args.limit) == (3, 4, 1 / 16, 100)
    assert (args.trial_minutes, args.trials_per_process, args.augment) == (None, 0, "none")
    assert args.recipe.arch["width"] == 4 and args.recipe.augment == "none"
    args = resolve(parser().parse_args([]))  # a CPU search: trials as task 4's train trains
    assert (args.size, args.max_trials, args.trial_minutes, args.trials_per_process,
            args.width_scale) == ("cpu", 20, 4.0, 1, 1.0)
    train = RECIPES["cpu_net"]
    assert (args.recipe.augment, args.recipe.label_smoothing, args.recipe.whiten) == (
        train.augment, train.label_smoothing, train.whiten)
    assert train.label_smoothing > 0 and train.whiten
    args = resolve(parser().parse_args(["--one-at-a-time"]))  # tables in an hour: smaller
    assert (args.trial_minutes, args.width_scale) == (3.0, 0.5)
    assert (args.recipe.augment, args.recipe.label_smoothing, args.recipe.whiten,
            args.recipe.warmup, args.recipe.arch["width"]) == ("flip", 0.0, False, 0.0, 16)
    args = resolve(parser().parse_args(["--size", "report"]))
    assert (args.epochs, args.trial_minutes, args.dense) == (10, None, [4096, 4096])
    assert (args.recipe.augment, args.recipe.momentum, args.recipe.label_smoothing) == (
        "report", 0.0, 0.0)
    assert resolve(parser().parse_args(["--label-smoothing", "0"])).recipe.label_smoothing \
        == 0.0
    assert resolve(parser().parse_args(["--epochs", "4"])).trial_minutes is None
    assert resolve(parser().parse_args(["--tuner", "hyperband"])).epochs == 10
    assert resolve(parser().parse_args(["--no-augment"])).recipe.augment == "none"
    assert resolve(parser().parse_args(["--local-workers", "2"])).trials_per_process == 0


def test_the_choices_named_for_help_are_the_modules():
    # tuning.vgg names them so that --help imports neither KerasTuner nor Keras.
    from data.augment import AUGMENTS
    from training.precision import PRECISIONS
    from tuning import space, vgg

    assert (vgg.SIZES, vgg.PRECISIONS, set(vgg.AUGMENTS)) == (space.SIZES, PRECISIONS,
                                                              set(AUGMENTS))


def test_hyperband_with_trial_minutes_is_one_sentence():
    from suite.errors import UsageError
    from tuning.vgg import parser, resolve

    with pytest.raises(UsageError, match="^Hyperband's rounds are counted in epochs"):
        resolve(parser().parse_args(["--tuner", "hyperband", "--trial-minutes", "2"]))


def test_a_tuner_stops_after_its_trials_per_process_and_the_next_continues(tmp_path):
    space = SearchSpace(depths=(6,), kernel_sizes=(2, 3), batch_sizes=(16,),
                        learning_rates=(0.01,), optimizers=("sgd",))
    run = RunDir(tmp_path / "run", {"test": 1})
    for expected, quota in ((1, True), (2, True), (2, False)):
        oracle = make_oracle("random", "val_accuracy", max_trials=2, seed=0, epochs=1,
                             results_dir=run.path)
        hypermodel = VGGHyperModel(space, base(architecture={"width": 4}))
        tuner = VGGTuner(oracle, hypermodel, directory=str(run.path), project_name="kt",
                         trials_per_process=1)
        tuner.search(_tiny_datasets, epochs=1, verbose=0)
        rows = oracle.trial_rows()
        assert [r["status"] for r in rows] == ["completed"] * expected
        # The third process finds the search finished: no trial, and it says so.
        assert tuner.quota_reached == quota
    assert {r["kernel_size"] for r in rows} == {2, 3}
    assert all(r["peak_rss_mib"] > 50 and r["epochs_run"] == 1 for r in rows)


def test_local_workers_get_the_search_flags_but_not_the_launchers():
    from tuning.vgg import _without

    argv = ["--quick", "--local-workers", "2", "--overwrite", "--threads=2", "--epochs", "3"]
    assert _without(argv, {"--overwrite"}, {"--local-workers", "--threads"}) == [
        "--quick", "--epochs", "3"]


def test_a_search_lists_its_photos_once_and_every_trial_takes_the_same(tmp_path, monkeypatch):
    import argparse

    import data.dogs
    from tests.support import make_kaggle
    from tuning.vgg import search_split

    folder = make_kaggle(tmp_path / "dogs", per_class=5, test=0)
    args = argparse.Namespace(data_dir=str(folder), seed=0, val_fraction=0.2, limit=None)
    run = RunDir(tmp_path / "search", {"experiment": "vgg"})
    first = search_split(args, run)
    assert len(first["train_files"]) + len(first["val_files"]) == 10
    assert sorted(first["train_labels"] + first["val_labels"]) == [0] * 5 + [1] * 5

    # A later trial's process lists nothing: a photo added meanwhile is not in its split.
    (folder / "train" / "cat.99.jpg").write_bytes((folder / "train" / "cat.0.jpg").read_bytes())

    def no_listing(*args, **kwargs):
        raise AssertionError("the photos were listed again")

    monkeypatch.setattr(data.dogs, "load_dogs_vs_cats", no_listing)
    assert search_split(args, run) == first
    monkeypatch.undo()
    # Another split (here another seed) lists the folder again, and sees the new photo.
    args.seed = 1
    again = search_split(args, run)
    assert len(again["train_files"]) + len(again["val_files"]) == 11


def test_a_ctrl_c_while_a_trial_process_shuts_down_still_ends_the_chain(monkeypatch):
    """The child has finished its trial (status 'more trials') when Ctrl-C lands: the
    chain stops there instead of starting the next process."""
    import argparse
    import os
    import signal

    import tuning.vgg as vgg

    statuses = [vgg.MORE_TRIALS, 0]  # the first child's trial done; the second would end it

    class Child:
        started = 0

        def __init__(self, command):
            Child.started += 1

        def wait(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the whole process group
            return statuses.pop(0)

    monkeypatch.setattr(vgg.subprocess, "Popen", Child)
    monkeypatch.setattr(vgg, "results_folder", lambda args: None)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        vgg._trial_processes(argparse.Namespace(), [])
    assert Child.started == 1
    assert signal.getsignal(signal.SIGINT) is handler
