//! Fixed-grid samplers: probability-flow ODE steps (Euler, Heun, midpoint, RK4, DDIM,
//! DPM-Solver++ 2M) and stochastic ones (Euler-Maruyama for the same-marginal family, DDIM with
//! eta / DDPM ancestral, predictor-corrector with a Langevin corrector).
//!
//! Times run down a grid `t_0 > t_1 > ... > t_N`; an optional last step goes to the data
//! (`s = 1, sigma = 0`), where every method returns the denoiser `x_0(x, t_N)`.

use super::adaptive::ProbabilityFlow;
use super::model::{fill_rows, At, Evaluator, Model};
use super::rng::{Noise, Stream};
use super::runge_kutta::{axpy, rk_step, tableau, RkMethod};
use super::schedule::{Coefs, Schedule};
use crate::monitor::Monitor;
use crate::{Error, Result};

/// A fixed-grid sampling method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Euler on the probability-flow ODE in t.
    Euler,
    /// Heun's method (2nd order; EDM's sampler).
    Heun,
    /// The explicit midpoint method (2nd order).
    Midpoint,
    /// Classic Runge-Kutta (4th order).
    Rk4,
    /// DDIM with `eta` (deterministic at `eta = 0`).
    Ddim,
    /// DDPM ancestral sampling: the exact posterior step (DDIM with `eta = 1`).
    Ancestral,
    /// DPM-Solver++ 2M (multistep, data prediction).
    DpmSolver2M,
    /// Euler-Maruyama on the reverse-time member `r` of the same-marginal family.
    EulerMaruyama,
    /// Euler-Maruyama predictor (`r = 1`) after Langevin corrector steps.
    PredictorCorrector,
}

impl Method {
    /// Whether the method only evaluates the model at grid nodes (so it also runs on a
    /// discrete chain, which has no SDE coefficients).
    pub fn nodes_only(self) -> bool {
        matches!(self, Method::Ddim | Method::Ancestral | Method::DpmSolver2M)
    }
}

/// Options of [`sample_fixed`].
#[derive(Debug, Clone, Copy)]
pub struct FixedOptions {
    /// The method.
    pub method: Method,
    /// DDIM noise scale (`0` = deterministic, `1` = ancestral).
    pub eta: f64,
    /// Noise scale of the Euler-Maruyama family (`0` = ODE, `1` = reverse SDE).
    pub r: f64,
    /// Signal-to-noise ratio of the Langevin corrector.
    pub snr: f64,
    /// Langevin corrector steps per grid step.
    pub n_corrector: usize,
    /// Seed of the counter-based noise.
    pub seed: u64,
    /// Global index of the first row (noise is keyed by the global index).
    pub first_index: u64,
}

/// What a sampler run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Batch model evaluations.
    pub nfe: usize,
    /// Steps completed.
    pub steps: usize,
    /// Whether the observer stopped the run early.
    pub stopped: bool,
}

/// Called after every step with `(step, t, x)`; return `Ok(false)` to stop.
pub type Observer<'o> = dyn FnMut(usize, f64, &[f64]) -> Result<bool> + 'o;

/// Check a decreasing grid of valid times.
pub fn check_grid(schedule: &Schedule, grid: &[f64]) -> Result<()> {
    if grid.is_empty() {
        return Err(Error::invalid("the time grid is empty"));
    }
    for &t in grid {
        schedule.check_time(t)?;
    }
    if let Some(w) = grid.windows(2).find(|w| w[1] >= w[0]) {
        return Err(Error::invalid(format!(
            "the time grid must decrease strictly; found {} then {}",
            w[0], w[1]
        )));
    }
    Ok(())
}

/// Run `options.method` down `grid` from the `n x d` states `x` (row-major, updated in place).
#[allow(clippy::too_many_arguments)]
pub fn sample_fixed(
    model: &mut dyn Model,
    schedule: &Schedule,
    grid: &[f64],
    to_data: bool,
    x: &mut [f64],
    d: usize,
    options: &FixedOptions,
    observer: &mut Observer<'_>,
    monitor: &Monitor,
) -> Result<Stats> {
    check_grid(schedule, grid)?;
    let m = options.method;
    if schedule.is_discrete() && !m.nodes_only() {
        return Err(Error::invalid(format!(
            "{m:?} needs the SDE coefficients of a continuous process; a discrete chain supports \
             ddim, ancestral and dpmpp_2m"
        )));
    }
    for (v, name) in [(options.eta, "eta"), (options.r, "r"), (options.snr, "snr")] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::invalid(format!(
                "{name} must be finite and >= 0, got {v}"
            )));
        }
    }
    if d == 0 || x.len() % d != 0 {
        return Err(Error::invalid("x must be a non-empty n x d array"));
    }
    super::rng::check_indices(options.first_index, x.len() / d)?;
    crate::real::check_finite(x, "x")?;
    let mut nodes: Vec<(f64, Coefs)> = grid.iter().map(|&t| (t, schedule.at(t))).collect();
    if to_data {
        nodes.push((f64::NAN, Coefs::DATA));
    }
    let n_steps = nodes.len() - 1;
    monitor.set_total(n_steps);
    let mut stepper = Stepper::new(model, schedule, x.len(), d, *options);
    let mut stats = Stats::default();
    for i in 0..n_steps {
        monitor.check()?;
        stepper.flow.ev.step = i;
        stepper.step(i, nodes[i], nodes[i + 1], x)?;
        stats.steps = i + 1;
        monitor.advance(1);
        if !observer(i + 1, nodes[i + 1].0, x)? {
            stats.stopped = true;
            break;
        }
    }
    stats.nfe = stepper.flow.ev.nfe;
    Ok(stats)
}

struct Stepper<'m, 's> {
    flow: ProbabilityFlow<'m, 's>,
    d: usize,
    opt: FixedOptions,
    noise: Noise,
    k: Vec<Vec<f64>>,
    tmp: Vec<f64>,
    /// Noise of the current step.
    z: Vec<f64>,
    /// DPM-Solver++ 2M: the previous denoiser output and step in lambda.
    prev: Option<(Vec<f64>, f64)>,
}

impl<'m, 's> Stepper<'m, 's> {
    fn new(
        model: &'m mut dyn Model,
        schedule: &'s Schedule,
        len: usize,
        d: usize,
        opt: FixedOptions,
    ) -> Self {
        let buf = || vec![0.0; len];
        Stepper {
            flow: ProbabilityFlow::new(Evaluator::new(model), schedule, d),
            d,
            opt,
            noise: Noise::new(opt.seed),
            k: vec![buf()],
            tmp: Vec::new(),
            z: Vec::new(),
            prev: None,
        }
    }

    /// Add `scale * noise(row)` to every row of `x` (noise drawn for `stream` and `counter`).
    fn add_noise(&mut self, x: &mut [f64], stream: Stream, counter: u64, scale: f64) {
        let (noise, first, d) = (self.noise, self.opt.first_index, self.d);
        let mut z = std::mem::take(&mut self.z);
        z.resize(x.len(), 0.0);
        fill_rows(&mut z, d, |i, zr| {
            noise.normals(stream, first + i as u64, counter, zr);
        });
        axpy(x, scale, &z);
        self.z = z;
    }

    fn step(
        &mut self,
        i: usize,
        (t, c): (f64, Coefs),
        (t2, c2): (f64, Coefs),
        x: &mut [f64],
    ) -> Result<()> {
        let d = self.d;
        if c2 == Coefs::DATA && t2.is_nan() {
            let mut out = std::mem::take(&mut self.tmp);
            out.resize(x.len(), 0.0);
            let r = self.flow.ev.x0(x, At::All(t, c), d, &mut out);
            x.copy_from_slice(&out);
            self.tmp = out;
            return r;
        }
        let h = t2 - t;
        match self.opt.method {
            Method::Euler | Method::Heun | Method::Midpoint | Method::Rk4 => {
                let tab = tableau(match self.opt.method {
                    Method::Euler => RkMethod::Euler,
                    Method::Heun => RkMethod::Heun,
                    Method::Midpoint => RkMethod::Midpoint,
                    _ => RkMethod::Rk4,
                });
                rk_step(&mut self.flow, x, t, h, &tab, &mut self.k, &mut self.tmp)?;
            }
            Method::Ddim | Method::Ancestral => {
                let eta = if self.opt.method == Method::Ancestral {
                    1.0
                } else {
                    self.opt.eta
                };
                self.ddim(i, t, c, c2, eta, x)?;
            }
            Method::DpmSolver2M => self.dpmpp_2m(t, c, c2, x)?,
            Method::EulerMaruyama => self.euler_maruyama(i, t, c, h, self.opt.r, x)?,
            Method::PredictorCorrector => {
                self.langevin(i, t, c, c2, x)?;
                self.euler_maruyama(i, t, c, h, 1.0, x)?;
            }
        }
        Ok(())
    }

    /// `x' = s' x0 + sqrt(sigma'^2 - c^2) eps + c z` with `c = eta` times the posterior std.
    fn ddim(
        &mut self,
        i: usize,
        t: f64,
        c: Coefs,
        c2: Coefs,
        eta: f64,
        x: &mut [f64],
    ) -> Result<()> {
        let mut x0 = std::mem::take(&mut self.k[0]);
        let r = self.flow.ev.x0(x, At::All(t, c), self.d, &mut x0);
        if let Err(e) = r {
            self.k[0] = x0;
            return Err(e);
        }
        let ratio = c.s / c2.s;
        let cond = (c.sigma * c.sigma - ratio * ratio * c2.sigma * c2.sigma).max(0.0);
        let post = (cond * c2.sigma * c2.sigma).sqrt() / c.sigma;
        let cn = (eta * post).min(c2.sigma);
        let keep = ((c2.sigma - cn) * (c2.sigma + cn)).max(0.0).sqrt();
        for (xv, &x0v) in x.iter_mut().zip(&x0) {
            let eps = (*xv - c.s * x0v) / c.sigma;
            *xv = c2.s * x0v + keep * eps;
        }
        self.k[0] = x0;
        if cn > 0.0 {
            self.add_noise(x, Stream::Step, i as u64, cn);
        }
        Ok(())
    }

    fn dpmpp_2m(&mut self, t: f64, c: Coefs, c2: Coefs, x: &mut [f64]) -> Result<()> {
        let mut x0 = std::mem::take(&mut self.k[0]);
        let r = self.flow.ev.x0(x, At::All(t, c), self.d, &mut x0);
        if let Err(e) = r {
            self.k[0] = x0;
            return Err(e);
        }
        let h = c2.lambda() - c.lambda();
        let ratio = c2.sigma / c.sigma;
        let coef = -c2.s * (-h).exp_m1();
        match &self.prev {
            Some((old, h_old)) => {
                let q = 0.5 * h / h_old;
                for ((xv, &a), &b) in x.iter_mut().zip(&x0).zip(old) {
                    *xv = ratio * *xv + coef * ((1.0 + q) * a - q * b);
                }
            }
            None => {
                for (xv, &a) in x.iter_mut().zip(&x0) {
                    *xv = ratio * *xv + coef * a;
                }
            }
        }
        let old = match self.prev.take() {
            Some((mut old, _)) => {
                old.copy_from_slice(&x0);
                old
            }
            None => x0.clone(),
        };
        self.prev = Some((old, h));
        self.k[0] = x0;
        Ok(())
    }

    fn euler_maruyama(
        &mut self,
        i: usize,
        t: f64,
        c: Coefs,
        h: f64,
        r: f64,
        x: &mut [f64],
    ) -> Result<()> {
        let mut k = std::mem::take(&mut self.k[0]);
        let res = self
            .flow
            .ev
            .drift(x, At::All(t, c), self.d, 0.5 * (1.0 + r * r), &mut k);
        if let Err(e) = res {
            self.k[0] = k;
            return Err(e);
        }
        axpy(x, h, &k);
        self.k[0] = k;
        let scale = r * (c.g2 * h.abs()).sqrt();
        if scale > 0.0 {
            self.add_noise(x, Stream::Step, i as u64, scale);
        }
        Ok(())
    }

    /// Langevin corrector steps at `(t, c)`: `x += e score + sqrt(2 e) z` with the step
    /// `e = 2 a (snr sigma(t))^2` and `a = (s(t) / s(t'))^2` (score_sde's annealed Langevin
    /// dynamics, `ald`). The step is the same for every sample and depends neither on the state
    /// nor on `z`. A step from per-sample norms, `2 a (snr |z| / |score|)^2` (score_sde's
    /// `langevin` rule with per-sample instead of batch-mean norms), depends on the state, which
    /// changes the invariant density of the chain (towards `p / e`), and couples the step to its
    /// own noise, which inflates the noise variance by `(d + 2) / d`: in two dimensions it moved
    /// the sample mean of a Gaussian mixture by tens of standard errors.
    fn langevin(&mut self, i: usize, t: f64, c: Coefs, c2: Coefs, x: &mut [f64]) -> Result<()> {
        let d = self.d;
        let alpha = (c.s / c2.s).powi(2);
        let step = 2.0 * alpha * (self.opt.snr * c.sigma).powi(2);
        let a = (2.0 * step).sqrt();
        for j in 0..self.opt.n_corrector {
            let mut g = std::mem::take(&mut self.k[0]);
            let res = self.flow.ev.score(x, At::All(t, c), d, &mut g);
            if let Err(e) = res {
                self.k[0] = g;
                return Err(e);
            }
            axpy(x, step, &g);
            self.k[0] = g;
            if a > 0.0 {
                let counter = (i * self.opt.n_corrector + j) as u64;
                self.add_noise(x, Stream::Corrector, counter, a);
            }
        }
        Ok(())
    }
}
