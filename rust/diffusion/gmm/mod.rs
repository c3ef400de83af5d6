//! Analytic Gaussian-mixture data under a linear noise process.
//!
//! Data `p_0 = sum_k pi_k N(mu_k, Sigma_k)` noised as `x_t = s x_0 + sigma eps` (eps ~ N(0, I))
//! has the marginal `p_t = sum_k pi_k N(s mu_k, C_k)` with `C_k = s^2 Sigma_k + sigma^2 I`, so
//! everything a sampler or an exact-likelihood ODE needs has a closed form:
//!
//! - log-density `log p_t(x) = logsumexp_k (log pi_k + log N(x; s mu_k, C_k))`;
//! - score `grad log p_t(x) = sum_k r_k g_k`, `g_k = -P_k (x - s mu_k)`, `P_k = C_k^-1`,
//!   `r_k` the responsibilities (a softmax of the component log-terms);
//! - denoiser (Tweedie) `E[x_0 | x_t = x] = (x + sigma^2 score) / s`;
//! - the divergence of a probability-flow velocity `v(x) = a x + c score(x)`:
//!   `d a + c lap`, with the Laplacian of `log p_t` in closed form,
//!   `lap = sum_k r_k (|g_k|^2 - tr P_k) - |sum_k r_k g_k|^2` (the trace of
//!   `sum_k r_k (-P_k + g_k g_k^T) - g g^T`).
//!
//! Covariances are full (Cholesky factor of each `C_k`, computed once per distinct `(s, sigma)`),
//! diagonal or spherical (no factorisation). Points are evaluated in parallel in fixed chunks;
//! each point's result depends only on that point and its `(s, sigma)`, so the output is
//! identical whatever the thread count or batch split.

use rayon::prelude::*;

use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::check_finite;
use crate::{Error, Result};

/// Points per parallel work unit.
const CHUNK: usize = 1024;
/// Points evaluated together, one per SIMD lane (structure-of-arrays scratch).
const LANES: usize = 16;
/// Weights must sum to 1 within this absolute tolerance (they are then renormalised exactly).
pub const WEIGHT_SUM_TOL: f64 = 1e-6;
/// Relative tolerance of the symmetry check on full covariances.
const SYMMETRY_TOL: f64 = 1e-10;
/// Relative tolerance of the positive semi-definiteness check: an eigenvalue below
/// `-PSD_TOL * max|Sigma_ii|` is an error.
const PSD_TOL: f64 = 1e-10;
const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// The covariance structure of the mixture components, with its parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Covariances {
    /// `K x d x d` full symmetric PSD matrices, row-major.
    Full(Vec<f64>),
    /// `K x d` diagonal entries (variances, >= 0).
    Diag(Vec<f64>),
    /// `K` variances of isotropic components (`Sigma_k = v_k I`, v_k >= 0).
    Spherical(Vec<f64>),
}

impl Covariances {
    /// The covariance type as the Python API spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Covariances::Full(_) => "full",
            Covariances::Diag(_) => "diag",
            Covariances::Spherical(_) => "spherical",
        }
    }
}

/// A validated Gaussian mixture `sum_k pi_k N(mu_k, Sigma_k)` in `d` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussianMixture {
    k: usize,
    d: usize,
    weights: Vec<f64>,
    means: Vec<f64>,
    covariances: Covariances,
}

/// Which quantities to compute for each point (any subset).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Request {
    /// `log p_t(x)`.
    pub log_prob: bool,
    /// `grad log p_t(x)`.
    pub score: bool,
    /// `E[x_0 | x_t = x]`; needs `s != 0` for every point.
    pub denoise: bool,
    /// The divergence of `v(x) = a x + c score(x)`, given as `(a, c)`.
    pub divergence: Option<(f64, f64)>,
}

/// The noise levels of a batch: one `(s, sigma)` for all points, or one per point.
#[derive(Debug, Clone, Copy)]
pub enum Levels<'a> {
    /// The same `(s, sigma)` for every point.
    Single(f64, f64),
    /// `s[b], sigma[b]` for point `b`.
    PerPoint(&'a [f64], &'a [f64]),
}

/// The requested quantities, `None` where not requested.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// `B` log-densities.
    pub log_prob: Option<Vec<f64>>,
    /// `B x d` scores, row-major.
    pub score: Option<Vec<f64>>,
    /// `B x d` posterior means of `x_0`, row-major.
    pub denoise: Option<Vec<f64>>,
    /// `B` divergences of the velocity.
    pub divergence: Option<Vec<f64>>,
}

impl GaussianMixture {
    /// Validate and build a mixture of `k = weights.len()` components in `d` dimensions.
    ///
    /// `weights` must be finite and `>= 0` with a positive sum within [`WEIGHT_SUM_TOL`] of 1;
    /// they are then divided by their sum so that they sum to 1 to rounding. `means` is `K x d`
    /// row-major. Full covariances must be symmetric (relative tolerance 1e-10; they are then
    /// symmetrised) and positive semi-definite (no eigenvalue below `-1e-10 max_i |Sigma_ii|`);
    /// diagonal and spherical variances must be `>= 0`. Everything must be finite.
    pub fn new(
        weights: Vec<f64>,
        means: Vec<f64>,
        d: usize,
        covariances: Covariances,
    ) -> Result<Self> {
        let k = weights.len();
        if k == 0 {
            return Err(Error::invalid(
                "weights is empty: a mixture needs at least one component",
            ));
        }
        if d == 0 {
            return Err(Error::invalid("the dimension d must be at least 1"));
        }
        check_finite(&weights, "weights")?;
        check_finite(&means, "means")?;
        if let Some(i) = weights.iter().position(|&w| w < 0.0) {
            return Err(Error::invalid(format!(
                "weights must be non-negative; weight {i} is {}",
                weights[i]
            )));
        }
        let total: f64 = weights.iter().sum();
        if (total - 1.0).abs() > WEIGHT_SUM_TOL {
            return Err(Error::invalid(format!(
                "weights must sum to 1 (within {WEIGHT_SUM_TOL:e}); they sum to {total}"
            )));
        }
        let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
        if means.len() != k * d {
            return Err(Error::invalid(format!(
                "means must have shape ({k}, {d}) to match {k} weights; got {} values",
                means.len()
            )));
        }
        let covariances = match covariances {
            Covariances::Full(mut c) => {
                if c.len() != k * d * d {
                    return Err(Error::invalid(format!(
                        "full covariances must have shape ({k}, {d}, {d}); got {} values",
                        c.len()
                    )));
                }
                check_finite(&c, "covariances")?;
                for (i, m) in c.chunks_mut(d * d).enumerate() {
                    check_full(m, d, i)?;
                }
                Covariances::Full(c)
            }
            Covariances::Diag(c) => {
                if c.len() != k * d {
                    return Err(Error::invalid(format!(
                        "diagonal covariances must have shape ({k}, {d}); got {} values",
                        c.len()
                    )));
                }
                check_finite(&c, "covariances")?;
                if let Some(p) = c.iter().position(|&v| v < 0.0) {
                    return Err(Error::invalid(format!(
                        "covariances must be positive semi-definite; diagonal variance {} of \
                         component {} is {}",
                        p % d,
                        p / d,
                        c[p]
                    )));
                }
                Covariances::Diag(c)
            }
            Covariances::Spherical(c) => {
                if c.len() != k {
                    return Err(Error::invalid(format!(
                        "spherical covariances must have shape ({k},); got {} values",
                        c.len()
                    )));
                }
                check_finite(&c, "covariances")?;
                if let Some(p) = c.iter().position(|&v| v < 0.0) {
                    return Err(Error::invalid(format!(
                        "covariances must be positive semi-definite; the variance of component \
                         {p} is {}",
                        c[p]
                    )));
                }
                Covariances::Spherical(c)
            }
        };
        Ok(GaussianMixture {
            k,
            d,
            weights,
            means,
            covariances,
        })
    }

    /// Number of components.
    pub fn n_components(&self) -> usize {
        self.k
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// The (normalised) weights.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The `K x d` means, row-major.
    pub fn means(&self) -> &[f64] {
        &self.means
    }

    /// The covariance parameters (full ones symmetrised).
    pub fn covariances(&self) -> &Covariances {
        &self.covariances
    }
}

mod evaluate;
mod linalg;
mod marginal;

pub use evaluate::Outputs;

use linalg::*;
use marginal::*;

#[cfg(test)]
mod tests;
