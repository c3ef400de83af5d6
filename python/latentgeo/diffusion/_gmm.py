"""Analytic Gaussian-mixture data under a linear noise process ``x_t = s x_0 + sigma eps``.

A data distribution ``sum_k pi_k N(mu_k, Sigma_k)`` has the noised marginal
``p_t = sum_k pi_k N(s mu_k, s^2 Sigma_k + sigma^2 I)``, so its log-density, score, denoiser
(posterior mean of ``x_0``) and the exact divergence of a probability-flow velocity
``v(x) = a x + c score(x)`` all have closed forms. They are evaluated in Rust, in parallel over
points, independently of any particular noise process: pass the process's ``s(t)`` and
``sigma(t)`` (scalars, or one value per point).
"""

from __future__ import annotations

import numbers
from typing import Optional, Tuple

import numpy as np

from .. import _core
from .._validate import as_float_matrix, check_choice, check_int, check_n_threads

__all__ = ["GaussianMixture", "COVARIANCE_TYPES"]

#: The accepted covariance structures.
COVARIANCE_TYPES = ("full", "diag", "spherical")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64, copy=True)
    a.setflags(write=False)
    return a


def _as_vector(v, name: str) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = np.require(arr, dtype=np.float64, requirements=["C", "A"])  # aligned for Rust
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


class GaussianMixture:
    """The data model ``sum_k weights[k] N(means[k], Sigma_k)`` and its noised marginals.

    Parameters
    ----------
    weights : array of shape (K,)
        Non-negative, summing to 1 within 1e-6 (they are then renormalised to sum to 1 exactly).
    means : array of shape (K, d)
    covariances : array
        ``"full"``: (K, d, d) symmetric positive semi-definite matrices (symmetric to a relative
        1e-10, then symmetrised); ``"diag"``: (K, d) variances; ``"spherical"``: (K,) variances
        (``Sigma_k = v_k I``). Singular covariances are allowed, but the density (and everything
        derived from it) then exists only at ``sigma > 0``.
    covariance_type : {"full", "diag", "spherical"}
    n_threads : int, optional
        Threads for the evaluations (default: all cores). Results never depend on it.

    Every evaluation method takes ``x`` of shape (B, d) and ``s``, ``sigma`` as scalars or arrays
    of length B (per-point noise levels); ``s = 1, sigma = 0`` is the data distribution itself.
    Instances are immutable.
    """

    __slots__ = ("_core", "_means", "_args", "covariance_type", "n_components", "dim", "n_threads")

    def __init__(
        self,
        weights,
        means,
        covariances,
        covariance_type: str = "full",
        *,
        n_threads: Optional[int] = None,
    ):
        check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)
        w = _as_vector(weights, "weights")
        if w.ndim != 1:
            raise ValueError(f"weights must be a 1-D array of shape (K,), got shape {w.shape}")
        m = as_float_matrix(means, "means", dtype=np.dtype(np.float64))
        k, d = m.shape
        if w.shape[0] != k:
            raise ValueError(
                f"dimension mismatch: {w.shape[0]} weights but means has {k} rows (shape {m.shape})"
            )
        c = _as_vector(covariances, "covariances")
        expected = {"full": (k, d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
        if c.shape != expected:
            raise ValueError(
                f"dimension mismatch: {covariance_type} covariances must have shape {expected} "
                f"for {k} components in {d} dimensions, got shape {c.shape}"
            )
        set_ = object.__setattr__
        set_(
            self,
            "_core",
            _core.GaussianMixtureCore(w, m, c.ravel(), covariance_type=covariance_type),
        )
        set_(self, "_means", _readonly(m))
        set_(self, "_args", (_readonly(w), _readonly(c)))  # as given: pickles rebuild from them
        set_(self, "covariance_type", covariance_type)
        set_(self, "n_components", k)
        set_(self, "dim", d)
        set_(self, "n_threads", check_n_threads(n_threads))

    def __reduce__(self):
        # Rebuilt from the parameters as given (not the renormalised weights), so that a copy
        # (e.g. on a Dask worker) evaluates bit for bit like the original.
        w, c = self._args
        return (_rebuild, (w, self._means, c, self.covariance_type, self.n_threads))

    def __setattr__(self, name, value):
        raise AttributeError("GaussianMixture is immutable")

    def __delattr__(self, name):
        raise AttributeError("GaussianMixture is immutable")

    def __repr__(self) -> str:
        return (
            f"GaussianMixture(n_components={self.n_components}, dim={self.dim}, "
            f"covariance_type={self.covariance_type!r})"
        )

    # -- parameters -------------------------------------------------------------------------

    @property
    def weights(self) -> np.ndarray:
        """The normalised weights, shape (K,) (a read-only copy)."""
        return _readonly(self._core.weights)

    @property
    def means(self) -> np.ndarray:
        """The means, shape (K, d) (read-only)."""
        return self._means

    @property
    def covariances(self) -> np.ndarray:
        """The covariance parameters in the shape of ``covariance_type`` (read-only)."""
        k, d = self.n_components, self.dim
        shape = {"full": (k, d, d), "diag": (k, d), "spherical": (k,)}[self.covariance_type]
        return _readonly(self._core.covariances.reshape(shape))

    def full_covariances(self) -> np.ndarray:
        """The covariances as (K, d, d) matrices."""
        c, k, d = self.covariances, self.n_components, self.dim
        if self.covariance_type == "full":
            return c
        diag = c if self.covariance_type == "diag" else np.repeat(c[:, None], d, axis=1)
        out = np.zeros((k, d, d))
        out[:, np.arange(d), np.arange(d)] = diag
        return _readonly(out)

    def marginal(self, s: float = 1.0, sigma: float = 0.0) -> "GaussianMixture":
        """The noised marginal ``p_t`` at one ``(s, sigma)`` as a mixture of its own."""
        s, sigma = float(s), float(sigma)
        c = self.covariances
        if self.covariance_type == "full":
            c = s * s * c + sigma * sigma * np.eye(self.dim)
        else:
            c = s * s * c + sigma * sigma
        return GaussianMixture(
            self.weights, s * self.means, c, self.covariance_type, n_threads=self.n_threads
        )

    # -- evaluation -------------------------------------------------------------------------

    def _prepare(self, x, s, sigma) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = as_float_matrix(x, "x", dtype=np.dtype(np.float64), allow_empty=True)
        if x.shape[1] != self.dim:
            raise ValueError(
                f"dimension mismatch: x has {x.shape[1]} columns but the mixture has dimension "
                f"{self.dim}"
            )
        b = x.shape[0]
        levels = []
        for v, name in ((s, "s"), (sigma, "sigma")):
            arr = _as_vector(v, name)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if arr.ndim != 1 or arr.shape[0] not in (1, b):
                raise ValueError(
                    f"{name} must be a scalar or an array of length {b} (one per point), got "
                    f"shape {np.shape(v)}"
                )
            levels.append(arr)
        s_arr, sigma_arr = levels
        if s_arr.shape[0] != sigma_arr.shape[0]:
            s_arr = np.ascontiguousarray(np.broadcast_to(s_arr, (b,)))
            sigma_arr = np.ascontiguousarray(np.broadcast_to(sigma_arr, (b,)))
        if (sigma_arr < 0).any():
            raise ValueError(f"sigma must be >= 0, got {sigma_arr[sigma_arr < 0][0]}")
        return x, s_arr, sigma_arr

    def evaluate(
        self,
        x,
        s=1.0,
        sigma=0.0,
        *,
        log_prob: bool = False,
        score: bool = False,
        denoise: bool = False,
        divergence: Optional[Tuple[float, float]] = None,
    ) -> dict:
        """Several quantities in one pass; returns a dict of the requested arrays.

        ``divergence=(a, c)`` asks for :meth:`pf_divergence` with those coefficients.
        """
        x, s_arr, sigma_arr = self._prepare(x, s, sigma)
        if divergence is not None:
            a, c = divergence
            if not all(isinstance(v, numbers.Real) for v in (a, c)):
                raise TypeError(f"divergence must be a pair of real numbers, got {divergence!r}")
            divergence = (float(a), float(c))
        lp, sc, dn, dv = self._core.evaluate(
            x,
            s_arr,
            sigma_arr,
            log_prob=log_prob,
            score=score,
            denoise=denoise,
            divergence=divergence,
            n_threads=self.n_threads,
        )
        names = ("log_prob", "score", "denoise", "divergence")
        return {n: v for n, v in zip(names, (lp, sc, dn, dv)) if v is not None}

    def log_prob(self, x, s=1.0, sigma=0.0) -> np.ndarray:
        """``log p_t(x)``, shape (B,)."""
        return self.evaluate(x, s, sigma, log_prob=True)["log_prob"]

    def score(self, x, s=1.0, sigma=0.0) -> np.ndarray:
        """``grad_x log p_t(x)``, shape (B, d)."""
        return self.evaluate(x, s, sigma, score=True)["score"]

    def denoise(self, x, s=1.0, sigma=0.0) -> np.ndarray:
        """The posterior mean ``E[x_0 | x_t = x] = (x + sigma^2 score) / s`` (needs s != 0)."""
        return self.evaluate(x, s, sigma, denoise=True)["denoise"]

    def pf_divergence(self, x, s=1.0, sigma=0.0, a: float = 0.0, c: float = 1.0) -> np.ndarray:
        """Exact divergence of ``v(x) = a x + c score(x)``: ``d a + c Laplacian(log p_t)(x)``.

        For the probability-flow ODE ``dx/dt = f(t) x - g(t)^2 / 2 score``, pass ``a = f(t)``
        and ``c = -g(t)^2 / 2``. Shape (B,).
        """
        return self.evaluate(x, s, sigma, divergence=(a, c))["divergence"]

    # -- sampling ---------------------------------------------------------------------------

    def sample(self, n: int, rng=None, *, return_labels: bool = False):
        """``n`` draws from the data distribution (numpy ``Generator`` or seed ``rng``).

        Returns an (n, d) array, and the component of each draw with ``return_labels=True``.
        """
        n = check_int(n, "n", low=0)
        rng = np.random.default_rng(rng)
        labels = rng.choice(self.n_components, size=n, p=self.weights)
        z = rng.standard_normal((n, self.dim))
        if self.covariance_type == "spherical":
            x = z * np.sqrt(self.covariances)[labels, None]
        elif self.covariance_type == "diag":
            x = z * np.sqrt(self.covariances)[labels]
        else:
            # A square root that also works for singular (PSD) covariances.
            vals, vecs = np.linalg.eigh(self.covariances)
            roots = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
            x = np.einsum("nij,nj->ni", roots[labels], z)
        x += self.means[labels]
        return (x, labels) if return_labels else x


def _rebuild(weights, means, covariances, covariance_type, n_threads) -> GaussianMixture:
    """Unpickle a :class:`GaussianMixture`."""
    return GaussianMixture(weights, means, covariances, covariance_type, n_threads=n_threads)
