"""The knob grid search (``whitening_grid``, ``WhiteningGrid``)."""

import json
import warnings

import numpy as np
import pytest
import scipy.stats
from support.whitening import make_data

from latentgeo import Whitening, WhiteningGrid, whitening_grid
from latentgeo.whitening import NotFittedError

# ---------------------------------------------------------------------------------------------
# Grid search.


def sts_pairs(n=150, d=8, seed=0):
    rng = np.random.default_rng(seed)
    scales = np.linspace(4, 0.3, d)
    base = rng.normal(size=(n, d)) * scales + 5.0
    noise = rng.uniform(0.1, 2.0, size=n)[:, None]
    a = base + noise * rng.normal(size=(n, d))
    b = base + noise * rng.normal(size=(n, d))
    gold = -noise[:, 0] + 0.1 * rng.normal(size=n)
    return a, b, gold


def cosine_spearman(A, B, gold):
    cos = np.einsum("ij,ij->i", A, B) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))
    return scipy.stats.spearmanr(cos, gold)[0]


def test_grid_matches_individual_estimators():
    a, b, gold = sts_pairs()
    corpus = make_data(n=300, d=8, seed=9)
    grid = whitening_grid(
        a, b, gold, betas=[0, 0.5, 1], gammas=[0, 0.3, 1], n_components=[2, 5, 8], fit_on=corpus
    )
    assert isinstance(grid, WhiteningGrid)
    assert grid.spearman.shape == (3, 3, 3)
    assert grid.n_pairs == 150 and grid.n_fit == 300
    for i, beta in enumerate(grid.betas):
        for j, gamma in enumerate(grid.gammas):
            for m, k in enumerate(grid.n_components):
                w = Whitening(beta=beta, gamma=gamma, n_components=int(k)).fit(corpus)
                rho = cosine_spearman(w.transform(a), w.transform(b), gold)
                assert grid.spearman[i, j, m] == pytest.approx(rho, abs=1e-12)
    assert grid.baseline == pytest.approx(cosine_spearman(a, b, gold), abs=1e-12)
    # beta = gamma = 0 with k = d is a rotation: the raw cosines.
    assert grid.spearman[0, 0, 2] == pytest.approx(grid.baseline, abs=1e-12)


def test_grid_best_table_to_dict():
    a, b, gold = sts_pairs(seed=1)
    grid = whitening_grid(a, b, gold, n_components=[4, 8])
    assert grid.spearman.shape == (5, 5, 2)
    best = grid.best
    assert best["spearman"] == pytest.approx(np.nanmax(grid.spearman))
    assert len(grid.table) == 50
    assert grid.table[0] == {
        "beta": 0.0,
        "gamma": 0.0,
        "n_components": 4,
        "spearman": grid.spearman[0, 0, 0],
    }
    w = Whitening(**{k: v for k, v in best.items() if k != "spearman"})
    w.fit(np.vstack([a, b]))  # fit_on=None means both sides of the pairs
    assert cosine_spearman(w.transform(a), w.transform(b), gold) == pytest.approx(
        best["spearman"], abs=1e-12
    )
    d = grid.to_dict()
    json.dumps(d)
    assert d["best"] == best and len(d["spearman"]) == 5
    assert "best" in grid.summary()


def test_grid_fit_on_fitted_whitening():
    a, b, gold = sts_pairs(seed=2)
    corpus = make_data(n=200, d=8, seed=3)
    stream = Whitening(beta=0.1, gamma=0.2)  # its knobs are ignored
    for chunk in np.array_split(corpus, 4):
        stream.partial_fit(chunk)
    g1 = whitening_grid(a, b, gold, betas=[0.5, 1], gammas=[1], fit_on=stream)
    g2 = whitening_grid(a, b, gold, betas=[0.5, 1], gammas=[1], fit_on=corpus)
    np.testing.assert_allclose(g1.spearman, g2.spearman, atol=1e-12)
    assert g1.n_fit == 200


def test_grid_constant_cosines_give_nan_not_warning(rng):
    a = rng.normal(size=(20, 3))
    gold = rng.normal(size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grid = whitening_grid(a, a, gold, betas=[1], gammas=[1])
    assert np.isnan(grid.spearman).all()
    assert grid.to_dict()["spearman"] == [[[None]]]


def test_grid_errors():
    a, b, gold = sts_pairs(n=20)
    with pytest.raises(ValueError, match="same shape"):
        whitening_grid(a, b[:, :5], gold)
    with pytest.raises(ValueError, match="gold must have shape"):
        whitening_grid(a, b, gold[:5])
    with pytest.raises(ValueError, match="gold contains NaN"):
        whitening_grid(a, b, np.where(np.arange(20) == 3, np.nan, gold))
    with pytest.raises(ValueError, match="all equal"):
        whitening_grid(a, b, np.ones(20))
    with pytest.raises(ValueError, match="at least 2 pairs"):
        whitening_grid(a[:1], b[:1], gold[:1])
    with pytest.raises(ValueError, match=r"betas\[1\] must be in \[0, 1\]"):
        whitening_grid(a, b, gold, betas=[0, 2])
    with pytest.raises(ValueError, match="gammas is empty"):
        whitening_grid(a, b, gold, gammas=[])
    with pytest.raises(TypeError, match="gammas"):
        whitening_grid(a, b, gold, gammas=["x"])
    with pytest.raises(ValueError, match="larger than the number of features"):
        whitening_grid(a, b, gold, n_components=[2, 9])
    with pytest.raises(TypeError, match="n_components"):
        whitening_grid(a, b, gold, n_components=[2.0])
    with pytest.raises(ValueError, match="fit_on has 5 columns"):
        whitening_grid(a, b, gold, fit_on=a[:, :5])
    with pytest.raises(NotFittedError):
        whitening_grid(a, b, gold, fit_on=Whitening())
    with pytest.raises(ValueError, match="fit_on was fitted with 5 features"):
        whitening_grid(a, b, gold, fit_on=Whitening().fit(a[:, :5]))
    with pytest.raises(ValueError, match="eps must be in"):
        whitening_grid(a, b, gold, eps=0)
