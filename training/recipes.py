"""Task 4's training recipe: every setting a run of it uses, as one frozen value.

A `Recipe` holds the net and its architecture, the optimiser, rate, batch, epochs or budget,
the schedule's warm-up, the augmentation, smoothing, cutout, whitening, weight average,
precision, photo sizes and the photos trained on. `resolve` makes a run's recipe in one
place, in one order:

    the net's recipe  <  the budget's rules  <  --hparams (a search's choice)  <  flags

and everything after reads the recipe. `python -m tasks.task4 train`, the tuner's trials
(`tuning/`), `bench/train_speed.py` and the GPU path (`tasks/task4/portable.py`) all take
their recipe from here, so a trial trains exactly as `train` does.

    recipe = resolve("cpu_net", budget_minutes=30)
    recipe.learning_rate, recipe.warmup        # 0.004, 2.0: the budget's one-cycle
    resolve("cpu_net", 30, hparams={"batch_size": 32}).batch_size   # 32

Each field has one rule (`RULES`): its type and the values a run can meet, the same for a
flag, an `--hparams` key and a tuner's value. Why each net's defaults are what they are is
said beside them; the figures behind them are in tasks/task4/README.md, "Recipes".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from data.augment import AUGMENTS, ENGINES
from models.vgg import BN_NETS, CPU_NET_DEPTHS, MODEL_NAMES, VGG_DEPTHS
from suite.errors import UsageError, must_be
from training.precision import resolve as resolve_precision

OPTIMIZERS = ("sgd", "adam")  # task 4's optimisers (`training.optimizers.make_optimizer`)
# Epochs a budgeted run may plan at most: the budget decides when it stops.
BUDGET_MAX_EPOCHS = 1000
# Early stopping's patience without a budget (a budget's cosine ends the run annealed).
PATIENCE = 30
QUICK_PER_CLASS = 60  # --quick: 60 photos of each class, at most 2 epochs
QUICK_EPOCHS = 2
# Nets whose first conv, `stem_conv`, can be the whitening one, and nets that take photos
# of any size (global average pooling), which progressive resizing needs.
WHITENED_MODELS = ("cpu_net",)
ANY_SIZE_MODELS = ("cpu_net",)


@dataclass(frozen=True)
class Rule:
    """What one setting may be: a `kind` ("int", "float", "bool", "choice", "ints" for a
    list of positive integers, "blocks" for a list of lists of them), bounds (inclusive
    `low`, inclusive or, with `open_high`, exclusive `high`), or `choices`."""

    kind: str
    low: float | None = None
    high: float | None = None
    open_high: bool = False
    choices: tuple = ()
    optional: bool = False  # None allowed (no budget, no limit)

    def words(self) -> str:
        if self.kind == "choice":
            return f"one of {', '.join(map(str, self.choices))}"
        if self.kind == "bool":
            return "true or false"
        if self.kind in ("ints", "blocks"):
            noun = "a list of" if self.kind == "ints" else "a list of lists of"
            return f"{noun} integers from {self.low:,} to {self.high:,}"
        noun, low, high = ("an integer", f"{self.low:,}", f"{self.high:,}") \
            if self.kind == "int" else ("a number", f"{self.low:g}", f"{self.high:g}")
        return f"{noun} from {low} {'under' if self.open_high else 'up to'} {high}"

    def check(self, value):
        """`value` as this setting's type, or ValueError with the expected words."""
        if value is None and self.optional:
            return None
        ok, value = self._convert(value)
        if not ok:
            raise ValueError(self.words())
        return value

    def _convert(self, value):
        if self.kind == "choice":
            return value in self.choices, value
        if self.kind == "bool":
            return isinstance(value, bool), value
        if self.kind == "ints":
            items = _sequence(value)
            return items is not None and all(self._number_ok(v, int) for v in items), \
                tuple(items or ())
        if self.kind == "blocks":
            blocks = _sequence(value)
            if not blocks or any(not _sequence(b) for b in blocks):
                return False, value
            inner = replace(self, kind="ints")
            return all(inner._convert(b)[0] for b in blocks), tuple(tuple(b) for b in blocks)
        kind = int if self.kind == "int" else float
        return self._number_ok(value, kind), kind(value) if self._number_ok(value, kind) \
            else value

    def _number_ok(self, value, kind) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if kind is int and (not isinstance(value, int)):
            return False
        if not math.isfinite(value) or value < self.low:
            return False
        return value < self.high if self.open_high else value <= self.high

    def parse(self, text: str):
        """A command-line value: `text` read as this setting's type and checked."""
        kind = {"int": int, "float": float}.get(self.kind, str)
        try:
            value = kind(text)
        except ValueError:
            value = text
        return self.check(value)


def _sequence(value):
    return list(value) if isinstance(value, (list, tuple)) and value else None


FRACTION = Rule("float", 0, 1, open_high=True)
# Every field's rule; the bounds are what a run can meet on any machine.
RULES = {
    "model": Rule("choice", choices=MODEL_NAMES),
    "optimizer": Rule("choice", choices=OPTIMIZERS),
    "learning_rate": Rule("float", 1e-8, 10.0),
    "momentum": FRACTION,
    "weight_decay": FRACTION,
    "batch_size": Rule("int", 1, 4096),
    "epochs": Rule("int", 1, 10_000),
    "budget_minutes": Rule("float", 0.01, 7 * 24 * 60, optional=True),
    "warmup": Rule("float", 0, 1000),
    "patience": Rule("int", 0, 10_000),
    "ema": FRACTION,
    "label_smoothing": FRACTION,
    "image_size": Rule("int", 8, 1024),
    "augment": Rule("choice", choices=tuple(AUGMENTS)),
    "engine": Rule("choice", choices=ENGINES),
    "cutout": FRACTION,
    "progressive": Rule("int", 0, 1024),
    "whiten": Rule("bool"),
    "precision": Rule("choice", choices=("float32", "bfloat16")),  # resolved
    "seed": Rule("int", 0, 2**32 - 1),
    "limit": Rule("int", 2, 10**7, optional=True),
    "refit": Rule("bool"),
    "holdout": Rule("int", 0, 10**6),
}
# The architecture's settings (the builders' arguments, `models.vgg`), and which net takes
# which: `cpu_net` is widened and deepened; the VGGs take any blocks and dense layers; the
# batch-norm nets' blocks are fixed by name.
ARCHITECTURE_RULES = {
    "width": Rule("int", 1, 1024),
    "depth": Rule("int", 1, 64),
    "kernel_size": Rule("int", 1, 11),
    "filters": Rule("blocks", 1, 8192),
    "dense": Rule("ints", 1, 65536),
    "batch_norm": Rule("bool"),
    "dropout": FRACTION,
}
ARCHITECTURES = {
    "cpu_net": {"width": 32, "depth": 6, "kernel_size": 3, "dropout": 0.3},
    "vgg": {"depth": None, "kernel_size": 3, "filters": None, "dense": (4096, 4096),
            "batch_norm": False, "dropout": 0.0},
    "bn": {"kernel_size": 3, "dense": (1024, 1024), "dropout": 0.0},
}
DEPTHS = {"cpu_net": tuple(CPU_NET_DEPTHS), "vgg": tuple(VGG_DEPTHS)}


def family(model: str) -> str:
    """The recipe family of a net: "vgg" (vgg6 ... vgg19), "bn" (report C's) or "cpu_net"."""
    return "vgg" if model.startswith("vgg") else "bn" if model in BN_NETS else model


@dataclass(frozen=True)
class Recipe:
    """Every setting of one training run of task 4 (see the module's docstring).

    Args:
        model: the net (`models.vgg.MODEL_NAMES`).
        architecture: the net's builder arguments, as sorted (name, value) pairs with every
            one of its family's settings (`ARCHITECTURES`); `.arch` gives them as a dict.
        optimizer, learning_rate, momentum, weight_decay: the optimiser (momentum is SGD's;
            weight decay is decoupled, AdamW's for Adam).
        batch_size, epochs: epochs at most; under a budget the budget plans them.
        budget_minutes: wall-clock minutes for the whole run (None: epochs alone).
        warmup: under a budget, epochs of linear warm-up before the cosine (a one-cycle).
        patience: early stopping's, in epochs (0 = never).
        ema: the weight average's decay per step (0 = off).
        label_smoothing: s, targets 1 - s/2 and s/2.
        image_size: the photos' side; progressive: the first half's side (0 = off).
        augment, engine, cutout: the training photos' augmentation (`data.augment`).
        whiten: the stem conv a frozen whitening layer (airbench's).
        precision: "float32" or "bfloat16" (resolved from "auto" by `resolve`).
        seed, limit, refit, holdout: the split's and training's seed, at most `limit` photos
            per class, training on every labelled photo (nothing validated), and `holdout`
            photos of each class kept out of training and validation (scored at the end).

    Example:
        recipe = resolve("cpu_net", budget_minutes=30)
        recipe.replace(batch_size=32).batch_size  # 32: a new, checked recipe
    """

    model: str = "cpu_net"
    architecture: tuple = ()
    optimizer: str = "adam"
    learning_rate: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 40
    budget_minutes: float | None = None
    warmup: float = 0.0
    patience: int = PATIENCE
    ema: float = 0.0
    label_smoothing: float = 0.0
    image_size: int = 64
    augment: str = "medium"
    engine: str = "fast"
    cutout: float = 0.0
    progressive: int = 0
    whiten: bool = False
    precision: str = "float32"
    seed: int = 0
    limit: int | None = None
    refit: bool = False
    holdout: int = 0

    def __post_init__(self):
        for name, rule in RULES.items():
            object.__setattr__(self, name, _checked(name, getattr(self, name), rule))
        object.__setattr__(self, "architecture", _architecture(self.model, self.architecture))
        _check_combination(self)

    @property
    def arch(self) -> dict:
        """The architecture as the builder's keyword arguments."""
        return dict(self.architecture)

    def replace(self, **changes) -> Recipe:
        """A new recipe with `changes`; an `architecture` dict is merged key by key."""
        same_net = family(changes.get("model", self.model)) == family(self.model)
        if "architecture" in changes or not same_net:
            base = self.arch if same_net else {}
            changes["architecture"] = {**base, **dict(changes.get("architecture", {}))}
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """The recipe as JSON values (config.json, best_hparams.json)."""
        values = asdict(self)
        values["architecture"] = {k: _plain(v) for k, v in self.architecture}
        return values

    def describe(self) -> str:
        """One line per group of settings, for the start of a run."""
        arch = ", ".join(f"{k} {_plain(v)}" for k, v in self.architecture)
        budget = f"{self.budget_minutes:g}-minute budget" if self.budget_minutes else \
            f"{self.epochs} epochs (patience {self.patience})"
        return (f"recipe: {self.model} ({arch}); {self.optimizer} lr {self.learning_rate:g}"
                f"{f' momentum {self.momentum:g}' if self.optimizer == 'sgd' else ''}, "
                f"batch {self.batch_size}, {budget}, warm-up {self.warmup:g} epochs; "
                f"augment {self.augment} ({self.engine}), cutout {self.cutout:g}, label "
                f"smoothing {self.label_smoothing:g}, whiten {self.whiten}, EMA {self.ema:g}, "
                f"weight decay {self.weight_decay:g}; {self.image_size} px"
                f"{f' (from {self.progressive} px)' if self.progressive else ''}, "
                f"{self.precision}; seed {self.seed}"
                f"{f', {self.limit} photos per class' if self.limit else ''}"
                f"{', refit on every labelled photo' if self.refit else ''}"
                f"{f', {self.holdout} photos per class held out' if self.holdout else ''}")


def _plain(value):
    """Tuples as lists, for JSON and messages."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _checked(name: str, value, rule: Rule):
    try:
        return rule.check(value)
    except ValueError as error:
        raise UsageError(must_be(name, str(error), _plain(value))) from None


def _architecture(model: str, values) -> tuple:
    """`values` over the net's family's defaults, each checked, as sorted pairs."""
    defaults = ARCHITECTURES[family(model)]
    values = dict(values)
    for name in values:
        if name not in defaults:
            raise UsageError(must_be(f"{model}'s architecture setting", "one of "
                                     + ", ".join(defaults), name))
    merged = {**defaults, **values}
    if family(model) == "vgg":
        merged["depth"] = int(model[3:])  # the name says it (a `filters` list overrides it)
    for name, value in merged.items():
        if value is not None:
            merged[name] = _checked(name, value, ARCHITECTURE_RULES[name])
    depths = DEPTHS.get(family(model))
    if depths and merged.get("filters") is None and merged["depth"] not in depths:
        raise UsageError(must_be(f"{model}'s depth", "one of " + ", ".join(map(str, depths)),
                                 merged["depth"]))
    return tuple(sorted(merged.items()))


def _check_combination(recipe: Recipe) -> None:
    """The settings that only some nets or runs take."""
    if recipe.warmup and not recipe.budget_minutes:
        raise UsageError("warmup needs a budget (--budget-minutes): it starts the budget's "
                         "schedule, and without one the learning rate stays constant.")
    if recipe.whiten and recipe.model not in WHITENED_MODELS:
        raise UsageError(must_be("whiten's model", " or ".join(WHITENED_MODELS),
                                 recipe.model))
    if recipe.progressive and recipe.model not in ANY_SIZE_MODELS:
        raise UsageError(must_be("progressive's model", f"{' or '.join(ANY_SIZE_MODELS)} "
                                 "(a net that takes photos of any size)", recipe.model))
    if recipe.progressive and not recipe.progressive < recipe.image_size:
        raise UsageError(must_be("progressive", f"under the image size ({recipe.image_size})",
                                 recipe.progressive))


# -- the named recipes ----------------------------------------------------------------------------
# The VGGs take report B's recipe: SGD, lr 0.015, batch 16, 200 epochs (its best came near
# epoch 150); the report names no momentum, 0.9 is this suite's (tasks/task4/README.md, "The
# report's VGG-13 on a GPU", says what it did there). Report C trained its batch-norm nets
# with Adam for 25 epochs. Both keep the reports' augmentation and plain labels.
# The CPU net takes Adam and batches of 64 (on 2 cores a batch of 16 leaves the cores half
# idle, and batch norm makes the larger step safe), the medium augmentation, label smoothing
# and a whitening stem: each measured better in its budgeted runs (README, "Recipes").
RECIPES = {
    "vgg": Recipe(model="vgg13", optimizer="sgd", learning_rate=0.015, batch_size=16,
                  epochs=200, augment="report"),
    "bn": Recipe(model="bn_shallow", optimizer="adam", learning_rate=1e-3, batch_size=32,
                 epochs=25, augment="report"),
    "cpu_net": Recipe(model="cpu_net", optimizer="adam", learning_rate=2e-3, batch_size=64,
                      epochs=40, augment="medium", label_smoothing=0.1, whiten=True),
}


@dataclass(frozen=True)
class BudgetRule:
    """Changes to a net's recipe under a budget that affords at least `epochs` epochs of
    the net's own recipe (0: any budget). The epochs are timed on the machine at hand when
    the run starts (`training.calibration`), so a fast CPU's extra epochs buy a larger net,
    and a slow one keeps the recipe its epochs were measured with."""

    epochs: float
    changes: tuple  # (field, value) pairs; an "architecture" value is a dict's items

    def applies(self, budget_minutes: float | None, afforded: float | None) -> bool:
        if budget_minutes is None:
            return False
        return self.epochs == 0 or (afforded is not None and afforded >= self.epochs)


# Under any budget the CPU net runs a one-cycle: two epochs' warm-up to twice its rate, then
# the cosine. A budget that affords many epochs of it trains it wider, on the strong
# augmentation (a wide net learns the medium-augmented photos by heart): width 48 costs about
# twice width 32's epoch, width 64 about 3.5 times, so each tier keeps about 45 epochs. Past
# that, width 64 learns even the strongly augmented 64-pixel photos by heart, so a budget
# that affords still more spends it on pixels: 96-pixel photos, whose epoch costs about six
# times the timed one's, so that tier keeps about 65 epochs or more.
# (README, "Recipes", has the runs behind each.)
BUDGET_RULES = {
    "cpu_net": (BudgetRule(0, (("learning_rate", 4e-3), ("warmup", 2.0))),
                BudgetRule(90, (("augment", "strong"), ("architecture", (("width", 48),)))),
                BudgetRule(160, (("architecture", (("width", 64),)),)),
                BudgetRule(400, (("image_size", 96),))),
}


def timed_tiers(model: str) -> bool:
    """Whether `model`'s budget rules depend on the epochs a budget affords (then a run
    times its net before it starts: `training.calibration`)."""
    return any(rule.epochs for rule in BUDGET_RULES.get(family(model), ()))


def net_recipe(model: str) -> Recipe:
    """`model`'s named recipe (its family's, with this net)."""
    base = RECIPES[family(model)]
    return base if base.model == model else base.replace(model=model, architecture={})


def budget_changes(model: str, budget_minutes: float | None,
                   afforded: float | None = None) -> dict:
    """What the budget's rules change in `model`'s recipe, in rule order, for a budget of
    `budget_minutes` that affords `afforded` epochs of the net's own budgeted recipe (None:
    not timed, so only the rules for any budget apply)."""
    changes: dict = {}
    for rule in BUDGET_RULES.get(family(model), ()):
        if rule.applies(budget_minutes, afforded):
            for name, value in rule.changes:
                if name == "architecture":
                    value = {**changes.get("architecture", {}), **dict(value)}
                changes[name] = value
    return changes


# --hparams keys that are the net's architecture rather than a recipe field of its own.
HPARAM_ARCHITECTURE = tuple(ARCHITECTURE_RULES)


def model_of(hparams: dict, default: str) -> str:
    """The net `hparams` name (a search's file names a depth, not a model: {"depth": 16} is
    vgg16 unless it also names cpu_net), else `default`."""
    if "model" in hparams:
        return hparams["model"]
    if "depth" in hparams:
        return f"vgg{hparams['depth']}"
    return default


# Fields a search may choose; the run's own (budget, seed, photos, arithmetic) are the run's.
RUN_FIELDS = ("model", "budget_minutes", "seed", "limit", "refit", "holdout", "precision")


def split_changes(values: dict) -> dict:
    """The recipe fields and architecture settings of a flat dict (an --hparams file, a
    trial's values) as `Recipe.replace` takes them; other keys (scores, trial ids, the
    run's own fields, `RUN_FIELDS`) are left out."""
    changes = {k: v for k, v in values.items() if k in RULES and k not in RUN_FIELDS}
    arch = {k: v for k, v in values.items() if k in HPARAM_ARCHITECTURE}
    if arch:
        changes["architecture"] = arch
    return changes


def resolve(model: str = "cpu_net", budget_minutes: float | None = None,
            hparams: dict | None = None, flags: dict | None = None,
            quick: bool = False, afforded: float | None = None) -> Recipe:
    """A run's recipe: `model`'s < the budget's rules < `hparams` < `flags`, then what
    follows from them (a budget plans its epochs, turns early stopping off; --quick trains
    `QUICK_PER_CLASS` photos of each class for at most `QUICK_EPOCHS` epochs).

    Args:
        model: the net, unless `hparams` names one.
        budget_minutes: the run's wall-clock budget (None: epochs alone).
        afforded: the epochs of the net's budgeted recipe the budget affords on this
            machine (`training.calibration.affordable_epochs`; None: not timed).
        hparams: a search's choice (`best_hparams.json`): recipe fields and architecture
            settings; other keys are ignored.
        flags: the settings given on the command line, as recipe fields (`architecture`: a
            dict of its settings); a None value is left out. `precision` may be "auto"
            (the default): bfloat16 on a CPU with native bfloat16 instructions.

    Raises:
        UsageError: a value a recipe cannot take, or settings that do not fit together.
    """
    hparams, flags = dict(hparams or {}), {k: v for k, v in (flags or {}).items()
                                           if v is not None}
    name = model_of(hparams, flags.pop("model", model))
    precision = resolve_precision(flags.pop("precision", "auto"))
    _checked("model", name, RULES["model"])
    recipe = net_recipe(name)
    changes = {**budget_changes(name, budget_minutes, afforded),
               "budget_minutes": budget_minutes, "precision": precision}
    for layer in (split_changes(hparams), flags):
        arch = {**changes.get("architecture", {}), **layer.get("architecture", {})}
        changes.update(layer)
        if arch:
            changes["architecture"] = arch
    if budget_minutes and "epochs" not in flags:
        changes["epochs"] = BUDGET_MAX_EPOCHS  # the budget decides when to stop
    if "patience" not in flags:
        changes["patience"] = 0 if budget_minutes else PATIENCE
    if quick:
        changes["epochs"] = min(changes.get("epochs", recipe.epochs), QUICK_EPOCHS)
        changes["limit"] = QUICK_PER_CLASS
    return recipe.replace(**changes)


def flag_type(name: str):
    """An argparse `type` for recipe field (or architecture setting) `name`: the field's
    own rule, so a flag takes exactly the values a recipe does."""
    import argparse

    rule = RULES.get(name) or ARCHITECTURE_RULES[name]

    def parse(text):
        try:
            return rule.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"must be {error}; got {text!r}") from None

    parse.__name__ = rule.words()
    return parse


def flag_list_type(name: str):
    """`flag_type` for a comma-separated list of values of field `name` (a search space's
    values, each one a recipe can take)."""
    import argparse

    one = flag_type(name)

    def parse(text):
        values = [one(item) for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"must be a comma-separated list of "
                                             f"{one.__name__}s; got {text!r}")
        return values

    parse.__name__ = f"a comma-separated list of {one.__name__}s"
    return parse
