"""The few-query search (one pass over the data) and the one-pass input gate (`max_abs`)."""

import numpy as np
import pytest
from support.references import brute_values, knn_from_matrix

from latentgeo import _core, knn
from latentgeo._validate import as_float_matrix_max_abs, magnitude_exponent, max_abs


def brute_indices(X, Q, k, metric):
    """Top k by the exact f64 value, ties to the lower index (integer data: exact values)."""
    key, _ = brute_values(X, Q, metric)
    return knn_from_matrix(key, k, exclude_self=False)[0]


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "inner_product"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hostile_data_gives_the_exact_top_k(metric, dtype):
    # More rows than the sampled centre and several data blocks; a large common offset,
    # duplicated rows and small integers (exact ties, broken by the lower index).
    rng = np.random.default_rng(11)
    X = rng.integers(-3, 4, (9000, 12)).astype(dtype) + dtype(3e4)
    X[5000:5100] = X[:100]
    Q = np.concatenate([X[4990:5020], X[:5] + dtype(1)])
    res = knn(X, 25, metric=metric, query=Q)
    np.testing.assert_array_equal(res.indices, brute_indices(X, Q, 25, metric))


def test_threads_do_not_change_few_query_results():
    rng = np.random.default_rng(12)
    X = (rng.standard_normal((7000, 20)) * 1e-3 + 100).astype(np.float32)
    Q = X[::500] + np.float32(1e-4)
    one = knn(X, 10, query=Q, n_threads=1)
    two = knn(X, 10, query=Q, n_threads=2)
    np.testing.assert_array_equal(one.indices, two.indices)
    np.testing.assert_array_equal(one.distances, two.distances)


@pytest.mark.parametrize("where", ["X", "query"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_named_by_row_and_column(where, bad):
    X = np.zeros((5000, 4), dtype=np.float32)
    Q = np.zeros((3, 4), dtype=np.float32)
    (X if where == "X" else Q)[2 if where == "query" else 4321, 3] = bad
    row = 2 if where == "query" else 4321
    msg = f"{where} contains NaN or infinite values (first at row {row}, column 3)"
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        knn(X, 1, query=Q)


def test_the_core_names_the_first_non_finite_value_of_the_data_first():
    X = np.zeros((5000, 4))
    X[4100, 1], X[4200, 0] = np.inf, np.nan
    Q = np.array([[np.nan, 0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="the data .* at flat position 16401$"):
        _core.knn(X, k=1, metric="euclidean", query=Q)
    with pytest.raises(ValueError, match="the query .* at flat position 0$"):
        _core.knn(np.zeros((5000, 4)), k=1, metric="euclidean", query=Q)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_abs_is_the_largest_magnitude_or_nan(dtype):
    rng = np.random.default_rng(13)
    A = rng.standard_normal((3000, 400)).astype(dtype)
    A[1234, 4] = -9.5
    assert max_abs(A) == 9.5
    assert max_abs(A[:, ::2]) == 9.5  # not contiguous: numpy's max and min
    assert max_abs(A[7]) == np.abs(A[7]).max()
    assert max_abs(A[:0]) == 0.0
    for bad in (np.nan, np.inf, -np.inf):
        B = A.copy()
        B[-1, -1] = bad
        assert np.isnan(max_abs(B)) and np.isnan(_core.finite_max_abs(B))
        assert np.isnan(max_abs(B[:, 1:]))
    arr, top = as_float_matrix_max_abs(A.tolist() if dtype == np.float64 else A)
    assert top == 9.5 and arr.dtype == dtype
    assert magnitude_exponent(A, np.array([20.0])) == 5
    assert max_abs(np.array([[3, -7]])) == 7.0
