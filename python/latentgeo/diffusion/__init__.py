"""Diffusion maths: noise processes, DDPM identities, model adapters, samplers and likelihoods.

- Noise processes: VP (linear and cosine), sub-VP, VE, EDM and the discrete DDPM chain, with exact
  s(t), sigma(t), log-SNR, inverses, drift and diffusion.
- DDPM identities: alpha_bar, q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0) and the
  reverse-step variance choices.
- :class:`ModelAdapter`: score / eps / x_0 / v adapters around a batch model.
- :class:`GaussianMixture`: analytic Gaussian-mixture data (Rust core): log-density, score,
  denoiser and exact probability-flow divergence of every noised marginal.
- Time grids, :func:`sample` (ODE and SDE samplers with Rust loops and counter-based noise) and
  :func:`log_likelihood` (exact or Hutchinson divergence).
"""

from ._ddpm import (
    VARIANCES,
    alpha_bar,
    eps_from_x0,
    posterior_mean_var,
    q_sample,
    reverse_mean_var,
    reverse_variance,
    x0_from_eps,
)
from ._discrete import DiscreteDDPM, check_betas
from ._gmm import COVARIANCE_TYPES, GaussianMixture
from ._grids import GRIDS, LIKELIHOOD_METHODS, SAMPLERS, time_grid
from ._likelihood import LikelihoodResult, log_likelihood
from ._models import MODEL_KINDS, ModelAdapter
from ._process import NoiseProcess
from ._sample import SampleResult, prior_sample, sample
from ._ve import EDM, VE
from ._vp import VP, SubVP, VPCosine

__all__ = [
    "NoiseProcess",
    "VP",
    "VPCosine",
    "SubVP",
    "VE",
    "EDM",
    "DiscreteDDPM",
    "check_betas",
    "VARIANCES",
    "alpha_bar",
    "q_sample",
    "posterior_mean_var",
    "reverse_variance",
    "reverse_mean_var",
    "x0_from_eps",
    "eps_from_x0",
    "MODEL_KINDS",
    "ModelAdapter",
    "COVARIANCE_TYPES",
    "GaussianMixture",
    "GRIDS",
    "SAMPLERS",
    "LIKELIHOOD_METHODS",
    "time_grid",
    "prior_sample",
    "sample",
    "log_likelihood",
    "SampleResult",
    "LikelihoodResult",
]
