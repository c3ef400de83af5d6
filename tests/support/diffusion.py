"""Data models, processes and exact references shared by the diffusion tests."""

import numpy as np

from latentgeo import _core
from latentgeo.diffusion import EDM, VE, VP, GaussianMixture, SubVP, VPCosine

# A 2-D mixture with three well-separated diagonal components (the prototype's test case).
GMM = GaussianMixture(
    [0.3, 0.5, 0.2],
    [[-2.0, 0.0], [1.5, 1.0], [0.5, -2.0]],
    [[0.3, 0.5], [0.4, 0.2], [0.6, 0.3]],
    "diag",
)
VP3 = VP(eps=1e-3)
# The continuous processes with their default parameters, and their test ids.
CONTINUOUS = [VP(), SubVP(), VPCosine(), VE(), EDM()]
CONT_IDS = [type(p).__name__ for p in CONTINUOUS]
ODE_METHODS = ("euler", "heun", "midpoint", "rk4", "ddim", "dpmpp_2m", "dopri5")
SDE_METHODS = ("euler_maruyama", "ancestral", "pc")


def random_mixture(rng, k, d, kind="full", low=0.2):
    """A random k-component GaussianMixture in d dimensions; diagonal and spherical variances
    are uniform on [low, 2]."""
    w = rng.dirichlet(np.ones(k))
    mu = rng.normal(scale=2.0, size=(k, d))
    if kind == "full":
        a = rng.normal(size=(k, d, d))
        cov = a @ a.transpose(0, 2, 1) / d + 0.2 * np.eye(d)
    elif kind == "diag":
        cov = rng.uniform(low, 2.0, size=(k, d))
    else:
        cov = rng.uniform(low, 2.0, size=k)
    return GaussianMixture(w, mu, cov, kind)


def mixture_moments(g):
    """Mean and covariance of the data distribution of a GaussianMixture."""
    w, mu, cov = g.weights, g.means, g.full_covariances()
    mean = w @ mu
    dev = mu - mean
    return mean, np.einsum("k,kij->ij", w, cov) + np.einsum("k,ki,kj->ij", w, dev, dev)


def exact_start(process, g, n, seed):
    """n draws from the exact marginal p_T of g at t_max."""
    t = process.t_max
    return g.marginal(process.s(t), process.sigma(t)).sample(n, seed)


def eps_fn(process, g):
    """A callable eps model that is the exact GMM noise prediction -sigma * score."""

    def fn(x, t):
        s, sig = np.asarray(process.s(t)), np.asarray(process.sigma(t))
        return -sig[:, None] * g.score(x, s, sig)

    return fn


def step_noise(seed, step, n, d, first_index=0):
    """The standard normals a stochastic sampler draws at `step` for rows first_index.. of a run
    seeded with `seed` (the counter-based noise, replayed in numpy)."""
    return _core.diffusion_normals(
        seed, stream="step", first_index=first_index, step=step, n=n, d=d
    )
