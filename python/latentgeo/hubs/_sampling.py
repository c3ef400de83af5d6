"""Hub-prior latent sampling for GANs (Liang et al., ICML 2022) and a norm-truncation baseline.

In a high-dimensional latent space, a few latents ("hubs") appear in the k-NN lists of many
others. Liang, Wu, Lai and Qin, "Exploring and Exploiting Hubness Priors for High-Quality GAN
Latent Sampling" (ICML 2022, arXiv 2206.06014) report that hub latents give better images, and
select them *before* synthesis: draw a batch of latents, compute each latent's k-occurrence
N_k within the batch, and keep those with N_k at or above a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import numpy as np

from .. import _core
from .._progress import Progress
from .._validate import (
    as_float_matrix,
    check_choice,
    check_int,
    check_n_threads,
    magnitude_exponent,
    row_exponents,
)
from ..neighbors._knn import METRICS, _knn

DEFAULT_THRESHOLD = 50


DEFAULT_MAX_BATCHES = 100


@dataclass(frozen=True, eq=False)
class HubSample:
    """Latents kept by :func:`sample_hubs`.

    Attributes
    ----------
    latents : ndarray, shape (n_kept, d)
        The kept latents, in the order they were drawn.
    k_occurrence : ndarray of int64, shape (n_kept,)
        Their k-occurrence N_k within their own batch (self excluded).
    draw_index : ndarray of int64, shape (n_kept,)
        Their position among all drawn latents (row ``i`` of batch ``b`` is
        ``b * batch_size + i``); for an array source, their row in that array.
    n_drawn : int
        Latents drawn in total.
    n_batches : int
        Batches drawn.
    n_accepted : int
        Latents that passed the selection rule, before truncation to `n_samples`.
    batch_size : int
        Latents per batch.
    k : int
        Neighbours per latent used for N_k.
    threshold : int or None
        The rule ``N_k >= threshold`` (None when `top` was used).
    top : int or None
        The rule "the `top` highest N_k per batch" (None when `threshold` was used).
    metric : str
        Distance used for the neighbour lists.
    """

    latents: np.ndarray
    k_occurrence: np.ndarray
    draw_index: np.ndarray
    n_drawn: int
    n_batches: int
    n_accepted: int
    batch_size: int
    k: int
    threshold: Optional[int]
    top: Optional[int]
    metric: str

    @property
    def n_kept(self) -> int:
        """Number of latents returned."""
        return int(self.latents.shape[0])

    @property
    def acceptance_rate(self) -> float:
        """Fraction of drawn latents that passed the selection rule (``n_accepted / n_drawn``)."""
        return self.n_accepted / self.n_drawn

    def to_dict(self, include_latents: bool = False) -> dict:
        """Plain-Python form for JSON; the latents themselves only if `include_latents`."""
        out = {
            "n_kept": self.n_kept,
            "n_accepted": self.n_accepted,
            "n_drawn": self.n_drawn,
            "n_batches": self.n_batches,
            "batch_size": self.batch_size,
            "acceptance_rate": self.acceptance_rate,
            "k": self.k,
            "threshold": self.threshold,
            "top": self.top,
            "metric": self.metric,
            "draw_index": self.draw_index.tolist(),
            "k_occurrence": self.k_occurrence.tolist(),
        }
        if include_latents:
            out["latents"] = self.latents.tolist()
        return out


Sampler = Callable[[int, np.random.Generator], np.ndarray]


def sample_hubs(
    source: Union[np.ndarray, Sampler],
    n_samples: Optional[int] = None,
    *,
    k: int = 5,
    threshold: Optional[int] = None,
    top: Optional[int] = None,
    batch_size: int = 10_000,
    metric: str = "euclidean",
    max_batches: Optional[int] = None,
    seed=None,
    n_threads: Optional[int] = None,
    progress: bool = False,
) -> HubSample:
    """Keep the hub latents of one or more batches (hub-prior sampling, Liang et al. 2022).

    Within each batch, every latent's k-occurrence N_k (how many *other* latents of the batch
    have it among their `k` nearest neighbours) is computed exactly, and latents with
    ``N_k >= threshold`` are kept -- or, with ``top=m``, the m latents of highest N_k per batch
    (ties to the lower row).

    The paper's defaults are ``k=5``, ``threshold=50`` (10·k) and batches of 10,000 latents
    z ~ N(0, I_512) with Euclidean distance; on such z about 1.7 % pass. The reference notebook
    (``Byronliang8/HubnessGANSampling``) counted each latent in its own neighbour list, so its
    count was 1 + N_{k-1}; here self is always excluded. To reproduce the notebook's rule use
    ``k=4, threshold=49``.

    Parameters
    ----------
    source : array_like of shape (n, d), or callable
        Either one batch of latents, or a sampler ``sampler(batch_size, rng)`` returning a
        ``(batch_size, d)`` array, where ``rng`` is a :class:`numpy.random.Generator` seeded with
        `seed`. A sampler is called until `n_samples` latents are kept.
    n_samples : int, optional
        Latents to return (the first ones in draw order). Required for a sampler. For an array,
        default all that pass; asking for more than pass is an error.
    k : int
        Neighbours per latent, ``1 <= k < batch size``.
    threshold : int, optional
        Keep latents with ``N_k >= threshold``; default 50 unless `top` is given. Give either
        `threshold` or `top`, not both.
    top : int, optional
        Keep the `top` latents of highest N_k in each batch (the rule of the authors' later
        CUDA code), ties to the lower row, ``1 <= top <= batch size``.
    batch_size : int
        Latents per sampler call (ignored for an array source, which is one batch). N_k grows
        with the batch size, so a threshold is tied to it.
    metric : {"euclidean", "sqeuclidean", "cosine", "inner_product"}
        Distance for the neighbour lists (see :func:`latentgeo.knn`).
    max_batches : int, optional
        Give up after this many sampler calls (default 100).
    seed : int, numpy.random.Generator or None
        Seeds the generator passed to the sampler; unused for an array source.
    n_threads : int, optional
        Threads for the kNN search (default: all cores).
    progress : bool
        Show a progress bar on stderr (kNN rows for an array, kept latents for a sampler).

    Returns
    -------
    HubSample
        The kept latents with their N_k, draw positions and the yield.

    Raises
    ------
    RuntimeError
        If a sampler has not produced `n_samples` kept latents after `max_batches` calls.

    See Also
    --------
    norm_truncation : the O(n·d) smallest-norm baseline.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> z = np.random.default_rng(0).standard_normal((2000, 128))
    >>> hs = latentgeo.sample_hubs(z, k=5, threshold=20)
    >>> bool(np.linalg.norm(hs.latents, axis=1).mean() < np.linalg.norm(z, axis=1).mean())
    True
    """
    metric = check_choice(metric, "metric", METRICS)
    n_threads = check_n_threads(n_threads)
    k = check_int(k, "k", low=1)
    if threshold is not None and top is not None:
        raise ValueError("give either threshold or top, not both")
    if top is None:
        threshold = check_int(
            DEFAULT_THRESHOLD if threshold is None else threshold, "threshold", low=0
        )
    else:
        top = check_int(top, "top", low=1)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=1)

    if callable(source):
        return _sample_from_sampler(
            source,
            n_samples,
            k,
            threshold,
            top,
            batch_size,
            metric,
            max_batches,
            seed,
            n_threads,
            progress,
        )
    if isinstance(source, (str, bytes)) or not hasattr(source, "__len__"):
        raise TypeError(
            "source must be an array of latents of shape (n, d) or a callable "
            f"sampler(batch_size, rng), got {type(source).__name__}"
        )
    Z = as_float_matrix(source, "source")
    _check_batch_params(Z.shape[0], k, top)
    counts = _k_occurrence(Z, k, metric, n_threads, progress)
    sel = _select(counts, threshold, top)
    if n_samples is not None and sel.size < n_samples:
        raise ValueError(
            f"only {sel.size} of the {Z.shape[0]} latents pass ({_rule(k, threshold, top)}), "
            f"fewer than n_samples={n_samples}; lower the threshold or pass a sampler"
        )
    n_accepted = int(sel.size)
    sel = sel[:n_samples]
    return HubSample(
        Z[sel], counts[sel], sel, Z.shape[0], 1, n_accepted, Z.shape[0], k, threshold, top, metric
    )


def _sample_from_sampler(
    sampler,
    n_samples,
    k,
    threshold,
    top,
    batch_size,
    metric,
    max_batches,
    seed,
    n_threads,
    progress,
) -> HubSample:
    if n_samples is None:
        raise ValueError("n_samples is required when source is a sampler")
    batch_size = check_int(batch_size, "batch_size", low=2)
    max_batches = check_int(
        DEFAULT_MAX_BATCHES if max_batches is None else max_batches, "max_batches", low=1
    )
    _check_batch_params(batch_size, k, top)
    rng = np.random.default_rng(seed)
    latents, counts, index = [], [], []
    n_accepted = 0
    d = None
    with Progress(n_samples, "sample_hubs", enabled=progress) as bar:
        for b in range(max_batches):
            Z = _draw(sampler, batch_size, rng, d)
            d = Z.shape[1]
            c = _k_occurrence(Z, k, metric, n_threads, False)
            sel = _select(c, threshold, top)
            latents.append(Z[sel])
            counts.append(c[sel])
            index.append(sel + b * batch_size)
            bar.update(min(sel.size, n_samples - n_accepted))
            n_accepted += int(sel.size)
            if n_accepted >= n_samples:
                break
    n_drawn = (b + 1) * batch_size
    if n_accepted < n_samples:
        raise RuntimeError(
            f"kept only {n_accepted} of n_samples={n_samples} latents after max_batches="
            f"{max_batches} batches ({n_drawn} drawn, acceptance rate "
            f"{n_accepted / n_drawn:.3%}, {_rule(k, threshold, top)}); lower the threshold, "
            "raise max_batches or use top=m"
        )
    return HubSample(
        np.concatenate(latents)[:n_samples],
        np.concatenate(counts)[:n_samples],
        np.concatenate(index)[:n_samples],
        n_drawn,
        b + 1,
        n_accepted,
        batch_size,
        k,
        threshold,
        top,
        metric,
    )


def _draw(sampler, batch_size: int, rng, d: Optional[int]) -> np.ndarray:
    Z = as_float_matrix(sampler(batch_size, rng), "the sampler's output")
    if Z.shape[0] != batch_size:
        raise ValueError(
            f"the sampler returned {Z.shape[0]} rows for batch_size={batch_size}; it must return "
            "exactly batch_size rows"
        )
    if d is not None and Z.shape[1] != d:
        raise ValueError(f"the sampler returned {Z.shape[1]} features after {d} before")
    return Z


def _check_batch_params(n: int, k: int, top: Optional[int]) -> None:
    if k >= n:
        raise ValueError(
            f"k={k} must be smaller than the batch size {n} (each latent is excluded from its "
            "own neighbours)"
        )
    if top is not None and top > n:
        raise ValueError(f"top={top} exceeds the batch size {n}")


def _k_occurrence(Z: np.ndarray, k: int, metric: str, n_threads, progress: bool) -> np.ndarray:
    res = _knn(Z, k, metric, n_threads=n_threads, progress=progress)
    return _core.k_occurrence(res.indices, n_index=res.n_index)


def _select(counts: np.ndarray, threshold: Optional[int], top: Optional[int]) -> np.ndarray:
    """Rows passing the rule, ascending."""
    if top is None:
        return np.flatnonzero(counts >= threshold)
    order = np.lexsort((np.arange(counts.size), -counts))
    return np.sort(order[:top])


def _rule(k: int, threshold: Optional[int], top: Optional[int]) -> str:
    return f"N_{k} >= {threshold}" if top is None else f"top {top} by N_{k}"


def norm_truncation(latents, n_keep: int, *, center=None) -> np.ndarray:
    """Rows of the `n_keep` latents closest to `center` (default the origin): a hub baseline.

    In isotropic latent space (z ~ N(0, I)) hubs are the latents nearest the centre, so keeping
    the smallest-norm latents is an O(n·d) approximation of :func:`sample_hubs` -- the link to the
    truncation trick. In an anisotropic space (e.g. StyleGAN's W) the two can differ.

    Parameters
    ----------
    latents : array_like, shape (n, d)
        One batch of latents.
    n_keep : int
        How many to keep, ``1 <= n_keep <= n``.
    center : array_like of shape (d,), optional
        Measure norms from here (e.g. the mean latent); default the origin.

    Returns
    -------
    ndarray of int64, shape (n_keep,)
        Row indices of the kept latents, ascending (draw order); ties in norm go to the lower
        row. Use ``latents[idx]`` for the latents.

    Examples
    --------
    >>> import numpy as np, latentgeo
    >>> latentgeo.norm_truncation(np.array([[3.0, 0.0], [1.0, 0.0], [0.0, 2.0]]), 2).tolist()
    [1, 2]
    """
    Z = as_float_matrix(latents, "latents")
    n_keep = check_int(n_keep, "n_keep", low=1, high=Z.shape[0])
    if center is not None:
        c = np.asarray(center, dtype=np.float64)
        if c.shape != (Z.shape[1],):
            raise ValueError(f"center must have shape ({Z.shape[1]},), got {c.shape}")
        if not np.isfinite(c).all():
            raise ValueError("center contains NaN or infinite values")
    else:
        c = None
    order = np.argsort(_log2_norms(Z, c), kind="stable")
    return np.sort(order[:n_keep]).astype(np.int64)


def _log2_norms(Z: np.ndarray, c) -> np.ndarray:
    """log2 ||z_i - c|| for every row, at any magnitude: each row is rescaled by its own exact
    power of two before squaring (-inf for a zero row), so no norm overflows or underflows."""
    D = Z.astype(np.float64)
    e0 = 0
    if c is not None:  # rescaled first (|D| <= 1), so that the centring cannot overflow
        e0 = magnitude_exponent(Z, c)
        D = np.ldexp(D, -e0) - np.ldexp(c, -e0)
    e = row_exponents(D)
    D = np.ldexp(D, -e[:, None])
    with np.errstate(divide="ignore"):
        return e0 + e + 0.5 * np.log2(np.einsum("ij,ij->i", D, D))
