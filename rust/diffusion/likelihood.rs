//! Exact likelihood through the probability-flow ODE: integrate `[x, log-density change]` from
//! the data to the terminal time, with the divergence of the velocity computed exactly (analytic
//! models) or estimated with Hutchinson probes (one accumulator per probe).

use super::adaptive::{dopri5, AdaptiveOptions, AdaptiveStats, RowSystem};
use super::model::{At, Evaluator, Model};
use super::rng::{Noise, Stream};
use super::runge_kutta::{rk_fixed, tableau, RkMethod};
use super::schedule::{Coefs, Schedule};
use crate::buffers;
use crate::monitor::Monitor;
use crate::{Error, Result};

/// How to integrate the augmented ODE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OdeMethod {
    /// Adaptive Dormand-Prince 5(4) between the ends of the times.
    Dopri5,
    /// A fixed-grid Runge-Kutta method along the times.
    Fixed(RkMethod),
}

/// How to compute the divergence of the probability-flow velocity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// `d f - g^2 Laplacian(log p_t) / 2` from an analytic model.
    Exact,
    /// `e^T J e` per probe `e` (Rademacher or Gaussian), fixed for the whole solve, with the
    /// Jacobian-vector product of the score by central differences.
    Hutchinson {
        /// Number of probes (one accumulator each).
        probes: usize,
        /// Gaussian probes instead of Rademacher signs.
        gaussian: bool,
    },
}

impl Divergence {
    fn accumulators(self) -> usize {
        match self {
            Divergence::Exact => 1,
            Divergence::Hutchinson { probes, .. } => probes,
        }
    }
}

/// Relative step of the central differences, times `sigma(t)` (about the cube root of the unit
/// roundoff, which balances truncation against rounding error).
const FD_STEP: f64 = 6e-6;

struct Augmented<'m, 's> {
    ev: Evaluator<'m>,
    schedule: &'s Schedule,
    d: usize,
    div: Divergence,
    /// Probe vectors, `n x probes x d`.
    probes: Vec<f64>,
    buf: [Vec<f64>; 5],
    coefs: Vec<Coefs>,
}

impl RowSystem for Augmented<'_, '_> {
    fn width(&self) -> usize {
        self.d + self.div.accumulators()
    }

    fn nfe(&self) -> usize {
        self.ev.nfe
    }

    fn set_step(&mut self, step: usize) {
        self.ev.step = step;
    }

    fn deriv(&mut self, rows: &[usize], y: &[f64], t: &[f64], dy: &mut [f64]) -> Result<()> {
        let (d, w) = (self.d, self.width());
        let na = rows.len();
        self.coefs.clear();
        self.coefs.extend(t.iter().map(|&ti| self.schedule.at(ti)));
        let uniform = t.iter().all(|&ti| ti == t[0]);
        let at = if uniform {
            At::All(t[0], self.coefs[0])
        } else {
            At::PerRow(t, &self.coefs)
        };
        let [x, score, lap, xp, xm] = &mut self.buf;
        x.clear();
        for row in y.chunks(w) {
            x.extend_from_slice(&row[..d]);
        }
        score.resize(na * d, 0.0);
        match self.div {
            Divergence::Exact => {
                lap.resize(na, 0.0);
                if !self.ev.score_laplacian(x, at, score, lap)? {
                    return Err(Error::invalid(
                        "divergence='exact' needs an analytic model (GaussianMixture); use \
                         'hutchinson' for other models",
                    ));
                }
                for i in 0..na {
                    let c = self.coefs[if uniform { 0 } else { i }];
                    dy[i * w + d] = d as f64 * c.f - 0.5 * c.g2 * lap[i];
                }
            }
            Divergence::Hutchinson { probes, .. } => {
                self.ev.score(x, at, d, score)?;
                xp.resize(na * d, 0.0);
                xm.resize(na * d, 0.0);
                lap.resize(na * d * 2, 0.0);
                for p in 0..probes {
                    for (i, &r) in rows.iter().enumerate() {
                        let c = self.coefs[if uniform { 0 } else { i }];
                        let h = FD_STEP * c.sigma.max(1e-12);
                        let e = &self.probes[(r * probes + p) * d..(r * probes + p + 1) * d];
                        for j in 0..d {
                            xp[i * d + j] = x[i * d + j] + h * e[j];
                            xm[i * d + j] = x[i * d + j] - h * e[j];
                        }
                    }
                    let (sp, sm) = lap.split_at_mut(na * d);
                    self.ev.score(xp, at, d, sp)?;
                    self.ev.score(xm, at, d, sm)?;
                    for (i, &r) in rows.iter().enumerate() {
                        let c = self.coefs[if uniform { 0 } else { i }];
                        let h = FD_STEP * c.sigma.max(1e-12);
                        let e = &self.probes[(r * probes + p) * d..(r * probes + p + 1) * d];
                        let (mut ee, mut ejv) = (0.0, 0.0);
                        for j in 0..d {
                            ee += e[j] * e[j];
                            ejv += e[j] * (sp[i * d + j] - sm[i * d + j]) / (2.0 * h);
                        }
                        dy[i * w + d + p] = c.f * ee - 0.5 * c.g2 * ejv;
                    }
                }
            }
        }
        for i in 0..na {
            let c = self.coefs[if uniform { 0 } else { i }];
            for j in 0..d {
                dy[i * w + j] = c.f * x[i * d + j] - 0.5 * c.g2 * score[i * d + j];
            }
        }
        Ok(())
    }
}

/// The result of [`likelihood_delta`].
#[derive(Debug, Clone, PartialEq)]
pub struct LikelihoodDelta {
    /// `log p_0(x_0) - log p_T(x_T)` per row and accumulator (`n x probes`, one column for the
    /// exact divergence).
    pub delta: Vec<f64>,
    /// The states at the terminal time, `n x d`.
    pub x_end: Vec<f64>,
    /// Batch model evaluations.
    pub nfe: usize,
    /// Step statistics (adaptive solves only).
    pub stats: Option<AdaptiveStats>,
}

/// Integrate the augmented probability-flow ODE of the `n x d` data `x` along `times`
/// (increasing; only its ends matter for [`OdeMethod::Dopri5`]).
#[allow(clippy::too_many_arguments)]
pub fn likelihood_delta(
    model: &mut dyn Model,
    schedule: &Schedule,
    x: &[f64],
    d: usize,
    times: &[f64],
    method: OdeMethod,
    div: Divergence,
    seed: u64,
    first_index: u64,
    adaptive: &AdaptiveOptions,
    monitor: &Monitor,
) -> Result<LikelihoodDelta> {
    if schedule.is_discrete() {
        return Err(Error::invalid(
            "the likelihood needs a continuous process (the ODE has no discrete form)",
        ));
    }
    if d == 0 || x.len() % d != 0 {
        return Err(Error::invalid("x must be a non-empty n x d array"));
    }
    crate::real::check_finite(x, "x")?;
    if times.len() < 2 || times.iter().any(|t| !t.is_finite()) {
        return Err(Error::invalid("need at least two finite times"));
    }
    if times.windows(2).any(|w| w[1] <= w[0]) {
        return Err(Error::invalid("likelihood times must increase strictly"));
    }
    let n = x.len() / d;
    super::rng::check_indices(first_index, n)?;
    let mut probes = Vec::new();
    if let Divergence::Hutchinson {
        probes: p,
        gaussian,
    } = div
    {
        if p == 0 {
            return Err(Error::invalid("probes must be at least 1"));
        }
        let noise = Noise::new(seed);
        let what = format!("{p} probe vectors for each of {n} points of dimension {d}");
        probes = buffers::zeros(buffers::product(&[n, p, d], &what)?, &what)?;
        for (r, row) in probes.chunks_mut(p * d).enumerate() {
            let idx = first_index + r as u64;
            if gaussian {
                noise.normals(Stream::Probe, idx, 0, row);
            } else {
                noise.signs(Stream::Probe, idx, 0, row);
            }
        }
    }
    let acc = div.accumulators();
    let w = d + acc;
    let what = format!("the augmented states of {n} points ({w} values each)");
    let mut y: Vec<f64> = buffers::zeros(buffers::product(&[n, w], &what)?, &what)?;
    for (row, xr) in y.chunks_mut(w).zip(x.chunks(d)) {
        row[..d].copy_from_slice(xr);
    }
    let mut sys = Augmented {
        ev: Evaluator::new(model),
        schedule,
        d,
        div,
        probes,
        buf: Default::default(),
        coefs: Vec::new(),
    };
    let (nfe, stats) = match method {
        OdeMethod::Dopri5 => {
            let stats = dopri5(
                &mut sys,
                &mut y,
                times[0],
                times[times.len() - 1],
                adaptive,
                &mut |_, _, _| Ok(true),
                monitor,
            )?;
            (stats.nfe, Some(stats))
        }
        OdeMethod::Fixed(m) => (
            rk_fixed(&mut sys, &mut y, times, &tableau(m), monitor)?,
            None,
        ),
    };
    let mut delta = buffers::with_capacity(n * acc, "the log-likelihood changes")?;
    let mut x_end = buffers::with_capacity(x.len(), "the final states")?;
    for row in y.chunks(w) {
        x_end.extend_from_slice(&row[..d]);
        delta.extend_from_slice(&row[d..]);
    }
    Ok(LikelihoodDelta {
        delta,
        x_end,
        nfe,
        stats,
    })
}
