"""Task 3: CNNs against MLPs, weight decay, dropout at inference, batch norm, a CIFAR-10 ConvNet.

    python -m tasks.task3 cnn-vs-mlp --data-dir ../shared/datasets
    python -m tasks.task3 cifar10-cnn --dataset fashion_mnist --models strong --budget-minutes 20
    python -m tasks.task3 all --data-dir ../shared/datasets

The reports used MNIST (the default `--dataset` of the first four experiments) and CIFAR-10
(`cifar10-cnn`); Fashion-MNIST runs every experiment here offline.
"""

from __future__ import annotations

import numpy as np

from suite.cli import (MAX_BATCH_SIZE, MAX_EPOCHS, MAX_LEARNING_RATE, MAX_MINUTES, MAX_STEPS,
                       VARIANT_RECORDS, Task, arg, choice_list, hidden_sizes, nonnegative_float,
                       positive_float, positive_int, write_index)
from suite.plots import new_figure
from suite.report import Report, percent
from tasks.task3 import reported
from training.fitting import TENSORBOARD_NOTE, compile_classifier, fit_logged, load_splits
from training.optimizers import make_optimizer
from training.variants import run_variants

task = Task("task3", "Task 3: CNNs and regularisation (weight decay, dropout, batch norm).",
            datasets=("mnist", "fashion_mnist", "cifar10"), records=[VARIANT_RECORDS])

EVAL_BATCH = 1000
EPOCHS = positive_int.up_to(MAX_EPOCHS)
LEARNING_RATE = positive_float.up_to(MAX_LEARNING_RATE)
BATCH_SIZE = positive_int.up_to(MAX_BATCH_SIZE)
# Bounds a run can meet, beside suite.cli's MAX_*: an L2 strength, seeds per model, and the
# masks averaged at inference (each costs a pass over the test set).
MAX_STRENGTH = 1_000.0
MAX_SEEDS = 100
MAX_MASKS = 10_000


def pipelines(splits, batch_size: int, seed: int, flatten: bool = False, augment=None):
    """Train (shuffled), validation and test `tf.data` pipelines (data.arrays)."""
    from data.arrays import split_pipelines

    return split_pipelines(splits, batch_size, seed, flatten=flatten, augment=augment,
                           eval_batch=EVAL_BATCH)


def plot_error_curves(run, curves: dict[str, list[dict]], keys, name: str, title: str) -> str:
    """Error (1 - accuracy) per epoch, one line per (model, key); keys like "val_accuracy"."""
    fig, ax = new_figure(width=8, height=5)
    styles = {"accuracy": ":", "val_accuracy": "-", "test_accuracy": "-"}
    for i, (label, rows) in enumerate(curves.items()):
        for key in keys:
            ax.plot([r["epoch"] for r in rows], [100 * (1 - r[key]) for r in rows],
                    linestyle=styles.get(key, "-"), color=f"C{i}", marker=".",
                    label=f"{label} ({key.replace('_accuracy', '') or 'train'})"
                    if key != "accuracy" else f"{label} (train)")
    ax.set(xlabel="epoch", ylabel="error (%)", title=title, yscale="log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return run.save_figure(fig, name)


# -- 1. CNN vs MLP -------------------------------------------------------------------------------
def cnn_vs_mlp_models():
    """name -> builder(input_shape, num_classes): the reports' two CNNs and their MLPs."""
    from models.cnn import make_cnn_50k, make_cnn_206k
    from models.mlp import make_mlp

    return {
        "cnn_50k": lambda shape, n: make_cnn_50k(shape, n),
        "cnn_206k": lambda shape, n: make_cnn_206k(shape, n),
        "cnn_206k_dropout": lambda shape, n: make_cnn_206k(shape, n, variant="dropout"),
        "mlp_64-32": lambda shape, n: make_mlp(shape, n, hidden=(64, 32)),  # 52,650 params
        "mlp_600-400": lambda shape, n: make_mlp(shape, n, hidden=(600, 400)),  # 715,410
    }


@task.experiment("cnn-vs-mlp", "The reports' CNNs (~50k and 206,500 params) against MLPs.",
                 arguments=[arg("--epochs", type=EPOCHS, default=10, help="epochs"),
                            arg("--lr", type=LEARNING_RATE, default=1e-3, help="Adam rate"),
                            arg("--batch-size", type=BATCH_SIZE, default=128)])
def cnn_vs_mlp(args, run):
    splits = load_splits(args)
    epochs = 1 if args.quick else args.epochs
    records = run_variants(run, cnn_vs_mlp_models().items(), lambda name, builder:
                           train_compared_model(args, run, splits, name, builder, epochs))
    curves = {record["result"]["model"]: record["rows"] for record in records}
    results = [record["result"] for record in records]
    run.write_history([{"model": m, **r} for m, rows in curves.items() for r in rows])
    run.write_csv("results.csv", results)
    cnns = [r for r in results if r["model"].startswith("cnn")]
    best = max(cnns, key=lambda r: r["val_accuracy"])
    run.write_metrics({"dataset": args.dataset, "models": {r["model"]: r for r in results},
                       "best_cnn": best["model"], "best_cnn_test_accuracy": best["test_accuracy"],
                       "max_cnn_test_accuracy": max(r["test_accuracy"] for r in cnns)})
    plot = plot_error_curves(run, curves, ("accuracy", "val_accuracy"), "errors.png",
                             f"train (dotted) and validation error, {args.dataset}")
    report = Report("Task 3: CNN against MLP",
                    f"Dataset {args.dataset}; Adam lr {args.lr:g}, batch {args.batch_size}, "
                    f"{epochs} epochs each. Test accuracy is measured once, after training.")
    report.table(["model", "params", "val accuracy", "test accuracy", "train seconds"],
                 [[r["model"], r["params"], percent(r["val_accuracy"]),
                   percent(r["test_accuracy"]), r["train_seconds"]] for r in results])
    by_name = {r["model"]: r for r in results}
    report.compare([
        ["CNN 12-24-48-96 (~50k) val", reported.CNN_50K_VAL,
         percent(by_name["cnn_50k"]["val_accuracy"])],
        ["MLP (report B) val", reported.MLP_VAL, percent(by_name["mlp_64-32"]["val_accuracy"])],
        ["CNN 206,500 val", reported.CNN_206K_VAL, percent(by_name["cnn_206k"]["val_accuracy"])],
        ["CNN params", reported.CNN_206K_PARAMS, f"{by_name['cnn_206k']['params']:,}"]])
    report.image(plot, "Train (dotted) and validation (solid) error per epoch")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")))
    run.write_report(report)


def train_compared_model(args, run, splits, name: str, builder, epochs: int) -> dict:
    """One model of cnn-vs-mlp, Adam; its history rows and results (test accuracy once)."""
    train, val, test = pipelines(splits, args.batch_size, args.seed)
    model = compile_classifier(builder(splits.image_shape, splits.num_classes),
                               make_optimizer("adam", args.lr))
    rows, seconds = fit_logged(model, train, val, epochs, run.file(f"tensorboard/{name}"))
    _, test_accuracy = model.evaluate(test, verbose=0)
    return {"rows": rows,
            "result": {"model": name, "params": int(model.count_params()),
                       "val_accuracy": rows[-1]["val_accuracy"],
                       "test_accuracy": float(test_accuracy),
                       "train_seconds": round(seconds, 2)}}


# -- 2. weight decay and early stopping -------------------------------------------------------
# Early stopping watches the validation cross-entropy alone: Keras's val_loss adds the L2
# penalty, which would make the decayed model stop on a different criterion than the other.
DECAY_MONITOR = "val_crossentropy"


def train_decay_model(args, run, splits, variant: str, label: str, strength: float,
                      seed: int, epochs: int) -> dict:
    """The report's MLP (800-800 ReLU, Glorot normal, SGD lr 0.02, batch 64) with L2
    `strength`, initialised and shuffled by `seed`, early-stopped; its history rows,
    parameter norms and results (`label` names the model, `variant` this seed's run)."""
    import keras

    from models.mlp import make_mlp
    from training.callbacks import EvaluateEachEpoch

    train, val, test = pipelines(splits, 64, seed, flatten=True)
    model = compile_classifier(
        make_mlp((int(np.prod(splits.image_shape)),), splits.num_classes, hidden=(800, 800),
                 initializer="glorot_normal", regularizer="l2" if strength else "none",
                 strength=strength, seed=seed),
        keras.optimizers.SGD(0.02), crossentropy_metric=True)
    logger = weight_norm_logger()
    stop = keras.callbacks.EarlyStopping(DECAY_MONITOR, mode="min", patience=args.patience,
                                         restore_best_weights=True)
    rows, seconds = fit_logged(model, train, val, epochs, run.file(f"tensorboard/{variant}"),
                               callbacks=[EvaluateEachEpoch(test), logger, stop])
    test_accuracy = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    result = {"model": label, "seed": seed, "l2": strength, "epochs": len(rows),
              "best_epoch": stop.best_epoch + 1, "test_accuracy": float(test_accuracy),
              "test_error": 1 - float(test_accuracy), "updates": logger.updates,
              "final_weight_norm": logger.points[-1][1], "train_seconds": round(seconds, 2)}
    return {"rows": rows, "norms": logger.points, "result": result}


def seed_spread(results: list[dict]) -> dict:
    """Per model: its test errors over the seeds, their mean and sample standard deviation
    (0 with one seed)."""
    spread = {}
    for result in results:
        spread.setdefault(result["model"], {"test_errors": []})["test_errors"].append(
            result["test_error"])
    for entry in spread.values():
        errors = np.asarray(entry["test_errors"])
        entry["mean"] = float(errors.mean())
        entry["std"] = float(errors.std(ddof=1)) if len(errors) > 1 else 0.0
    return spread


def weight_norm_logger():
    """A callback recording the L2 norm of all the model's parameters as training goes:
    `.points`, [update, norm] pairs, one per batch hook (after every update when the model
    runs one step per call, after every call's last update otherwise); `.updates`, the
    updates done, counted by the optimiser (a call's batch index can run past an epoch's
    last batch)."""
    import keras
    from keras import ops

    class WeightNormLogger(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.points = []
            self.updates = 0
            self._start = 0

        def on_train_begin(self, logs=None):
            self._start = int(self.model.optimizer.iterations)

        def on_train_batch_end(self, batch, logs=None):
            self.updates = int(self.model.optimizer.iterations) - self._start
            total = sum(ops.sum(ops.square(w)) for w in self.model.trainable_weights)
            self.points.append([self.updates, float(ops.sqrt(total))])

    return WeightNormLogger()


@task.experiment("weight-decay", "MLP 800-800 with and without L2, early stopping: test "
                 "error per epoch and the parameter norm after every update.",
                 arguments=[arg("--epochs", type=EPOCHS, default=100, help="at most"),
                            arg("--l2", type=nonnegative_float.up_to(MAX_STRENGTH), default=1e-4,
                                help="L2 strength of the decayed model"),
                            arg("--patience", type=EPOCHS, default=10,
                                help="early stopping patience (epochs of no better validation "
                                     "cross-entropy)"),
                            arg("--seeds", type=positive_int.up_to(MAX_SEEDS), default=1,
                                help="train each model with this many seeds (--seed, --seed "
                                     "+ 1, ...): the test errors' mean and spread say whether "
                                     "one model is lower beyond the run-to-run noise")])
def weight_decay(args, run):
    splits = load_splits(args)
    epochs = 2 if args.quick else args.epochs
    models = (("no_decay", 0.0), (f"l2_{args.l2:g}", args.l2))
    seeds = [args.seed + k for k in range(args.seeds)]
    records = run_variants(  # each model's results saved as it ends; a rerun resumes
        run, [(label if seed == args.seed else f"{label}_seed{seed}", (label, strength, seed))
              for seed in seeds for label, strength in models],
        lambda variant, model: train_decay_model(args, run, splits, variant, *model, epochs))
    first = [record for record in records if record["result"]["seed"] == args.seed]
    curves = {record["result"]["model"]: record["rows"] for record in first}
    norms = [{"model": record["result"]["model"], "update": update, "weight_norm": norm}
             for record in first for update, norm in record["norms"]]
    results = [record["result"] for record in records]
    spread = seed_spread(results)
    lower = min(spread, key=lambda m: spread[m]["mean"])
    run.write_history([{"model": m, **r} for m, rows in curves.items() for r in rows])
    run.write_csv("weight_norm.csv", norms)
    run.write_csv("results.csv", results)
    run.write_metrics({"dataset": args.dataset,
                       "models": {r["model"]: r for r in results if r["seed"] == args.seed},
                       "seeds": spread,
                       "lower_test_error": lower})
    errors = plot_error_curves(run, curves, ("test_accuracy",), "test_error.png",
                               f"test error per epoch, {args.dataset}")
    fig, ax = new_figure(width=8)
    for label in curves:
        points = [r for r in norms if r["model"] == label]
        ax.plot([p["update"] for p in points], [p["weight_norm"] for p in points], label=label)
    ax.set(xlabel="mini-batch update", ylabel="L2 norm of all parameters")
    ax.grid(alpha=0.3)
    ax.legend()
    norm_plot = run.save_figure(fig, "weight_norm.png")
    report = Report("Task 3: weight decay and early stopping",
                    f"Dataset {args.dataset}. MLP 800-800 ReLU, Glorot normal, SGD lr 0.02, "
                    f"batch 64, at most {epochs} epochs, early stopping on the validation "
                    f"cross-entropy without the L2 penalty "
                    f"(patience {args.patience}, best weights restored).")
    report.table(["model", "seed", "epochs run", "best epoch", "test error",
                  "final weight norm"],
                 [[r["model"], r["seed"], r["epochs"], r["best_epoch"], percent(r["test_error"]),
                   r["final_weight_norm"]] for r in results])
    if len(seeds) > 1:
        report.table(["model", "seeds", "mean test error", "standard deviation"],
                     [[m, len(v["test_errors"]), percent(v["mean"]), percent(v["std"])]
                      for m, v in spread.items()])
    report.compare([["lower test error", reported.LOWER_TEST_ERROR,
                     lower + (f" (mean of {len(seeds)} seeds)" if len(seeds) > 1 else "")]])
    report.image(errors, "Test error per epoch (the report's Figure 1)")
    report.image(norm_plot, "L2 norm of all parameters after every update (Figure 2)")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")))
    run.write_report(report)


# -- 3. dropout at inference -----------------------------------------------------------------
def dense_parameters(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel, bias) of every Dense layer, input side first."""
    return [(np.asarray(layer.kernel), np.asarray(layer.bias)) for layer in model.layers
            if layer.__class__.__name__ == "Dense"]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def first_hidden(params, x):
    """The first hidden layer's ReLU output: no dropout before it, so it is computed once."""
    kernel, bias = params[0]
    return np.maximum(x @ kernel + bias, 0)


def logits_with_masks(params, hidden, masks):
    """Pre-softmax outputs of the dropout net for one set of masks.

    The report's formulation: units are kept (mask 1) or dropped (0) and nothing is rescaled,
    so the layer after a dropout layer has weights W~ = W / (1 - rate) when W are Keras's
    (Keras's Dropout divides the kept units by 1 - rate during training instead).

    Args:
        params: `dense_parameters` of an MLP with dropout after every hidden layer.
        hidden: `first_hidden(params, x)`, (batch, units_1).
        masks: one 0/1 array per hidden layer, each (batch, units_l).
    """
    *middle, (out_kernel, out_bias) = params[1:]
    h = hidden
    for (kernel, bias), mask in zip(middle, masks[:-1], strict=True):
        h = np.maximum((h * mask) @ kernel + bias, 0)
    return (h * masks[-1]) @ out_kernel + out_bias


def trained_weights(params, rate: float):
    """Keras's weights in the report's formulation: W~ = W / (1 - rate) after every dropout."""
    return [params[0]] + [(kernel / (1 - rate), bias) for kernel, bias in params[1:]]


def weight_scaling_logits(params_tilde, hidden, rate: float):
    """Scheme (i): every W~ after a dropout layer scaled by the keep probability once."""
    scaled = [(kernel * (1 - rate), bias) for kernel, bias in params_tilde[1:]]
    return logits_with_masks([params_tilde[0]] + scaled, hidden,
                             [np.ones((len(hidden), k.shape[0]), hidden.dtype)
                              for k, _ in scaled])


def mask_average_accuracies(params_tilde, hidden, y, rate: float, n_masks: int, seed: int):
    """Schemes (ii) and (iii) with 1..n_masks masks: accuracy after each added mask.

    Returns (ii) averaging the softmax outputs, (iii) averaging the logits then softmax;
    arrays of length n_masks. One running sum each, so all N cost one pass of n_masks masks.
    """
    rng = np.random.default_rng(seed)
    mean_probs = np.zeros((len(hidden), params_tilde[-1][0].shape[1]))
    mean_logits = np.zeros_like(mean_probs)
    by_probs, by_logits = np.zeros(n_masks), np.zeros(n_masks)
    for k in range(n_masks):
        masks = [(rng.random((len(hidden), kernel.shape[0])) >= rate).astype(hidden.dtype)
                 for kernel, _ in params_tilde[1:]]
        logits = logits_with_masks(params_tilde, hidden, masks)
        mean_probs += (softmax(logits) - mean_probs) / (k + 1)
        mean_logits += (logits - mean_logits) / (k + 1)
        by_probs[k] = (mean_probs.argmax(axis=1) == y).mean()
        by_logits[k] = (mean_logits.argmax(axis=1) == y).mean()  # softmax keeps the argmax
    return by_probs, by_logits


@task.experiment("dropout-inference", "An MLP trained with dropout 0.5, evaluated by weight "
                 "scaling, averaged softmax and averaged logits over N masks.",
                 arguments=[arg("--epochs", type=EPOCHS, default=10),
                            arg("--hidden", type=hidden_sizes, default=[512, 512],
                                help="hidden sizes"),
                            arg("--masks", type=positive_int.up_to(MAX_MASKS), default=100,
                                help="largest number of sampled masks N")])
def dropout_inference(args, run):
    from models.mlp import make_mlp

    rate = 0.5
    splits = load_splits(args)
    epochs = 1 if args.quick else args.epochs
    n_masks = min(args.masks, 10) if args.quick else args.masks
    train, val, test = pipelines(splits, 128, args.seed, flatten=True)
    model = compile_classifier(make_mlp((int(np.prod(splits.image_shape)),), splits.num_classes,
                                        hidden=args.hidden, initializer="he", dropout=rate,
                                        seed=args.seed), make_optimizer("adam", 1e-3))
    rows, seconds = fit_logged(model, train, val, epochs, run.file("tensorboard"))
    run.write_history(rows)
    *_, x_test, y_test = splits.flat()
    params = trained_weights(dense_parameters(model), rate)
    hidden = first_hidden(params, x_test)
    scaled = float((weight_scaling_logits(params, hidden, rate).argmax(1) == y_test).mean())
    keras_accuracy = float((model.predict(x_test, batch_size=EVAL_BATCH, verbose=0).argmax(1)
                            == y_test).mean())
    by_probs, by_logits = mask_average_accuracies(params, hidden, y_test, rate, n_masks,
                                                  args.seed)
    counts = np.arange(1, n_masks + 1)
    run.write_csv("accuracy_vs_masks.csv", [
        {"masks": int(n), "weight_scaling": scaled, "average_softmax": float(p),
         "average_logits": float(q)} for n, p, q in zip(counts, by_probs, by_logits, strict=True)])
    run.write_metrics({"dataset": args.dataset, "dropout": rate, "masks": n_masks,
                       "weight_scaling_accuracy": scaled,
                       "keras_inference_accuracy": keras_accuracy,
                       "average_softmax_accuracy": float(by_probs[-1]),
                       "average_logits_accuracy": float(by_logits[-1]),
                       "params": int(model.count_params()), "train_seconds": round(seconds, 2)})
    fig, ax = new_figure(width=8)
    ax.axhline(100 * scaled, color="k", linestyle="--", label="(i) weights scaled by 0.5")
    ax.plot(counts, 100 * by_probs, label="(ii) mean of softmax outputs")
    ax.plot(counts, 100 * by_logits, label="(iii) softmax of mean logits")
    ax.set(xlabel="sampled masks N", ylabel="test accuracy (%)", xscale="log",
           title=f"dropout {rate} at inference, {args.dataset}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    plot = run.save_figure(fig, "accuracy_vs_masks.png")
    picks = [n for n in (1, 2, 5, 10, 20, 50, 100) if n <= n_masks]
    report = Report("Task 3: dropout at inference",
                    f"Dataset {args.dataset}. MLP {'-'.join(map(str, args.hidden))} ReLU with "
                    f"dropout {rate} after every hidden layer, Adam, {epochs} epochs. "
                    f"Keras's own inference ({percent(keras_accuracy)}) is scheme (i): its "
                    f"Dropout rescales during training instead.")
    report.table(["N masks", "(i) weight scaling", "(ii) mean softmax", "(iii) mean logits"],
                 [[n, percent(scaled), percent(by_probs[n - 1]), percent(by_logits[n - 1])]
                  for n in picks])
    report.image(plot, "Test accuracy against the number of sampled masks")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")))
    run.write_report(report)


# -- 4. batch norm vs dropout -----------------------------------------------------------------
BN_FIRST_EPOCH_NOTE = (
    "Which learns faster is read from the training loss over the first epoch, not from the "
    "test error after it: batch norm predicts with moving averages of its batch statistics "
    "(momentum 0.99), which after one epoch of 391 steps still hold 0.99^391 = 2% of their "
    "starting values (mean 0, variance 1). Where the true variances are small, as after the "
    "first convolution, that inflates them several-fold. The table's fifth column measures "
    "it: the test error after epoch 1 once more, with that share removed from the moving "
    "averages and nothing else changed. After epoch 2 (0.04%) the share is gone.")


@task.experiment("bn-vs-dropout", "The 206,500-parameter CNN plain, with dropout and with "
                 "batch norm: test error per epoch.",
                 arguments=[arg("--epochs", type=EPOCHS, default=10),
                            arg("--lr", type=LEARNING_RATE, default=1e-3, help="Adam rate")])
def bn_vs_dropout(args, run):
    from models.cnn import VARIANTS

    splits = load_splits(args)
    epochs = 1 if args.quick else args.epochs
    records = run_variants(run, [(variant, variant) for variant in VARIANTS],
                           lambda label, variant: train_cnn_variant(args, run, splits, variant,
                                                                    epochs))
    curves = {record["result"]["variant"]: record["rows"] for record in records}
    results = [record["result"] for record in records]
    run.write_history([{"variant": v, **r} for v, rows in curves.items() for r in rows])
    run.write_csv("results.csv", results)
    run.write_metrics({"dataset": args.dataset, "variants": {r["variant"]: r for r in results}})
    plot = plot_error_curves(run, curves, ("test_accuracy",), "test_error.png",
                             f"test error per epoch, {args.dataset}")
    report = Report("Task 3: batch norm against dropout",
                    f"Dataset {args.dataset}; report A's CNN, Adam lr {args.lr:g}, batch 128, "
                    f"{epochs} epochs.")
    first_loss = {v: rows[0]["loss"] for v, rows in curves.items()}
    report.table(["variant", "params", "training loss over epoch 1",
                  "test error after epoch 1", "the same, moving averages rid of their start",
                  "final test error", "train seconds"],
                 [[r["variant"], r["params"], f"{first_loss[r['variant']]:.3f}",
                   percent(r["epoch_1_test_error"]),
                   percent(r["epoch_1_test_error_without_start_share"])
                   if "epoch_1_test_error_without_start_share" in r else "–",
                   percent(r["test_error"]), r["train_seconds"]] for r in results])
    faster = min(first_loss, key=first_loss.get)
    report.compare([["learns faster", reported.LEARNS_FASTER,
                     f"{faster} (lowest mean training loss over epoch 1)"]])
    report.paragraph(BN_FIRST_EPOCH_NOTE)
    report.image(plot, "Test error per epoch")
    report.paragraph(TENSORBOARD_NOTE.format(path=run.file("tensorboard")))
    run.write_report(report)


def train_cnn_variant(args, run, splits, variant: str, epochs: int) -> dict:
    """The 206,500-parameter CNN as `variant` (plain, dropout, batchnorm), Adam, batch 128,
    test accuracy after every epoch; its history rows and results."""
    from models.cnn import make_cnn_206k
    from training.callbacks import EvaluateEachEpoch

    train, val, test = pipelines(splits, 128, args.seed)
    model = compile_classifier(make_cnn_206k(splits.image_shape, splits.num_classes,
                                             variant=variant), make_optimizer("adam", args.lr))
    first_epoch = first_epoch_without_start_share(test)
    rows, seconds = fit_logged(model, train, val, epochs, run.file(f"tensorboard/{variant}"),
                               callbacks=[EvaluateEachEpoch(test), first_epoch])
    result = {"variant": variant, "params": int(model.count_params()),
              "epoch_1_test_error": 1 - rows[0]["test_accuracy"],
              "test_error": 1 - rows[-1]["test_accuracy"],
              "train_seconds": round(seconds, 2)}
    if first_epoch.accuracy is not None:  # batch norm only
        result["epoch_1_test_error_without_start_share"] = 1 - first_epoch.accuracy
    return {"rows": rows, "result": result}


def first_epoch_without_start_share(test):
    """A callback that, after the first epoch, measures the test accuracy once more with
    every BatchNormalization's moving averages rid of their starting values' share
    (momentum^steps of mean 0 and variance 1; `BN_FIRST_EPOCH_NOTE`), then puts them back.
    `.accuracy` is None for a net without batch norm."""
    import keras

    class WithoutStartShare(keras.callbacks.Callback):
        accuracy = None

        def on_epoch_end(self, epoch, logs=None):
            norms = [layer for layer in self.model.layers
                     if isinstance(layer, keras.layers.BatchNormalization)]
            if epoch or not norms:
                return
            steps = int(self.model.optimizer.iterations)
            saved = [(np.asarray(n.moving_mean), np.asarray(n.moving_variance)) for n in norms]
            for norm, (mean, variance) in zip(norms, saved):
                share = norm.momentum ** steps
                norm.moving_mean.assign(mean / (1 - share))  # the start's mean is 0
                norm.moving_variance.assign((variance - share) / (1 - share))  # its variance 1
            self.accuracy = float(self.model.evaluate(test, verbose=0,
                                                      return_dict=True)["accuracy"])
            for norm, (mean, variance) in zip(norms, saved):
                norm.moving_mean.assign(mean)
                norm.moving_variance.assign(variance)

    return WithoutStartShare()


# -- 5. the course's CIFAR-10 ConvNet and a stronger one ------------------------------------------
CIFAR_MODELS = ("course", "strong")


def cifar_setup(name: str, splits, seed: int = 0):
    """(model, learning rate, augmentation, label smoothing) for `course` or `strong`."""
    from data.augment import shift_and_flip
    from models.cnn import make_course_convnet, make_strong_cnn

    if name == "course":  # the course's defaults: Adam lr 1e-4, weight decay 1e-3
        return (make_course_convnet(splits.image_shape, splits.num_classes, 1e-3), 1e-4, None,
                0.0)
    # Shifts of up to 2 pixels, flips on CIFAR-10 only (data.augment.shift_and_flip says why).
    augment = shift_and_flip(splits.image_shape, flip=splits.name == "cifar10", seed=seed)
    # Label smoothing too: with the shifts alone it still over-fitted in 20 minutes on
    # Fashion-MNIST (tasks/task3/README.md).
    return make_strong_cnn(splits.image_shape, splits.num_classes), 2e-3, augment, 0.1


def cifar_schedule(args) -> tuple[int, int, int]:
    """(steps, steps between test points, batch size) of cifar10-cnn's flags."""
    steps = args.steps or (10 ** 9 if args.budget_minutes else 4000)
    if args.quick:  # the course net's 5x5 convs over 64 maps are heavy: small batches too
        return min(steps, 8), 4, min(args.batch_size, 32)
    return steps, args.eval_every, args.batch_size


def train_cifar_model(args, run, splits, name: str, steps: int, every: int,
                      batch_size: int) -> dict:
    """`course` or `strong` trained `steps` (or the budget), test accuracy every `every` steps;
    its curve rows, its loss every 100 steps and its results."""
    import keras

    from training.budgets import TimeBudget
    from training.callbacks import EvaluateEachEpoch, StepLossLogger

    model, rate, augment, smoothing = cifar_setup(name, splits, args.seed)
    train, _, test = pipelines(splits, batch_size, args.seed, augment=augment)
    # One step per call: the budget sets the learning rate before every step, and an
    # "epoch" here is `every` steps, which need not be a multiple of a call's steps.
    compile_classifier(model, make_optimizer("adam", rate), label_smoothing=smoothing,
                       steps_per_execution=1)
    loss_log = StepLossLogger(100 if not args.quick else 5)
    callbacks = [EvaluateEachEpoch(test), loss_log]
    if args.budget_minutes:  # the strong net anneals its rate over the budget
        callbacks.append(TimeBudget(args.budget_minutes, anneal=name == "strong"))
    elif name == "strong":  # or over the steps
        model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=steps)
    rows, seconds = fit_logged(model, train.repeat(), None, -(-steps // every),
                               run.file(f"tensorboard/{name}"), callbacks=callbacks,
                               steps_per_epoch=every)
    done_steps = min(loss_log.step, steps)
    curve = [{"model": name, "step": r["epoch"] * every, **r} for r in rows]
    curve[-1]["step"] = loss_log.step
    _, test_accuracy = model.evaluate(test, verbose=0)
    return {"rows": curve, "losses": [{"model": name, **row} for row in loss_log.rows],
            "result": {"model": name, "params": int(model.count_params()),
                       "steps": done_steps, "test_accuracy": float(test_accuracy),
                       "train_seconds": round(seconds, 2),
                       "images_per_second": round(done_steps * batch_size / seconds, 1),
                       "budget_minutes": args.budget_minutes}}


@task.experiment("cifar10-cnn", "The course's default ConvNet and a stronger CNN, bounded by "
                 "steps or minutes: loss every 100 steps, train and test accuracy.",
                 datasets=("cifar10", "fashion_mnist", "mnist"),
                 arguments=[
                     arg("--models", type=choice_list(CIFAR_MODELS), default=list(CIFAR_MODELS),
                         help="course, strong or both (comma separated)"),
                     arg("--steps", type=positive_int.up_to(MAX_STEPS), default=None,
                         help="training steps per model (default 4000, or none with a budget)"),
                     arg("--budget-minutes", type=positive_float.up_to(MAX_MINUTES),
                         default=None,
                         help="wall-clock minutes per model; the learning rate anneals to 0"),
                     arg("--eval-every", type=positive_int.up_to(MAX_STEPS), default=500,
                         help="steps between test-accuracy points"),
                     arg("--batch-size", type=BATCH_SIZE, default=128)])
def cifar10_cnn(args, run):
    splits = load_splits(args)
    steps, every, batch_size = cifar_schedule(args)
    records = run_variants(run, [(name, name) for name in args.models], lambda name, _:
                           train_cifar_model(args, run, splits, name, steps, every, batch_size))
    curves = {record["result"]["model"]: record["rows"] for record in records}
    losses = [row for record in records for row in record["losses"]]
    results = [record["result"] for record in records]
    run.write_history([row for rows in curves.values() for row in rows])
    run.write_csv("loss_every_100_steps.csv", losses)
    run.write_csv("results.csv", results)
    run.write_metrics({"dataset": args.dataset, "models": {r["model"]: r for r in results},
                       **{f"{r['model']}_test_accuracy": r["test_accuracy"] for r in results}})
    plot = plot_cifar_curves(run, curves, losses)
    run.write_report(cifar_report(args, results, plot, batch_size, steps,
                                  run.file("tensorboard")))


def plot_cifar_curves(run, curves: dict[str, list[dict]], losses: list[dict]) -> str:
    """Training loss every 100 steps; train (dotted) and test accuracy: curves.png."""
    fig, (ax_loss, ax_acc) = new_figure(ncols=2, width=12)
    for i, name in enumerate(curves):
        points = [r for r in losses if r["model"] == name]
        ax_loss.plot([p["step"] for p in points], [p["loss"] for p in points], color=f"C{i}",
                     label=name)
        ax_acc.plot([r["step"] for r in curves[name]], [100 * r["accuracy"] for r in curves[name]],
                    color=f"C{i}", linestyle=":", label=f"{name} train")
        ax_acc.plot([r["step"] for r in curves[name]],
                    [100 * r["test_accuracy"] for r in curves[name]], color=f"C{i}", marker=".",
                    label=f"{name} test")
    ax_loss.set(xlabel="step", ylabel="training loss (mean of 100 steps)")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return run.save_figure(fig, "curves.png")


def cifar_report(args, results: list[dict], plot: str, batch_size: int, steps: int,
                 tensorboard) -> Report:
    bound = (f"{args.budget_minutes:g} minutes per model" if args.budget_minutes
             else f"{steps} steps per model")
    report = Report("Task 3: CNNs on CIFAR-10 (or the --dataset given)",
                    f"Dataset {args.dataset}, batch {batch_size}, {bound}. course: the "
                    f"course's default ConvNet (Adam lr 1e-4, L2 weight decay 1e-3); strong: "
                    f"conv-BN-ReLU stages 24-48-96, Adam lr 2e-3 annealed to 0 (cosine), "
                    f"random shifts of up to 2 pixels, horizontal flips on CIFAR-10 only, label "
                    f"smoothing 0.1 (its losses are the smoothed cross-entropy).")
    report.table(["model", "params", "steps", "test accuracy", "train seconds", "images/s"],
                 [[r["model"], r["params"], r["steps"], percent(r["test_accuracy"]),
                   r["train_seconds"], r["images_per_second"]] for r in results])
    course = next((r for r in results if r["model"] == "course"), None)
    if course:
        report.compare([["course ConvNet test accuracy", reported.COURSE_CONVNET_TEST,
                         f"{percent(course['test_accuracy'])} after {course['steps']} steps "
                         f"({args.dataset})"]])
    report.image(plot, "Training loss every 100 steps; train (dotted) and test accuracy")
    report.paragraph(TENSORBOARD_NOTE.format(path=tensorboard))
    return report


EXPERIMENTS = ["cnn-vs-mlp", "weight-decay", "dropout-inference", "bn-vs-dropout", "cifar10-cnn"]


@task.experiment("all", "Every experiment, each on its report's dataset unless --dataset is "
                 "given.", datasets=("report", "mnist", "fashion_mnist", "cifar10"))
def run_all(args, run):
    task.run_all(args, EXPERIMENTS, run)  # "report" is no experiment's: each keeps its default
    write_index(run, "Task 3: every experiment", f"Dataset: {args.dataset}.", EXPERIMENTS)


__all__ = ["task", "weight_norm_logger", "logits_with_masks", "weight_scaling_logits",
           "mask_average_accuracies", "trained_weights", "first_hidden", "dense_parameters"]
