"""Budget planning, pure arithmetic: how many epochs fit a wall-clock budget, at which
photo size, and the learning rate at each step. No Keras here; the callbacks that act on
these plans are in `training/budgets.py`.

    plan = EpochPlan(budget_seconds=1800, tail_seconds=45, max_epochs=1000)
    plan.record(None, 40.0)          # the first epoch took 40 s
    plan.plan(epochs_done=1, elapsed=60.0)   # epochs still to run: 42
    warmup_cosine_rate(4e-3, position=10.5, planned=43, warmup=2.0)
"""

from __future__ import annotations

import math


def cosine_rate(base_lr: float, fraction: float) -> float:
    """The cosine annealing rate: `base_lr` at `fraction` 0, half of it at 0.5, 0 at 1."""
    return base_lr * 0.5 * (1 + math.cos(math.pi * fraction))


def warmup_cosine_rate(base_lr: float, position: float, planned: int | None,
                       warmup: float = 0.0, step: float = 0.0) -> float:
    """The rate at the step that begins `position` epochs into a run of `planned` epochs
    (None: not planned yet), `step` being one step's share of an epoch: a linear rise over
    the first `warmup` epochs, each step adding `base_lr` * step / warmup (Goyal et al.'s
    warm-up; with the cosine fall after it, a one-cycle), then a cosine from `base_lr` to
    zero at the plan's end. A plan too short for its warm-up warms up for half of it.
    """
    warm = warmup if planned is None else min(warmup, planned / 2)
    if position < warm:
        return base_lr * min(1.0, (position + step) / warm)
    if planned is None:
        return base_lr
    return cosine_rate(base_lr, min(1.0, (position - warm) / (planned - warm)))


class EpochSizes:
    """Progressive resizing: the first `fraction` of the planned epochs train on photos
    shrunk to `low` pixels a side, the rest at `full` (fast.ai's DAWNBench runs; the
    "progressive learning" of EfficientNetV2). The cheap epochs come first, while the net
    learns coarse shapes; the last ones, at the size it will be judged at, settle it there.

    Once an epoch has run at `full`, every later one does too (a longer plan never shrinks
    the photos again); `first_full` says since which epoch (0-based), for a resumed run.
    """

    def __init__(self, low: int, full: int, fraction: float, first_full: int | None = None):
        if not 0 < low < full:
            raise ValueError(f"the low size must be in (0, {full}), got {low}.")
        self.low, self.full, self.fraction = low, full, fraction
        self.first_full = first_full
        self.current = None  # the size of the epoch under way

    def switch(self, planned: int | None) -> int | None:
        """The first full-size epoch of a plan of `planned` epochs (None: not yet known)."""
        if self.first_full is not None:
            return self.first_full
        return None if planned is None else math.floor(self.fraction * planned + 0.5)

    def at(self, epoch: int, planned: int | None) -> int:
        """The size epoch `epoch` (0-based) trains at under a plan of `planned` epochs."""
        switch = self.switch(planned)
        return self.low if switch is None or epoch < switch else self.full

    def counts(self, done: int, planned: int) -> dict:
        """{size: epochs} of epochs `done` .. `planned` - 1."""
        switch = self.switch(planned)
        low = max(0, min(switch, planned) - done)
        return {self.low: low, self.full: planned - done - low}

    def begin(self, epoch: int, planned: int | None) -> int:
        self.current = self.at(epoch, planned)
        if self.current == self.full and self.first_full is None:
            self.first_full = epoch
        return self.current

    @classmethod
    def resumed(cls, low: int, full: int, fraction: float, prior_rows) -> EpochSizes:
        """Sizes for a run whose earlier attempts wrote `prior_rows` (history.csv rows with
        `image_size`): it keeps the epoch its photos reached full size at."""
        reached = [r["epoch"] - 1 for r in prior_rows if r.get("image_size") == full]
        return cls(low, full, fraction, first_full=min(reached) if reached else None)


class EpochPlan:
    """The epochs that fit a wall-clock budget, re-planned after every epoch.

    The first epoch is timed; from then on the plan is the epochs that still fit the
    budget less `tail_seconds` (kept for what follows training). With `sizes` (an
    `EpochSizes`) epochs are timed per photo size, and a size not timed yet is costed from
    one that was, scaled by the pixels (an over-estimate for a larger size: part of an
    epoch, validation included, does not grow with the training photos). A resumed run
    takes its epoch time from the earlier attempts' history rows (`prior_rows`, with
    `elapsed_seconds`).

    Args:
        budget_seconds: the whole run's budget, earlier attempts and data loading included.
        tail_seconds: kept back from it for what follows training.
        max_epochs: epochs never planned past.
    """

    def __init__(self, budget_seconds: float, tail_seconds: float, max_epochs: int,
                 sizes: EpochSizes | None = None, prior_rows=()):
        self.budget_seconds, self.tail_seconds = budget_seconds, tail_seconds
        self.max_epochs, self.sizes = max_epochs, sizes
        self.planned = None  # epochs in all, once one epoch is timed
        self.seconds = {}  # epoch seconds by photo size (None: one size)
        times = [r["elapsed_seconds"] for r in prior_rows if "elapsed_seconds" in r]
        if len(times) >= 2:
            self.seconds[self.size_of(prior_rows[-1])] = times[-1] - times[-2]

    def size_of(self, row: dict):
        return None if self.sizes is None else int(row.get("image_size", self.sizes.full))

    def record(self, size, seconds: float) -> None:
        """An epoch at photo side `size` took `seconds`. The first also fills caches, so
        later ones average it away."""
        known = self.seconds.get(size)
        self.seconds[size] = seconds if known is None else 0.5 * (known + seconds)

    def cost(self, size) -> float:
        if size in self.seconds:
            return self.seconds[size]
        known = min(self.seconds, key=lambda s: abs(s - size))
        return self.seconds[known] * (size / known) ** 2

    def epochs_cost(self, done: int, planned: int) -> float:
        counts = {None: planned - done} if self.sizes is None else \
            self.sizes.counts(done, planned)
        return sum(n * self.cost(size) for size, n in counts.items() if n)

    def plan(self, epochs_done: int, elapsed: float) -> int:
        """Plan the epochs that fit after `epochs_done`, `elapsed` seconds into the budget;
        return how many are left to run. Each more epoch costs more (a later switch turns
        one full-size epoch cheap but adds one): the first that does not fit ends it."""
        left = self.budget_seconds - self.tail_seconds - elapsed
        planned = epochs_done
        while planned < self.max_epochs and self.epochs_cost(epochs_done, planned + 1) <= left:
            planned += 1
        self.planned = planned
        return planned - epochs_done

    def spent(self, elapsed: float) -> bool:
        """Whether the budget less its tail is spent: training stops, mid-epoch if need be."""
        return elapsed >= self.budget_seconds - self.tail_seconds
