"""Learning-rate schedules: their formulas, their limits, their argument checks."""

import math

import pytest

import deltaprop as dp
from deltaprop.schedules import CosineDecay, ExponentialDecay, StepDecay


def test_step_decay_drops_every_n_epochs():
    s = StepDecay(drop=0.1, every=3)
    assert [s(e, 2.0) for e in (1, 3, 4, 6, 7)] == pytest.approx([2.0, 2.0, 0.2, 0.2, 0.02])


def test_exponential_decay():
    s = ExponentialDecay(rate=0.5)
    assert [s(e, 1.0) for e in (1, 2, 3)] == [1.0, 0.5, 0.25]


def test_cosine_decay_runs_from_lr0_to_min_lr_and_holds():
    s = CosineDecay(epochs=10, min_lr=0.1)
    assert s(1, 1.0) == pytest.approx(1.0)
    assert s(6, 1.0) == pytest.approx(0.55)                 # half way: the mean of the two ends
    assert s(10, 1.0) > 0.1                                 # the last epoch still learns
    assert s(11, 1.0) == pytest.approx(0.1) and s(50, 1.0) == pytest.approx(0.1)
    values = [s(e, 1.0) for e in range(1, 12)]
    assert all(a > b for a, b in zip(values, values[1:]))   # strictly decreasing
    assert CosineDecay(epochs=1)(1, 0.3) == 0.3


@pytest.mark.parametrize("make, match", [
    (lambda: StepDecay(drop=0), r"'drop' argument must be a finite number in \(0, 1\]"),
    (lambda: StepDecay(every=0), r"'every' argument must be a positive integer"),
    (lambda: ExponentialDecay(rate=1.5), r"'rate' argument must be a finite number in \(0, 1\]"),
    (lambda: CosineDecay(epochs=0), r"'epochs' argument must be a positive integer"),
    (lambda: CosineDecay(epochs=3, min_lr=math.nan), r"'min_lr' argument must be a finite number"),
])
def test_bad_arguments(make, match):
    with pytest.raises((dp.ValidationError, dp.DeltapropTypeError), match=match):
        make()
