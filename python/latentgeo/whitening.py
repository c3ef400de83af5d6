"""Generalised BERT-whitening with the beta, gamma and k knobs, and a grid search over them.

BERT-whitening maps an embedding x to ``(x - mu) U Lambda^(-1/2)``, where mu is the mean and
``Sigma = U Lambda U^T`` the eigen-decomposition of the covariance, and keeps the first k columns.
Su's generalisation (kexue.fm/archives/9079) adds two knobs::

    x~ = (x - beta mu) U Lambda^(-gamma/2)
    Sigma_beta = (1/N) sum_i (x_i - beta mu)^T (x_i - beta mu) = Sigma_c + (1 - beta)^2 mu mu^T

with ``Sigma_beta = U Lambda U^T`` taken around ``beta mu`` (so the eigenvectors depend on beta).
``beta = gamma = 1`` is classic whitening, ``beta = 1, gamma = 0`` is PCA (centring and rotation),
``beta = gamma = 0`` is ``x U``, a rotation that keeps dot products and cosines when ``k = d``.

Conventions shared by :class:`Whitening` and :func:`whitening_grid`:

- **Normalisation 1/N.** The covariance is the maximum-likelihood one, ``M2 / N``, as in the
  beta/gamma post; with it the whitened fitting data has covariance exactly I (computed with
  ``np.cov(Z.T, bias=True)``). bojone's code and scikit-learn's ``PCA`` use ``1/(N - 1)``; their
  whitened output is ours times ``sqrt((N - 1) / N)``, which changes no cosine and no Spearman
  correlation.
- **Exact streaming.** Statistics are kept as (N, mu, M2) and merged with the Chan-Golub-LeVeque
  formulas in float64 (also for float32 input), so fitting in chunks gives the same result as
  fitting at once, and beta can be changed after the data has gone.
- **Eigenvalue floor.** The eigenvalues used for scaling are ``max(lambda_i, eps * lambda_1)``
  (``lambda_1`` the largest): rank-deficient covariances (N <= d, duplicated or collinear
  features) and round-off never give NaN or inf. Directions below the floor are scaled by
  ``(eps lambda_1)^(-gamma/2)``; keeping such columns (``n_components > rank_``) amplifies noise,
  and :meth:`Whitening.fit` warns about it. A zero matrix (one sample, or identical rows with
  ``beta = 1``; numerically: largest eigenvalue at most 1e-24 times the mean squared norm of the
  rows, which absorbs the round-off of the mean) is given eigenvalues 1: a pure rotation.
- **Deterministic signs.** Eigenvalues are sorted descending and each eigenvector is flipped so
  that its entry of largest magnitude (the first one, on ties) is positive.
"""

from __future__ import annotations

import math
import numbers
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import scipy.stats

from ._validate import as_float_matrix, check_int

__all__ = ["Whitening", "WhiteningGrid", "NotFittedError", "whitening_grid"]

_FORMAT = "latentgeo.Whitening"
_FORMAT_VERSION = 1
# Rows per block when accumulating statistics: bounds the float64 working copy to ~32 MB.
_BLOCK_ELEMENTS = 1 << 22
# Sigma_beta counts as zero when its largest eigenvalue is at most this times the mean squared
# norm of the rows (a relative spread of 1e-12, below what float64 round-off can resolve).
_ZERO_COVARIANCE = 1e-24


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`Whitening` is used before it was fitted.

    Subclasses ValueError and AttributeError, as scikit-learn's ``NotFittedError`` does, so that
    ``hasattr(est, "kernel_")`` is False before fitting.
    """


# ---------------------------------------------------------------------------------------------
# Validation of the knobs.


def _check_unit(value, name: str) -> float:
    """A real number in [0, 1]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {value!r}")
    value = float(value)
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def _check_eps(value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"eps must be a real number in (0, 1), got {value!r}")
    value = float(value)
    if not (0.0 < value < 1.0):
        raise ValueError(f"eps must be in (0, 1), got {value!r}")
    return value


def _check_n_components(value, n_features: Optional[int]) -> Optional[int]:
    """None or an integer in [1, n_features] (upper bound only checked when known)."""
    if value is None:
        return None if n_features is None else n_features
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"n_components must be None or an integer, got {value!r}")
    value = check_int(value, "n_components", low=1)
    if n_features is not None and value > n_features:
        raise ValueError(
            f"n_components={value} is larger than the number of features d={n_features}; "
            "whitening can keep at most d columns"
        )
    return value


# ---------------------------------------------------------------------------------------------
# Statistics and the eigen-decomposition (shared by the estimator and the grid).


def _block_stats(X: np.ndarray):
    """(n, mean, M2) of the rows of X in float64, block by block (exact merging)."""
    n_total = 0
    mean = np.zeros(X.shape[1])
    m2 = np.zeros((X.shape[1], X.shape[1]))
    rows = max(1, _BLOCK_ELEMENTS // X.shape[1])
    for start in range(0, X.shape[0], rows):
        block = X[start : start + rows]
        n_b = block.shape[0]
        mean_b = block.mean(axis=0, dtype=np.float64)
        centred = block.astype(np.float64) - mean_b
        m2_b = centred.T @ centred
        n_total, mean, m2 = _merge(n_total, mean, m2, n_b, mean_b, m2_b)
    return n_total, mean, m2


def _merge(n_a: int, mean_a, m2_a, n_b: int, mean_b, m2_b):
    """Chan-Golub-LeVeque merge of two (n, mean, M2) states."""
    if n_a == 0:
        return n_b, mean_b, m2_b
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + np.outer(delta, delta) * (n_a * n_b / n)
    return n, mean, m2


def _symmetrize(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + m.T)


@dataclass(frozen=True)
class _Decomposition:
    eigenvalues: np.ndarray  # (d,) raw, descending
    vectors: np.ndarray  # (d, d) columns, signs fixed
    regularized: np.ndarray  # (d,) eigenvalues after the floor
    rank: int  # eigenvalues above the floor


def _decompose(mean: np.ndarray, cov: np.ndarray, beta: float, eps: float) -> _Decomposition:
    """Eigen-decomposition of Sigma_beta = cov + (1 - beta)^2 mu mu^T (descending, signs fixed)."""
    sigma = cov + (1.0 - beta) ** 2 * np.outer(mean, mean)
    w, v = np.linalg.eigh(_symmetrize(sigma))
    w = w[::-1].copy()
    v = v[:, ::-1].copy()
    cols = np.arange(v.shape[1])
    pivot = np.argmax(np.abs(v), axis=0)
    signs = np.where(v[pivot, cols] < 0, -1.0, 1.0)
    v *= signs
    top = float(w[0])
    # Scale of the data about the origin: a covariance this far below it is round-off.
    second_moment = float(np.trace(cov) + mean @ mean)
    if top > _ZERO_COVARIANCE * second_moment:
        floor = eps * top
        rank = int(np.count_nonzero(w > floor))
        reg = np.maximum(w, floor)
    else:  # a (numerically) zero matrix: no scale information, keep a pure rotation
        rank = 0
        reg = np.ones_like(w)
    return _Decomposition(eigenvalues=w, vectors=v, regularized=reg, rank=rank)


def _scales(dec: _Decomposition, gamma: float, k: int) -> np.ndarray:
    return dec.regularized[:k] ** (-0.5 * gamma)


# ---------------------------------------------------------------------------------------------
# The estimator.


_PARAM_NAMES = ("beta", "gamma", "n_components", "eps")


class Whitening:
    """Generalised BERT-whitening ``x~ = (x - beta mu) U Lambda^(-gamma/2)``, first k columns.

    A scikit-learn style transformer (``fit``, ``partial_fit``, ``transform``, ``fit_transform``,
    ``inverse_transform``, ``get_params``/``set_params``; works with ``sklearn.base.clone`` and in
    a ``sklearn.pipeline.Pipeline``) that does not depend on scikit-learn. See the module
    docstring for the covariance normalisation (1/N), the eigenvalue floor and the sign
    convention.

    Parameters
    ----------
    beta : float in [0, 1]
        How much of the mean is removed: the data is centred at ``beta * mu`` and the second
        moment is taken around that point. 1 centres, 0 keeps the origin.
    gamma : float in [0, 1]
        How much of the variance is equalised: column i is scaled by ``lambda_i^(-gamma/2)``.
        1 whitens, 0 only rotates.
    n_components : int, optional
        Columns to keep, k in [1, d] (default: all d). The kept columns are the directions of
        largest eigenvalue of ``Sigma_beta``.
    eps : float in (0, 1)
        Relative eigenvalue floor: eigenvalues below ``eps * lambda_max`` are raised to it before
        scaling (the regularisation for rank-deficient covariances).

    Attributes
    ----------
    n_features_in_ : int
        d, the number of features seen in fit.
    n_samples_seen_ : int
        N, the rows the statistics are built from (summed over ``partial_fit`` calls).
    mean_ : ndarray of float64, shape (d,)
        mu.
    covariance_ : ndarray of float64, shape (d, d)
        The centred covariance Sigma_c with normalisation 1/N.

    The following are derived from the statistics and the current parameters, on first use
    after a change (so ``set_params(beta=..., gamma=..., n_components=...)`` on a fitted
    estimator takes effect without the data):

    eigenvalues_ : ndarray of float64, shape (d,)
        Eigenvalues of ``Sigma_beta``, descending, before the floor.
    components_ : ndarray of float64, shape (k, d)
        The kept eigenvectors as rows (scikit-learn's convention).
    kernel_ : ndarray of float64, shape (d, k)
        ``W = U_k diag(max(lambda, eps lambda_1)^(-gamma/2))``.
    bias_ : ndarray of float64, shape (k,)
        ``-beta mu W``, so that ``transform(X) == X @ kernel_ + bias_`` (bojone's kernel/bias).
    n_components_ : int
        k.
    rank_ : int
        Number of eigenvalues of ``Sigma_beta`` above the floor ``eps * lambda_1`` (0 for a zero
        matrix). Columns past it (``n_components_ > rank_``) carry scaled-up noise when
        ``gamma > 0``.

    Notes
    -----
    ``fit`` and ``partial_fit`` accumulate in float64 in blocks (exact Chan-Golub-LeVeque
    merging); ``transform`` returns float32 for float32 (and float16) input and float64 otherwise.
    Fit the statistics on data other than the evaluation pairs where possible: fitting on the
    test sentences themselves (as some published numbers do) inflates scores.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> X = np.random.default_rng(0).normal(size=(500, 8)) @ np.diag([5, 4, 3, 2, 1, 1, 1, 1.0])
    >>> Z = latentgeo.Whitening().fit_transform(X)
    >>> bool(np.allclose(np.cov(Z.T, bias=True), np.eye(8)))
    True
    >>> R = latentgeo.Whitening(beta=0, gamma=0).fit(X).transform(X)   # a rotation
    >>> bool(np.allclose(R @ R.T, X @ X.T))
    True
    """

    def __init__(self, beta=1.0, gamma=1.0, n_components=None, eps=1e-6):
        self.beta = beta
        self.gamma = gamma
        self.n_components = n_components
        self.eps = eps

    # -- scikit-learn parameter protocol --------------------------------------------------

    def get_params(self, deep: bool = True) -> dict:
        """The constructor parameters, as given (``deep`` is accepted for compatibility)."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def set_params(self, **params) -> "Whitening":
        """Set constructor parameters; they are validated when next used (fit or transform)."""
        for name in params:
            if name not in _PARAM_NAMES:
                raise ValueError(
                    f"invalid parameter {name!r} for estimator {self!r}; valid parameters are: "
                    f"{list(_PARAM_NAMES)}"
                )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {"beta": 1.0, "gamma": 1.0, "n_components": None, "eps": 1e-6}
        parts = []
        for name in _PARAM_NAMES:
            value = getattr(self, name)
            default = defaults[name]
            try:
                same = value is default or (
                    default is not None and value is not None and bool(value == default)
                )
            except (TypeError, ValueError):
                same = False
            if not same:
                parts.append(f"{name}={value!r}")
        return f"Whitening({', '.join(parts)})"

    def __sklearn_is_fitted__(self) -> bool:
        return self._is_fitted()

    def __sklearn_tags__(self):
        """Estimator tags for scikit-learn >= 1.6 (only scikit-learn itself calls this)."""
        from sklearn.utils import Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
        )

    def _is_fitted(self) -> bool:
        return "n_samples_seen_" in vars(self)

    def _check_fitted(self) -> None:
        if not self._is_fitted():
            raise NotFittedError(
                "this Whitening is not fitted yet; call fit or partial_fit with data first"
            )

    def _params(self, n_features: Optional[int]):
        """Validated (beta, gamma, k, eps); k is resolved against n_features when given."""
        beta = _check_unit(self.beta, "beta")
        gamma = _check_unit(self.gamma, "gamma")
        k = _check_n_components(self.n_components, n_features)
        eps = _check_eps(self.eps)
        return beta, gamma, k, eps

    # -- fitting ------------------------------------------------------------------------------

    def fit(self, X, y=None) -> "Whitening":
        """Estimate mu and the covariance from X, replacing any previous fit.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Embeddings (finite real numbers; float32 is accumulated in float64).
        y : ignored
            Accepted for pipeline compatibility.

        Returns
        -------
        self

        Warns
        -----
        RuntimeWarning
            If ``gamma > 0`` and more columns are kept than the covariance has eigenvalues above
            the floor (e.g. ``n_samples <= n_features``): those columns are noise scaled up.
        """
        X = as_float_matrix(X, "X")
        self._params(X.shape[1])
        n, mean, m2 = _block_stats(X)
        self._set_state(X.shape[1], n, mean, m2 / n)
        self._decomposition(warn=True)
        return self

    def partial_fit(self, X, y=None) -> "Whitening":
        """Add the rows of X to the statistics (exact streaming; same result as one ``fit``).

        On error (bad parameters, NaN, a different number of features) the estimator is left
        exactly as it was. The eigen-decomposition is recomputed lazily, on the next use of a
        derived attribute or of ``transform``; no rank warning is issued here, as early chunks
        are routinely rank-deficient (check ``rank_`` at the end).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            A chunk of embeddings.
        y : ignored

        Returns
        -------
        self
        """
        X = as_float_matrix(X, "X")
        d = X.shape[1]
        if self._is_fitted() and d != self.n_features_in_:
            raise ValueError(
                f"X has {d} features, but Whitening is expecting {self.n_features_in_} "
                "features as input (the number it was fitted with)"
            )
        self._params(d)
        n_b, mean_b, m2_b = _block_stats(X)
        if self._is_fitted():
            n_a = self.n_samples_seen_
            n, mean, m2 = _merge(n_a, self.mean_, self.covariance_ * n_a, n_b, mean_b, m2_b)
        else:
            n, mean, m2 = n_b, mean_b, m2_b
        self._set_state(d, n, mean, m2 / n)
        return self

    def _set_state(self, d: int, n: int, mean: np.ndarray, cov: np.ndarray) -> None:
        cov = _symmetrize(cov)
        self.n_features_in_ = int(d)
        self.n_samples_seen_ = int(n)
        self.mean_ = mean
        self.covariance_ = cov
        self._cache = {}

    # -- derived quantities -----------------------------------------------------------------

    def _decomposition(self, warn: bool = False):
        """(decomposition, beta, gamma, k, eps) for the current parameters (cached)."""
        self._check_fitted()
        beta, gamma, k, eps = self._params(self.n_features_in_)
        key = ("dec", beta, eps)
        dec = self._cache.get(key)
        if dec is None:
            dec = _decompose(self.mean_, self.covariance_, beta, eps)
            self._cache = {key: dec}  # the cache holds one beta at a time
        if warn and gamma > 0 and k > dec.rank:
            warnings.warn(
                f"n_components={k} exceeds the numerical rank {dec.rank} of the covariance "
                f"(eigenvalues above eps * largest = {eps:g} * {dec.eigenvalues[0]:.3g}; "
                f"n_samples_seen_={self.n_samples_seen_}, d={self.n_features_in_}); the last "
                f"{k - dec.rank} columns are scaled by the floor and mostly amplify noise. "
                "Use n_components <= rank_ or more data.",
                RuntimeWarning,
                stacklevel=3,
            )
        return dec, beta, gamma, k, eps

    def _kernel(self):
        """(kernel W of shape (d, k), shift beta*mu) in float64."""
        dec, beta, gamma, k, eps = self._decomposition()
        key = ("kernel", beta, gamma, k, eps)
        cached = self._cache.get(key)
        if cached is None:
            kernel = dec.vectors[:, :k] * _scales(dec, gamma, k)
            cached = (kernel, beta * self.mean_)
            self._cache[key] = cached
        return cached

    @property
    def eigenvalues_(self) -> np.ndarray:
        return self._decomposition()[0].eigenvalues.copy()

    @property
    def components_(self) -> np.ndarray:
        dec, _, _, k, _ = self._decomposition()
        return dec.vectors[:, :k].T.copy()

    @property
    def kernel_(self) -> np.ndarray:
        return self._kernel()[0].copy()

    @property
    def bias_(self) -> np.ndarray:
        kernel, shift = self._kernel()
        return -(shift @ kernel)

    @property
    def n_components_(self) -> int:
        return self._decomposition()[3]

    @property
    def rank_(self) -> int:
        return self._decomposition()[0].rank

    # -- transforming -----------------------------------------------------------------------

    def _check_X(self, X, name: str, width: int, what: str) -> np.ndarray:
        X = as_float_matrix(X, name, allow_empty=True)
        if X.shape[1] != width:
            raise ValueError(f"{name} has {X.shape[1]} features, but Whitening {what}")
        return X

    def transform(self, X) -> np.ndarray:
        """Apply ``(x - beta mu) U_k Lambda_k^(-gamma/2)`` to the rows of X.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        ndarray, shape (n_samples, n_components_)
            float32 for float32/float16 input, float64 otherwise.
        """
        self._check_fitted()
        X = self._check_X(
            X,
            "X",
            self.n_features_in_,
            f"is expecting {self.n_features_in_} features as input (the number it was fitted with)",
        )
        kernel, shift = self._kernel()
        dt = X.dtype
        kernel, shift = kernel.astype(dt), shift.astype(dt)
        out = np.empty((X.shape[0], kernel.shape[1]), dtype=dt)
        rows = max(1, _BLOCK_ELEMENTS // X.shape[1])
        for start in range(0, X.shape[0], rows):  # bounded temporaries; centre before the GEMM
            np.matmul(X[start : start + rows] - shift, kernel, out=out[start : start + rows])
        return out

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)`` (X is validated once)."""
        X = as_float_matrix(X, "X")
        return self.fit(X).transform(X)

    def inverse_transform(self, Z) -> np.ndarray:
        """Map transformed rows back: ``Z W^+ + beta mu`` with ``W^+ = diag(s)^-1 U_k^T``.

        For ``k = d`` this is the exact inverse of :meth:`transform`. For ``k < d`` it is the
        least-squares (pseudo-inverse) back-projection, as ``PCA.inverse_transform``: the result
        is ``beta mu`` plus the orthogonal projection of ``x - beta mu`` onto the span of the k
        kept eigenvectors, so ``transform(inverse_transform(Z)) == Z``.

        Parameters
        ----------
        Z : array_like, shape (n_samples, n_components_)

        Returns
        -------
        ndarray, shape (n_samples, n_features_in_)
            float32 for float32 input, float64 otherwise.
        """
        self._check_fitted()
        dec, beta, gamma, k, _ = self._decomposition()
        Z = self._check_X(Z, "Z", k, f"produces {k} columns (n_components_)")
        back = (dec.vectors[:, :k] / _scales(dec, gamma, k)).T  # (k, d) = W^+
        dt = Z.dtype
        return Z @ back.astype(dt) + (beta * self.mean_).astype(dt)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names ``whitening0 ... whitening{k-1}`` (scikit-learn convention)."""
        k = self.n_components_
        return np.asarray([f"whitening{i}" for i in range(k)], dtype=object)

    # -- persistence ----------------------------------------------------------------------------

    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write the parameters, statistics and kernel to an ``.npz`` file (no pickle).

        The file holds ``beta``, ``gamma``, ``n_components`` (-1 for None), ``eps``,
        ``n_features_in_``, ``n_samples_seen_``, ``mean_``, ``covariance_``, and, for use without
        latentgeo, ``kernel_``, ``bias_``, ``eigenvalues_`` and ``components_`` of the current
        parameters. ``.npz`` is appended to a path without that suffix. The file is written to a
        temporary name and then renamed, so a failed save leaves no partial file.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        self._check_fitted()
        dec, beta, gamma, k, eps = self._decomposition()
        kernel, _ = self._kernel()
        path = Path(os.fspath(path))
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        arrays = {
            "format": np.asarray(_FORMAT),
            "format_version": np.asarray(_FORMAT_VERSION),
            "beta": np.asarray(beta),
            "gamma": np.asarray(gamma),
            "n_components": np.asarray(-1 if self.n_components is None else k),
            "eps": np.asarray(eps),
            "n_features_in_": np.asarray(self.n_features_in_),
            "n_samples_seen_": np.asarray(self.n_samples_seen_),
            "mean_": self.mean_,
            "covariance_": self.covariance_,
            "eigenvalues_": dec.eigenvalues,
            "regularized_eigenvalues_": dec.regularized,
            "rank_": np.asarray(dec.rank),
            "eigenvectors_": dec.vectors,
            "components_": dec.vectors[:, :k].T,
            "kernel_": kernel,
            "bias_": self.bias_,
        }
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return path

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Whitening":
        """Read a file written by :meth:`save` (``allow_pickle=False``); the inverse of save.

        Raises
        ------
        ValueError
            If the file is not a latentgeo Whitening file or its arrays are inconsistent.
        """
        loaded = np.load(os.fspath(path), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError(f"{os.fspath(path)!r} is not an .npz file written by Whitening.save")
        with loaded as f:
            data = {name: f[name] for name in f.files}
        fmt = data.get("format")
        if fmt is None or str(fmt) != _FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a latentgeo Whitening file")
        version = int(data["format_version"])
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"{os.fspath(path)!r} has Whitening format version {version}; this latentgeo "
                f"reads version {_FORMAT_VERSION}"
            )
        try:
            k_saved = int(data["n_components"])
            est = cls(
                beta=float(data["beta"]),
                gamma=float(data["gamma"]),
                n_components=None if k_saved == -1 else k_saved,
                eps=float(data["eps"]),
            )
            d = int(data["n_features_in_"])
            n = int(data["n_samples_seen_"])
            mean = np.asarray(data["mean_"], dtype=np.float64)
            cov = np.asarray(data["covariance_"], dtype=np.float64)
            dec = _Decomposition(
                eigenvalues=np.asarray(data["eigenvalues_"], dtype=np.float64),
                vectors=np.asarray(data["eigenvectors_"], dtype=np.float64),
                regularized=np.asarray(data["regularized_eigenvalues_"], dtype=np.float64),
                rank=int(data["rank_"]),
            )
            kernel = np.asarray(data["kernel_"], dtype=np.float64)
        except KeyError as exc:
            raise ValueError(f"{os.fspath(path)!r} lacks the array {exc.args[0]!r}") from None
        beta, gamma, k, eps = est._params(d)
        shapes_ok = (
            n >= 1
            and mean.shape == (d,)
            and cov.shape == (d, d)
            and dec.eigenvalues.shape == (d,)
            and dec.regularized.shape == (d,)
            and dec.vectors.shape == (d, d)
            and kernel.shape == (d, k)
        )
        if not shapes_ok:
            raise ValueError(f"{os.fspath(path)!r} has inconsistent array shapes")
        est._set_state(d, n, mean, cov)
        est._cache[("dec", beta, eps)] = dec
        est._cache[("kernel", beta, gamma, k, eps)] = (kernel, beta * mean)
        return est


# ---------------------------------------------------------------------------------------------
# Grid search over (beta, gamma, k) on paired embeddings with gold similarity scores.


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


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.dtype.kind == "f" else value.tolist()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


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
        out = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}
        out["best"] = _plain(self.best)
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
