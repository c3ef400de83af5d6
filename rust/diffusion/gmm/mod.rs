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

/// A copy of `GaussianMixture::chunk_generic` compiled with extra target features.
macro_rules! chunk_with_features {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        #[allow(clippy::too_many_arguments)]
        fn $name(
            &self,
            x: &[f64],
            start: usize,
            end: usize,
            levels: Levels<'_>,
            single: Option<&Marginal>,
            request: Request,
            out: ChunkOut<'_>,
        ) -> Result<()> {
            self.chunk_generic(x, start, end, levels, single, request, out)
        }
    };
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

    /// The marginal `p_t` at one `(s, sigma)`: per-component means, factors and constants.
    fn marginal(&self, s: f64, sigma: f64) -> Result<Marginal> {
        let (k, d) = (self.k, self.d);
        let s2 = s * s;
        let v2 = sigma * sigma;
        let means: Vec<f64> = self.means.iter().map(|m| s * m).collect();
        let mut log_const = Vec::with_capacity(k);
        let mut tr_prec = Vec::with_capacity(k);
        let singular = |i: usize| {
            Error::invalid(format!(
                "the covariance s^2 Sigma + sigma^2 I of component {i} is singular at s = {s}, \
                 sigma = {sigma}: the density is not defined (use sigma > 0 for a degenerate \
                 covariance)"
            ))
        };
        let factor = match &self.covariances {
            Covariances::Full(c) => {
                let mut chol = Vec::with_capacity(k * d * d);
                for (i, m) in c.chunks(d * d).enumerate() {
                    let mut a: Vec<f64> = m.iter().map(|v| s2 * v).collect();
                    for j in 0..d {
                        a[j * d + j] += v2;
                    }
                    if !cholesky(&mut a, d) {
                        return Err(singular(i));
                    }
                    let logdet: f64 = (0..d).map(|j| a[j * d + j].ln()).sum::<f64>() * 2.0;
                    if !logdet.is_finite() {
                        return Err(singular(i));
                    }
                    // W = L^-1 column by column (solve L y = e_j); tr(C^-1) = ||W||_F^2.
                    let mut w = vec![0.0; d * d];
                    let mut y = vec![0.0; d];
                    for j in 0..d {
                        y.iter_mut().for_each(|v| *v = 0.0);
                        y[j] = 1.0;
                        forward(&a, d, &mut y);
                        for (r, &v) in y.iter().enumerate() {
                            w[r * d + j] = v;
                        }
                    }
                    if !w.iter().all(|v| v.is_finite()) {
                        return Err(singular(i));
                    }
                    tr_prec.push(w.iter().map(|v| v * v).sum::<f64>());
                    log_const.push(self.weights[i].ln() - 0.5 * (d as f64 * LN_2PI + logdet));
                    chol.extend_from_slice(&w);
                }
                Factor::Full(chol)
            }
            Covariances::Diag(c) => {
                let mut inv = Vec::with_capacity(k * d);
                for (i, m) in c.chunks(d).enumerate() {
                    let mut logdet = 0.0;
                    let mut tr = 0.0;
                    for &v in m {
                        let var = s2 * v + v2;
                        if !(var > 0.0 && var.is_finite()) {
                            return Err(singular(i));
                        }
                        logdet += var.ln();
                        tr += 1.0 / var;
                        inv.push(1.0 / var);
                    }
                    tr_prec.push(tr);
                    log_const.push(self.weights[i].ln() - 0.5 * (d as f64 * LN_2PI + logdet));
                }
                Factor::Diag(inv)
            }
            Covariances::Spherical(c) => {
                let mut inv = Vec::with_capacity(k);
                for (i, &v) in c.iter().enumerate() {
                    let var = s2 * v + v2;
                    if !(var > 0.0 && var.is_finite()) {
                        return Err(singular(i));
                    }
                    inv.push(1.0 / var);
                    tr_prec.push(d as f64 / var);
                    log_const.push(self.weights[i].ln() - 0.5 * d as f64 * (LN_2PI + var.ln()));
                }
                Factor::Spherical(inv)
            }
        };
        Ok(Marginal {
            s,
            sigma,
            means,
            log_const,
            tr_prec,
            factor,
        })
    }

    /// Validate an evaluation; returns the shared marginal when every point has one level.
    fn check_request(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
    ) -> Result<Option<Marginal>> {
        let d = self.d;
        if x.len() % d != 0 {
            return Err(Error::invalid(format!(
                "x has {} values, not a multiple of the mixture dimension {d}",
                x.len()
            )));
        }
        let b = x.len() / d;
        check_finite(x, "x")?;
        let check_level = |s: f64, sigma: f64| -> Result<()> {
            if !s.is_finite() || !sigma.is_finite() {
                return Err(Error::invalid(format!(
                    "s and sigma must be finite; got s = {s}, sigma = {sigma}"
                )));
            }
            if sigma < 0.0 {
                return Err(Error::invalid(format!("sigma must be >= 0; got {sigma}")));
            }
            if request.denoise && s == 0.0 {
                return Err(Error::invalid(
                    "the denoiser E[x_0 | x_t] needs s != 0 (at s = 0, x_t carries no signal)",
                ));
            }
            Ok(())
        };
        let single = match levels {
            Levels::Single(s, sigma) => {
                check_level(s, sigma)?;
                Some(self.marginal(s, sigma)?)
            }
            Levels::PerPoint(s, sigma) => {
                if s.len() != b || sigma.len() != b {
                    return Err(Error::invalid(format!(
                        "s and sigma must have one value per point ({b}); got {} and {}",
                        s.len(),
                        sigma.len()
                    )));
                }
                for (&si, &gi) in s.iter().zip(sigma) {
                    check_level(si, gi)?;
                }
                None
            }
        };
        if let Some((a, c)) = request.divergence {
            if !a.is_finite() || !c.is_finite() {
                return Err(Error::invalid(format!(
                    "a and c must be finite; got a = {a}, c = {c}"
                )));
            }
        }
        Ok(single)
    }

    /// Evaluate the requested quantities of `p_t` at the `B x d` points `x` (row-major).
    ///
    /// `monitor` counts points and can cancel; `n_threads` sizes the pool (`None`: rayon's
    /// global one). Results do not depend on either.
    pub fn evaluate(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
    ) -> Result<Evaluation> {
        let single = self.check_request(x, levels, request)?;
        let d = self.d;
        let b = x.len() / d;
        let mut lp = vec![0.0; if request.log_prob { b } else { 0 }];
        let mut sc = vec![0.0; if request.score { b * d } else { 0 }];
        let mut dn = vec![0.0; if request.denoise { b * d } else { 0 }];
        let mut dv = vec![0.0; if request.divergence.is_some() { b } else { 0 }];
        let out = Outputs {
            log_prob: &mut lp,
            score: &mut sc,
            denoise: &mut dn,
            divergence: &mut dv,
        };
        self.evaluate_checked(x, levels, single.as_ref(), request, n_threads, monitor, out)?;
        let keep = |on: bool, v: Vec<f64>| on.then_some(v);
        Ok(Evaluation {
            log_prob: keep(request.log_prob, lp),
            score: keep(request.score, sc),
            denoise: keep(request.denoise, dn),
            divergence: keep(request.divergence.is_some(), dv),
        })
    }

    /// [`Self::evaluate`] into caller-owned buffers: each requested output of `out` must have
    /// its full length (`B` or `B x d`); the others are ignored.
    pub fn evaluate_into(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
        out: Outputs<'_>,
    ) -> Result<()> {
        let d = self.d;
        let b = x.len() / d.max(1);
        let lens = [
            (request.log_prob, out.log_prob.len(), b, "log_prob"),
            (request.score, out.score.len(), b * d, "score"),
            (request.denoise, out.denoise.len(), b * d, "denoise"),
            (
                request.divergence.is_some(),
                out.divergence.len(),
                b,
                "divergence",
            ),
        ];
        for (on, have, want, name) in lens {
            if on && have != want {
                return Err(Error::invalid(format!(
                    "the {name} buffer has {have} values, expected {want}"
                )));
            }
        }
        let single = self.check_request(x, levels, request)?;
        self.evaluate_checked(x, levels, single.as_ref(), request, n_threads, monitor, out)
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_checked(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        single: Option<&Marginal>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
        out: Outputs<'_>,
    ) -> Result<()> {
        let d = self.d;
        let b = x.len() / d;
        monitor.set_total(b);
        let (lp, sc, dn, dv) = (
            pick(request.log_prob, out.log_prob),
            pick(request.score, out.score),
            pick(request.denoise, out.denoise),
            pick(request.divergence.is_some(), out.divergence),
        );
        // Split every output into per-chunk pieces (empty pieces for outputs not requested).
        let n_chunks = b.div_ceil(CHUNK);
        let work: Vec<_> = pieces(lp, 1, n_chunks)
            .into_iter()
            .zip(pieces(sc, d, n_chunks))
            .zip(pieces(dn, d, n_chunks))
            .zip(pieces(dv, 1, n_chunks))
            .enumerate()
            .collect();
        with_threads(n_threads, || {
            work.into_par_iter()
                .try_for_each(|(ci, (((lp, sc), dn), dv))| -> Result<()> {
                    monitor.check()?;
                    let start = ci * CHUNK;
                    let end = (start + CHUNK).min(b);
                    let outs = ChunkOut { lp, sc, dn, dv };
                    self.chunk(x, start, end, levels, single, request, outs)?;
                    monitor.advance(end - start);
                    Ok(())
                })
        })?
    }

    /// Evaluate points `start..end` into their chunk's outputs, in blocks of [`LANES`] points.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn chunk_generic(
        &self,
        x: &[f64],
        start: usize,
        end: usize,
        levels: Levels<'_>,
        single: Option<&Marginal>,
        request: Request,
        out: ChunkOut<'_>,
    ) -> Result<()> {
        let d = self.d;
        let want_vec = request.score || request.denoise || request.divergence.is_some();
        let mut scratch = Scratch::new(self.k, d);
        let mut cached: Option<Marginal> = None;
        let mut q = start;
        while q < end {
            let full = (end - q).min(LANES);
            // A block shares one marginal; with per-point levels that differ inside the block,
            // fall back to one point per block (lanes are independent, so results are the same).
            let n = match (single, levels) {
                (None, Levels::PerPoint(s, sigma)) => {
                    let same = (q + 1..q + full).all(|p| {
                        s[p].to_bits() == s[q].to_bits() && sigma[p].to_bits() == sigma[q].to_bits()
                    });
                    if same {
                        full
                    } else {
                        1
                    }
                }
                _ => full,
            };
            if let Levels::PerPoint(s, sigma) = levels {
                let hit = cached.as_ref().is_some_and(|m| {
                    m.s.to_bits() == s[q].to_bits() && m.sigma.to_bits() == sigma[q].to_bits()
                });
                if !hit && single.is_none() {
                    cached = Some(self.marginal(s[q], sigma[q])?);
                }
            }
            let m = match single {
                Some(m) => m,
                None => cached.as_ref().expect("computed above"),
            };
            let xs = &x[q * d..(q + n) * d];
            m.block(xs, n, &mut scratch, want_vec, request.divergence.is_some());
            let v2 = m.sigma * m.sigma;
            for l in 0..n {
                let j = q - start + l;
                if request.log_prob {
                    out.lp[j] = scratch.max[l] + scratch.total[l].ln();
                }
                if request.score {
                    for c in 0..d {
                        out.sc[j * d + c] = scratch.g[c * LANES + l];
                    }
                }
                if request.denoise {
                    for c in 0..d {
                        let g = scratch.g[c * LANES + l];
                        out.dn[j * d + c] = (xs[l * d + c] + v2 * g) / m.s;
                    }
                }
                if let Some((a, c)) = request.divergence {
                    out.dv[j] = d as f64 * a + c * scratch.lap[l];
                }
            }
            q += n;
        }
        Ok(())
    }

    // `chunk_generic` compiled for AVX2 + FMA and for AVX-512: the same operations, so the same
    // results (fused multiply-adds are written out with `mul_add`, which rounds once on every
    // path; Rust never contracts a multiply and an add on its own).
    chunk_with_features!(chunk_avx2, "avx2,fma");
    chunk_with_features!(chunk_avx512, "avx512f,avx2,fma");

    #[allow(clippy::too_many_arguments)]
    fn chunk(
        &self,
        x: &[f64],
        start: usize,
        end: usize,
        levels: Levels<'_>,
        single: Option<&Marginal>,
        request: Request,
        out: ChunkOut<'_>,
    ) -> Result<()> {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports the features chunk_avx512 is compiled for.
            return unsafe { self.chunk_avx512(x, start, end, levels, single, request, out) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features chunk_avx2 is compiled for.
            return unsafe { self.chunk_avx2(x, start, end, levels, single, request, out) };
        }
        self.chunk_generic(x, start, end, levels, single, request, out)
    }
}

/// Caller-owned output buffers of [`GaussianMixture::evaluate_into`] (empty when not requested).
pub struct Outputs<'a> {
    /// `B` log-densities.
    pub log_prob: &'a mut [f64],
    /// `B x d` scores.
    pub score: &'a mut [f64],
    /// `B x d` posterior means.
    pub denoise: &'a mut [f64],
    /// `B` divergences.
    pub divergence: &'a mut [f64],
}

/// One chunk's slices of the outputs (empty when not requested).
struct ChunkOut<'a> {
    lp: &'a mut [f64],
    sc: &'a mut [f64],
    dn: &'a mut [f64],
    dv: &'a mut [f64],
}

/// `v` when requested, else an empty slice.
fn pick(on: bool, v: &mut [f64]) -> &mut [f64] {
    if on {
        v
    } else {
        &mut []
    }
}

/// Split an output into per-chunk pieces (empty pieces for an output not requested).
fn pieces(v: &mut [f64], width: usize, n_chunks: usize) -> Vec<&mut [f64]> {
    if v.is_empty() {
        (0..n_chunks).map(|_| &mut [][..]).collect()
    } else {
        v.chunks_mut(CHUNK * width).collect()
    }
}

/// Check one full covariance (`d x d`, row-major) for symmetry and PSD; symmetrise it in place.
fn check_full(m: &mut [f64], d: usize, i: usize) -> Result<()> {
    let scale = (0..d).map(|j| m[j * d + j].abs()).fold(0.0, f64::max);
    for r in 0..d {
        for c in 0..r {
            let (u, l) = (m[r * d + c], m[c * d + r]);
            if (u - l).abs() > SYMMETRY_TOL * scale.max(f64::MIN_POSITIVE) {
                return Err(Error::invalid(format!(
                    "covariances must be symmetric; component {i} has entry ({r}, {c}) = {u} but \
                     ({c}, {r}) = {l}"
                )));
            }
            let avg = 0.5 * (u + l);
            m[r * d + c] = avg;
            m[c * d + r] = avg;
        }
    }
    // PSD within tolerance: Sigma + delta I must admit a Cholesky factorisation.
    let delta = PSD_TOL * scale.max(f64::MIN_POSITIVE) + f64::MIN_POSITIVE;
    let mut a = m.to_vec();
    for j in 0..d {
        a[j * d + j] += delta;
    }
    if scale == 0.0 && m.iter().any(|&v| v != 0.0) || !cholesky(&mut a, d) {
        return Err(Error::invalid(format!(
            "covariances must be positive semi-definite; component {i} has a negative eigenvalue"
        )));
    }
    Ok(())
}

/// In-place lower Cholesky factor of the `n x n` row-major `a` (upper triangle zeroed);
/// `false` when `a` is not positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut diag = a[j * n + j];
        for p in 0..j {
            diag -= a[j * n + p] * a[j * n + p];
        }
        if diag.is_nan() || diag <= 0.0 {
            return false;
        }
        let ljj = diag.sqrt();
        a[j * n + j] = ljj;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for p in 0..j {
                v -= a[i * n + p] * a[j * n + p];
            }
            a[i * n + j] = v / ljj;
        }
        for c in j + 1..n {
            a[j * n + c] = 0.0;
        }
    }
    true
}

/// Solve `L y = b` in place (`L` lower triangular, row-major).
#[inline]
fn forward(l: &[f64], n: usize, y: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i];
        let mut v = y[i];
        for (lp, yp) in row.iter().zip(&y[..i]) {
            v -= lp * yp;
        }
        y[i] = v / l[i * n + i];
    }
}

/// Coefficients of the Taylor polynomial of `exp` (degree 13), highest first.
const EXP_TAYLOR: [f64; 14] = [
    1.0 / 6_227_020_800.0,
    1.0 / 479_001_600.0,
    1.0 / 39_916_800.0,
    1.0 / 3_628_800.0,
    1.0 / 362_880.0,
    1.0 / 40_320.0,
    1.0 / 5_040.0,
    1.0 / 720.0,
    1.0 / 120.0,
    1.0 / 24.0,
    1.0 / 6.0,
    0.5,
    1.0,
    1.0,
];

/// `exp(x)` in place for lanes `x <= 0` (including `-inf`), written as plain array loops so that
/// they vectorise: Cody-Waite reduction `x = n ln 2 + r`, `|r| <= ln 2 / 2`, and the Taylor
/// polynomial of degree 13 (truncation error below 2e-17 relative). Results below `exp(-708)`
/// flush to 0, which only drops components whose responsibility underflows anyway.
#[inline(always)]
fn exp_lanes(x: &mut Lanes) {
    const LOG2_E: f64 = std::f64::consts::LOG2_E;
    const LN2_HI: f64 = 6.931_471_803_691_238e-1;
    const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;
    // Adding and subtracting 1.5 * 2^52 rounds to the nearest integer.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    let mut t = [0.0; LANES];
    let mut r = [0.0; LANES];
    let mut p = [EXP_TAYLOR[0]; LANES];
    for l in 0..LANES {
        let xc = if x[l] < -708.0 { -708.0 } else { x[l] };
        t[l] = xc * LOG2_E + MAGIC;
        let n = t[l] - MAGIC;
        r[l] = (xc - n * LN2_HI) - n * LN2_LO;
    }
    for c in &EXP_TAYLOR[1..] {
        for l in 0..LANES {
            p[l] = p[l].mul_add(r[l], *c);
        }
    }
    for l in 0..LANES {
        // The low bits of t hold n in two's complement; shifting keeps (n + 1023) mod 2^12,
        // the biased exponent of 2^n for n in [-1022, 0].
        let scale = f64::from_bits(t[l].to_bits().wrapping_add(1023) << 52);
        x[l] = if x[l] < -708.0 { 0.0 } else { p[l] * scale };
    }
}

#[derive(Debug, Clone)]
enum Factor {
    /// Inverses `W_k = L_k^-1` of the lower Cholesky factors of `C_k` (so `P_k = W_k^T W_k`),
    /// lower triangular, `K x d x d`.
    Full(Vec<f64>),
    /// Inverse variances, `K x d`.
    Diag(Vec<f64>),
    /// Inverse variances, `K`.
    Spherical(Vec<f64>),
}

/// `p_t` at one `(s, sigma)`.
#[derive(Debug, Clone)]
struct Marginal {
    s: f64,
    sigma: f64,
    /// `s mu_k`, `K x d`.
    means: Vec<f64>,
    /// `log pi_k - (d log 2 pi + log det C_k) / 2`.
    log_const: Vec<f64>,
    /// `tr C_k^-1`.
    tr_prec: Vec<f64>,
    factor: Factor,
}

/// Per-block scratch, structure-of-arrays: entry `(i, j)` of lane `l` at `(i * d + j) * LANES + l`.
struct Scratch {
    /// Per component: `W (x - m_k)` (full) or `x - m_k`, then `C_k^-1 (x - m_k)`.
    z: Vec<f64>,
    /// Per component log-terms, then `exp(term - max)`.
    logits: Vec<f64>,
    /// The transposed block of points, `d x LANES`.
    xt: Vec<f64>,
    /// The score, `d x LANES`.
    g: Vec<f64>,
    /// Per lane, the largest log-term and the sum of `exp(term - max)`: the log-density is
    /// `max + ln(total)` (taken by the caller only where wanted: LLVM speculates the `ln`
    /// calls of a conditional loop here).
    max: [f64; LANES],
    total: [f64; LANES],
    /// Laplacians of `log p_t`.
    lap: [f64; LANES],
}

impl Scratch {
    fn new(k: usize, d: usize) -> Self {
        Scratch {
            z: vec![0.0; k * d * LANES],
            logits: vec![0.0; k * LANES],
            xt: vec![0.0; d * LANES],
            g: vec![0.0; d * LANES],
            max: [0.0; LANES],
            total: [0.0; LANES],
            lap: [0.0; LANES],
        }
    }
}

type Lanes = [f64; LANES];

#[inline(always)]
fn lanes(v: &[f64], at: usize) -> &Lanes {
    v[at * LANES..(at + 1) * LANES]
        .try_into()
        .expect("LANES long")
}

#[inline(always)]
fn lanes_mut(v: &mut [f64], at: usize) -> &mut Lanes {
    (&mut v[at * LANES..(at + 1) * LANES])
        .try_into()
        .expect("LANES long")
}

impl Marginal {
    /// The log-density terms of the `n <= LANES` points `xs` (`n x d`, row-major) into
    /// `sc.max` and `sc.total`; with `vector`, also the scores (`sc.g`) and the Laplacians of
    /// `log p_t` (`sc.lap`, only with `laplacian`). Unused lanes hold zeros; every lane goes
    /// through the same operations.
    #[inline(always)]
    fn block(&self, xs: &[f64], n: usize, sc: &mut Scratch, vector: bool, laplacian: bool) {
        let d = xs.len() / n;
        let k = self.log_const.len();
        for j in 0..d {
            let row = lanes_mut(&mut sc.xt, j);
            for (l, v) in row.iter_mut().enumerate() {
                *v = if l < n { xs[l * d + j] } else { 0.0 };
            }
        }
        // Pass 1: residuals and log-terms.
        for i in 0..k {
            let m = &self.means[i * d..(i + 1) * d];
            let z = &mut sc.z[i * d * LANES..(i + 1) * d * LANES];
            for (j, &mj) in m.iter().enumerate() {
                let xj = *lanes(&sc.xt, j);
                let zj = lanes_mut(z, j);
                for l in 0..LANES {
                    zj[l] = xj[l] - mj;
                }
            }
            let mut quad = [0.0; LANES];
            match &self.factor {
                Factor::Full(w) => {
                    // z = W (x - m), in place from the last row up (row r reads entries <= r).
                    let w = &w[i * d * d..(i + 1) * d * d];
                    for r in (0..d).rev() {
                        let mut v = [0.0; LANES];
                        for p in 0..=r {
                            let (wrp, zp) = (w[r * d + p], lanes(z, p));
                            for l in 0..LANES {
                                v[l] = wrp.mul_add(zp[l], v[l]);
                            }
                        }
                        for l in 0..LANES {
                            quad[l] = v[l].mul_add(v[l], quad[l]);
                        }
                        *lanes_mut(z, r) = v;
                    }
                }
                Factor::Diag(inv) => {
                    for j in 0..d {
                        let (zj, pj) = (lanes(z, j), inv[i * d + j]);
                        for l in 0..LANES {
                            quad[l] += zj[l] * zj[l] * pj;
                        }
                    }
                }
                Factor::Spherical(inv) => {
                    for j in 0..d {
                        let zj = lanes(z, j);
                        for l in 0..LANES {
                            quad[l] += zj[l] * zj[l];
                        }
                    }
                    quad.iter_mut().for_each(|q| *q *= inv[i]);
                }
            }
            let li = lanes_mut(&mut sc.logits, i);
            for l in 0..LANES {
                li[l] = self.log_const[i] - 0.5 * quad[l];
            }
        }
        let mut max = [f64::NEG_INFINITY; LANES];
        for i in 0..k {
            let li = lanes(&sc.logits, i);
            for l in 0..LANES {
                max[l] = max[l].max(li[l]);
            }
        }
        let mut total = [0.0; LANES];
        for i in 0..k {
            let li = lanes_mut(&mut sc.logits, i);
            for l in 0..LANES {
                li[l] -= max[l];
            }
            exp_lanes(li);
            for l in 0..LANES {
                total[l] += li[l];
            }
        }
        sc.max = max;
        sc.total = total;
        if !vector {
            return;
        }
        // Pass 2: C_k^-1 (x - m_k) = -g_k, responsibilities r_k, score and Laplacian.
        sc.g.iter_mut().for_each(|v| *v = 0.0);
        let mut lap = [0.0; LANES];
        let inv_total = total.map(|t| 1.0 / t);
        for i in 0..k {
            let mut r = *lanes(&sc.logits, i);
            for l in 0..LANES {
                r[l] *= inv_total[l];
            }
            let z = &mut sc.z[i * d * LANES..(i + 1) * d * LANES];
            match &self.factor {
                Factor::Full(w) => {
                    // W^T z in place from the first entry down (entry j reads z_r, r >= j).
                    let w = &w[i * d * d..(i + 1) * d * d];
                    for j in 0..d {
                        let mut v = [0.0; LANES];
                        for rr in j..d {
                            let (wrj, zr) = (w[rr * d + j], lanes(z, rr));
                            for l in 0..LANES {
                                v[l] = wrj.mul_add(zr[l], v[l]);
                            }
                        }
                        *lanes_mut(z, j) = v;
                    }
                }
                Factor::Diag(inv) => {
                    for j in 0..d {
                        let pj = inv[i * d + j];
                        lanes_mut(z, j).iter_mut().for_each(|v| *v *= pj);
                    }
                }
                Factor::Spherical(inv) => z.iter_mut().for_each(|v| *v *= inv[i]),
            }
            if !laplacian {
                for j in 0..d {
                    let zj = *lanes(z, j);
                    let gj = lanes_mut(&mut sc.g, j);
                    for l in 0..LANES {
                        gj[l] = (-r[l]).mul_add(zj[l], gj[l]);
                    }
                }
                continue;
            }
            let mut gk2 = [0.0; LANES];
            for j in 0..d {
                let zj = *lanes(z, j);
                let gj = lanes_mut(&mut sc.g, j);
                for l in 0..LANES {
                    gj[l] -= r[l] * zj[l];
                    gk2[l] += zj[l] * zj[l];
                }
            }
            for l in 0..LANES {
                lap[l] += r[l] * (gk2[l] - self.tr_prec[i]);
            }
        }
        if !laplacian {
            return;
        }
        for j in 0..d {
            let gj = lanes(&sc.g, j);
            for l in 0..LANES {
                lap[l] -= gj[l] * gj[l];
            }
        }
        sc.lap = lap;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(g: &GaussianMixture, x: &[f64], s: f64, sigma: f64, ac: (f64, f64)) -> Evaluation {
        let req = Request {
            log_prob: true,
            score: true,
            denoise: s != 0.0,
            divergence: Some(ac),
        };
        g.evaluate(x, Levels::Single(s, sigma), req, None, &Monitor::new())
            .unwrap()
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + b.abs())
    }

    #[test]
    fn one_dimensional_two_components_match_hand_formulas() {
        let (w, mu, var) = ([0.3, 0.7], [-1.0, 2.0], [0.5, 2.0]);
        let g = GaussianMixture::new(
            w.to_vec(),
            mu.to_vec(),
            1,
            Covariances::Spherical(var.to_vec()),
        )
        .unwrap();
        let (s, sigma, a, c) = (0.8, 0.6, -0.3, 0.45);
        let xs = [-3.0, -1.0, 0.2, 1.5, 4.0, 30.0];
        let e = eval(&g, &xs, s, sigma, (a, c));
        for (p, &x) in xs.iter().enumerate() {
            let cv: Vec<f64> = var.iter().map(|v| s * s * v + sigma * sigma).collect();
            let n: Vec<f64> = (0..2)
                .map(|i| {
                    w[i] * (-(x - s * mu[i]).powi(2) / (2.0 * cv[i])).exp()
                        / (2.0 * std::f64::consts::PI * cv[i]).sqrt()
                })
                .collect();
            let pdf = n[0] + n[1];
            let dn: Vec<f64> = (0..2).map(|i| -n[i] * (x - s * mu[i]) / cv[i]).collect();
            let d2n: Vec<f64> = (0..2)
                .map(|i| n[i] * (((x - s * mu[i]) / cv[i]).powi(2) - 1.0 / cv[i]))
                .collect();
            let score = (dn[0] + dn[1]) / pdf;
            let lap = (d2n[0] + d2n[1]) / pdf - score * score;
            if x < 20.0 {
                assert!(close(e.log_prob.as_ref().unwrap()[p], pdf.ln(), 1e-12));
                assert!(close(e.score.as_ref().unwrap()[p], score, 1e-11));
                assert!(close(e.divergence.as_ref().unwrap()[p], a + c * lap, 1e-10));
                let tweedie = (x + sigma * sigma * score) / s;
                assert!(close(e.denoise.as_ref().unwrap()[p], tweedie, 1e-12));
            } else {
                // Far in the tail the pdf underflows; the log-sum-exp must not.
                let lp = e.log_prob.as_ref().unwrap()[p];
                assert!(lp.is_finite() && lp < -100.0);
                // Component 1 dominates completely there.
                let s1 = -(x - s * mu[1]) / cv[1];
                assert!(close(e.score.as_ref().unwrap()[p], s1, 1e-12));
            }
        }
    }

    #[test]
    fn full_diag_spherical_agree() {
        let (k, d) = (3, 4);
        let w = vec![0.2, 0.5, 0.3];
        let means: Vec<f64> = (0..k * d).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
        let sph = vec![0.3, 1.0, 2.5];
        let diag: Vec<f64> = (0..k).flat_map(|i| vec![sph[i]; d]).collect();
        let diag2: Vec<f64> = (0..k * d).map(|i| 0.2 + (i % 3) as f64 * 0.7).collect();
        let full_of = |dg: &[f64]| -> Vec<f64> {
            let mut f = vec![0.0; k * d * d];
            for i in 0..k {
                for j in 0..d {
                    f[i * d * d + j * d + j] = dg[i * d + j];
                }
            }
            f
        };
        let x: Vec<f64> = (0..50 * d)
            .map(|i| ((i as f64) * 0.37).sin() * 3.0)
            .collect();
        for (s, sigma) in [(1.0, 0.0), (0.6, 0.8), (0.1, 1.0)] {
            let gs = GaussianMixture::new(
                w.clone(),
                means.clone(),
                d,
                Covariances::Spherical(sph.clone()),
            )
            .unwrap();
            let gd =
                GaussianMixture::new(w.clone(), means.clone(), d, Covariances::Diag(diag.clone()))
                    .unwrap();
            let gf = GaussianMixture::new(
                w.clone(),
                means.clone(),
                d,
                Covariances::Full(full_of(&diag)),
            )
            .unwrap();
            let gd2 = GaussianMixture::new(
                w.clone(),
                means.clone(),
                d,
                Covariances::Diag(diag2.clone()),
            )
            .unwrap();
            let gf2 = GaussianMixture::new(
                w.clone(),
                means.clone(),
                d,
                Covariances::Full(full_of(&diag2)),
            )
            .unwrap();
            for (ga, gb) in [(&gs, &gd), (&gs, &gf), (&gd2, &gf2)] {
                let ea = eval(ga, &x, s, sigma, (0.7, -1.3));
                let eb = eval(gb, &x, s, sigma, (0.7, -1.3));
                let pairs = [
                    (ea.log_prob.unwrap(), eb.log_prob.unwrap()),
                    (ea.score.unwrap(), eb.score.unwrap()),
                    (ea.denoise.unwrap(), eb.denoise.unwrap()),
                    (ea.divergence.unwrap(), eb.divergence.unwrap()),
                ];
                for (u, v) in pairs {
                    for (a, b) in u.iter().zip(&v) {
                        assert!(close(*a, *b, 1e-11), "{a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn per_point_levels_match_single_and_threads_do_not_matter() {
        let d = 2;
        let cov = vec![1.0, 0.3, 0.3, 0.5, 0.2, -0.1, -0.1, 0.4];
        let g = GaussianMixture::new(
            vec![0.4, 0.6],
            vec![1.0, -1.0, -2.0, 0.5],
            d,
            Covariances::Full(cov),
        )
        .unwrap();
        let b = 3000;
        let x: Vec<f64> = (0..b * d)
            .map(|i| ((i as f64) * 0.113).cos() * 2.5)
            .collect();
        let s: Vec<f64> = (0..b).map(|i| if i < 1500 { 0.9 } else { 0.5 }).collect();
        let sigma: Vec<f64> = (0..b).map(|i| if i < 1500 { 0.3 } else { 0.7 }).collect();
        let req = Request {
            log_prob: true,
            score: true,
            denoise: true,
            divergence: Some((0.1, 0.2)),
        };
        let mon = Monitor::new();
        let per = g
            .evaluate(&x, Levels::PerPoint(&s, &sigma), req, Some(2), &mon)
            .unwrap();
        let one = g
            .evaluate(&x, Levels::PerPoint(&s, &sigma), req, Some(1), &mon)
            .unwrap();
        assert_eq!(per, one);
        let a = g
            .evaluate(&x[..1500 * d], Levels::Single(0.9, 0.3), req, None, &mon)
            .unwrap();
        assert_eq!(
            a.score.as_ref().unwrap()[..],
            per.score.as_ref().unwrap()[..1500 * d]
        );
        assert_eq!(
            a.divergence.as_ref().unwrap()[..],
            per.divergence.as_ref().unwrap()[..1500]
        );
    }

    #[test]
    fn fast_exp_matches_std() {
        let mut worst: f64 = 0.0;
        for i in 0..200_000 / LANES {
            let mut x = [0.0; LANES];
            for (l, v) in x.iter_mut().enumerate() {
                *v = -((i * LANES + l) as f64) * 708.0 / 200_000.0;
            }
            let want = x.map(f64::exp);
            exp_lanes(&mut x);
            for (a, b) in x.iter().zip(&want) {
                worst = worst.max((a - b).abs() / b);
            }
        }
        assert!(worst < 4.0 * f64::EPSILON, "worst relative error {worst:e}");
        let mut x = [0.0; LANES];
        x[1..4].copy_from_slice(&[f64::NEG_INFINITY, -800.0, -708.5]);
        exp_lanes(&mut x);
        assert_eq!(x[..4], [1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_input_is_rejected_with_a_message() {
        let err = |r: Result<GaussianMixture>| match r {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected an error, got {other:?}"),
        };
        let sph = || Covariances::Spherical(vec![1.0, 1.0]);
        assert!(err(GaussianMixture::new(
            vec![-0.5, 1.5],
            vec![0.0, 1.0],
            1,
            sph()
        ))
        .contains("non-negative"));
        assert!(err(GaussianMixture::new(
            vec![0.5, 0.6],
            vec![0.0, 1.0],
            1,
            sph()
        ))
        .contains("sum to 1"));
        assert!(err(GaussianMixture::new(vec![0.5, 0.5], vec![0.0], 1, sph())).contains("means"));
        assert!(err(GaussianMixture::new(
            vec![0.5, 0.5],
            vec![0.0, f64::NAN],
            1,
            sph()
        ))
        .contains("non-finite"));
        let nonpsd = Covariances::Full(vec![1.0, 2.0, 2.0, 1.0]);
        assert!(
            err(GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, nonpsd))
                .contains("semi-definite")
        );
        let asym = Covariances::Full(vec![1.0, 0.2, 0.1, 1.0]);
        assert!(
            err(GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, asym)).contains("symmetric")
        );
        // A singular (PSD) covariance is a valid data model but has no density at sigma = 0.
        let sing = Covariances::Full(vec![1.0, 1.0, 1.0, 1.0]);
        let g = GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, sing).unwrap();
        let req = Request {
            log_prob: true,
            ..Request::default()
        };
        let mon = Monitor::new();
        assert!(g
            .evaluate(&[0.0, 0.0], Levels::Single(1.0, 0.0), req, None, &mon)
            .is_err());
        assert!(g
            .evaluate(&[0.0, 0.0], Levels::Single(1.0, 0.1), req, None, &mon)
            .is_ok());
        assert!(g
            .evaluate(&[0.0, 0.0, 1.0], Levels::Single(1.0, 0.1), req, None, &mon)
            .is_err());
        assert!(g
            .evaluate(&[0.0, 0.0], Levels::Single(1.0, -0.1), req, None, &mon)
            .is_err());
    }
}
