"""Gaussian-mixture spec files (JSON) and the built-in example mixture of ``latentgeo sample``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import numpy as np

from ._gmm import COVARIANCE_TYPES, GaussianMixture

#: Keys of a mixture spec file.
GMM_SPEC_KEYS = ("weights", "means", "covariances", "covariance_type")


#: Covariance type inferred from the nesting depth of ``covariances`` when the spec omits it.
_COV_TYPE_BY_NDIM = {1: "spherical", 2: "diag", 3: "full"}


def example_mixture():
    """The built-in mixture of ``latentgeo sample`` without ``--gmm``: 8 equal spherical
    components (variance 0.05) at the vertices of a regular octagon of radius 4 in 2-D."""
    angles = 2 * np.pi * np.arange(8) / 8
    means = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return GaussianMixture(np.full(8, 1 / 8), means, np.full(8, 0.05), "spherical")


def _spec_array(spec: dict, key: str, path: str) -> np.ndarray:
    try:
        arr = np.asarray(spec[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{path}: {key!r} must be a number or a (nested) list of numbers with a regular shape"
        ) from None
    return arr


def load_gmm_spec(path: str):
    """A :class:`~latentgeo.diffusion.GaussianMixture` from a JSON spec file.

    The file holds an object with ``weights`` (K,), ``means`` (K, d), ``covariances`` ((K, d, d)
    full, (K, d) diagonal or (K,) spherical variances) and optionally ``covariance_type``
    ("full", "diag" or "spherical"; inferred from the nesting of ``covariances`` if left out).

    Raises
    ------
    ValueError
        If the file is missing or not valid JSON, or the mixture is invalid (one-line reason).
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"no such file: {path}")
    if p.is_dir():
        raise ValueError(f"{path} is a directory, not a JSON mixture spec")
    try:
        with open(p, encoding="utf-8") as fh:
            spec = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path} ({exc})") from None
    if not isinstance(spec, dict):
        raise ValueError(
            f"{path}: a mixture spec must be a JSON object with keys 'weights', 'means', "
            f"'covariances' and optionally 'covariance_type', got a {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - set(GMM_SPEC_KEYS))
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(map(repr, unknown))}; a mixture spec has "
            f"{', '.join(map(repr, GMM_SPEC_KEYS))}"
        )
    missing = [k for k in GMM_SPEC_KEYS[:3] if k not in spec]
    if missing:
        raise ValueError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    weights, means, covs = (_spec_array(spec, k, path) for k in GMM_SPEC_KEYS[:3])
    cov_type = spec.get("covariance_type")
    if cov_type is None:
        cov_type = _COV_TYPE_BY_NDIM.get(covs.ndim)
        if cov_type is None:
            raise ValueError(
                f"{path}: 'covariances' has shape {covs.shape}; expected (K, d, d) full "
                "matrices, (K, d) diagonal or (K,) spherical variances"
            )
    elif cov_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"{path}: 'covariance_type' must be one of "
            f"{', '.join(map(repr, COVARIANCE_TYPES))}, got {cov_type!r}"
        )
    try:
        return GaussianMixture(weights, means, covs, cov_type)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def mixture_moments(gmm) -> Tuple[np.ndarray, np.ndarray]:
    """The mean (d,) and covariance (d, d) of a GaussianMixture."""
    w, mu, cov = gmm.weights, gmm.means, gmm.full_covariances()
    mean = w @ mu
    centred = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + (centred.T * w) @ centred
