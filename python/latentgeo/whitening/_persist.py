"""Saving and loading a fitted :class:`Whitening` (an ``.npz`` file, no pickle)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .._files import AtomicFile
from .._readers import npz_info, read_npz
from ._stats import _Decomposition

_FORMAT = "latentgeo.Whitening"
_FORMAT_VERSION = 1


def save(self, path) -> Path:
    """See :meth:`Whitening.save`."""
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
    with AtomicFile(path) as out:
        return out.commit(lambda fh: np.savez(fh, **arrays))


def load(cls, path):
    """See :meth:`Whitening.load`."""
    p = Path(os.fspath(path))
    with open(p, "rb") as f:  # FileNotFoundError / IsADirectoryError name the path
        if not f.read(4).startswith(b"PK"):
            raise ValueError(f"{str(p)!r} is not an .npz file written by Whitening.save")
    data = {name: read_npz(p, name) for name in npz_info(p)}  # the hardened reader
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
