"""`python -m tasks.task4 train`'s flags, and the recipe they resolve to.

Every flag is a recipe field (`training.recipes`), parsed by that field's own rule, so a
flag, an `--hparams` key and a tuner's value take the same values. Left out, a flag leaves
the field to the net's recipe and the budget's rules; what each net's recipe is, and why,
is in `training/recipes.py` and tasks/task4/README.md, "Recipes".
"""

from __future__ import annotations

import argparse

from data.augment import AUGMENTS, ENGINES
from models.vgg import MODEL_NAMES
from suite.cli import arg
from suite.errors import UsageError
from suite.io import read_json
from training.precision import PRECISION_NOTES, PRECISIONS
from training.recipes import OPTIMIZERS, flag_type, resolve

# Each flag's recipe field, where the flag's name is not the field's.
FIELD_OF = {"lr": "learning_rate"}
# Flags that are recipe fields (besides --model, --width, --budget-minutes and --hparams,
# which `recipe_from_args` reads itself).
RECIPE_FLAGS = ("optimizer", "lr", "batch_size", "epochs", "warmup", "whiten", "augment",
                "cutout", "label_smoothing", "weight_decay", "ema", "engine", "patience",
                "image_size", "progressive", "precision", "limit", "refit", "holdout", "seed")


def field_of(name: str) -> str:
    """The recipe field a flag (its argparse name) sets."""
    return FIELD_OF.get(name, name)


def field_arg(flag: str, help: str):
    """A flag that sets the recipe field of its name (`field_of`), parsed by that field's
    rule."""
    name = flag.removeprefix("--").replace("-", "_")
    return arg(flag, type=flag_type(field_of(name)), help=help)


AUGMENT_HELP = "; ".join(f"{name}: {config.describe()}" for name, config in AUGMENTS.items())
PRECISION_HELP = "; ".join(f"{name}: {note}" for name, note in PRECISION_NOTES.items())

ARGUMENTS = [
    arg("--model", choices=MODEL_NAMES, default="cpu_net",
        help="the net to train (vgg13 is the report's 45M-parameter VGG: hours an epoch on "
             "a CPU)"),
    field_arg("--width",
        "cpu_net's width: the filters of its first full block, doubled at each later "
        "one (default: the recipe's, wider when the budget affords many epochs here)"),
    arg("--hparams", help="a best_hparams.json from tuning/: the recipe fields a search chose "
        "(learning_rate, batch_size, depth, kernel_size, optimizer, ...), over the net's "
        "recipe and under the flags given here; names the net too"),
    arg("--optimizer", choices=OPTIMIZERS, help="default: the net's recipe"),
    field_arg("--lr",
        "learning rate, the schedule's peak under a budget (default: the recipe's)"),
    field_arg("--batch-size", "default: the net's recipe"),
    field_arg("--epochs", "at most this many epochs (default: the "
        "recipe's; under a budget, as many as fit)"),
    field_arg("--budget-minutes",
        "wall-clock minutes for the whole run, data loading included: the first epoch "
        "is timed, the epochs that fit are planned and the learning rate decays to zero "
        "at the last (cosine); cpu_net's recipe then warms up and runs a one-cycle"),
    field_arg("--warmup",
        "under --budget-minutes, raise the learning rate linearly from near zero to "
        "its peak over this many epochs (fractions allowed) before the cosine brings it "
        "down: a one-cycle schedule (0 = off; default: the recipe's)"),
    arg("--whiten", action=argparse.BooleanOptionalAction,
        help="cpu_net's stem conv whitens its patches and is not trained: its filters are "
             "the principal directions of 3x3 patches of the training photos and their "
             "negatives (airbench's whitening layer); default: the recipe's (on for cpu_net)"),
    arg("--augment", choices=tuple(AUGMENTS), nargs="?", const="report",
        help=f"the training photos' augmentation ({AUGMENT_HELP}); --augment alone is "
             "report; default: the recipe's"),
    arg("--no-augment", dest="augment", action="store_const", const="none",
        help="the same as --augment none: the photos as they are"),
    field_arg("--cutout",
        "after the augmentation, erase from each training photo a square of this "
        "share of its side at a random place, filled with the photo's mean colour "
        "(0 = off; default: the recipe's)"),
    field_arg("--label-smoothing",
        "label smoothing s: the targets are 1 - s/2 for the photo's class and s/2 for "
        "the other (0 = off; default: the recipe's)"),
    field_arg("--weight-decay",
        "decoupled weight decay (AdamW's for Adam): each step shrinks the kernels by "
        "this times the learning rate (biases and batch norm never decay; default 0)"),
    field_arg("--ema",
        "an exponential moving average of the weights, decay d per step (0.999 "
        "averages over the last ~1,000 steps): validated, checkpointed and saved as "
        "model.keras in place of the raw weights, which train on (default 0 = off)"),
    arg("--engine", choices=ENGINES,
        help="augmentation engine: fast (tf.data affine; the default) or legacy "
             "(ImageDataGenerator itself)"),
    field_arg("--patience",
        "stop after this many epochs without a better val_accuracy (0 = never; "
        "default: never under --budget-minutes, whose learning rate reaches zero only "
        "at the budget's last epoch, else the recipe's)"),
    field_arg("--image-size",
        "photos are resized to this side (default 64, the competition's)"),
    field_arg("--progressive",
        "progressive resizing: the first half of the epochs train on photos shrunk to "
        "this side after their augmentation, the rest at --image-size, which is what "
        "validation, model.keras and submit use; cpu_net only (default 0 = off)"),
    arg("--precision", choices=PRECISIONS, default="auto",
        help=f"arithmetic of the training steps: {PRECISION_HELP}; model.keras is saved in "
             "float32 either way"),
    field_arg("--limit", "at most this many photos per class"),
    arg("--refit", action="store_true", default=None,
        help="train the final model on every labelled photo (the training and validation "
             "split together) with the same recipe and budget, as Kaggle entrants do once "
             "the recipe is chosen on the split: nothing is held out, so nothing is "
             "validated, and model.keras holds the last (annealed) weights"),
    field_arg("--holdout",
        "keep this many labelled photos of each class out of training and validation "
        "alike, and score the final model on them at the end: what a model chosen on "
        "the split, or refitted on it, gives on photos it never saw (default 0)"),
]


def read_hparams(path) -> dict:
    """A best_hparams.json as a flat dict; KerasTuner's nesting ("hyperparameters",
    "values") is accepted too. Its recipe fields and architecture settings are used
    (`training.recipes.split_changes`); scores and trial ids are ignored."""
    try:
        values = read_json(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"--hparams {path} is not a readable JSON file ({error}).") from None
    if not isinstance(values, dict):
        raise UsageError(f"--hparams {path} must hold a JSON object of hyper-parameters.")
    for nested in ("hyperparameters", "values", "hparams"):
        if isinstance(values.get(nested), dict):
            values = {**values, **values[nested]}
    return values


def recipe_from_args(args, afforded: float | None = None):
    """The run's recipe: the net's < the budget's rules < --hparams < the flags given;
    `afforded`: the epochs the budget affords here, for the rules that follow them (None:
    not timed yet)."""
    hparams = read_hparams(args.hparams) if args.hparams else {}
    if hparams:
        try:  # the file alone first, so that a bad value is said to be the file's
            resolve(args.model, args.budget_minutes, hparams=hparams)
        except UsageError as error:
            raise UsageError(f"--hparams {args.hparams}: {error}") from None
    flags = {field_of(name): getattr(args, name) for name in RECIPE_FLAGS}
    if args.width is not None:
        flags["architecture"] = {"width": args.width}
    return resolve(args.model, args.budget_minutes, hparams=hparams, flags=flags,
                   quick=args.quick, afforded=afforded)


def prepare(args) -> None:
    """`train`'s flags resolved to `args.recipe`, before its results folder is made (a bad
    value or combination never leaves a folder behind) and recorded in its config.json."""
    args.recipe = recipe_from_args(args)
