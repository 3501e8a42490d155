"""The course reports' findings, one per row of ../shared/REPORTED.md, as data.

Each `Finding` names the experiment that reproduces it and a `judge(metrics, folder)` that
reads that experiment's `metrics.json` (and, for the tuning search, `trials.csv`) and returns
(what we measured, verdict). `python -m tasks report` (tasks/report.py) finds the newest
results folder of each, judges it and writes one page.

The reported figures come from the tasks' `reported.py`; the tuning tables' best values,
which the tuner's own `tuning/results.py` holds (importing it would load KerasTuner), are
restated here. A verdict is "reproduced (...)" within the tolerance it states, or "differs: ...";
whether the run used the report's dataset and budget is checked by the report, not here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from suite.io import read_csv, read_json
from suite.provenance import read_provenance
from suite.report import percent
from tasks.task1 import reported as task1
from tasks.task2 import reported as task2
from tasks.task3 import reported as task3
from tasks.task4 import reported as task4

# Tolerances: how far ours may be from a reported figure and still count as reproduced.
ACCURACY_POINTS = 0.01  # a reported accuracy (1 percentage point)
ABOUT_POINTS = 0.02  # an "about 54%"-style reported accuracy
LOSS_TOLERANCE = 0.1  # a final mean training loss
EPS_FACTOR = 3  # the gradient check's best eps, within this factor of the report's

# The tuning report's Tables 1-4: the value of each hyper-parameter with the best accuracy
# (Table 1's best is 16 layers, 0.9445; see tuning/results.py's REPORTED for every row).
TUNING_BEST = {"depth": 16, "kernel_size": 2, "batch_size": 16, "learning_rate": 0.03}

Judge = Callable[[dict, Path], tuple[str, str]]


@dataclass(frozen=True)
class Finding:
    """One reported finding and how to check it.

    Args:
        key: a short name, unique.
        task, experiment: the results folders that reproduce it (`config.json`'s).
        what: the finding, in a few words.
        reported: the reported figure, as text.
        judge: `judge(metrics, folder) -> (ours, verdict)`.
        dataset: the dataset the report measured it on.
        when: `when(config) -> bool`: whether a folder's flags are this finding's settings.
        stand_in: `stand_in(config) -> bool`: whether a folder is of the suite's default that
            stands in for the report's own settings (task 4's `cpu_net` under a CPU budget
            for the report's VGG-13); judged when the report's own was not run, always as
            differing, and shown beside it when it was. None: no stand-in.
        stand_in_why: `stand_in_why(metrics, folder) -> str`: how the stand-in differs from
            the report's run.
    """

    key: str
    task: str
    experiment: str
    what: str
    reported: str
    judge: Judge
    dataset: str = "mnist"
    when: Callable[[dict], bool] = lambda config: True
    stand_in: Callable[[dict], bool] | None = None
    stand_in_why: Callable[[dict, Path], str] = lambda metrics, folder: "another model"


# -- verdicts --------------------------------------------------------------------------------
def reproduced(why: str) -> str:
    return f"reproduced ({why})"


def differs(why: str) -> str:
    return f"differs: {why}"


def close(ours: float, reported: float, tolerance: float, show=percent) -> str:
    """The verdict on one figure: within `tolerance` of the reported one, or by how much not."""
    gap = ours - reported
    if abs(gap) <= tolerance:
        return reproduced(f"within ±{show(tolerance)} of {show(reported)}")
    return differs(f"{show(abs(gap))} {'above' if gap > 0 else 'below'} {show(reported)}, "
                   f"more than ±{show(tolerance)}")


def all_close(pairs, tolerance: float) -> str:
    """The verdict on several (label, ours, reported) figures at once."""
    off = [f"{label} {percent(ours, 1)} vs {percent(reported, 1)}"
           for label, ours, reported in pairs if abs(ours - reported) > tolerance]
    if not off:
        return reproduced(f"all {len(pairs)} within ±{percent(tolerance, 1)}")
    return differs(f"{len(off)} of {len(pairs)} off by more than ±{percent(tolerance, 1)}: "
                   + "; ".join(off))


def number_in(text: str) -> float:
    """The first number of a reported text, as a fraction when it is a percentage:
    'about 54% (CIFAR-10)' -> 0.54, '0.94597' -> 0.94597."""
    match = re.search(r"(\d+(?:\.\d+)?)(%?)", text)
    return float(match.group(1)) / (100 if match.group(2) else 1)


def loss(value) -> str:
    return f"{value:.3f}"


# -- task 1 ----------------------------------------------------------------------------------
def init_judge(reference: dict) -> Judge:
    """Zero init stays at ln(classes); Glorot ends within LOSS_TOLERANCE of the report and
    below normal init."""
    def judge(metrics, folder):
        losses = metrics["mean_train_loss"]
        zero, normal, glorot = losses["zero"], losses["normal"], losses["glorot"]
        ours = (f"zero {loss(zero[0])} → {loss(zero[-1])}, normal final {loss(normal[-1])}, "
                f"Glorot final {loss(glorot[-1])}")
        flat = max(abs(z - zero[0]) for z in zero) < 1e-3
        gap = glorot[-1] - reference["glorot"][-1]
        if not flat:
            return ours, differs("zero init's loss moved")
        if glorot[-1] >= normal[-1]:
            return ours, differs("Glorot did not end below normal init")
        if abs(gap) > LOSS_TOLERANCE:
            return ours, differs(f"Glorot's final loss is {abs(gap):.2f} from the report's "
                                 f"{reference['glorot'][-1]}")
        return ours, reproduced(f"zero flat at {loss(zero[0])} (ln classes), Glorot below "
                                f"normal and within ±{LOSS_TOLERANCE} of "
                                f"{reference['glorot'][-1]}")
    return judge


def final_losses(reference: dict) -> str:
    """'zero 2.3026, normal 0.773, glorot 0.519 (mean training loss, epoch 10)'."""
    epochs = len(next(iter(reference.values())))
    return (", ".join(f"{name} {values[-1]}" for name, values in reference.items())
            + f" (mean training loss, epoch {epochs}); zero stays at ln 10")


def search_judge(reference: float) -> Judge:
    def judge(metrics, folder):
        best = metrics["best"]
        ours = (f"best val {percent(metrics['val_accuracy'])} (lr {best['lr']}, batch "
                f"{best['batch_size']}, {best['hidden']} {best['activation']}); "
                f"{metrics['at_least_98']} of {metrics['configs_tried']} ≥ 98%")
        return ours, close(metrics["val_accuracy"], reference, ACCURACY_POINTS / 2)
    return judge


def gradcheck_judge(metrics, folder):
    eps64, eps32 = 1 / metrics["best_n"], 1 / metrics["best_n_float32"]
    ours = f"best eps {eps32:.2g} in float32, {eps64:.2g} in float64"
    ratio = max(eps32, task1.GRADCHECK_BEST_EPS) / min(eps32, task1.GRADCHECK_BEST_EPS)
    if ratio <= EPS_FACTOR:
        return ours, reproduced(f"float32's best eps within a factor {EPS_FACTOR} of "
                                f"{task1.GRADCHECK_BEST_EPS}")
    return ours, differs(f"float32's best eps is {ratio:.0f}x from {task1.GRADCHECK_BEST_EPS}")


def table_judge(reference: dict) -> Judge:
    """The (train, val, test) table at the report's last epoch: each variant's test accuracy
    against the report's."""
    last = task1.TABLE_EPOCHS[-1]

    def judge(metrics, folder):
        table = metrics["accuracy"]
        pairs = [(name, table[name][str(last)][2], reference[name][-1][2] / 100)
                 for name in reference if name in table and str(last) in table[name]]
        if not pairs:
            return "no variant reached epoch 15", differs("not trained to the report's epoch")
        ours = "; ".join(f"{name} {percent(test, 1)}" for name, test, _ in pairs)
        return f"test accuracy at epoch {last}: {ours}", all_close(pairs, ACCURACY_POINTS)
    return judge


def regularize_judge(metrics, folder):
    val, test = metrics["val_accuracy"], metrics["test_accuracy"]
    pairs = [("val", val, number_in(task1.REGULARIZE)), ("test", test,
                                                         number_in(task1.REGULARIZE))]
    return f"val {percent(val)}, test {percent(test)}", all_close(pairs, ABOUT_POINTS)


def accuracy_judge(key: str, reference: float, tolerance: float = ABOUT_POINTS) -> Judge:
    """One accuracy of metrics.json against the reported one."""
    def judge(metrics, folder):
        return f"{key} {percent(metrics[key])}", close(metrics[key], reference, tolerance)
    return judge


TASK1 = [
    Finding("init-a", "task1", "init", "Initialisation, report A (784-500-400-10)",
            final_losses(task1.INIT_LOSS), init_judge(task1.INIT_LOSS),
            when=lambda c: c.get("hidden", [500, 400]) == [500, 400]),
    Finding("init-b", "task1", "init", "Initialisation, report B (784-24-12-10)",
            final_losses(task1.INIT_LOSS_B), init_judge(task1.INIT_LOSS_B),
            when=lambda c: task1.is_report_b_init(c.get("hidden"))),
    Finding("search-a", "task1", "search", "Search, report A: best of the 0.5M-1M grid",
            f"{percent(task1.SEARCH_BEST['val_accuracy'])} val "
            f"({task1.SEARCH_BEST['at_least_98']} ≥ 98%)",
            search_judge(task1.SEARCH_BEST["val_accuracy"]),
            when=lambda c: c.get("hidden1") != [64]),
    Finding("search-b", "task1", "search", "Search, report B: 64-32 ReLU, lr 0.01, batch 64",
            f"{percent(task1.SEARCH_B_VAL, 1)} val", search_judge(task1.SEARCH_B_VAL),
            when=lambda c: task1.is_report_b_search(c.get("hidden1"), c.get("hidden2"))),
    Finding("gradcheck", "task1", "gradcheck", "Gradient check: best eps",
            f"about {task1.GRADCHECK_BEST_EPS}", gradcheck_judge),
    Finding("tricks", "task1", "tricks", "Tricks of the trade, test accuracy at epoch 15",
            "; ".join(f"{k} {v[-1][2]}%" for k, v in task1.TRICKS.items()),
            table_judge(task1.TRICKS)),
    Finding("topology", "task1", "topology", "Topology, test accuracy at epoch 15",
            "; ".join(f"{k} {v[2]}%" for k, v in task1.TOPOLOGY.items()),
            table_judge({k: [v] for k, v in task1.TOPOLOGY.items()})),
    Finding("regularize", "task1", "regularize", "ReLU, Xavier, dropout, lr decay",
            task1.REGULARIZE, regularize_judge),
    Finding("cifar10-numpy", "task1", "cifar10-numpy", "NumPy MLP on CIFAR-10",
            f"about {percent(task1.CIFAR10_NUMPY_TEST, 0)} test",
            accuracy_judge("test_accuracy", task1.CIFAR10_NUMPY_TEST), dataset="cifar10"),
]


# -- tasks 2 and 3 ---------------------------------------------------------------------------
def classes_judge(metrics, folder):
    """The class got right least often (and mistaken for which) and most often."""
    fewest, most = metrics["fewest_right_class"], metrics["most_right_class"]
    ours = (f"fewest right: {fewest}, {metrics['fewest_right']} "
            f"({metrics['fewest_right_confused_count']} called "
            f"{metrics['fewest_right_confused_with']}); most right: {most}, "
            f"{metrics['most_right']}")
    same = (fewest, metrics["fewest_right_confused_with"], most) == ("dog", "cat", "automobile")
    return ours, (reproduced("the same classes") if same
                  else differs("other classes than dog / cat / automobile"))


def convnet_judge(metrics, folder):
    course = metrics["models"]["course"]
    ours = f"test {percent(course['test_accuracy'])} after {course['steps']:,} steps"
    verdict = close(course["test_accuracy"], number_in(task3.COURSE_CONVNET_TEST), ABOUT_POINTS)
    if course["steps"] != 4000 and verdict.startswith("reproduced"):
        verdict = differs(f"{course['steps']:,} steps, not the report's 4,000")
    return ours, verdict


def cnn_vs_mlp_b_judge(metrics, folder):
    models = metrics["models"]
    cnn, mlp = models["cnn_50k"]["val_accuracy"], models["mlp_64-32"]["val_accuracy"]
    ours = f"CNN ~50k val {percent(cnn)}, MLP 64-32 val {percent(mlp)}"
    if cnn <= mlp:
        return ours, differs("the CNN is not ahead of the MLP")
    return ours, all_close([("CNN", cnn, number_in(task3.CNN_50K_VAL)),
                            ("MLP", mlp, number_in(task3.MLP_VAL))], ACCURACY_POINTS)


def cnn_vs_mlp_a_judge(metrics, folder):
    cnn = metrics["models"]["cnn_206k"]
    ours = f"CNN val {percent(cnn['val_accuracy'])}, {cnn['params']:,} params"
    if f"{cnn['params']:,}" != task3.CNN_206K_PARAMS:
        return ours, differs(f"{cnn['params']:,} parameters, not {task3.CNN_206K_PARAMS}")
    return ours, close(cnn["val_accuracy"], number_in(task3.CNN_206K_VAL), ACCURACY_POINTS)


def lowest(values: dict, expected: str, measure: str, show=percent) -> tuple[str, str]:
    """Ours and the verdict of a finding "`expected` has the lowest `measure`"."""
    found = min(values, key=values.get)
    ours = f"{measure}: " + ", ".join(f"{name} {show(v)}" for name, v in values.items())
    if found == expected:
        return ours, reproduced(f"{expected} has the lowest {measure}")
    return ours, differs(f"{found}, not {expected}, has the lowest {measure}")


def weight_decay_judge(metrics, folder):
    """'The model without weight decay reaches the lower test error'. With several seeds
    (`weight-decay --seeds N`) the mean test errors decide, against their spread: the report
    is contradicted only when decay is lower by more than two standard errors of the
    difference of the means."""
    spread = metrics.get("seeds", {})
    if min((len(v["test_errors"]) for v in spread.values()), default=1) < 2:
        ours, verdict = lowest({name: m["test_error"] for name, m in metrics["models"].items()},
                               "no_decay", "test error")
        return ours, f"{verdict}; one seed, so the run-to-run spread is unknown (--seeds 3)"
    plain = spread["no_decay"]
    decay_name, decay = next((name, v) for name, v in spread.items() if name != "no_decay")
    n = len(plain["test_errors"])
    error = math.sqrt((plain["std"] ** 2 + decay["std"] ** 2) / n)  # of the difference
    gap = decay["mean"] - plain["mean"]  # > 0: no decay is lower, as reported
    ours = (f"mean test error of {n} seeds: no_decay {percent(plain['mean'])} "
            f"(sd {percent(plain['std'])}), {decay_name} {percent(decay['mean'])} "
            f"(sd {percent(decay['std'])})")
    if gap > 2 * error:
        return ours, reproduced(f"no_decay lower by {percent(gap)}, more than 2 standard "
                                f"errors ({percent(2 * error)})")
    if gap >= -2 * error:
        lower = "no_decay" if gap > 0 else decay_name
        return ours, reproduced(f"within the run-to-run spread: {lower} is lower on average "
                                f"by {percent(abs(gap))}, less than 2 standard errors "
                                f"({percent(2 * error)}), so the data do not contradict it")
    return ours, differs(f"{decay_name} lower by {percent(-gap)}, more than 2 standard errors "
                         f"({percent(2 * error)})")


def batchnorm_judge(metrics, folder):
    """'Learns faster': the lowest mean training loss over the first epoch. The test error
    after epoch 1 is shown beside it but not judged: batch norm predicts with moving averages
    of its batch statistics, which after one epoch still hold momentum^steps of their
    initial values (0.99^391 = 2% at batch 128 on 50,000 images): with small true variances
    that spoils the first test point (task 3's `BN_FIRST_EPOCH_NOTE`; bn-vs-dropout measures
    it again without that share); from epoch 2 (0.04%) it is gone."""
    losses = {row["variant"]: float(row["loss"]) for row in read_csv(folder / "history.csv")
              if int(row["epoch"]) == 1}
    ours, verdict = lowest(losses, "batchnorm", "mean training loss over epoch 1",
                           show=lambda v: f"{v:.3f}")
    tests = ", ".join(
        f"{name} {percent(v['epoch_1_test_error'])}" + (
            f" ({percent(v['epoch_1_test_error_without_start_share'])} with its moving "
            f"averages rid of their start)" if "epoch_1_test_error_without_start_share" in v
            else "") for name, v in metrics["variants"].items())
    return f"{ours}; test error after epoch 1 (not judged): {tests}", verdict


TASKS_2_3 = [
    Finding("mlp-cifar10", "task2", "best", "Best MLP on CIFAR-10", task2.BEST_TEST_ACCURACY,
            accuracy_judge("test_accuracy", number_in(task2.BEST_TEST_ACCURACY)),
            dataset="cifar10"),
    Finding("mlp-cifar10-classes", "task2", "analyze", "Best MLP's fewest / most right class",
            f"{task2.FEWEST_RIGHT}; {task2.MOST_RIGHT}", classes_judge, dataset="cifar10"),
    Finding("course-convnet", "task3", "cifar10-cnn", "Course ConvNet on CIFAR-10",
            task3.COURSE_CONVNET_TEST, convnet_judge, dataset="cifar10",
            when=lambda c: "course" in c.get("models", ["course"])),
    Finding("cnn-vs-mlp-b", "task3", "cnn-vs-mlp", "CNN vs MLP, report B (~50k CNN)",
            f"CNN {task3.CNN_50K_VAL} val, MLP {task3.MLP_VAL}", cnn_vs_mlp_b_judge),
    Finding("cnn-vs-mlp-a", "task3", "cnn-vs-mlp", "CNN vs MLP, report A (206,500 params)",
            f"{task3.CNN_206K_VAL} val, {task3.CNN_206K_PARAMS} params", cnn_vs_mlp_a_judge),
    Finding("weight-decay", "task3", "weight-decay", "Weight decay + early stopping",
            f"{task3.LOWER_TEST_ERROR} reaches the lower test error", weight_decay_judge),
    Finding("bn-vs-dropout", "task3", "bn-vs-dropout", "Batch norm vs dropout CNN",
            f"{task3.LEARNS_FASTER} learns faster", batchnorm_judge),
]


# -- task 4 and tuning -----------------------------------------------------------------------
BN_NETS = ("bn_shallow", "bn_shallow_fat", "bn_deep")  # models.vgg.BN_NETS, report C


VGG13_RUN = "the report's VGG-13 (45,238,466 parameters) for 200 epochs on a GPU"
BN_NETS_RUN = "report C's batch-norm nets for 25 epochs"


def is_default_train(config: dict) -> bool:
    """A `task4 train` of the suite's default net with its own recipe (no --hparams, not
    --refit, which has no validation figures)."""
    return config.get("model", "cpu_net") == "cpu_net" and not config.get("hparams") \
        and not config.get("refit")


def train_judge(reference: float) -> Judge:
    """A `task4 train` folder's kept model's validation accuracy against the reported one, with the
    net, its epochs and budget, and `submit`'s test-time augmentation beside it."""
    def judge(metrics, folder):
        budget, epochs = metrics.get("budget_minutes"), metrics.get("epochs")
        zoomed = (metrics.get("val_accuracy_tta") or {}).get("flip-zoom")
        about = [metrics.get("model"), f"{epochs} epochs" if epochs else None,
                 f"{budget:g} minutes" if budget else None,
                 f"{percent(zoomed)} with submit's flip-zoom views" if zoomed else None]
        about = ", ".join(filter(None, about))
        ours = f"val {percent(metrics['val_accuracy'])}" + (f" ({about})" if about else "")
        return ours, close(metrics["val_accuracy"], reference, ABOUT_POINTS)
    return judge


def budget_why(report_run: str) -> Callable[[dict, Path], str]:
    """How a default `train` differs from the report's run: its net, its budget and where
    it ran (a CPU, unless its provenance.json names a GPU)."""
    def why(metrics, folder):
        gpus = ((read_provenance(folder) or {}).get("machine") or {}).get("gpus")
        budget = metrics.get("budget_minutes")
        where = f"on {', '.join(gpus)}" if gpus else "on a CPU"
        trained = f"a {budget:g}-minute budget {where}" if budget else where
        return (f"the suite's default net, {metrics.get('model', 'cpu_net')} "
                f"({metrics.get('params', 0):,} parameters), trained for {trained} "
                f"({metrics.get('epochs', '?')} epochs), not {report_run}")
    return why


def kaggle_judge(metrics, folder):
    return (f"submission of {metrics['rows']:,} rows written",
            "differs: unscored here: the public score is Kaggle's, measured only on its "
            "leaderboard (upload submission.csv)")


def tuning_budget_why(folder: Path) -> str:
    """Why a one-at-a-time table may rank otherwise than the report's: its trials' budget."""
    try:
        config = read_json(folder / "config.json").get("config", {})
    except (OSError, ValueError, AttributeError):
        config = {}
    minutes = config.get("trial_minutes")
    if config.get("size", "cpu") != "cpu" or not minutes:
        return ""
    return (f"; this run's trials had {minutes:g} minutes each, in which a deeper or slower "
            f"net gets fewer epochs; the report trained its VGGs far longer, on a GPU")


def tuning_judge(name: str) -> Judge:
    """Which value of hyper-parameter `name` reached the best objective in `trials.csv`,
    against the value the report's table found best (its figures are single runs of another
    budget, so the ranking is compared, not the accuracies)."""
    def judge(metrics, folder):
        objective = metrics["objective"]
        table = metrics.get("tables", {}).get(name)
        if table:  # --one-at-a-time: the table's own rows, the others at the centre
            winner, score = float(table["best_value"]), table[f"best_{objective}"]
            ours = f"best {name} {winner:g} ({objective} {score:.4f}) of its table"
            scores = dict(zip(map(float, table.get("values", [])), table.get(objective, [])))
            theirs, threshold = scores.get(float(TUNING_BEST[name])), table.get("noise_threshold")
            if winner != TUNING_BEST[name] and theirs is not None and threshold is not None \
                    and abs(score - theirs) <= threshold:
                return ours, reproduced(
                    f"the report's best {name}, {TUNING_BEST[name]} ({theirs:.4f}), is within "
                    f"this run's noise ({threshold:.4f}) of the best")
        else:  # a search: each value's best trial, whatever the others were
            best = {}
            for row in read_csv(folder / "trials.csv"):
                if row.get("status") == "completed" and row.get(objective) not in (None, ""):
                    value = float(row[name])
                    best[value] = max(best.get(value, -math.inf), float(row[objective]))
            if not best:
                return "no completed trial", differs("no completed trial")
            winner = max(best, key=best.get)
            ours = (f"best {name} {winner:g} ({objective} {best[winner]:.4f}) of "
                    f"{len(best)} values")
        if winner == TUNING_BEST[name]:
            return ours, reproduced(f"the best {name} is the report's")
        return ours, differs(f"the report's best {name} is {TUNING_BEST[name]}"
                             + tuning_budget_why(folder))
    return judge


TASK4 = [
    Finding("vgg13", "task4", "train", "VGG-13, report B: best val accuracy",
            task4.VGG13_VAL_ACCURACY, train_judge(number_in(task4.VGG13_VAL_ACCURACY)),
            dataset="dogs_vs_cats",
            when=lambda c: c.get("model") == "vgg13" and not c.get("refit"),
            stand_in=is_default_train, stand_in_why=budget_why(VGG13_RUN)),
    Finding("kaggle", "task4", "submit", "Kaggle public leaderboard score",
            task4.KAGGLE_PUBLIC_SCORE, kaggle_judge, dataset="dogs_vs_cats"),
    *(Finding(f"tuning-{name}", "tuning", "vgg", f"Tuning table: {name}",
              f"best {name} {TUNING_BEST[name]}", tuning_judge(name), dataset="dogs_vs_cats")
      for name in TUNING_BEST),
    Finding("bn-nets", "task4", "train", "BN nets, report C: best val accuracy",
            task4.BN_NETS_VAL_ACCURACY, train_judge(number_in(task4.BN_NETS_VAL_ACCURACY)),
            dataset="dogs_vs_cats",
            when=lambda c: c.get("model") in BN_NETS and not c.get("refit"),
            stand_in=is_default_train, stand_in_why=budget_why(BN_NETS_RUN)),
]

FINDINGS = [*TASK1, *TASKS_2_3, *TASK4]
