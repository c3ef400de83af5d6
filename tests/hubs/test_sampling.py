"""Tests for hub-prior latent sampling (latentgeo.sampling)."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist
from support.references import knn_from_matrix
from support.strategies import examples

import latentgeo
from latentgeo import HubSample, norm_truncation, sample_hubs


def brute_k_occurrence(X, k):
    """N_k by full pairwise distances; self excluded, ties to the lower index."""
    X = np.asarray(X, dtype=np.float64)
    D = cdist(X, X, "sqeuclidean")  # direct differences: no norm-trick cancellation
    nbrs, _ = knn_from_matrix(D, k)
    return np.bincount(nbrs.ravel(), minlength=X.shape[0])


def top_rows(counts, m):
    """The m rows of highest count, ties to the lower row, ascending."""
    return np.sort(np.lexsort((np.arange(counts.size), -counts))[:m])


@pytest.fixture(scope="module")
def gauss():
    """One batch of isotropic latents in high dimension."""
    return np.random.default_rng(1).standard_normal((2000, 256))


@pytest.fixture(scope="module")
def gauss_counts(gauss):
    return brute_k_occurrence(gauss, 5)


def gaussian_sampler(d):
    def sampler(batch_size, rng):
        return rng.standard_normal((batch_size, d))

    return sampler


# --- one batch ------------------------------------------------------------------------------


def test_hubs_have_smaller_norm(gauss):
    hs = sample_hubs(gauss, k=5, threshold=20)
    norms = np.linalg.norm(gauss, axis=1)
    assert isinstance(hs, HubSample)
    assert 20 <= hs.n_kept <= 400
    assert np.linalg.norm(hs.latents, axis=1).mean() < norms.mean() - norms.std()
    assert (hs.k_occurrence >= 20).all()


def test_matches_brute_force(gauss, gauss_counts):
    hs = sample_hubs(gauss, k=5, threshold=20)
    expected = np.flatnonzero(gauss_counts >= 20)
    np.testing.assert_array_equal(hs.draw_index, expected)
    np.testing.assert_array_equal(hs.k_occurrence, gauss_counts[expected])
    np.testing.assert_array_equal(hs.latents, gauss[expected])
    assert hs.k_occurrence.dtype == np.int64
    assert (hs.n_drawn, hs.n_batches, hs.batch_size, hs.n_accepted) == (2000, 1, 2000, hs.n_kept)
    assert hs.acceptance_rate == pytest.approx(hs.n_kept / 2000)
    assert (hs.threshold, hs.top, hs.k, hs.metric) == (20, None, 5, "euclidean")


def test_default_threshold_is_fifty(gauss, gauss_counts):
    hs = sample_hubs(gauss)
    assert hs.threshold == 50 and hs.k == 5
    np.testing.assert_array_equal(hs.draw_index, np.flatnonzero(gauss_counts >= 50))


def test_threshold_and_top_agree(gauss):
    by_threshold = sample_hubs(gauss, k=5, threshold=20)
    by_top = sample_hubs(gauss, k=5, top=by_threshold.n_kept)
    assert by_top.threshold is None and by_top.top == by_threshold.n_kept
    np.testing.assert_array_equal(by_top.draw_index, by_threshold.draw_index)
    np.testing.assert_array_equal(by_top.k_occurrence, by_threshold.k_occurrence)


def test_top_prefers_lower_rows_on_ties():
    # Points at 0, 1, 2, 3 on a line, k=1: 0 -> 1, 1 -> 0 (tie with 2), 2 -> 1 (tie with 3),
    # 3 -> 2, so N_1 = [1, 2, 1, 0] and the top 2 are row 1 and, on the tie, row 0.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(brute_k_occurrence(X, 1), [1, 2, 1, 0])
    hs = sample_hubs(X, k=1, top=2)
    np.testing.assert_array_equal(hs.draw_index, [0, 1])
    np.testing.assert_array_equal(hs.k_occurrence, [1, 2])


def test_n_samples_truncates_in_draw_order(gauss, gauss_counts):
    hs = sample_hubs(gauss, 10, k=5, threshold=20)
    np.testing.assert_array_equal(hs.draw_index, np.flatnonzero(gauss_counts >= 20)[:10])
    assert hs.n_kept == 10 and hs.n_accepted == (gauss_counts >= 20).sum()


def test_n_samples_more_than_pass_is_an_error(gauss):
    with pytest.raises(ValueError, match="fewer than n_samples=1000"):
        sample_hubs(gauss, 1000, k=5, threshold=50)


def test_float32_stays_float32(gauss):
    hs = sample_hubs(gauss.astype(np.float32), k=5, threshold=20)
    assert hs.latents.dtype == np.float32


def test_notebook_rule_is_k_minus_one(gauss, gauss_counts):
    # The reference notebook counted self: 1 + N_4 >= 50, i.e. N_4 >= 49.
    hs = sample_hubs(gauss, k=4, threshold=19)
    n4 = brute_k_occurrence(gauss, 4)
    np.testing.assert_array_equal(hs.draw_index, np.flatnonzero(1 + n4 >= 20))


def test_to_dict_is_json(gauss):
    hs = sample_hubs(gauss, k=5, threshold=20)
    d = json.loads(json.dumps(hs.to_dict()))
    assert d["n_kept"] == hs.n_kept and d["draw_index"] == hs.draw_index.tolist()
    assert "latents" not in d
    full = hs.to_dict(include_latents=True)
    np.testing.assert_allclose(full["latents"], hs.latents)


@examples(60)
@given(
    X=st.integers(2, 40).flatmap(
        lambda n: hnp.arrays(np.float64, (n, 3), elements=st.integers(-3, 3).map(float))
    ),
    k=st.integers(1, 4),
    threshold=st.integers(0, 8),
    data=st.data(),
)
def test_kept_set_is_exactly_the_rule(X, k, threshold, data):
    # Small integer coordinates: exact distances and many ties, so the tie rule is exercised.
    n = X.shape[0]
    if k >= n:
        with pytest.raises(ValueError, match="smaller than the batch size"):
            sample_hubs(X, k=k, threshold=threshold)
        return
    counts = brute_k_occurrence(X, k)
    hs = sample_hubs(X, k=k, threshold=threshold)
    np.testing.assert_array_equal(hs.draw_index, np.flatnonzero(counts >= threshold))
    np.testing.assert_array_equal(hs.k_occurrence, counts[hs.draw_index])
    m = data.draw(st.integers(1, n))
    by_top = sample_hubs(X, k=k, top=m)
    np.testing.assert_array_equal(by_top.draw_index, top_rows(counts, m))


# --- a sampler ------------------------------------------------------------------------------


def test_sampler_collects_across_batches():
    batches = []

    def sampler(batch_size, rng):
        z = rng.standard_normal((batch_size, 64))
        batches.append(z)
        return z

    hs = sample_hubs(sampler, 50, k=5, threshold=20, batch_size=500, seed=3)
    assert hs.n_kept == 50 and hs.n_batches == len(batches) > 1
    assert hs.n_drawn == 500 * hs.n_batches and hs.n_accepted >= 50
    drawn = np.concatenate(batches)
    np.testing.assert_array_equal(hs.latents, drawn[hs.draw_index])
    assert (np.diff(hs.draw_index) > 0).all()
    expected = []
    for b, z in enumerate(batches):
        counts = brute_k_occurrence(z, 5)
        expected.extend(b * 500 + np.flatnonzero(counts >= 20))
    np.testing.assert_array_equal(hs.draw_index, expected[:50])
    assert hs.n_accepted == len(expected)
    assert hs.acceptance_rate == pytest.approx(len(expected) / hs.n_drawn)


def test_sampler_top_per_batch():
    hs = sample_hubs(gaussian_sampler(32), 25, k=5, top=10, batch_size=300, seed=0)
    assert hs.n_batches == 3 and hs.n_kept == 25 and hs.n_accepted == 30
    assert (np.bincount(hs.draw_index // 300) == [10, 10, 5]).all()


def test_same_seed_same_result():
    kw = dict(k=5, threshold=8, batch_size=400)
    a = sample_hubs(gaussian_sampler(48), 40, seed=7, **kw)
    b = sample_hubs(gaussian_sampler(48), 40, seed=7, **kw)
    c = sample_hubs(gaussian_sampler(48), 40, seed=8, **kw)
    np.testing.assert_array_equal(a.latents, b.latents)
    np.testing.assert_array_equal(a.draw_index, b.draw_index)
    assert not np.array_equal(a.latents, c.latents)


def test_sampler_gives_up_after_max_batches():
    with pytest.raises(RuntimeError, match=r"after max_batches=3 batches \(600 drawn"):
        sample_hubs(gaussian_sampler(16), 10, k=5, threshold=150, batch_size=200, max_batches=3)


def test_sampler_output_is_checked():
    with pytest.raises(ValueError, match="exactly batch_size rows"):
        sample_hubs(lambda b, rng: np.zeros((b - 1, 3)), 5, batch_size=100)
    with pytest.raises(ValueError, match="2-D"):
        sample_hubs(lambda b, rng: np.zeros(b), 5, batch_size=100)
    with pytest.raises(ValueError, match="NaN"):
        sample_hubs(lambda b, rng: np.full((b, 2), np.nan), 5, batch_size=100)


def test_sampler_progress_bar(capsys):
    sample_hubs(gaussian_sampler(16), 20, k=3, top=10, batch_size=100, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "sample_hubs" in err and "100.0%" in err


def test_sampler_needs_n_samples():
    with pytest.raises(ValueError, match="n_samples is required"):
        sample_hubs(gaussian_sampler(8))


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(k=200), ValueError, "k=200 must be smaller than the batch size 200"),
        (dict(k=0), ValueError, "k must be at least 1"),
        (dict(threshold=-1), ValueError, "threshold must be at least 0"),
        (dict(threshold=2.5), TypeError, "threshold must be an integer"),
        (dict(threshold=5, top=3), ValueError, "either threshold or top"),
        (dict(top=0), ValueError, "top must be at least 1"),
        (dict(top=201), ValueError, "top=201 exceeds the batch size 200"),
        (dict(metric="manhattan"), ValueError, "unknown metric"),
        (dict(n_samples=0), ValueError, "n_samples must be at least 1"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    X = np.random.default_rng(0).standard_normal((200, 4))
    with pytest.raises(exc, match=match):
        sample_hubs(X, **kwargs)


@pytest.mark.parametrize("source", [5, "latents.npy", None])
def test_source_must_be_array_or_callable(source):
    with pytest.raises(TypeError, match="callable"):
        sample_hubs(source)


def test_source_must_be_2d():
    with pytest.raises(ValueError, match="2-D"):
        sample_hubs(np.zeros(10))


def test_sampler_batch_size_checked():
    with pytest.raises(ValueError, match="k=5 must be smaller than the batch size 5"):
        sample_hubs(gaussian_sampler(4), 3, batch_size=5)


# --- norm truncation ------------------------------------------------------------------------


def test_norm_truncation_keeps_smallest_norms(gauss):
    idx = norm_truncation(gauss, 100)
    norms = np.linalg.norm(gauss, axis=1)
    assert idx.dtype == np.int64 and idx.size == 100 and (np.diff(idx) > 0).all()
    assert norms[idx].max() <= np.delete(norms, idx).min()


def test_norm_truncation_tracks_hubs_in_isotropic_space(gauss, gauss_counts):
    m = 100
    hubs = top_rows(gauss_counts, m)
    overlap = np.intersect1d(hubs, norm_truncation(gauss, m)).size
    assert overlap >= 0.7 * m


def test_norm_truncation_ties_and_center():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, 3.0]])
    assert norm_truncation(X, 2).tolist() == [0, 1]
    assert norm_truncation(X, 1, center=[0.0, 3.0]).tolist() == [3]
    with pytest.raises(ValueError, match="center must have shape"):
        norm_truncation(X, 1, center=[0.0])
    with pytest.raises(ValueError, match="n_keep must be at most 4"):
        norm_truncation(X, 5)


def test_exported():
    assert latentgeo.sample_hubs is sample_hubs
    assert "sample_hubs" in latentgeo.__all__ and "norm_truncation" in latentgeo.__all__


@pytest.mark.parametrize("scale", [1e300, 1e-300, 2.0**-1070])
def test_norm_truncation_at_any_magnitude(scale):
    """Squared norms of huge or tiny latents neither overflow nor underflow (issue 13)."""
    Z = np.array([[3.0, 3.0], [2.0, 2.0], [1.0, 1.0], [0.0, 0.5]]) * scale
    assert latentgeo.norm_truncation(Z, 2).tolist() == [2, 3]
    c = np.array([3.0, 3.0]) * scale
    assert latentgeo.norm_truncation(Z, 1, center=c).tolist() == [0]


def test_norm_truncation_mixed_magnitudes():
    Z = np.array([[3e300], [1e-300], [2e-300], [0.0], [-1e308]])
    assert latentgeo.norm_truncation(Z, 3).tolist() == [1, 2, 3]
    assert latentgeo.norm_truncation(Z, 1, center=np.array([1e308])).tolist() == [0]
