"""Exact kNN at any magnitude: huge or tiny vectors give the same neighbours as moderate ones
(the ordering is scale-invariant), distances scaled exactly, or a clear error when the distances
themselves cannot be represented (issue 13)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.strategies import SEEDS, examples

import latentgeo

METRICS = list(latentgeo.METRICS)
POWER = {"euclidean": 1, "sqeuclidean": 2, "cosine": 0, "inner_product": 2}


@examples(20)
@given(SEEDS, st.sampled_from(METRICS), st.sampled_from([np.float32, np.float64]))
def test_power_of_two_scales_change_nothing_but_the_distances(seed, metric, dtype):
    X = np.random.default_rng(seed).standard_normal((40, 5)).astype(dtype)
    base = latentgeo.knn(X, 4, metric=metric)
    top = 120 if dtype == np.float32 else 1000
    for e in (-top, -60, 60, top):
        if POWER[metric] * (abs(e) + 3) > (127 if dtype == np.float32 else 1023):
            continue  # the distances themselves do not fit (tested below)
        res = latentgeo.knn(np.ldexp(X, e), 4, metric=metric)
        np.testing.assert_array_equal(res.indices, base.indices)
        want = np.ldexp(base.distances, POWER[metric] * e)
        if metric == "cosine":  # 1 - cos of rescaled rows may differ in the last bit
            np.testing.assert_allclose(res.distances, want, rtol=0, atol=4 * np.finfo(dtype).eps)
        else:
            np.testing.assert_array_equal(res.distances, want)
        assert res.distances.dtype == dtype


@pytest.mark.parametrize("scale", [1e19, 1e30, 1e-30, 1e-38])
def test_float32_extremes_keep_the_neighbours(scale):
    X = np.random.default_rng(0).standard_normal((60, 4)).astype(np.float32)
    base = latentgeo.knn(X, 3).indices
    for metric in ("euclidean", "cosine"):
        got = latentgeo.knn(X * np.float32(scale), 3, metric=metric)
        np.testing.assert_array_equal(got.indices, latentgeo.knn(X, 3, metric=metric).indices)
        assert np.isfinite(got.distances).all()
    assert np.array_equal(latentgeo.hubness(X * np.float32(scale), 3).k_occurrence,
                          latentgeo.hubness(X, 3).k_occurrence)  # fmt: skip
    assert base.shape == (60, 3)


def test_unrepresentable_distances_are_an_error():
    X = np.random.default_rng(0).standard_normal((30, 4)).astype(np.float32) * np.float32(1e30)
    with pytest.raises(ValueError, match="sqeuclidean distances .* overflow float32"):
        latentgeo.knn(X, 3, metric="sqeuclidean")
    ok = latentgeo.knn(X.astype(np.float64), 3, metric="sqeuclidean")
    assert np.isfinite(ok.distances).all()


def test_query_and_data_share_one_scale():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 3)) * 1e-200
    Q = rng.standard_normal((7, 3)) * 1e150  # far away: the nearest is the closest in direction
    got = latentgeo.knn(X, 2, query=Q, metric="cosine")
    ref = latentgeo.knn(X * 1e200, 2, query=Q * 1e-150, metric="cosine")
    np.testing.assert_array_equal(got.indices, ref.indices)
