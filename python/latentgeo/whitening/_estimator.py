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

import os
import warnings
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .._validate import (
    as_float_matrix,
)
from ._persist import load, save
from ._stats import (
    _BLOCK_ELEMENTS,
    _block_stats,
    _check_eps,
    _check_n_components,
    _check_unit,
    _decompose,
    _fit_dtype,
    _merge,
    _scales,
    _symmetrize,
    _work_dtype,
)


class NotFittedError(ValueError, AttributeError):
    """Raised when a :class:`Whitening` is used before it was fitted.

    Subclasses ValueError and AttributeError, as scikit-learn's ``NotFittedError`` does, so that
    ``hasattr(est, "kernel_")`` is False before fitting.
    """


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
        return self._fit(X)

    def _fit(self, X: np.ndarray) -> "Whitening":
        """fit on a validated matrix."""
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
        return self._transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """transform of a validated matrix with the fitted width.

        ``(x - s) W`` with s = beta mu is computed as ``(x - s_w) W + (s_w - s) W``: s_w is s
        rounded to the working precision, subtracted block by block into a reused buffer that
        stays in cache for the GEMM, and the rounding residual ``s - s_w`` is a float64 bias row
        added to the GEMM's output, so a large mean costs no accuracy.
        """
        kernel, shift = self._kernel()
        dt = X.dtype
        work = _work_dtype(dt, kernel, shift)
        shift_w = shift.astype(work)
        bias = ((shift_w.astype(np.float64) - shift) @ kernel).astype(work)
        kernel_w = kernel.astype(work)
        n, d = X.shape
        out = np.empty((n, kernel.shape[1]), dtype=dt)
        rows = max(1, _BLOCK_ELEMENTS // d)
        buf = np.empty((min(rows, n), d), dtype=work)
        fused = work == dt
        for start in range(0, n, rows):
            block = X[start : start + rows]
            c = buf[: block.shape[0]]
            np.subtract(block, shift_w, out=c)
            if fused:
                res = np.matmul(c, kernel_w, out=out[start : start + rows])
                res += bias
            else:
                out[start : start + rows] = _fit_dtype(c @ kernel_w + bias, dt)
        return out

    def fit_transform(self, X, y=None) -> np.ndarray:
        """``fit(X).transform(X)`` (X is validated once)."""
        X = as_float_matrix(X, "X")
        return self._fit(X)._transform(X)

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
        work = _work_dtype(dt, back, beta * self.mean_)
        out = Z.astype(work, copy=False) @ back.astype(work) + (beta * self.mean_).astype(work)
        return _fit_dtype(out, dt)

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
        return save(self, path)

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "Whitening":
        """Read a file written by :meth:`save` (``allow_pickle=False``); the inverse of save.

        Raises
        ------
        ValueError
            If the file is not a latentgeo Whitening file or its arrays are inconsistent.
        """
        return load(cls, path)
