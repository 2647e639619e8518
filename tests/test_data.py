"""deltaprop.data: the synthetic 2-D sets, train_test_split and Standardizer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deltaprop as dp
from deltaprop.data import Standardizer, blobs, circles, moons, spirals, train_test_split, xor
from deltaprop.errors import DeltapropTypeError, ShapeError, ValidationError

#: Each generator with the number of classes it makes by default.
SETS = {"xor": (xor, 2), "moons": (moons, 2), "circles": (circles, 2), "spirals": (spirals, 2), "blobs": (blobs, 3)}


def equal_sizes(n: int, k: int) -> list[int]:
    """n split into k class sizes as equal as possible, the first ones larger (written out independently)."""
    base, extra = divmod(n, k)
    return [base + 1] * extra + [base] * (k - extra)


# ---------------------------------------------------------------------------------------
# The synthetic sets: contract


@pytest.mark.parametrize("name", SETS)
def test_shapes_dtypes_and_balanced_classes(name):
    make, k = SETS[name]
    X, y = make(101, seed=0)
    assert X.shape == (101, 2) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.shape == (101,) and y.dtype == np.int64
    assert np.all(np.isfinite(X))
    if name == "xor":  # class sizes follow the corners: 26 + 25 at (0,0),(1,1) vs 25 + 25
        assert np.bincount(y).tolist() == [51, 50]
    else:
        assert np.bincount(y, minlength=k).tolist() == equal_sizes(101, k)


@pytest.mark.parametrize("name", SETS)
def test_same_seed_same_bits_other_seed_other_bits(name):
    make, _ = SETS[name]
    X1, y1 = make(64, seed=7)
    X2, y2 = make(64, seed=np.random.default_rng(7))
    assert X1.tobytes() == X2.tobytes() and y1.tobytes() == y2.tobytes()
    X3, _ = make(64, seed=8)
    assert X1.tobytes() != X3.tobytes()
    X4, _ = make(64)  # fresh entropy each call
    X5, _ = make(64)
    assert X4.tobytes() != X5.tobytes()


@pytest.mark.parametrize("name", SETS)
def test_float32_is_the_float64_set_rounded_once(name):
    make, _ = SETS[name]
    X64, y64 = make(50, seed=3)
    X32, y32 = make(50, seed=3, dtype="float32")
    assert X32.dtype == np.float32
    np.testing.assert_array_equal(X32, X64.astype(np.float32))
    np.testing.assert_array_equal(y32, y64)


@pytest.mark.parametrize("name", SETS)
def test_shuffle_permutes_the_same_cloud(name):
    # The noise is drawn before the shuffle, so shuffling only reorders the same points.
    make, _ = SETS[name]
    X, y = make(40, seed=5, shuffle=False)
    Xs, ys = make(40, seed=5, shuffle=True)
    assert not np.array_equal(Xs, X)
    order, order_s = np.lexsort(X.T), np.lexsort(Xs.T)
    np.testing.assert_array_equal(Xs[order_s], X[order])
    np.testing.assert_array_equal(ys[order_s], y[order])


@pytest.mark.parametrize("name", SETS)
def test_noise_is_gaussian_with_the_given_standard_deviation(name):
    make, _ = SETS[name]
    X0, _ = make(4000, noise=0.0, seed=1, shuffle=False)
    X, _ = make(4000, noise=0.3, seed=1, shuffle=False)
    residual = (X - X0).ravel()
    assert abs(residual.mean()) < 0.02  # 8000 draws: the standard error is 0.0034
    assert residual.std() == pytest.approx(0.3, rel=0.03)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(SETS)), n=st.integers(4, 300), noise=st.floats(0, 2),
       seed=st.integers(0, 2**32 - 1), shuffle=st.booleans())
def test_property_any_size_and_noise(name, n, noise, seed, shuffle):
    make, k = SETS[name]
    X, y = make(n, noise=noise, seed=seed, shuffle=shuffle)
    assert X.shape == (n, 2) and y.shape == (n,) and np.all(np.isfinite(X))
    assert set(np.unique(y).tolist()) == set(range(k))


# ---------------------------------------------------------------------------------------
# The synthetic sets: geometry (noise=0 puts every point where the docstring says)


def test_xor_is_the_truth_table():
    X, y = xor(12, noise=0.0, shuffle=False)
    assert set(map(tuple, X.tolist())) == {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))
    assert X[:4].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]  # the corners take turns


def test_moons_lie_on_their_half_circles():
    X, y = moons(200, noise=0.0, shuffle=False)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-12)
    assert np.all(upper[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)
    assert upper[0].tolist() == [1.0, 0.0] and lower[-1].tolist() == pytest.approx([2.0, 0.5])


def test_circles_radii_and_even_angles():
    X, y = circles(10, noise=0.0, factor=0.3, shuffle=False)
    np.testing.assert_allclose(np.hypot(*X[y == 0].T), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.hypot(*X[y == 1].T), 0.3, atol=1e-12)
    angles = np.sort(np.mod(np.arctan2(X[y == 0, 1], X[y == 0, 0]), 2 * np.pi))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 5, atol=1e-12)


@pytest.mark.parametrize("k, turns", [(2, 1.0), (3, 1.5), (1, 0.25)])
def test_spiral_arms(k, turns):
    m = 7
    X, y = spirals(k * m, n_classes=k, turns=turns, noise=0.0, shuffle=False)
    for c in range(k):
        arm = X[y == c]
        r = np.arange(1, m + 1) / m
        np.testing.assert_allclose(np.hypot(*arm.T), r, atol=1e-12)
        theta = 2 * np.pi * (turns * r + c / k)
        np.testing.assert_allclose(arm, r[:, None] * np.column_stack([np.cos(theta), np.sin(theta)]), atol=1e-12)


def test_blobs_centres_by_number_and_by_array():
    X, y = blobs(8, centers=4, noise=0.0, shuffle=False)
    np.testing.assert_allclose(X[y == 0], [[4, 0], [4, 0]], atol=1e-12)
    np.testing.assert_allclose(X[y == 1], [[0, 4], [0, 4]], atol=1e-12)
    np.testing.assert_allclose(np.hypot(*X.T), 4.0)
    C = np.array([[1.0, 2.0], [-3.0, 0.5]])
    X, y = blobs(2000, centers=C, noise=0.5, seed=0)
    for c in range(2):
        np.testing.assert_allclose(X[y == c].mean(axis=0), C[c], atol=0.06)


def test_moons_are_learnable_by_a_small_network():
    # The point of the sets: a hidden layer separates what a line cannot.
    X, y = moons(300, noise=0.1, seed=0)
    net = dp.Network([2, 16, 2], activation="tanh", output_activation="softmax", loss="cross_entropy", seed=0)
    # The NumPy reference engine: this checks the data, not the compiled engine.
    net.fit(X, y, epochs=60, batch_size=16, optimizer=dp.Adam(lr=0.02), seed=0, verbose=0, engine="numpy")
    assert net.evaluate(X, y)["accuracy"] > 0.97


# ---------------------------------------------------------------------------------------
# The synthetic sets: errors


@pytest.mark.parametrize("call, error, match", [
    (lambda: xor(3), ValidationError, r"'n_samples' argument must be at least 4 for xor .*Got 3"),
    (lambda: moons(0), ValidationError, r"'n_samples' argument must be a positive integer \(>= 1\)\. Got 0"),
    (lambda: moons(1), ValidationError, r"at least 2 for moons"),
    (lambda: circles(2.5), DeltapropTypeError, r"'n_samples' argument must be a positive integer\. Got float 2\.5"),
    (lambda: spirals(True), DeltapropTypeError, r"'n_samples'.*Got bool True"),
    (lambda: spirals(5, n_classes=6), ValidationError, r"at least 6 for spirals with n_classes=6"),
    (lambda: spirals(5, n_classes=0), ValidationError, r"'n_classes' argument must be a positive integer"),
    (lambda: spirals(10, turns=0), ValidationError, r"'turns' argument must be a finite number in \(0\.0, inf[\])]\. Got 0"),
    (lambda: moons(10, noise=-0.1), ValidationError, r"'noise' argument must be a finite number in \[0\.0, inf[\])]\. Got -0\.1"),
    (lambda: xor(10, noise=float("nan")), ValidationError, r"'noise' argument must be a finite number"),
    (lambda: blobs(10, noise="big"), DeltapropTypeError, r"'noise' argument must be a real number\. Got str 'big'"),
    (lambda: circles(10, factor=1.0), ValidationError, r"'factor' argument must be a finite number in \[0\.0, 1\.0\)"),
    (lambda: blobs(10, centers=0), ValidationError, r"'centers' argument must be a positive integer"),
    (lambda: blobs(10, centers=[1, 2]), ShapeError, r"'centers' argument must have shape \(k, 2\).*Got shape \(2,\)"),
    (lambda: blobs(10, centers=[[0, np.inf]]), ValidationError, r"'centers' argument contains NaN or infinity"),
    (lambda: blobs(10, centers="abc"), DeltapropTypeError, r"'centers' argument must be an int or an array"),
    (lambda: blobs(2, centers=3), ValidationError, r"at least 3 for blobs with 3 centres"),
    (lambda: moons(10, dtype="int32"), ValidationError, r"'dtype' argument must be 'float64' or 'float32'"),
    (lambda: moons(10, shuffle="yes"), DeltapropTypeError, r"'shuffle' argument must be True or False"),
    (lambda: moons(10, seed=-1), ValidationError, r"'seed' argument must be a non-negative integer"),
])
def test_generator_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------------------------------
# train_test_split


def rows(n, d=2):
    """X whose rows say which row they are, and y = 10 * row index: alignment is visible."""
    X = np.repeat(np.arange(n)[:, None], d, axis=1)
    return X, 10 * np.arange(n)


@pytest.mark.parametrize("n, test_size, n_test", [(10, 0.25, 3), (10, 0.2, 2), (7, 0.5, 4), (100, 0.01, 1),
                                                  (10, 3, 3), (2, 1, 1), (3, 0.6, 2)])
def test_split_sizes_follow_scikit_learns_rule(n, test_size, n_test):
    X, y = rows(n)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, seed=0)
    assert len(X_test) == len(y_test) == n_test == math.ceil(test_size * n if test_size < 1 else test_size)
    assert len(X_train) == len(y_train) == n - n_test


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 200), frac=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_property_split_is_a_partition_with_aligned_rows(n, frac, seed):
    X, y = rows(n, d=3)
    if math.ceil(frac * n) > n - 1:
        with pytest.raises(ValidationError, match="leaves no training samples"):
            train_test_split(X, y, test_size=frac, seed=seed)
        return
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=frac, seed=seed)
    ids = np.concatenate([X_train[:, 0], X_test[:, 0]])
    assert sorted(ids.tolist()) == list(range(n))  # every row exactly once
    np.testing.assert_array_equal(y_train, 10 * X_train[:, 0])
    np.testing.assert_array_equal(y_test, 10 * X_test[:, 0])
    assert X_train.shape[1:] == (3,)


def test_split_is_reproducible_and_copies():
    X, y = rows(50)
    a = train_test_split(X, y, seed=3)
    b = train_test_split(X, y, seed=np.random.default_rng(3))
    c = train_test_split(X, y, seed=4)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    a[0][:] = -1  # the parts are new arrays, not views of X
    assert X.min() == 0


def test_split_without_shuffle_keeps_the_order():
    X, y = rows(10)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, shuffle=False, seed=99)
    assert X_train[:, 0].tolist() == list(range(7)) and X_test[:, 0].tolist() == [7, 8, 9]


def test_split_without_y_and_with_any_trailing_shape():
    X = np.arange(5 * 28 * 28).reshape(5, 28, 28)
    X_train, X_test = train_test_split(X, None, test_size=1, seed=0)
    assert X_train.shape == (4, 28, 28) and X_test.shape == (1, 28, 28)
    X_train, X_test, Y_train, Y_test = train_test_split([[1], [2], [3]], np.eye(3), test_size=1, seed=0)
    np.testing.assert_array_equal(Y_test, np.eye(3)[X_test[:, 0] - 1])


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(2, 40), min_size=1, max_size=5), frac=st.floats(0.05, 0.95),
       seed=st.integers(0, 2**32 - 1))
def test_property_stratified_split_keeps_each_share_within_one_row(counts, frac, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(y)
    X = np.arange(len(y))
    n, k = len(y), len(counts)
    n_test = math.ceil(frac * n)
    if n_test > n - 1 or n_test < k or n - n_test < k:
        with pytest.raises(ValidationError):
            train_test_split(X, y, test_size=frac, seed=seed, stratify=y)
        return
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=frac, seed=seed, stratify=True)
    assert len(y_test) == n_test
    assert sorted(np.concatenate([X_train, X_test]).tolist()) == list(range(n))
    np.testing.assert_array_equal(y[X_test], y_test)
    for c, n_c in enumerate(counts):
        share = n_test * n_c / n
        assert math.floor(share) <= np.sum(y_test == c) <= math.ceil(share)


def test_stratify_by_other_labels_and_by_one_hot_rows():
    labels = np.array(["a"] * 8 + ["b"] * 2)
    X = np.arange(10)
    _, X_test = train_test_split(X, None, test_size=5, seed=1, stratify=labels)
    assert sorted(labels[X_test].tolist()) == ["a"] * 4 + ["b"]
    Y = dp.one_hot(np.array([0] * 6 + [1] * 4), 2)
    _, _, _, Y_test = train_test_split(X, Y, test_size=5, seed=1, stratify=True)
    assert Y_test.sum(axis=0).tolist() == [3.0, 2.0]
    # Each part is shuffled after the draw, so it does not come sorted by class.
    y = np.repeat([0, 1], 20)
    _, _, y_train, y_test = train_test_split(np.arange(40), y, test_size=20, seed=1, stratify=True)
    assert y_test.sum() == 10 and not np.all(np.diff(y_test) >= 0) and not np.all(np.diff(y_train) >= 0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(X=np.zeros((5, 2)), y=np.zeros(4)), ShapeError, r"X has 5 samples but y has 4; they must match"),
    (dict(X=np.zeros((1, 2)), y=None), ValidationError, r"needs at least 2 samples .* X has 1"),
    (dict(X=3.0, y=None), ShapeError, r"'X' argument must be an array with one row per sample"),
    (dict(X=np.zeros(10), y=None, test_size=0.0), ValidationError, r"as a fraction, must be in \(0, 1\)\. Got 0\.0"),
    (dict(X=np.zeros(10), y=None, test_size=1.0), ValidationError, r"as a fraction, must be in \(0, 1\)\. Got 1\.0"),
    (dict(X=np.zeros(10), y=None, test_size=10), ValidationError, r"as a number of samples, must be in 1\.\.9"),
    (dict(X=np.zeros(10), y=None, test_size=0), ValidationError, r"as a number of samples, must be in 1\.\.9"),
    (dict(X=np.zeros(10), y=None, test_size=True), DeltapropTypeError, r"'test_size' argument must be a fraction"),
    (dict(X=np.zeros(10), y=None, test_size="0.2"), DeltapropTypeError, r"Got str '0\.2'"),
    (dict(X=np.zeros(3), y=None, test_size=0.9), ValidationError, r"test_size=0\.9 of 3 samples leaves no training"),
    (dict(X=np.zeros(10), y=None, shuffle=1), DeltapropTypeError, r"'shuffle' argument must be True or False"),
    (dict(X=np.zeros(10), y=np.zeros(10), shuffle=False, stratify=True), ValidationError, r"stratify needs shuffle=True"),
    (dict(X=np.zeros(10), y=None, stratify=True), ValidationError, r"stratify=True stratifies by y, but y is None"),
    (dict(X=np.zeros(10), y=None, stratify=False), DeltapropTypeError, r"'stratify' argument must be None, True"),
    (dict(X=np.zeros(10), y=None, stratify=np.zeros(9)), ShapeError, r"X has 10 samples but stratify has 9 labels"),
    (dict(X=np.zeros(10), y=np.array([0] * 9 + [1]), stratify=True), ValidationError,
     r"least populated class has only 1 member"),
    (dict(X=np.zeros(10), y=np.repeat([0, 1, 2, 3, 4], 2), test_size=2, stratify=True), ValidationError,
     r"5 classes need at least 5 rows in each part; test_size gives 2 test and 8 training rows"),
    (dict(X=np.zeros(10), y=None, seed="x"), DeltapropTypeError, r"'seed' argument must be an int"),
])
def test_split_errors(kwargs, error, match):
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(error, match=match):
        train_test_split(X, y, **kwargs)


# ---------------------------------------------------------------------------------------
# Standardizer


def test_standardized_columns_have_mean_0_and_std_1():
    rng = np.random.default_rng(0)
    X = rng.normal([5.0, -300.0, 1e6], [2.0, 0.01, 1e3], size=(500, 3))
    s = Standardizer()
    Z = s.fit_transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-9)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-9)
    np.testing.assert_allclose(s.mean, X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(s.scale, X.std(axis=0), rtol=1e-12)
    assert s.n_features == 3 and repr(s) == "Standardizer(n_features=3)"


@pytest.mark.parametrize("value", [0.0, 0.1, -7.3, 1e300, 3])
def test_constant_columns_become_exactly_zero_not_nan(value):
    X = np.column_stack([np.full(999, value, dtype=float), np.arange(999.0)])
    s = Standardizer().fit(X)
    assert s.scale[0] == 1.0 and s.mean[0] == value
    Z = s.transform(X)
    assert np.all(Z[:, 0] == 0.0) and np.all(np.isfinite(Z))
    np.testing.assert_array_equal(s.inverse_transform(Z)[:, 0], X[:, 0])


def test_nearly_constant_column_within_rounding_is_treated_as_constant():
    # 0.1 and its neighbour: a spread of one ulp is rounding, not a feature to blow up by 1e17.
    X = np.array([[0.1], [np.nextafter(0.1, 1)]] * 50)
    s = Standardizer().fit(X)
    assert s.scale[0] == 1.0
    assert np.all(np.abs(s.transform(X)) < 1e-15)


def test_subnormal_spread_is_constant_not_a_division_by_zero():
    X = np.array([[0.0], [5e-324]])  # the spread rounds to 0 when scaled back
    s = Standardizer().fit(X)
    assert s.scale.tolist() == [1.0] and np.all(np.isfinite(s.transform(X)))


def test_dtypes_in_and_out():
    X32 = np.array([[1, 2], [3, 5]], dtype=np.float32)
    s = Standardizer().fit(X32)
    assert s.mean.dtype == s.scale.dtype == np.float64  # statistics in float64
    assert s.transform(X32).dtype == np.float32
    assert s.inverse_transform(s.transform(X32)).dtype == np.float32
    assert s.transform(np.array([[1, 2]])).dtype == np.float64  # integers -> float64
    np.testing.assert_allclose(s.transform(X32), [[-1, -1], [1, 1]])


def test_mean_and_scale_are_copies():
    s = Standardizer().fit([[0.0], [2.0]])
    s.mean[0] = 99
    s.scale[0] = 99
    assert s.transform([[2.0]]).tolist() == [[1.0]]


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
                  elements=st.floats(-1e6, 1e6, allow_nan=False) | st.floats(-1e-300, 1e-300)))
def test_property_inverse_undoes_transform_and_nothing_is_nan(X):
    s = Standardizer().fit(X)
    Z = s.transform(X)
    assert np.all(np.isfinite(Z)) and np.all(s.scale > 0)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-9, atol=1e-9 * (1 + np.abs(X).max()))


def test_json_round_trip_is_exact():
    rng = np.random.default_rng(1)
    X = rng.normal(3, 7, size=(40, 5))
    s = Standardizer().fit(X)
    d = json.loads(json.dumps(s.to_dict()))
    assert set(d) == {"mean", "scale"} and all(isinstance(v, float) for v in d["mean"])
    s2 = Standardizer.from_dict(d)
    assert s2.transform(X).tobytes() == s.transform(X).tobytes()
    s3 = Standardizer(mean=s.mean, scale=s.scale)
    assert s3.transform(X).tobytes() == s.transform(X).tobytes()


@pytest.mark.parametrize("call, error, match", [
    (lambda: Standardizer().transform([[1.0]]), ValidationError, r"not fitted yet; call fit\(X\) first"),
    (lambda: Standardizer().mean, ValidationError, r"not fitted yet"),
    (lambda: Standardizer().fit([[1.0, 2.0]]).transform([[1.0, 2.0, 3.0]]), ShapeError,
     r"it was fitted on 2 features; X has shape \(1, 3\)"),
    (lambda: Standardizer().fit([1.0, 2.0]), ShapeError, r"shape \(n_samples, n_features\)\. Got shape \(2,\)\. "
                                                         r"Use X\.reshape\(-1, 1\)"),
    (lambda: Standardizer().fit(np.zeros((0, 3))), ValidationError, r"X is empty \(0 samples\)"),
    (lambda: Standardizer().fit([[1.0], [np.nan]]), ValidationError, r"NaN or infinity \(first at row 1, column 0\)"),
    (lambda: Standardizer().fit([[1.0, 1.0]]).transform([[1.0, np.inf]]), ValidationError, r"row 0, column 1"),
    (lambda: Standardizer().fit([["a"]]), DeltapropTypeError, r"must hold real numbers\. Got dtype <U1"),
    (lambda: Standardizer().fit([[True]]), DeltapropTypeError, r"must hold real numbers\. Got dtype bool"),
    (lambda: Standardizer().fit([[1j]]), DeltapropTypeError, r"must hold real numbers"),
    (lambda: Standardizer(mean=[0.0]), ValidationError, r"takes both 'mean' and 'scale' or neither"),
    (lambda: Standardizer([0.0, 1.0], [1.0]), ShapeError, r"'mean' has shape \(2,\) but 'scale' has shape \(1,\)"),
    (lambda: Standardizer([0.0], [0.0]), ValidationError, r"every 'scale' must be > 0\. Got 0\.0 at index 0"),
    (lambda: Standardizer([[0.0]], [[1.0]]), ShapeError, r"'mean' must be a non-empty 1-D array"),
    (lambda: Standardizer(["x"], [1.0]), DeltapropTypeError, r"'mean' must be a 1-D array of numbers"),
    (lambda: Standardizer([np.nan], [1.0]), ValidationError, r"'mean' contains NaN"),
    (lambda: Standardizer.from_dict({"mean": [0.0]}), ValidationError, r"needs a dict with keys 'mean' and 'scale'"),
])
def test_standardizer_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_public_names():
    assert dp.data.moons is moons and dp.data.Standardizer is Standardizer
    assert set(dp.data.__all__) == {"xor", "moons", "circles", "spirals", "blobs", "train_test_split", "Standardizer"}
