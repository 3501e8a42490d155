"""`train`'s report.md: the run's figures, the recipe in words, the course reports' beside."""

from __future__ import annotations

from data.augment import AUGMENTS, describe_tta
from suite.report import Report, percent
from tasks.task4 import reported

HELD_OUT = "– (a refit: every labelled photo trained, none held out)"


def recipe_words(recipe, params: int, train_images: int, val_images: int) -> str:
    """The recipe in one paragraph."""
    extras = "".join(f", {name} {value:g}" for name, value in (
        ("cutout", recipe.cutout), ("label smoothing", recipe.label_smoothing),
        ("weight decay", recipe.weight_decay), ("warm-up epochs", recipe.warmup),
        ("weight average (EMA) decay", recipe.ema),
        ("progressive resizing from side", recipe.progressive)) if value)
    if recipe.whiten:
        extras += ", a whitening stem (frozen)"
    return (f"{params:,} parameters, {recipe.optimizer} lr {recipe.learning_rate:g}, batch "
            f"{recipe.batch_size}, {recipe.precision} arithmetic (model.keras: float32), "
            f"augmentation {recipe.augment} ({AUGMENTS[recipe.augment].describe()}){extras}; "
            f"{train_images:,} training / {val_images:,} validation photos at "
            f"{recipe.image_size}x{recipe.image_size}.")


def train_report(metrics: dict, recipe) -> Report:
    val = percent(metrics["val_accuracy"]) if metrics["val_accuracy"] is not None else HELD_OUT
    report = Report(f"Task 4 train: {metrics['model']} on Dogs vs. Cats",
                    recipe_words(recipe, metrics["params"], metrics["train_images"],
                                 metrics["val_images"]))
    kept = ("the last epoch's (annealed by the budget; not chosen on these photos)"
            if metrics["kept"] == "last" else "the best validation epoch's")
    best = percent(metrics["best_val_accuracy"]) if metrics["best_val_accuracy"] is not None \
        else HELD_OUT
    report.table(["figure", "value"], [
        [f"val accuracy of model.keras: {kept} weights", val],
        ["val loss", metrics["val_loss"] if metrics["val_loss"] is not None else HELD_OUT],
        ["kept epoch / epochs run", f"{metrics['kept_epoch']} / {metrics['epochs']}"],
        [f"best epoch's val accuracy (epoch {metrics['best_epoch']}; picked on these photos)",
         best],
        ["wall-clock seconds (whole run)", metrics["train_seconds"]],
        ["budget (minutes)", metrics["budget_minutes"]],
        *[[f"val accuracy, test-time views {mode} ({describe_tta(mode)})", percent(accuracy)]
          for mode, accuracy in metrics["val_accuracy_tta"].items() if mode != "none"],
        *[[f"held-out photos ({recipe.holdout} of each class, never trained or validated on)"
           f", test-time views {mode}", percent(accuracy)]
          for mode, accuracy in metrics.get("holdout_accuracy_tta", {}).items()],
    ])
    report.compare([
        ["val accuracy (report B, VGG-13, best near epoch 150 of 200)",
         reported.VGG13_VAL_ACCURACY, val],
        ["public leaderboard (Kaggle test)", reported.KAGGLE_PUBLIC_SCORE,
         "not checkable here: test1 has no labels; upload submission.csv"],
        ["report C, BN nets, best val", reported.BN_NETS_VAL_ACCURACY, "–"],
    ])
    report.paragraph("IDG's `shear_range` is in degrees, so the report's shear of 0.2 is "
                     "almost no shear; it is kept faithful here.")
    report.image("learning_curves.png", "Loss and accuracy per epoch")
    return report
