"""training.recipes: one frozen recipe, resolved in one place, in one order; one rule per
field for a flag, an --hparams key and a tuner's value."""

import json
import re
from pathlib import Path

import pytest

from suite.errors import UsageError
from tasks.task4.experiments import run_all, task
from tasks.task4.flags import recipe_from_args
from training.recipes import (ARCHITECTURES, BUDGET_RULES, PATIENCE, RULES, Recipe, family,
                              flag_type, resolve)
from tests.support import make_kaggle

# What `train`'s old `settings` resolved for a table of command lines, written by the code
# before the redesign (at 2493754; precision left out: it follows the CPU). CPU and REPORT
# stand for the two hparams files below.
BEFORE = Path(__file__).parents[1] / "tasks" / "task4" / "resolved_before_the_redesign.json"
CPU_SEARCH = {"depth": 6, "kernel_size": 3, "learning_rate": 0.002, "batch_size": 64,
              "optimizer": "adam", "model": "cpu_net", "width": 32, "momentum": 0.9,
              "objective": "val_accuracy", "val_accuracy": 0.9, "trial_id": "00"}
REPORT_SEARCH = {"depth": 13, "kernel_size": 3, "learning_rate": 0.015, "batch_size": 16,
                 "optimizer": "sgd", "filters": [[4, 4], [8, 8], [16, 16, 16], [32, 32, 32],
                                                 [40, 40, 40]],
                 "dense": [32, 32], "momentum": 0.0, "objective": "val_accuracy",
                 "val_accuracy": 0.6, "trial_id": "01"}


# The old rules widened cpu_net from 120 minutes on; the budget rules now follow the epochs
# a budget affords, timed at the start. On the AVX2-only EPYC that measured the 120-minute
# rule, 120 minutes afforded about 100 epochs of the budgeted recipe (25 in 30 minutes).
LONG_BUDGET_EPOCHS = 100
WIDE = BUDGET_RULES["cpu_net"][1]


def recipe_of(*argv, afforded=None):
    """The recipe `python -m tasks.task4 <argv>` trains (`all` hands its flags to train),
    for a budget that affords `afforded` epochs here (None: untimed)."""
    args = task.parser().parse_args(list(argv))
    if args.experiment == "all":
        args = task.parser().parse_args(["train", *task.flags_for("train", args)])
    return recipe_from_args(args, afforded)


def test_every_command_line_resolves_as_before_the_redesign(tmp_path):
    files = {"CPU": tmp_path / "cpu.json", "REPORT": tmp_path / "report.json"}
    files["CPU"].write_text(json.dumps(CPU_SEARCH))
    files["REPORT"].write_text(json.dumps(REPORT_SEARCH))
    table = json.loads(BEFORE.read_text())
    assert len(table) >= 20
    for entry in table:
        before = dict(entry["resolved"])
        long = (before["budget_minutes"] or 0) >= 120
        recipe = recipe_of(*(str(files.get(word, word)) for word in entry["argv"]),
                           afforded=LONG_BUDGET_EPOCHS if long else None).to_dict()
        # The old settings listed only the architecture's changes; a recipe lists all.
        arch = {**ARCHITECTURES[family(before["model"])], **before["architecture"]}
        if family(before["model"]) == "vgg":
            arch["depth"] = int(before["model"][3:])
        before["architecture"] = json.loads(json.dumps(arch))
        assert {k: recipe[k] for k in before} == before, entry["argv"]


def test_hparams_from_a_search_set_the_net_and_a_flag_still_wins(tmp_path):
    from models.vgg import build_cpu_net
    from training.nets import make_model

    path = tmp_path / "best_hparams.json"
    path.write_text(json.dumps({"learning_rate": 0.01, "batch_size": 8, "depth": 6,
                                "kernel_size": 2, "optimizer": "adam", "score": 0.93,
                                "momentum": 0.0, "trial_id": "07"}))
    recipe = recipe_of("train", "--hparams", str(path))
    assert (recipe.model, recipe.optimizer, recipe.learning_rate, recipe.batch_size,
            recipe.momentum) == ("vgg6", "adam", 0.01, 8, 0.0)
    assert recipe.arch["kernel_size"] == 2 and recipe.arch["depth"] == 6
    assert recipe_of("train", "--hparams", str(path), "--lr", "0.5").learning_rate == 0.5
    path.write_text(json.dumps({"filters": [[4], [8]], "dense": [16], "model": "vgg13"}))
    model = make_model(recipe_of("train", "--hparams", str(path)), 16)
    assert model.count_params() == 112 + 296 + (4 * 4 * 8 * 16 + 16) + 34
    path.write_text(json.dumps({"learning_rate": 0.03, "batch_size": 64, "depth": 10,
                                "kernel_size": 5, "optimizer": "sgd", "seed": 1,
                                "model": "cpu_net", "width": 16, "momentum": 0.9}))
    recipe = recipe_of("train", "--model", "vgg13", "--hparams", str(path))
    assert recipe.model == "cpu_net" and recipe.seed == 0  # a trial's seed is not the run's
    assert make_model(recipe, 32).count_params() == build_cpu_net(
        (32, 32, 3), width=16, depth=10, kernel_size=5).count_params()


@pytest.mark.parametrize("value, words", [
    (0, "an integer from 1 up to 4,096"), (-3, "an integer from 1 up to 4,096"),
    (10**9, "an integer from 1 up to 4,096"), ("64", "an integer from 1 up to 4,096"),
    (64.5, "an integer from 1 up to 4,096"), (True, "an integer from 1 up to 4,096")])
def test_one_rule_for_a_flag_an_hparams_key_and_a_recipe_value(value, words, tmp_path):
    """The batch size, three ways in: the same rule refuses the same values."""
    with pytest.raises(UsageError, match=f"batch_size must be {re.escape(words)}; got "):
        Recipe(batch_size=value)
    path = tmp_path / "best_hparams.json"
    path.write_text(json.dumps({"batch_size": value}))
    with pytest.raises(UsageError, match=rf"^--hparams .*best_hparams.json: batch_size must "
                                         rf"be {re.escape(words)}; got "):
        recipe_of("train", "--hparams", str(path))
    if isinstance(value, int) and not isinstance(value, bool):
        with pytest.raises(Exception, match=words):  # argparse's ArgumentTypeError
            flag_type("batch_size")(str(value))
    assert flag_type("batch_size")("16") == 16 == Recipe(batch_size=16).batch_size


@pytest.mark.parametrize("field, bad", [
    ("learning_rate", "fast"), ("learning_rate", -1.0), ("learning_rate", float("nan")),
    ("learning_rate", 1e9), ("epochs", 10**12), ("seed", -1), ("seed", 2**40),
    ("budget_minutes", float("inf")), ("label_smoothing", 1.0), ("augment", "heavy"),
    ("whiten", "yes"), ("optimizer", "adagrad")])
def test_every_field_refuses_what_a_run_cannot_meet(field, bad):
    with pytest.raises(UsageError, match=f"^{field} must be {re.escape(RULES[field].words())}"):
        Recipe(**{field: bad})


def test_a_recipe_is_frozen_and_each_change_is_checked():
    recipe = resolve("cpu_net", budget_minutes=30)
    with pytest.raises(AttributeError):
        recipe.batch_size = 8
    wider = recipe.replace(architecture={"width": 48})
    assert wider.arch == {**recipe.arch, "width": 48} and recipe.arch["width"] == 32
    assert recipe.replace(model="vgg16", whiten=False).arch["depth"] == 16  # its name says
    with pytest.raises(UsageError, match="vgg13's architecture setting must be one of"):
        recipe.replace(model="vgg13", whiten=False, architecture={"width": 8})
    with pytest.raises(UsageError, match="warmup needs a budget"):
        recipe.replace(budget_minutes=None)
    assert json.loads(json.dumps(recipe.to_dict()))["architecture"]["width"] == 32


def test_augmentation_and_smoothing_follow_the_net_the_budget_and_the_flags():
    def augment(*flags):
        return recipe_of(*flags).augment

    assert augment("train") == augment("train", "--model", "cpu_net") == "medium"
    assert augment("all") == augment("train", "--model", "vgg13") == "report"
    assert augment("train", "--model", "bn_deep") == "report"
    assert augment("train", "--no-augment") == "none"
    assert augment("train", "--augment") == "report"  # --augment alone: the report's
    assert augment("train", "--augment", "light", "--model", "vgg13") == "light"
    def afforded(epochs, *flags):
        return recipe_of("train", "--budget-minutes", "30", *flags, afforded=epochs).augment

    assert augment("train", "--budget-minutes", "30") == afforded(WIDE.epochs - 1) == "medium"
    assert afforded(WIDE.epochs) == afforded(None, "--augment", "strong") == "strong"
    assert afforded(WIDE.epochs, "--augment", "medium") == "medium"
    assert afforded(WIDE.epochs, "--model", "vgg13") == "report"
    assert recipe_of("train").label_smoothing == 0.1
    assert recipe_of("all").label_smoothing == 0.0
    assert recipe_of("train", "--label-smoothing", "0").label_smoothing == 0.0


def test_cpu_nets_recipe_whitens_and_runs_a_one_cycle_under_a_budget_only():
    def chosen(*flags):
        recipe = recipe_of("train", *flags)
        return recipe.learning_rate, recipe.warmup, recipe.whiten

    assert chosen() == (2e-3, 0.0, True)
    assert chosen("--budget-minutes", "30") == (4e-3, 2.0, True)
    assert chosen("--budget-minutes", "30", "--lr", "1e-3", "--warmup", "0",
                  "--no-whiten") == (1e-3, 0.0, False)
    assert chosen("--model", "vgg13", "--budget-minutes", "30") == (0.015, 0.0, False)


@pytest.mark.parametrize("experiment", ["train", "all"])
def test_a_budget_that_affords_more_epochs_widens_cpu_net_and_stops_early_stopping(experiment):
    def run(*flags, afforded=None):  # (cpu_net's width, early stopping's patience)
        recipe = recipe_of(experiment, "--model", "cpu_net", *flags, afforded=afforded)
        return recipe.arch["width"], recipe.patience

    width = ARCHITECTURES["cpu_net"]["width"]
    assert run() == (width, PATIENCE)
    assert run("--budget-minutes", "30") == (width, 0)
    assert run("--budget-minutes", "30", afforded=WIDE.epochs - 1) == (width, 0)
    widths = [run("--budget-minutes", "30", afforded=rule.epochs)[0]
              for rule in BUDGET_RULES["cpu_net"]]
    assert widths == sorted(widths) and widths[0] == width < widths[1] < widths[-1]
    assert run("--budget-minutes", "30", "--width", "8", "--patience", "5",
               afforded=10_000) == (8, 5)  # a flag wins over every rule
    assert run("--patience", "0") == (width, 0)
    assert run(afforded=10_000) == (width, PATIENCE)  # no budget, no budget rules
    assert "width" not in recipe_of(experiment, "--model", "vgg13", "--budget-minutes",
                                     "30", afforded=10_000).arch


def test_a_budget_that_affords_still_more_epochs_spends_them_on_pixels():
    pixels = BUDGET_RULES["cpu_net"][-1]
    larger = dict(pixels.changes)["image_size"]
    plain = recipe_of("train").image_size

    def recipe(afforded, *flags):
        return recipe_of("train", "--budget-minutes", "120", *flags, afforded=afforded)

    assert recipe(None).image_size == recipe(pixels.epochs - 1).image_size == plain < larger
    assert recipe(pixels.epochs).image_size == larger
    assert recipe(pixels.epochs).arch["width"] == recipe(pixels.epochs - 1).arch["width"]
    assert recipe(pixels.epochs, "--image-size", "80").image_size == 80  # a flag wins
    assert recipe(pixels.epochs, "--model", "vgg13").image_size == plain
    assert recipe_of("train", afforded=pixels.epochs).image_size == plain  # no budget


def test_all_hands_the_recipe_flags_on_to_train(tmp_path, monkeypatch):
    handed = []

    class Handed(Exception):
        pass

    def run(args):
        recipe = recipe_from_args(args)
        handed.append((args.experiment, recipe.augment, recipe.label_smoothing,
                       recipe.cutout, recipe.weight_decay, recipe.patience,
                       recipe.progressive, recipe.warmup, recipe.whiten))
        raise Handed

    from suite.runs import RunDir

    monkeypatch.setattr(task, "run", run)
    for flags in ([], ["--no-augment"], ["--augment", "light", "--label-smoothing", "0.1",
                                         "--cutout", "0.25", "--weight-decay", "0.05",
                                         "--patience", "4"],
                  ["--model", "cpu_net", "--budget-minutes", "5", "--progressive", "48",
                   "--warmup", "1.5", "--no-whiten"]):
        with pytest.raises(Handed):
            run_all(task.parser().parse_args(["all", *flags]), RunDir(tmp_path, {}))
    assert handed == [("train", "report", 0.0, 0.0, 0.0, PATIENCE, 0, 0.0, False),
                      ("train", "none", 0.0, 0.0, 0.0, PATIENCE, 0, 0.0, False),
                      ("train", "light", 0.1, 0.25, 0.05, 4, 0, 0.0, False),
                      ("train", "medium", 0.1, 0.0, 0.0, 0, 48, 1.5, False)]


@pytest.mark.parametrize("flags, problem", [
    (["--warmup", "2"], "warmup needs a budget (--budget-minutes)"),
    (["--whiten", "--model", "vgg6"], "whiten's model must be cpu_net; got 'vgg6'."),
    (["--width", "8", "--model", "vgg13"], "vgg13's architecture setting must be one of "),
    (["--progressive", "16", "--model", "vgg13"], "progressive's model must be cpu_net (a "
                                                  "net that takes photos of any size)"),
    (["--progressive", "32"], "progressive must be under the image size (32); got 32."),
    (["--hparams", "HPARAMS"], "--hparams "),
])
def test_a_recipe_that_cannot_be_is_one_sentence_and_no_folder(flags, problem, tmp_path,
                                                                capsys):
    data = make_kaggle(tmp_path / "dogs", per_class=4, test=0)
    hparams = tmp_path / "hp.json"
    hparams.write_text(json.dumps({"learning_rate": "fast"}))
    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(data), "--out", str(out), "--image-size", "32",
            *(str(hparams) if f == "HPARAMS" else f for f in flags)]
    assert task.main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("task4: error: ") and problem in line
    assert not out.exists()  # refused before a results folder was made


def test_all_with_refit_trains_then_submits_its_model_without_analyze(tmp_path, monkeypatch):
    # analyze's photos are the split's validation ones, which a refit trains on.
    from suite.io import read_json
    from suite.runs import RunDir

    ran = []

    def run(args):
        ran.append((args.experiment, getattr(args, "model", None), recipe_from_args(args).refit
                    if args.experiment == "train" else None))
        Path(args.out).mkdir(parents=True, exist_ok=True)
        metrics = {"model": "cpu_net", "params": 1, "val_accuracy": None, "epochs": 2,
                   "train_seconds": 3.0, "rows": 4}
        (Path(args.out) / "metrics.json").write_text(json.dumps(metrics))

    monkeypatch.setattr(task, "run", run)
    for flags, steps in ((["--refit"], ["train", "submit"]),
                         ([], ["train", "analyze", "submit"])):
        (tmp_path / str(len(steps))).mkdir()
        out = RunDir(tmp_path / str(len(steps)), {})
        run_all(task.parser().parse_args(["all", "--model", "cpu_net", *flags]), out)
        assert [name for name, _, _ in ran] == steps
        assert ran[0][2] is bool(flags)
        assert ran[-1][1] == str(out.path / "train" / "model.keras")
        assert read_json(out.file("metrics.json"))["submission_rows"] == 4
        assert ("refitted on every labelled photo" in out.file("report.md").read_text()) \
            is bool(flags)
        ran.clear()
