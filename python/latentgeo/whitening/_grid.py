"""A grid search over the whitening knobs (beta, gamma, k), scored by Spearman correlation."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from .._json import plain
from .._validate import (
    as_float_matrix,
    check_int,
)
from ._estimator import Whitening
from ._stats import (
    _block_stats,
    _check_eps,
    _check_unit,
    _decompose,
    _symmetrize,
)


def _check_grid_values(values, name: str) -> np.ndarray:
    if isinstance(values, numbers.Real):
        values = [values]
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of numbers in [0, 1], got {values!r}") from None
    if not items:
        raise ValueError(f"{name} is empty")
    return np.asarray([_check_unit(v, f"{name}[{i}]") for i, v in enumerate(items)])


def _check_grid_ks(values, d: int) -> np.ndarray:
    if values is None:
        return np.asarray([d], dtype=np.int64)
    if isinstance(values, numbers.Integral):
        values = [values]
    try:
        items = list(values)
    except TypeError:
        raise TypeError(f"n_components must be an integer or a sequence, got {values!r}") from None
    if not items:
        raise ValueError("n_components is empty")
    out = []
    for i, v in enumerate(items):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
            raise TypeError(f"n_components[{i}] must be an integer, got {v!r}")
        v = check_int(v, f"n_components[{i}]", low=1)
        if v > d:
            raise ValueError(f"n_components[{i}]={v} is larger than the number of features d={d}")
        out.append(v)
    return np.asarray(out, dtype=np.int64)


def _rank_columns(C: np.ndarray) -> np.ndarray:
    """Average ranks of each column, centred."""
    import scipy.stats  # at use: importing scipy.stats costs ~0.3 s

    r = scipy.stats.rankdata(C, axis=0)
    return r - r.mean(axis=0)


def _spearman_columns(C: np.ndarray, gold_ranks: np.ndarray) -> np.ndarray:
    """Spearman correlation of each column of C with the (centred) gold ranks; NaN if constant."""
    r = _rank_columns(C)
    num = gold_ranks @ r
    den = np.sqrt((gold_ranks @ gold_ranks) * np.einsum("ij,ij->j", r, r))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(rho, -1.0, 1.0)


def _cosines(dot: np.ndarray, na2: np.ndarray, nb2: np.ndarray) -> np.ndarray:
    """dot / (|a| |b|); 0 where a norm is zero."""
    den = np.sqrt(na2 * nb2)
    return dot / np.maximum(den, np.finfo(np.float64).tiny)


@dataclass(frozen=True, eq=False)
class WhiteningGrid:
    """Spearman correlation of whitened cosine similarities with gold scores over a grid.

    Attributes
    ----------
    betas, gammas : ndarray of float64
        The grid axes, in the order given.
    n_components : ndarray of int64
        The k axis, in the order given.
    spearman : ndarray of float64, shape (len(betas), len(gammas), len(n_components))
        Spearman correlation between ``cos(T a_i, T b_i)`` and ``gold_i`` for each knob setting
        (NaN where the cosines are all equal).
    baseline : float
        Spearman correlation of the raw cosines (no whitening).
    rank : ndarray of int64, shape (len(betas),)
        Numerical rank of ``Sigma_beta`` per beta (see :attr:`Whitening.rank_`); settings with
        ``gamma > 0`` and k above it scale noise up.
    n_pairs : int
        Number of scored pairs.
    n_fit : int
        Number of rows the statistics came from.
    eps : float
        The eigenvalue floor used.
    """

    betas: np.ndarray
    gammas: np.ndarray
    n_components: np.ndarray
    spearman: np.ndarray
    baseline: float
    rank: np.ndarray
    n_pairs: int
    n_fit: int
    eps: float

    @property
    def table(self) -> list:
        """One dict ``{beta, gamma, n_components, spearman}`` per setting, in grid order."""
        rows = []
        for i, beta in enumerate(self.betas):
            for j, gamma in enumerate(self.gammas):
                for m, k in enumerate(self.n_components):
                    rows.append(
                        {
                            "beta": float(beta),
                            "gamma": float(gamma),
                            "n_components": int(k),
                            "spearman": float(self.spearman[i, j, m]),
                        }
                    )
        return rows

    @property
    def best(self) -> dict:
        """The setting with the highest Spearman correlation (first in grid order on ties).

        A dict ``{beta, gamma, n_components, spearman}``; ``Whitening(**{k: v for k, v in
        best.items() if k != "spearman"})`` rebuilds the estimator. Spearman is NaN only if
        every setting is NaN.
        """
        flat = self.spearman.ravel()
        if np.isnan(flat).all():
            i = 0
        else:
            i = int(np.nanargmax(flat))
        return self.table[i]

    def to_dict(self) -> dict:
        """Plain-Python form for JSON: arrays become lists, NaN becomes None; adds ``best``."""
        out = {name: plain(getattr(self, name)) for name in self.__dataclass_fields__}
        out["best"] = plain(self.best)
        return out

    def summary(self) -> str:
        """A short human-readable description: the baseline, the best setting, the top rows."""
        best = self.best
        rows = sorted(
            (r for r in self.table if not math.isnan(r["spearman"])),
            key=lambda r: -r["spearman"],
        )[:5]
        lines = [
            f"whitening grid: {self.n_pairs} pairs, statistics from {self.n_fit} rows, "
            f"{self.spearman.size} settings",
            f"  raw cosines          spearman {self.baseline:.4f}",
            f"  best                 beta={best['beta']:g} gamma={best['gamma']:g} "
            f"k={best['n_components']} spearman {best['spearman']:.4f}",
        ]
        for r in rows:
            lines.append(
                f"    beta={r['beta']:<5g} gamma={r['gamma']:<5g} k={r['n_components']:<6d}"
                f" {r['spearman']:.4f}"
            )
        return "\n".join(lines)


_DEFAULT_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def whitening_grid(
    a,
    b,
    gold,
    *,
    betas: Sequence[float] = _DEFAULT_GRID,
    gammas: Sequence[float] = _DEFAULT_GRID,
    n_components: Union[None, int, Sequence[int]] = None,
    fit_on=None,
    eps: float = 1e-6,
) -> WhiteningGrid:
    """Score every (beta, gamma, k) by the Spearman correlation of whitened cosines with gold.

    For each setting the pairs are transformed exactly as ``Whitening(beta, gamma, k,
    eps).fit(fit_on).transform`` would, the cosine similarity of each pair is taken, and its
    Spearman correlation with the gold scores is reported (the STS protocol of BERT-whitening).
    One eigen-decomposition is computed per beta and reused for every gamma and k.

    Parameters
    ----------
    a, b : array_like, shape (n_pairs, d)
        Embeddings of the two sides of each pair.
    gold : array_like, shape (n_pairs,)
        Gold similarity scores (only their order matters).
    betas, gammas : sequence of float in [0, 1]
        Grid axes (default 0, 0.25, 0.5, 0.75, 1).
    n_components : int or sequence of int, optional
        Values of k in [1, d] (default: d only).
    fit_on : array_like of shape (m, d), or a fitted Whitening, optional
        Where mu and the covariance come from: embeddings (e.g. an unlabelled corpus or the
        training split), or a fitted :class:`Whitening` (e.g. built with ``partial_fit``; only its
        statistics are used, not its knobs). Default: the rows of `a` and `b` together, i.e. the
        evaluation pairs themselves (transductive, as in bojone's Chinese experiments; it
        inflates scores, so prefer held-out data when choosing knobs for deployment).
    eps : float in (0, 1)
        Relative eigenvalue floor, as in :class:`Whitening`.

    Returns
    -------
    WhiteningGrid

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(size=(200, 16)) * np.linspace(3, 0.3, 16) + 2.0
    >>> a = base + 0.5 * rng.normal(size=base.shape)
    >>> b = base + 0.5 * rng.normal(size=base.shape)
    >>> gold = -np.linalg.norm(a - b, axis=1)
    >>> grid = latentgeo.whitening_grid(a, b, gold, n_components=[4, 16])
    >>> grid.spearman.shape
    (5, 5, 2)
    >>> sorted(grid.best)
    ['beta', 'gamma', 'n_components', 'spearman']
    """
    A = as_float_matrix(a, "a", dtype=np.dtype(np.float64))
    B = as_float_matrix(b, "b", dtype=np.dtype(np.float64))
    if A.shape != B.shape:
        raise ValueError(f"a and b must have the same shape, got {A.shape} and {B.shape}")
    n, d = A.shape
    g = np.asarray(gold)
    if g.dtype.kind not in "biuf":
        raise TypeError(f"gold must hold real numbers, got dtype {g.dtype}")
    if g.ndim != 1 or g.shape[0] != n:
        raise ValueError(f"gold must have shape ({n},) to match a and b, got {g.shape}")
    g = g.astype(np.float64)
    if not np.isfinite(g).all():
        raise ValueError("gold contains NaN or infinite values")
    if n < 2:
        raise ValueError(f"need at least 2 pairs for a Spearman correlation, got {n}")
    if np.all(g == g[0]):
        raise ValueError("gold scores are all equal; the Spearman correlation is undefined")
    beta_axis = _check_grid_values(betas, "betas")
    gamma_axis = _check_grid_values(gammas, "gammas")
    ks = _check_grid_ks(n_components, d)
    eps = _check_eps(eps)

    if fit_on is None:
        n_fit, mean, m2 = _block_stats(np.vstack([A, B]))
        cov = _symmetrize(m2 / n_fit)
    elif isinstance(fit_on, Whitening):
        fit_on._check_fitted()
        if fit_on.n_features_in_ != d:
            raise ValueError(
                f"fit_on was fitted with {fit_on.n_features_in_} features, but a and b have {d}"
            )
        n_fit, mean, cov = fit_on.n_samples_seen_, fit_on.mean_, fit_on.covariance_
    else:
        F = as_float_matrix(fit_on, "fit_on")
        if F.shape[1] != d:
            raise ValueError(f"fit_on has {F.shape[1]} columns, but a and b have {d}")
        n_fit, mean, m2 = _block_stats(F)
        cov = _symmetrize(m2 / n_fit)

    gold_ranks = _rank_columns(g[:, None])[:, 0]
    raw = _cosines(
        np.einsum("ij,ij->i", A, B), np.einsum("ij,ij->i", A, A), np.einsum("ij,ij->i", B, B)
    )
    baseline = float(_spearman_columns(raw[:, None], gold_ranks)[0])

    # mask[j, m] = 1 when column j is among the first ks[m]: a GEMM sums the first k terms.
    mask = (np.arange(d)[:, None] < ks[None, :]).astype(np.float64)
    rho = np.empty((beta_axis.size, gamma_axis.size, ks.size))
    ranks = np.empty(beta_axis.size, dtype=np.int64)
    for i, beta in enumerate(beta_axis):
        dec = _decompose(mean, cov, float(beta), eps)
        ranks[i] = dec.rank
        shift = beta * mean
        za = (A - shift) @ dec.vectors
        zb = (B - shift) @ dec.vectors
        prod, sqa, sqb = za * zb, za * za, zb * zb
        for j, gamma in enumerate(gamma_axis):
            weights = (dec.regularized ** (-float(gamma)))[:, None] * mask
            cos = _cosines(prod @ weights, sqa @ weights, sqb @ weights)
            rho[i, j] = _spearman_columns(cos, gold_ranks)
    return WhiteningGrid(
        betas=beta_axis,
        gammas=gamma_axis,
        n_components=ks,
        spearman=rho,
        baseline=baseline,
        rank=ranks,
        n_pairs=int(n),
        n_fit=int(n_fit),
        eps=eps,
    )
