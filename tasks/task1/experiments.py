"""Task 1: the NumPy MLP on MNIST, every study of the reports.

    python -m tasks.task1 --help
    python -m tasks.task1 init --data-dir ../shared/datasets
    python -m tasks.task1 all --dataset digits --quick

Each experiment is a function `(args, run)` registered on `task`; its defaults are the
reports' settings.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
import time

import numpy as np

from data import load_dataset
from models.numpy_mlp import ACTIVATIONS, INITIALISERS, Model
from suite.cli import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LAYERS, MAX_LEARNING_RATE, MAX_STEPS,
                       MAX_UNITS, Records, Task, arg, choice_list, fraction, hidden_sizes, list_of,
                       nonnegative_float, nonnegative_int, positive_float, positive_int,
                       write_index)
from suite.errors import UsageError, must_be
from suite.plots import new_figure
from suite.report import Report, fmt, percent
from tasks.task1 import reported

# A finished experiment's figures: `search` run again reuses them (`reuse_if_finished`).
FINISHED = Records("metrics.json", (), "the experiment runs again")
task = Task("task1", "Task 1: a multilayer perceptron in NumPy alone, on MNIST.",
            datasets=("mnist", "digits", "fashion_mnist", "cifar10"), records=[FINISHED])

QUICK_SIZES = (2000, 500, 500)  # train / val / test examples under --quick
HIDDEN_ACTIVATIONS = tuple(a for a in ACTIVATIONS if a != "softmax")  # softmax: the output only
# Bounds a run can meet, beside suite.cli's MAX_*: an initialisation's standard deviation, a
# learning-rate decay, evaluations an epoch, the search's grid and parameter budget, the
# weights a gradient check compares and the training sample it uses.
MAX_STD = 100.0
MAX_DECAY = 1_000.0
MAX_EVALS_PER_EPOCH = 1_000
MAX_GRID = 100_000
MAX_PARAMS = 10**10
MAX_CHECKED_WEIGHTS = 100_000
MAX_SAMPLE = 10**7
LEARNING_RATE = positive_float.up_to(MAX_LEARNING_RATE)
BATCH_SIZE = positive_int.up_to(MAX_BATCH_SIZE)
EPOCHS = positive_int.up_to(MAX_EPOCHS)
STD = positive_float.up_to(MAX_STD)
DECAY = nonnegative_float.up_to(MAX_DECAY)


# -- shared pieces ------------------------------------------------------------------------
def load(args):
    """The flag-chosen dataset as float32 rows: (x_train, y_train, x_val, y_val, x_test, y_test)."""
    splits = load_dataset(args.dataset, args.data_dir, args.seed)
    if args.quick:
        splits = splits.subset(*QUICK_SIZES)
    return splits, splits.flat()


def about_data(args, splits, reported_on="mnist") -> str:
    """The report's sentence on the data: the dataset and split this run actually used.

    The sizes are read from the loaded `splits` (after any --quick cut), never assumed.
    `reported_on` names the dataset of the course report's figures shown beside ours.
    """
    text = (f"Data: {args.dataset}, {len(splits.y_train):,} train / {len(splits.y_val):,} "
            f"validation / {len(splits.y_test):,} test examples"
            + (" (under --quick)" if args.quick else "") + ".")
    if args.dataset != reported_on:
        text += f" The course report's figures beside ours were measured on {reported_on}."
    return text


def reuse_if_finished(experiment):
    """Decorate an experiment `(args, run)` so that a finished run of its configuration is
    kept, not trained again: it prints one line and returns. --overwrite trains it afresh."""

    @functools.wraps(experiment)
    def run_or_reuse(args, run):
        if _finished(run):
            print(f"{args.experiment}: reused the finished {args.experiment} of this "
                  f"configuration in {run.path} (pass --overwrite to train it again)")
            return
        experiment(args, run)

    return run_or_reuse


def _finished(run) -> bool:
    """Whether `run`'s folder already holds a finished experiment of this configuration.

    `RunDir` has already compared the folder's config.json with this run's configuration:
    results of another configuration are refused, and --overwrite wipes the folder whatever
    its configuration, so any results still here are this configuration's. report.md is
    written last, so with it they are complete.
    """
    return run.file("metrics.json").exists() and run.file("report.md").exists()


def build(input_size, hidden, activation="relu", init="glorot", std=1.0, dropout=0.0,
          num_classes=10, seed=0) -> Model:
    """An MLP input-hidden...-classes with one activation, initialiser and dropout rate."""
    model = Model(seed=seed)
    for i, units in enumerate(hidden):
        model.add_layer(units, activation, input_size=input_size if i == 0 else None,
                        init=init, std=std, dropout=dropout)
    model.add_layer(num_classes, "softmax", input_size=None if hidden else input_size,
                    init=init, std=std)
    return model


def with_label(rows, **labels):
    return [{**labels, **row} for row in rows]


def epochs_for(args, quick: int = 2) -> int:
    """`--epochs`, cut to `quick` under --quick."""
    return min(args.epochs, quick) if args.quick else args.epochs


def line_plot(run, name, series, xlabel, ylabel, title, logy=False, marker=None):
    """One axes, one line per entry of `series` {label: (xs, ys)}."""
    fig, ax = new_figure()
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker=marker or ".", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    return run.save_figure(fig, name)


COMMON_TRAINING = [
    arg("--evals-per-epoch", type=positive_int.up_to(MAX_EVALS_PER_EPOCH), default=1,
        help="evaluate this many times an epoch, for smoother curves"),
]


# -- 1. initialisation --------------------------------------------------------------------
@task.experiment("init", "Zero, normal and Glorot initialisation: mean training loss per epoch.",
                 arguments=[
                     arg("--hidden", type=hidden_sizes, default=[500, 400],
                         help="hidden sizes"),
                     arg("--activation", choices=ACTIVATIONS[:4], default="relu"),
                     arg("--inits", type=choice_list(INITIALISERS),
                         default=["zero", "normal", "glorot"],
                         help=f"initialisers to compare, from {', '.join(INITIALISERS)}"),
                     arg("--std", type=STD, default=1.0, help="normal init's std"),
                     arg("--lr", type=LEARNING_RATE, default=7e-4),
                     arg("--batch-size", type=BATCH_SIZE, default=64),
                     arg("--epochs", type=EPOCHS, default=10),
                     *COMMON_TRAINING])
def init(args, run):
    splits, (x, y, xv, yv, _, _) = load(args)
    epochs = epochs_for(args)
    history, losses, metrics = [], {}, {"mean_train_loss": {}, "val_accuracy": {},
                                        "train_seconds": {}}
    for name in args.inits:
        model = build(x.shape[1], args.hidden, args.activation, name, args.std,
                      num_classes=splits.num_classes, seed=args.seed).compile(lr=args.lr)
        print(f"--- init {name}: {model.describe()}, {model.params:,} parameters")
        start = time.time()
        rows = model.fit(x, y, epochs, args.batch_size, evals_per_epoch=args.evals_per_epoch,
                         eval_sets={"val": (xv, yv)})
        metrics["train_seconds"][name] = round(time.time() - start, 2)
        history += with_label(rows, init=name)
        # The report's figure: the mean training loss over each whole epoch.
        per_epoch = _epoch_means(rows, "loss")
        losses[name] = per_epoch
        metrics["mean_train_loss"][name] = per_epoch
        metrics["val_accuracy"][name] = rows[-1]["val_accuracy"]
    metrics["params"] = model.params
    run.write_metrics(metrics)
    run.write_history(history)
    plot = line_plot(run, "loss.png", {k: (range(1, len(v) + 1), v) for k, v in losses.items()},
                     "epoch", "mean training loss", f"Initialisation, {model.describe()}")
    report = Report("Initialisation", f"{model.describe()} ({model.params:,} parameters), "
                    f"lr {args.lr}, batch {args.batch_size}, {epochs} epochs. "
                    + about_data(args, splits))
    which, theirs = _init_reported(args.hidden)
    header = ["epoch"] + [f"{n} (ours)" for n in args.inits] + \
        [f"{n} ({which})" for n in args.inits if n in theirs]
    rows = [[e + 1] + [losses[n][e] for n in args.inits] +
            [theirs[n][e] if e < 10 else None for n in args.inits if n in theirs]
            for e in range(epochs)]
    report.heading("Mean training loss per epoch").table(header, rows)
    report.image(plot, "Mean training loss per epoch for each initialisation")
    classes = splits.num_classes
    report.paragraph("Zero initialisation keeps every hidden unit identical, so the output "
                     f"stays uniform and the loss stays at ln({classes}) = "
                     f"{math.log(classes):.4f} for {classes} classes.")
    run.write_report(report)


def _init_reported(hidden) -> tuple[str, dict]:
    """(which report, its losses per initialiser) for the net `hidden` names: report B's
    784-24-12-10, else report A's figures (its 784-500-400-10, the default)."""
    if reported.is_report_b_init(hidden):
        return "report B", reported.INIT_LOSS_B
    return "report A", reported.INIT_LOSS


def _epoch_means(rows, key):
    """Average `key` over the evaluations of each whole epoch."""
    by_epoch = {}
    for row in rows:
        by_epoch.setdefault(math.ceil(row["epoch"] - 1e-9), []).append(row[key])
    return [float(np.mean(v)) for _, v in sorted(by_epoch.items())]


# -- 2. hyper-parameter search ------------------------------------------------------------
def check_grid(args) -> None:
    """The grid the search samples from fits in memory (each list flag alone may not)."""
    size = math.prod(len(values) for values in (args.lrs, args.batch_sizes, args.hidden1,
                                                args.hidden2, args.activations))
    if size > MAX_GRID:
        raise UsageError(must_be("the grid (--lrs x --batch-sizes x --hidden1 x --hidden2 x "
                                 "--activations)", f"at most {MAX_GRID:,} configurations",
                                 size))


@task.experiment("search", "Successive-halving search over lr, batch, hidden sizes, activation; "
                 "best model's test accuracy once.",
                 arguments=[
                     arg("--lrs", type=list_of(LEARNING_RATE), default=[0.1, 0.03, 0.01]),
                     arg("--batch-sizes", type=list_of(BATCH_SIZE), default=[16, 32, 64]),
                     arg("--hidden1", type=list_of(positive_int.up_to(MAX_UNITS)),
                         default=[400, 500, 600]),
                     arg("--hidden2", type=list_of(positive_int.up_to(MAX_UNITS)),
                         default=[400, 500, 600]),
                     arg("--activations", type=choice_list(HIDDEN_ACTIVATIONS),
                         default=["relu", "tanh"],
                         help=f"hidden activations to try, from {', '.join(HIDDEN_ACTIVATIONS)}"),
                     arg("--configs", type=positive_int.up_to(MAX_GRID), default=27,
                         help="configurations sampled from the grid"),
                     arg("--rungs", type=list_of(EPOCHS), default=[1, 3, 9],
                         help="epochs at which the best third goes on"),
                     arg("--epochs", type=EPOCHS, default=20,
                         help="epochs the winner is trained in all"),
                     arg("--min-params", type=nonnegative_int.up_to(MAX_PARAMS),
                         default=500_000),
                     arg("--max-params", type=nonnegative_int.up_to(MAX_PARAMS),
                         default=1_000_000),
                     *COMMON_TRAINING],
                 prepare=check_grid)
@reuse_if_finished  # minutes on MNIST: `all` run again does not redo it
def search(args, run):
    splits, data = load(args)
    grid = [dict(lr=lr, batch_size=b, hidden=(h1, h2), activation=a) for lr, b, h1, h2, a in
            itertools.product(args.lrs, args.batch_sizes, args.hidden1, args.hidden2,
                              args.activations)]
    configs, note = _sample_configs(args, grid, data[0].shape[1], splits.num_classes)
    rungs = [1] if args.quick else sorted(args.rungs)
    final_epochs = 2 if args.quick else max(args.epochs, rungs[-1])
    trials = []
    for i, c in enumerate(configs):
        model = build(data[0].shape[1], c["hidden"], c["activation"], "glorot",
                      num_classes=splits.num_classes, seed=args.seed + i).compile(lr=c["lr"])
        trials.append({"id": i, **c, "params": model.params, "model": model, "epochs": 0,
                       "val_accuracy": -1.0, "best_epoch": None, "seconds": 0.0})
    history, start = [], time.time()
    best = _successive_halving(args, trials, data, rungs, final_epochs, history, start)
    for layer, (W, b) in zip(best["model"].layers, best["best_weights"]):
        layer.W[...], layer.b[...] = W, b  # its best validation epoch
    test_loss, test_accuracy = best["model"].evaluate(*data[4:])  # the only use of the test set
    metrics = {"val_accuracy": best["val_accuracy"], "test_accuracy": test_accuracy,
               "test_loss": test_loss, "params": best["params"],
               "train_seconds": round(time.time() - start, 1),
               "best": {k: _cell(best[k]) for k in SEARCH_COLUMNS[1:5]},
               "configs_tried": len(trials), "grid_size": len(grid),
               "at_least_98": sum(t["val_accuracy"] >= 0.98 for t in trials)}
    intro = (f"{len(trials)} configurations sampled from a grid of {len(grid)} "
             f"(lr × batch × hidden1 × hidden2 × activation, {args.min_params:,}–"
             f"{args.max_params:,} parameters, Glorot init). Successive halving: all "
             f"train to epoch {rungs[0]}, the best third goes on to each next rung "
             f"{rungs[1:]}, the winner to {final_epochs} epochs. A configuration scores "
             f"its best validation evaluation; the winner's weights at that evaluation "
             f"meet the test set, once. " + (note + " " if note else "") + about_data(args, splits))
    _search_report(run, trials, best, history, metrics, intro,
                   reported.is_report_b_search(args.hidden1, args.hidden2))


def _sample_configs(args, grid, input_size, num_classes):
    """`--configs` grid points drawn at random among those of `--min/max-params` parameters
    (the whole grid when none is), and a note for the report when the budget was dropped."""
    def params(c):  # weights + biases of input-hidden...-classes, without building the net
        sizes = [input_size, *c["hidden"], num_classes]
        return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))

    in_budget = [c for c in grid if args.min_params <= params(c) <= args.max_params]
    note = ""
    if not in_budget:  # e.g. 8x8 digits: every net of these sizes is under 0.5M parameters
        in_budget, note = grid, (f"No grid point has {args.min_params:,}–{args.max_params:,} "
                                 f"parameters on this input size, so the whole grid is used.")
    rng = np.random.default_rng(args.seed)
    n = min(args.configs, len(in_budget))
    return [in_budget[i] for i in sorted(rng.choice(len(in_budget), n, replace=False))], note


def _successive_halving(args, trials, data, rungs, final_epochs, history, start):
    """Train every trial to each rung in turn, keeping the best third after each; the
    winner goes on to `final_epochs`. Returns the winning trial."""
    alive = list(trials)
    for k, until in enumerate(rungs):
        for trial in alive:
            _train_trial(args, trial, until, data, history, start)
        alive.sort(key=lambda t: -t["val_accuracy"])
        if k < len(rungs) - 1:
            alive = alive[: max(1, math.ceil(len(alive) / 3))]
    best = alive[0]
    if final_epochs > best["epochs"]:
        print(f"--- training the best configuration to {final_epochs} epochs")
        _train_trial(args, best, final_epochs, data, history, start)
    return best


def _train_trial(args, trial, until, data, history, start):
    """Train `trial`'s model on to epoch `until`, appending its evaluations to `history`."""
    x, y, xv, yv = data[:4]
    t0 = time.time()
    rows = trial["model"].fit(x, y, until - trial["epochs"], trial["batch_size"],
                              evals_per_epoch=args.evals_per_epoch, verbose=0,
                              eval_sets={"val": (xv, yv)},
                              callback=lambda row: _keep_best(trial, row))
    trial["seconds"] += time.time() - t0
    trial["epochs"] = until
    history.extend(with_label(rows, config=trial["id"]))
    print(f"config {trial['id']:2d} {_describe(trial)}: {until} epochs, best val "
          f"{percent(trial['val_accuracy'])} ({time.time() - start:.0f} s)")


def _keep_best(trial, row):
    """A configuration scores its best evaluation so far; its weights then are kept
    (as Keras's ModelCheckpoint(save_best_only=True) would), for the test set."""
    if row["val_accuracy"] > trial["val_accuracy"]:
        trial["val_accuracy"], trial["best_epoch"] = row["val_accuracy"], row["epoch"]
        trial["best_weights"] = [(layer.W.copy(), layer.b.copy())
                                 for layer in trial["model"].layers]


SEARCH_COLUMNS = ["id", "lr", "batch_size", "hidden", "activation", "params", "epochs",
                  "best_epoch", "val_accuracy", "seconds"]


def _compare_with_report_a(report, best, metrics, tried):
    """Report A's grid search beside ours."""
    report.compare([
        ["best validation accuracy", percent(reported.SEARCH_BEST["val_accuracy"]),
         percent(best["val_accuracy"])],
        ["best configuration", _describe(reported.SEARCH_BEST), _describe(best)],
        ["parameters", fmt(reported.SEARCH_BEST["params"]), fmt(best["params"])],
        ["configurations ≥ 98% val", reported.SEARCH_BEST["at_least_98"],
         f"{metrics['at_least_98']} of {tried}"],
        ["test accuracy of the best (once)", "–", percent(metrics["test_accuracy"])],
    ])


def _search_report(run, trials, best, history, metrics, intro, report_b: bool):
    """trials.csv, history, metrics, the curves of the longest-trained and report.md, beside
    report B's figure when the search was of report B's net, else report A's."""
    table = sorted(trials, key=lambda t: (-t["epochs"], -t["val_accuracy"]))
    run.write_csv("trials.csv", [{k: _cell(t[k]) for k in SEARCH_COLUMNS} for t in table])
    run.write_history(history)
    run.write_metrics(metrics)
    series = {}
    for t in sorted(trials, key=lambda t: -t["epochs"])[:8]:
        rows = [r for r in history if r["config"] == t["id"]]
        series[f"{t['id']}: {_describe(t)}"] = ([r["epoch"] for r in rows],
                                                [r["val_accuracy"] for r in rows])
    plot = line_plot(run, "search.png", series, "epoch", "validation accuracy",
                     "Successive halving: the longest-trained configurations")
    report = Report("Hyper-parameter search", intro)
    if report_b:
        report.compare([["validation accuracy", f"{percent(reported.SEARCH_B_VAL, 1)} "
                         "(report B)", percent(best["val_accuracy"])],
                        ["test accuracy (once)", "–", percent(metrics["test_accuracy"])]])
    else:
        _compare_with_report_a(report, best, metrics, len(trials))
    report.heading("Every configuration tried")
    report.table(SEARCH_COLUMNS, [[_cell(t[k]) if k != "val_accuracy" else percent(t[k])
                                   for k in SEARCH_COLUMNS] for t in table])
    report.image(plot, "Validation accuracy while training")
    run.write_report(report)


def _describe(t):
    return f"lr {t['lr']}, batch {t['batch_size']}, {_cell(t['hidden'])}, {t['activation']}"


def _cell(value):
    if isinstance(value, tuple):
        return "-".join(map(str, value))
    return round(value, 2) if isinstance(value, float) and value > 1 else value


# -- 3. gradient check ----------------------------------------------------------------------
GRADCHECK_N = [k * 10**i for i in range(6) for k in (1, 5)]


def check_layer(args) -> None:
    layers = len(args.hidden) + 1  # the hidden layers and the softmax
    if not args.layer < layers:
        raise UsageError(must_be("--layer", f"in 0..{layers - 1}", args.layer))


@task.experiment("gradcheck", "Finite-difference gradient check against eps = 1/N, log-log plot.",
                 arguments=[
                     arg("--hidden", type=hidden_sizes, default=[500, 400]),
                     arg("--layer", type=nonnegative_int.up_to(MAX_LAYERS), default=1,
                         help="layer whose weights are checked (0 = first; the report checked "
                              "the second)"),
                     arg("--p", type=positive_int.up_to(MAX_CHECKED_WEIGHTS), default=10,
                         help="weights checked: min(p, m)"),
                     arg("--lr", type=LEARNING_RATE, default=0.05),
                     arg("--batch-size", type=BATCH_SIZE, default=64),
                     arg("--epochs", type=EPOCHS, default=1, help="training before the check"),
                     arg("--sample", type=nonnegative_int.up_to(MAX_SAMPLE), default=None,
                         help="index of the training sample (default: the first whose gradient "
                              "on the checked weights is not all zero)")],
                 prepare=check_layer)
def gradcheck(args, run):
    splits, (x, y, xv, yv, _, _) = load(args)
    if args.sample is not None and args.sample >= len(x):
        raise UsageError(must_be("--sample", f"under the {len(x):,} training samples",
                                 args.sample))
    model = build(x.shape[1], args.hidden, num_classes=splits.num_classes,
                  seed=args.seed).compile(lr=args.lr)
    start = time.time()
    history = model.fit(x, y, epochs_for(args, 1), args.batch_size,
                        eval_sets={"val": (xv, yv)})
    sample = args.sample if args.sample is not None else _informative_sample(model, x, y, args)
    xs, ys = x[sample: sample + 1], y[sample: sample + 1]
    results = {}
    for dtype in (np.float64, np.float32):  # float64 is the check; float32 shows why
        copy = model.astype(dtype)
        results[np.dtype(dtype).name] = [copy.grad_check(xs, ys, args.layer, 1.0 / n, args.p)
                                         for n in GRADCHECK_N]
    diffs = results["float64"]
    best = int(np.argmin(diffs))
    run.write_history(with_label(history, phase="training")
                      + [{"phase": "gradcheck", "N": n, "eps": 1 / n, "max_abs_diff": d,
                          "max_abs_diff_float32": d32}
                         for n, d, d32 in zip(GRADCHECK_N, diffs, results["float32"])])
    best32 = int(np.argmin(results["float32"]))
    run.write_metrics({"N": GRADCHECK_N, "max_abs_diff": diffs,
                       "max_abs_diff_float32": results["float32"], "best_n": GRADCHECK_N[best],
                       "best_eps": 1 / GRADCHECK_N[best], "best_n_float32": GRADCHECK_N[best32],
                       "val_accuracy": history[-1]["val_accuracy"], "params": model.params,
                       "train_seconds": round(time.time() - start, 2), "layer": args.layer})
    fig, ax = new_figure()
    for name, values in results.items():
        ax.loglog(GRADCHECK_N, values, marker="o", label=name)
    ax.loglog([GRADCHECK_N[best]], [diffs[best]], "r*", markersize=16,
              label=f"best N = {GRADCHECK_N[best]:,} (float64)")
    ax.set(xlabel="N (eps = 1/N)", ylabel="max |analytic − finite difference|",
           title=f"Gradient check, layer {args.layer}, first "
                 f"{min(args.p, model.layers[args.layer].W.size)} weights")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    plot = run.save_figure(fig, "gradcheck.png")
    report = Report("Gradient check", f"{model.describe()} trained {len(history)} epoch(s); "
                    f"central differences on training sample {sample}, layer {args.layer}. "
                    + about_data(args, splits))
    report.compare([["best eps", f"about {reported.GRADCHECK_BEST_EPS}",
                     f"{1 / GRADCHECK_N[best]:.2g} (float64), "
                     f"{1 / GRADCHECK_N[best32]:.2g} (float32)"]])
    report.table(["N", "eps", "max diff (float64)", "max diff (float32)"],
                 [[n, 1 / n, d, d32] for n, d, d32 in zip(GRADCHECK_N, diffs, results["float32"])])
    report.image(plot, "Max difference against N, log-log")
    report.paragraph("Large eps: the truncation error of the central difference (O(eps²)) and "
                     "ReLU kinks crossed inside [w − eps, w + eps]. Small eps: rounding error "
                     "(about machine epsilon / eps), which is why float32 bottoms out near "
                     "eps ≈ 1e-3 and float64 goes on falling.")
    run.write_report(report)


def _informative_sample(model, x, y, args) -> int:
    """The first training sample whose gradient on the first p weights is not all zero.

    The first weights of a ReLU layer all leave one unit of the layer below; when that unit
    is off for a sample, their gradient and every finite difference are exactly 0, and the
    check would compare nothing.
    """
    for i in range(min(len(x), 1000)):
        grad = model.gradients(x[i:i + 1], y[i:i + 1])[args.layer][0].ravel()[: args.p]
        if np.any(grad != 0):
            return i
    return 0


# -- 4-6. tricks, topology, regularisation: cumulative tables of (train, val, test) ---------
def _table_study(args, run, data, title, intro, variants, reported_rows=None):
    """Train each variant {name: (model, fit kwargs)} on `data` (from `load`) and tabulate
    accuracy at reported.TABLE_EPOCHS."""
    splits, (x, y, xv, yv, xt, yt) = data
    epochs = 2 if args.quick else args.epochs
    marks = [e for e in reported.TABLE_EPOCHS if e <= epochs] or [epochs]
    history, table, curves, metrics = [], [], {}, {"accuracy": {}, "train_seconds": {}}
    for name, make in variants.items():
        model, fit = make(x.shape[1], splits.num_classes)
        print(f"--- {name}: {model.describe()}, {model.params:,} parameters")
        start = time.time()
        rows = model.fit(x, y, epochs, evals_per_epoch=args.evals_per_epoch,
                         eval_sets={"train": (x, y), "val": (xv, yv), "test": (xt, yt)}, **fit)
        metrics["train_seconds"][name] = round(time.time() - start, 2)
        history += with_label(rows, variant=name)
        at = {round(r["epoch"]): r for r in rows if float(r["epoch"]).is_integer()}
        metrics["accuracy"][name] = {e: [at[e][f"{s}_accuracy"] for s in ("train", "val", "test")]
                                     for e in marks}
        curves[name] = ([r["epoch"] for r in rows], [r["val_accuracy"] for r in rows])
        cells = [f"{100 * at[e]['train_accuracy']:.1f}, {100 * at[e]['val_accuracy']:.1f}, "
                 f"{100 * at[e]['test_accuracy']:.1f}" for e in marks]
        table.append([name, fmt(model.params)] + cells)
        if reported_rows and name in reported_rows:
            table.append([f"{name} (report)", "", *[", ".join(map(str, reported_rows[name][i]))
                                                   for i, e in enumerate(reported.TABLE_EPOCHS)
                                                   if e in marks]])
    last = list(variants)[-1]
    metrics.update(val_accuracy=metrics["accuracy"][last][marks[-1]][1],
                   test_accuracy=metrics["accuracy"][last][marks[-1]][2], params=model.params)
    run.write_metrics(metrics)
    run.write_history(history)
    plot = line_plot(run, "val_accuracy.png", curves, "epoch", "validation accuracy", title)
    report = Report(title, f"{intro} {epochs} epochs. " + about_data(args, splits))
    report.heading("(train, val, test) accuracy in % at each epoch")
    report.table(["variant", "params"] + [f"epoch {e}" for e in marks], table)
    report.image(plot, "Validation accuracy per epoch")
    return report


TRICKS_BASE = dict(hidden=64, lr=0.5, batch_size=128)


@task.experiment("tricks", "LeCun's tricks of the trade, cumulatively: shuffling, improved "
                 "sigmoid, fan-in init, momentum.",
                 arguments=[arg("--epochs", type=EPOCHS, default=15), *COMMON_TRAINING])
def tricks(args, run):
    h, lr, b = TRICKS_BASE["hidden"], TRICKS_BASE["lr"], TRICKS_BASE["batch_size"]

    def variant(activation, init, shuffle, momentum=0.0, lr=lr):
        def make(n_in, classes):
            model = build(n_in, [h], activation, init, num_classes=classes, seed=args.seed)
            return model.compile(lr=lr, momentum=momentum), dict(batch_size=b, shuffle=shuffle)
        return make

    variants = {
        "base": variant("sigmoid", "normal", shuffle=False),
        "+ shuffle": variant("sigmoid", "normal", shuffle=True),
        "+ improved sigmoid": variant("improved_sigmoid", "normal", shuffle=True),
        "+ fan-in normal init": variant("improved_sigmoid", "fan_in", shuffle=True),
        "+ momentum 0.9": variant("improved_sigmoid", "fan_in", True, momentum=0.9, lr=0.05),
    }
    data = load(args)
    report = _table_study(args, run, data, "Tricks of the trade",
                          f"One hidden layer of {h}, lr {lr}, batch {b}; each row adds one "
                          "trick to the one above (momentum with lr 0.05). Base: sigmoid, "
                          "N(0, 1) init, no shuffling. The course report held out "
                          f"{reported.TRICKS_VALIDATION_SHARE:.0%} of its "
                          "training set for validation; here the validation set is the "
                          f"dataset's own validation split ({len(data[0].y_val):,} examples).",
                          variants, reported.TRICKS)
    run.write_report(report)


def topologies(text: str) -> list[list[int]]:
    """--sizes: '5,10,60+60' -> [[5], [10], [60, 60]]."""
    try:
        sizes = [hidden_sizes(t.replace("+", ",")) for t in text.split(",")]
    except argparse.ArgumentTypeError:
        sizes = []
    if not 1 <= len(sizes) <= MAX_LAYERS:
        raise argparse.ArgumentTypeError(
            f"must be 1 to {MAX_LAYERS} comma-separated nets, each hidden sizes up to "
            f"{MAX_UNITS:,} joined by '+' (5,10,60+60); got {text!r}")
    return sizes


@task.experiment("topology", "Hidden units 5 to 128 and two layers of 60, with the tricks "
                 "(no momentum).",
                 arguments=[arg("--sizes", type=topologies,
                                default=[[5], [10], [20], [32], [64], [128], [60, 60]],
                                help="comma-separated sizes, '+' for a second layer: 5,10,60+60"),
                            arg("--epochs", type=EPOCHS, default=15), *COMMON_TRAINING])
def topology(args, run):
    lr, b = TRICKS_BASE["lr"], TRICKS_BASE["batch_size"]

    def variant(hidden):
        def make(n_in, classes):
            model = build(n_in, hidden, "improved_sigmoid", "fan_in", num_classes=classes,
                          seed=args.seed)
            return model.compile(lr=lr), dict(batch_size=b, shuffle=True)
        return make

    variants = {"-".join(map(str, s)): variant(s) for s in args.sizes}
    # The report gives the last of its table's epochs only.
    at_epoch_15 = {k: [("–",)] * (len(reported.TABLE_EPOCHS) - 1) + [v]
                   for k, v in reported.TOPOLOGY.items()}
    report = _table_study(args, run, load(args), "Topology",
                          f"Improved sigmoid, fan-in init, shuffling, lr {lr}, batch {b} (the "
                          "tricks without momentum).", variants, at_epoch_15)
    run.write_report(report)


@task.experiment("regularize", "ReLU, Glorot init, inverted dropout and lr decay against the "
                 "sigmoid base, cumulatively.",
                 arguments=[arg("--hidden", type=hidden_sizes, default=[256, 256]),
                            arg("--lr", type=LEARNING_RATE, default=0.1),
                            arg("--batch-size", type=BATCH_SIZE, default=64),
                            arg("--dropout", type=fraction, default=0.2),
                            arg("--lr-decay", type=DECAY, default=0.1,
                                help="lr / (1 + decay x epoch)"),
                            arg("--epochs", type=EPOCHS, default=15), *COMMON_TRAINING])
def regularize(args, run):
    def variant(activation, init, dropout=0.0, decay=0.0):
        def make(n_in, classes):
            model = build(n_in, args.hidden, activation, init, dropout=dropout,
                          num_classes=classes, seed=args.seed)
            return (model.compile(lr=args.lr, lr_decay=decay),
                    dict(batch_size=args.batch_size, shuffle=True))
        return make

    variants = {
        "base (improved sigmoid, fan-in)": variant("improved_sigmoid", "fan_in"),
        "+ ReLU": variant("relu", "fan_in"),
        "+ Glorot init": variant("relu", "glorot"),
        f"+ dropout {args.dropout}": variant("relu", "glorot", args.dropout),
        f"+ lr decay {args.lr_decay}": variant("relu", "glorot", args.dropout, args.lr_decay),
    }
    hidden = "-".join(map(str, args.hidden))
    report = _table_study(args, run, load(args), "Regularisation",
                          f"Hidden layers {hidden}, lr {args.lr}, batch {args.batch_size}, "
                          "shuffling; each row adds one change to the one above.", variants)
    report.compare([["final model", reported.REGULARIZE,
                     "see the last row of the table above"]])
    run.write_report(report)


# -- 7. CIFAR-10 ---------------------------------------------------------------------------
@task.experiment("cifar10-numpy", "The report's NumPy MLP on CIFAR-10 (1 hidden layer of 100, "
                 "1,500 steps); any --dataset.",
                 arguments=[arg("--hidden", type=hidden_sizes, default=[100]),
                            arg("--lr", type=LEARNING_RATE, default=2e-3),
                            arg("--batch-size", type=BATCH_SIZE, default=200),
                            arg("--steps", type=positive_int.up_to(MAX_STEPS), default=1500),
                            arg("--std", type=STD, default=1e-4,
                                help="weight scale: init N(0, std^2)"),
                            arg("--momentum", type=fraction, default=0.0),
                            arg("--lr-decay", type=DECAY, default=0.0),
                            *COMMON_TRAINING],
                 default_dataset="cifar10")
def cifar10_numpy(args, run):
    splits, (x, y, xv, yv, xt, yt) = load(args)
    # As the course's assignment did: raw pixel values (0-255) minus the training mean image.
    mean = x.mean(axis=0)
    x, xv, xt = ((a - mean) * 255 for a in (x, xv, xt))
    model = build(x.shape[1], args.hidden, "relu", "normal", args.std,
                  num_classes=splits.num_classes, seed=args.seed)
    model.compile(lr=args.lr, momentum=args.momentum, lr_decay=args.lr_decay)
    steps = min(args.steps, 50) if args.quick else args.steps
    epochs = math.ceil(steps * args.batch_size / len(x))
    start = time.time()
    history = model.fit(x, y, epochs, args.batch_size, evals_per_epoch=args.evals_per_epoch,
                        eval_sets={"val": (xv, yv)}, max_steps=steps)
    seconds = time.time() - start
    _, test_accuracy = model.evaluate(xt, yt)
    run.write_history(history)
    run.write_metrics({"val_accuracy": history[-1]["val_accuracy"],
                       "test_accuracy": test_accuracy, "train_seconds": round(seconds, 2),
                       "params": model.params, "steps": steps})
    plot = line_plot(run, "curves.png", {"validation accuracy": (
        [r["step"] for r in history], [r["val_accuracy"] for r in history])}, "step",
        "accuracy", f"{model.describe()} on {splits.name}")
    report = Report("NumPy MLP on CIFAR-10", f"{model.describe()}, lr {args.lr}, batch "
                    f"{args.batch_size}, {steps} steps, init N(0, {args.std}²). "
                    + about_data(args, splits, reported_on="cifar10"))
    same = splits.name == "cifar10"
    report.compare([["test accuracy", percent(reported.CIFAR10_NUMPY_TEST, 0) + " (CIFAR-10)",
                     percent(test_accuracy)
                     + ("" if same else f" ({splits.name}: not comparable)")]])
    report.image(plot, "Validation accuracy per evaluation")
    run.write_report(report)


# -- all ----------------------------------------------------------------------------------
ALL = ("init", "search", "gradcheck", "tricks", "topology", "regularize")


@task.experiment("all", "Experiments 1-6 (init ... regularize), each in its own subfolder.")
def run_all(args, run):
    done = task.run_all(args, ALL, run)
    run.write_metrics({name: str(r.path) for name, r in done.items()})
    write_index(run, "Task 1: every experiment",
                f"On {args.dataset}" + (", --quick" if args.quick else "") + ".", ALL)
