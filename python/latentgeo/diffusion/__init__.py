"""Diffusion maths: noise processes, DDPM identities and model adapters.

- :mod:`~latentgeo.diffusion.processes`: VP (linear and cosine), sub-VP, VE, EDM and the discrete
  DDPM chain, with exact s(t), sigma(t), log-SNR, inverses, drift and diffusion.
- :mod:`~latentgeo.diffusion.ddpm`: alpha_bar, q(x_t | x_0), the posterior q(x_{t-1} | x_t, x_0)
  and the reverse-step variance choices.
- :mod:`~latentgeo.diffusion.models`: score / eps / x_0 / v adapters around a batch model.
- :mod:`~latentgeo.diffusion.gmm`: analytic Gaussian-mixture data (Rust core): log-density,
  score, denoiser and exact probability-flow divergence of every noised marginal.
- :mod:`~latentgeo.diffusion.sampling`: time grids, ``sample`` (ODE and SDE samplers with Rust
  loops and counter-based noise) and ``log_likelihood`` (exact or Hutchinson divergence).
"""

from .ddpm import (
    VARIANCES,
    alpha_bar,
    eps_from_x0,
    posterior_mean_var,
    q_sample,
    reverse_mean_var,
    reverse_variance,
    x0_from_eps,
)
from .gmm import COVARIANCE_TYPES, GaussianMixture
from .models import MODEL_KINDS, ModelAdapter
from .processes import EDM, VE, VP, DiscreteDDPM, NoiseProcess, SubVP, VPCosine, check_betas

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
]
__all__ += ["COVARIANCE_TYPES", "GaussianMixture"]
from .sampling import (  # noqa: E402
    GRIDS,
    LIKELIHOOD_METHODS,
    SAMPLERS,
    LikelihoodResult,
    SampleResult,
    log_likelihood,
    prior_sample,
    sample,
    time_grid,
)

__all__ += ["GRIDS", "SAMPLERS", "LIKELIHOOD_METHODS", "time_grid", "prior_sample", "sample"]
__all__ += ["log_likelihood", "SampleResult", "LikelihoodResult"]
