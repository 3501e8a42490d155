"""training.planning: the budget's epochs, photo sizes and rates, as arithmetic."""

import pytest

from training.planning import EpochPlan, EpochSizes, cosine_rate, warmup_cosine_rate


def test_warmup_rises_linearly_to_the_rate_then_follows_the_cosine_to_zero():
    rate = warmup_cosine_rate
    # Two warm-up epochs of 4 steps: each step adds an eighth of the rate.
    assert [rate(0.8, e / 4, 10, warmup=2, step=0.25) for e in range(8)] == \
        pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    assert rate(0.8, 2.0, 10, 2) == pytest.approx(0.8)  # then the cosine over 8 epochs
    assert rate(0.8, 6.0, 10, 2) == pytest.approx(0.4)
    assert rate(0.8, 10.0, 10, 2) == pytest.approx(0.0, abs=1e-12)
    assert rate(0.8, 3.0, None, 2) == 0.8  # before any plan, the full rate
    assert rate(0.8, 1.0, 3, 2) == pytest.approx(0.8 / 1.5)  # 3 planned: 1.5 epochs warm
    assert rate(0.8, 1.0, 3, 2, step=0.25) == pytest.approx(0.8 * 1.25 / 1.5)
    assert rate(0.8, 1.5, 3, 2) == pytest.approx(0.8)
    # No warm-up is the plain cosine.
    assert rate(0.8, 3.0, 10) == pytest.approx(cosine_rate(0.8, 0.3))


def test_progressive_sizes_shrink_the_plans_first_half_and_never_go_back():
    sizes = EpochSizes(32, 64, 0.5)
    assert [sizes.at(e, 10) for e in range(10)] == [32] * 5 + [64] * 5
    assert sizes.at(0, None) == 32  # before the first plan
    assert sizes.counts(3, 10) == {32: 2, 64: 5} and sizes.counts(7, 10) == {32: 0, 64: 3}
    assert [sizes.begin(e, 10) for e in range(6)] == [32] * 5 + [64]
    assert sizes.first_full == 5 and sizes.current == 64
    # A longer plan later on does not shrink the photos again.
    assert sizes.at(6, 20) == 64 and sizes.counts(6, 20) == {32: 0, 64: 14}
    rows = [{"epoch": 1, "image_size": 32.0}, {"epoch": 2, "image_size": 64.0}]
    assert EpochSizes.resumed(32, 64, 0.5, rows).first_full == 1  # resumed
    assert EpochSizes.resumed(32, 64, 0.5, rows[:1]).first_full is None
    with pytest.raises(ValueError, match="low size"):
        EpochSizes(64, 64, 0.5)


def test_a_plan_costs_progressive_epochs_at_each_sizes_own_cost():
    plan = EpochPlan(345, 45, max_epochs=100, sizes=EpochSizes(32, 64, 0.5))
    plan.record(32, 10.0)  # untimed, a 64-pixel epoch is costed by its pixels: 40 s
    assert plan.plan(0, elapsed=0.0) == 12 and plan.planned == 12  # 6 x 10 s + 6 x 40 s
    plan.record(64, 20.0)  # once timed, at its own cost
    assert plan.plan(0, elapsed=0.0) == 20  # 10 x 10 s + 10 x 20 s
    plain = EpochPlan(345, 45, max_epochs=100)
    plain.record(None, 30.0)
    assert plain.plan(2, elapsed=0.0) == 10 and plain.planned == 12
    plain.record(None, 50.0)  # a second timing is averaged with the first (caches fill once)
    assert plain.seconds == {None: 40.0}
    assert plain.plan(0, elapsed=300.0) == 0 and plain.spent(300.0) and not plain.spent(299.0)
    resumed = EpochPlan(345, 45, 100, sizes=EpochSizes(32, 64, 0.5), prior_rows=[
        {"epoch": 1, "elapsed_seconds": 50.0, "image_size": 32.0},
        {"epoch": 2, "elapsed_seconds": 62.5, "image_size": 32.0}])
    assert resumed.seconds == {32: 12.5}
    assert EpochPlan(345, 45, max_epochs=3, prior_rows=resumed_rows()).plan(0, 0.0) == 3


def resumed_rows():
    return [{"epoch": 1, "elapsed_seconds": 1.0}, {"epoch": 2, "elapsed_seconds": 2.0}]
