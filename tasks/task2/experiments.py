"""Task 2: a Keras MLP, one study per hyper-parameter, the best configuration, its errors.

    python -m tasks.task2 activation --dataset fashion_mnist --data-dir ../shared/datasets
    python -m tasks.task2 best --dataset fashion_mnist --data-dir ../shared/datasets
    python -m tasks.task2 all --dataset fashion_mnist --data-dir ../shared/datasets

A study trains one MLP per value of one hyper-parameter, everything else at `BASE`, and
compares validation accuracy per epoch (the test set is not touched). `best` trains the best
configuration longer and reports test accuracy once; `analyze` takes its saved model to a
confusion matrix and, per class, the 8 most confidently wrong test images. The report used
CIFAR-10, the default `--dataset`; Fashion-MNIST and MNIST run here offline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.mlp import ACTIVATIONS, INITIALIZERS, REGULARIZERS
from training.optimizers import OPTIMIZERS
from suite.cli import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LAYERS, MAX_LEARNING_RATE,
                       VARIANT_RECORDS, Task, arg, fraction, hidden_sizes, list_of,
                       nonnegative_float, positive_float, positive_int, write_index)
from suite.errors import UsageError, must_be
from suite.io import read_keras_model
from suite.plots import new_figure
from suite.report import Report, percent
from tasks.task2 import reported
from training.fitting import (
    TENSORBOARD_NOTE,
    compile_classifier,
    fit_logged,
    load_splits,
    log_confusion_matrix,
    plot_learning_curves,
)
from training.variants import run_variants

task = Task("task2", "Task 2: a Keras MLP, its hyper-parameter studies and error analysis.",
            datasets=("cifar10", "fashion_mnist", "mnist"), records=[VARIANT_RECORDS])

# The study base: the report's MLP (one hidden layer of 300 ReLU units, Adam with
# beta_1 0.91 and epsilon 1e-4, batch 200), with Glorot initialisation and no penalty so
# that every single change is visible.
BASE = dict(hidden=(300,), activation="relu", initializer="glorot", init_std=1e-4,
            regularizer="none", strength=0.0, dropout=0.0, optimizer="adam",
            learning_rate=1e-3, beta_1=0.91, epsilon=1e-4, batch_size=200)
# Each optimiser at its usual learning rate (Adadelta's paper uses 1.0; SGD gets momentum).
OPTIMIZER_RATES = {"sgd": 0.01, "adadelta": 1.0, "adagrad": 0.01, "adam": 1e-3,
                   "rmsprop": 1e-3}

# `best`, per dataset. CIFAR-10: the report's best (300 ReLU, N(0, 1e-4), L2 2.3, Adam lr 2e-5
# with beta_1 0.91 and epsilon 1e-4, batch 200, 7,000 steps = 31 epochs of 45,000).
# Fashion-MNIST and MNIST: what the studies here favoured (two wide ReLU layers, He
# initialisation, dropout, Adam) trained longer with a cosine-decayed learning rate.
BEST = {
    "cifar10": dict(BASE, hidden=(300,), initializer="normal", init_std=1e-4,
                    regularizer="l2", strength=2.3, learning_rate=2e-5, epochs=31,
                    schedule="constant"),
    "fashion_mnist": dict(BASE, hidden=(512, 512), initializer="he", dropout=0.3,
                          beta_1=0.9, epsilon=1e-7, batch_size=128, epochs=40,
                          schedule="cosine"),
}
BEST["mnist"] = BEST["fashion_mnist"]
WRONG_PER_CLASS = 8  # the most confidently wrong test images shown per class

EPOCHS = positive_int.up_to(MAX_EPOCHS)
BATCH_SIZE = positive_int.up_to(MAX_BATCH_SIZE)
MAX_STRENGTH = 1_000.0  # an L1 or L2 penalty's (the report's best: 2.3)
STUDY_FLAGS = [arg("--epochs", type=EPOCHS, default=10, help="epochs per variant")]


# -- building and training one configuration -----------------------------------------------
def build(config: dict, input_shape, num_classes: int, seed: int, steps_per_epoch: int = 1):
    """The MLP and its optimiser for `config` (a `BASE`-like dict), compiled."""
    import keras

    from models.mlp import make_mlp
    from training.optimizers import make_optimizer

    model = make_mlp(input_shape, num_classes, hidden=tuple(config["hidden"]),
                     activation=config["activation"], initializer=config["initializer"],
                     init_std=config["init_std"], regularizer=config["regularizer"],
                     strength=config["strength"], dropout=config["dropout"], seed=seed)
    rate = config["learning_rate"]
    if config.get("schedule") == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=config["epochs"] * steps_per_epoch)
    optimizer = make_optimizer(config["optimizer"], rate, momentum=config.get("momentum", 0.0),
                               beta_1=config["beta_1"], epsilon=config["epsilon"])
    return compile_classifier(model, optimizer)


def datasets(splits, batch_size: int, seed: int):
    """Train / validation / test pipelines of flattened rows (data.arrays)."""
    from data.arrays import split_pipelines

    return split_pipelines(splits, batch_size, seed, flatten=True)


def input_size(splits) -> tuple[int]:
    return (int(np.prod(splits.image_shape)),)


# -- the studies -------------------------------------------------------------------------------
def run_study(args, run, title: str, what: str, variants: list[tuple[str, dict]]) -> None:
    """Train one MLP per (label, changes to BASE); table and plot of validation accuracy.

    Each variant's record is saved as it ends (training.variants): a rerun resumes."""
    splits = load_splits(args)
    if args.quick:
        variants = variants[:2]
    epochs = 1 if args.quick else args.epochs
    records = run_variants(run, variants, lambda label, changes: train_variant(
        run, splits, label, dict(BASE, **changes), epochs, args.seed))
    history = [{"variant": label, **row}
               for (label, _), record in zip(variants, records, strict=True)
               for row in record["rows"]]
    results = [record["result"] for record in records]
    run.write_history(history)
    run.write_csv("results.csv", results)
    best = max(results, key=lambda r: r["best_val_accuracy"])
    run.write_metrics({"dataset": args.dataset, "best_variant": best["variant"],
                       "best_val_accuracy": best["best_val_accuracy"],
                       "variants": {r["variant"]: r for r in results}})
    plot = plot_study(run, history, [label for label, _ in variants],
                      f"{title} ({args.dataset})")
    report = Report(f"Task 2: {title}", f"Dataset {args.dataset}. Base MLP: {describe(BASE)}; "
                    f"only the {what} changes. Validation accuracy only (no test set).")
    report.table([what, "params", "final val accuracy", "best val accuracy", "train seconds"],
                 [[r["variant"], r["params"], percent(r["val_accuracy"]),
                   percent(r["best_val_accuracy"]), r["train_seconds"]] for r in results])
    report.image(plot, f"Validation accuracy per epoch, one line per {what}")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")))
    run.write_report(report)


def train_variant(run, splits, label: str, config: dict, epochs: int, seed: int) -> dict:
    """One study variant: the MLP of `config` trained `epochs`; its history rows and results."""
    train, val, _ = datasets(splits, config["batch_size"], seed)
    model = build(config, input_size(splits), splits.num_classes, seed)
    rows, seconds = fit_logged(model, train, val, epochs, run.file(f"tensorboard/{label}"))
    return {"rows": rows,
            "result": {"variant": label, "params": int(model.count_params()),
                       "val_accuracy": rows[-1]["val_accuracy"],
                       "best_val_accuracy": max(r["val_accuracy"] for r in rows),
                       "train_seconds": round(seconds, 2)}}


def plot_study(run, history: list[dict], labels: list[str], title: str) -> str:
    """Validation accuracy per epoch, one line per variant: val_accuracy.png."""
    fig, ax = new_figure(width=7)
    for label in labels:
        rows = [r for r in history if r["variant"] == label]
        ax.plot([r["epoch"] for r in rows], [r["val_accuracy"] for r in rows], marker=".",
                label=label)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return run.save_figure(fig, "val_accuracy.png")


def describe(config: dict) -> str:
    hidden = "-".join(str(h) for h in config["hidden"])
    penalty = ("no penalty" if config["regularizer"] == "none"
               else f"{config['regularizer'].upper()} {config['strength']:g}")
    return (f"hidden {hidden} {config['activation']}, {config['initializer']} init, {penalty}, "
            f"dropout {config['dropout']:g}, {config['optimizer']} lr {config['learning_rate']:g}"
            f", batch {config['batch_size']}")


@task.experiment("initializer", "Normal (std 1e-4), Glorot and uniform initialisation.",
                 arguments=STUDY_FLAGS)
def initializer_study(args, run):
    run_study(args, run, "initialisers", "initializer",
              [(name, {"initializer": name}) for name in ("normal", "glorot", "uniform")])


@task.experiment("activation", "ReLU, ELU, tanh and sigmoid hidden units.",
                 arguments=STUDY_FLAGS)
def activation_study(args, run):
    run_study(args, run, "activations", "activation",
              [(name, {"activation": name}) for name in ACTIVATIONS])


@task.experiment("regularizer", "No penalty, L1 and L2 at several strengths.",
                 arguments=STUDY_FLAGS + [
                     arg("--strengths", type=list_of(nonnegative_float.up_to(MAX_STRENGTH)),
                         default=[1e-5, 1e-4, 1e-3], help="penalty strengths, comma separated")])
def regularizer_study(args, run):
    variants = [("none", {})]
    for kind in REGULARIZERS[1:]:
        variants += [(f"{kind}_{s:g}", {"regularizer": kind, "strength": s})
                     for s in args.strengths]
    run_study(args, run, "regularisers", "regularizer", variants)


@task.experiment("optimizer", "SGD (momentum 0.9), Adadelta, Adagrad, Adam, RMSprop.",
                 arguments=STUDY_FLAGS)
def optimizer_study(args, run):
    run_study(args, run, "optimisers", "optimizer",
              [(name, {"optimizer": name, "learning_rate": OPTIMIZER_RATES[name],
                       "momentum": 0.9 if name == "sgd" else 0.0}) for name in OPTIMIZERS])


@task.experiment("units", "Hidden units of the one hidden layer.",
                 arguments=STUDY_FLAGS + [arg("--units", type=hidden_sizes,
                                              default=[50, 100, 300, 1000],
                                              help="hidden sizes, comma separated")])
def units_study(args, run):
    run_study(args, run, "hidden units", "units",
              [(str(units), {"hidden": (units,)}) for units in args.units])


@task.experiment("layers", "Number of hidden layers (of 300 units each).",
                 arguments=STUDY_FLAGS + [arg("--depths", type=list_of(positive_int.up_to(
                                              MAX_LAYERS)), default=[1, 2, 3, 4],
                                              help="numbers of hidden layers")])
def layers_study(args, run):
    run_study(args, run, "hidden layers", "layers",
              [(str(depth), {"hidden": (300,) * depth}) for depth in args.depths])


@task.experiment("batch-size", "Mini-batch size.",
                 arguments=STUDY_FLAGS + [arg("--sizes", type=list_of(BATCH_SIZE),
                                              default=[32, 64, 200, 1000],
                                              help="batch sizes, comma separated")])
def batch_size_study(args, run):
    run_study(args, run, "batch size", "batch size",
              [(str(size), {"batch_size": size}) for size in args.sizes])


STUDIES = ["initializer", "activation", "regularizer", "optimizer", "units", "layers",
           "batch-size"]


# -- the best configuration and its errors ------------------------------------------------------
@task.experiment("best", "The best configuration, trained longer; test accuracy once.",
                 arguments=[
                     arg("--epochs", type=EPOCHS, help="epochs (default: the dataset's)"),
                     arg("--hidden", type=hidden_sizes, help="hidden sizes, e.g. 512,512"),
                     arg("--dropout", type=fraction, help="dropout rate"),
                     arg("--lr", type=positive_float.up_to(MAX_LEARNING_RATE),
                         help="learning rate"),
                     arg("--batch-size", type=BATCH_SIZE, help="batch size")])
def best(args, run):
    import keras
    from sklearn.metrics import confusion_matrix

    splits = load_splits(args)
    config = dict(BEST[args.dataset])
    for key, flag in (("epochs", args.epochs), ("hidden", args.hidden),
                      ("dropout", args.dropout), ("learning_rate", args.lr),
                      ("batch_size", args.batch_size)):
        if flag is not None:
            config[key] = flag
    if args.quick:
        config["epochs"] = 2
    train, val, test = datasets(splits, config["batch_size"], args.seed)
    steps = -(-len(splits.x_train) // config["batch_size"])
    model = build(config, input_size(splits), splits.num_classes, args.seed, steps)
    keep_best = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=10 ** 6,
                                              restore_best_weights=True)
    rows, seconds = fit_logged(model, train, val, config["epochs"], run.file("tensorboard"),
                               callbacks=[keep_best])
    run.write_history(rows)
    curves = plot_learning_curves(run, rows, title=f"best MLP ({args.dataset})")
    model.save(run.file("model.keras"))
    val_loss, val_accuracy = model.evaluate(val, verbose=0)
    test_loss, test_accuracy = model.evaluate(test, verbose=0)  # the one look at the test set
    predicted = model.predict(test, verbose=0).argmax(axis=1)
    log_confusion_matrix(run.file("tensorboard"), confusion_matrix(
        splits.y_test, predicted, labels=range(splits.num_classes)), splits.class_names)
    metrics = {"dataset": args.dataset, "config": config, "params": int(model.count_params()),
               "epochs": len(rows), "val_accuracy": float(val_accuracy),
               "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
               "train_seconds": round(seconds, 2)}
    run.write_metrics(metrics)

    report = Report("Task 2: the best MLP", f"Dataset {args.dataset}. {describe(config)}, "
                    f"{config['epochs']} epochs ({config.get('schedule', 'constant')} learning "
                    f"rate); the weights of the best validation epoch are kept. "
                    f"{metrics['params']:,} parameters, {seconds:.0f} s of training.")
    report.table(["validation accuracy", "test accuracy"],
                 [[percent(val_accuracy), percent(test_accuracy)]])
    report.compare([["best MLP test accuracy", reported.BEST_TEST_ACCURACY,
                     f"{percent(test_accuracy)} ({args.dataset})"]])
    report.image(curves, "Loss and accuracy per epoch")
    report.paragraph("`python -m tasks.task2 analyze` draws its confusion matrix and "
                     "confidently wrong images from `model.keras` here.")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")) +
                     " The test confusion matrix is under Images.")
    run.write_report(report)


@task.experiment("analyze", "Confusion matrix and the most confidently wrong test images.",
                 arguments=[arg("--model", default="runs/task2/best/model.keras",
                                help="a model saved by `best`")])
def analyze(args, run):
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    if not Path(args.model).is_file():
        raise UsageError(must_be("--model", "a saved model: run `python -m tasks.task2 best` "
                                 "first or pass --model with the model.keras it wrote",
                                 args.model))
    splits = load_splits(args)
    model = read_keras_model(args.model, "--model", "python -m tasks.task2 best")
    expected = int(np.prod(splits.image_shape))
    if model.input_shape[-1] != expected:
        raise UsageError(must_be("--dataset", f"the dataset {args.model} was trained on "
                                 f"({model.input_shape[-1]} inputs per image, not {expected})",
                                 args.dataset))
    _, _, _, _, x_test, y_test = splits.flat()
    probabilities = model.predict(x_test, batch_size=1000, verbose=0)
    predicted = probabilities.argmax(axis=1)
    classes = list(range(splits.num_classes))
    matrix = confusion_matrix(y_test, predicted, labels=classes)
    run.write_csv("confusion_matrix.csv",
                  [{"true": splits.class_names[i], **{splits.class_names[j]: int(matrix[i, j])
                                                      for j in classes}} for i in classes])
    log_confusion_matrix(run.file("tensorboard"), matrix, splits.class_names)

    fig, ax = new_figure(width=8, height=7)
    ConfusionMatrixDisplay(matrix, display_labels=splits.class_names).plot(
        ax=ax, colorbar=True, xticks_rotation=45, cmap="Blues")
    heatmap = run.save_figure(fig, "confusion_matrix.png")
    grid = plot_confident_mistakes(run, splits, probabilities, predicted)

    correct = np.diag(matrix)
    worst, most = int(correct.argmin()), int(correct.argmax())
    confused_with = int(np.argsort(matrix[worst])[-2] if matrix[worst].argmax() == worst
                        else matrix[worst].argmax())
    accuracy = float((predicted == y_test).mean())
    run.write_metrics({"dataset": args.dataset, "test_accuracy": accuracy,
                       "fewest_right_class": splits.class_names[worst],
                       "fewest_right": int(correct[worst]),
                       "fewest_right_confused_with": splits.class_names[confused_with],
                       "fewest_right_confused_count": int(matrix[worst, confused_with]),
                       "most_right_class": splits.class_names[most],
                       "most_right": int(correct[most])})
    report = Report("Task 2: what the best MLP gets wrong",
                    f"Model {args.model} on the {args.dataset} test set "
                    f"({percent(accuracy)} right).")
    names = splits.class_names
    report.table(["true \\ predicted"] + names,
                 [[names[i]] + [int(v) for v in matrix[i]] for i in classes])
    report.image(heatmap, "Confusion matrix (rows: true class, columns: predicted)")
    report.compare([
        ["fewest right", reported.FEWEST_RIGHT,
         f"{names[worst]}: {correct[worst]} of {matrix[worst].sum()}, "
         f"{matrix[worst, confused_with]} called {names[confused_with]}"],
        ["most right", reported.MOST_RIGHT, f"{names[most]}: {correct[most]}"]])
    report.image(grid, f"Per class (rows), the {WRONG_PER_CLASS} test images the model got "
                       f"wrong with the highest confidence: predicted label and probability")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")) +
                     " The confusion matrix is under the Images tab.")
    run.write_report(report)


def confident_mistakes(y_true, probabilities, per_class: int = WRONG_PER_CLASS):
    """For each true class, the indices of its wrongly classified examples, most confident
    (highest predicted probability of the wrong class) first, at most `per_class`."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    result = {}
    for c in range(probabilities.shape[1]):
        wrong = np.flatnonzero((y_true == c) & (predicted != c))
        result[c] = wrong[np.argsort(-confidence[wrong], kind="stable")][:per_class]
    return result


def plot_confident_mistakes(run, splits, probabilities, predicted) -> str:
    mistakes = confident_mistakes(splits.y_test, probabilities)
    rows = len(mistakes)
    fig, axes = new_figure(rows, WRONG_PER_CLASS, width=WRONG_PER_CLASS * 1.3, height=1.5,
                           squeeze=False)
    names = splits.class_names
    for c, indices in mistakes.items():
        for k in range(WRONG_PER_CLASS):
            ax = axes[c, k]
            ax.axis("off")
            if k < len(indices):
                i = indices[k]
                image = splits.x_test[i]
                ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray")
                ax.set_title(f"{names[predicted[i]]} {probabilities[i].max():.2f}", fontsize=7)
        axes[c, 0].text(-0.1, 0.5, names[c], transform=axes[c, 0].transAxes, ha="right",
                        va="center", fontsize=8)
    return run.save_figure(fig, "confident_mistakes.png")


@task.experiment("all", "Every study, then `best` and `analyze` on its model.")
def run_all(args, run):
    done = task.run_all(args, STUDIES + ["best"], run)
    if "best" in done:
        task.run_all(args, ["analyze"], run,
                     flags={"analyze": [f"--model={done['best'].file('model.keras')}"]})
    write_index(run, "Task 2: every experiment", f"Dataset {args.dataset}.",
                STUDIES + ["best", "analyze"])


__all__ = ["task", "BASE", "BEST", "INITIALIZERS", "confident_mistakes"]
