//! Row-wise ODE solvers for systems `dy/dt = F(t, y)` where every row (sample) is independent:
//! the adaptive Dormand-Prince 5(4) pair with a step size per sample (so a sample's result does
//! not depend on the rest of the batch) and fixed-grid explicit Runge-Kutta methods.

use super::model::{At, Evaluator};
use super::schedule::{Coefs, Schedule};
use crate::monitor::Monitor;
use crate::{Error, Result};

/// A batch of independent ODEs of `width()` values per row.
pub trait RowSystem {
    /// Values per row.
    fn width(&self) -> usize;
    /// `dy` for the rows `rows` (positions in the full batch) of `y` at the per-row times `t`.
    fn deriv(&mut self, rows: &[usize], y: &[f64], t: &[f64], dy: &mut [f64]) -> Result<()>;
    /// `dy` for all rows of `y` at the one time `t`.
    fn deriv_at(&mut self, y: &[f64], t: f64, dy: &mut [f64]) -> Result<()> {
        let n = y.len() / self.width().max(1);
        let rows: Vec<usize> = (0..n).collect();
        self.deriv(&rows, y, &vec![t; n], dy)
    }
    /// Batch model evaluations so far.
    fn nfe(&self) -> usize;
    /// Record which step is being computed (for error messages).
    fn set_step(&mut self, _step: usize) {}
}

/// The probability-flow ODE `dx/dt = f x - g^2 score / 2` of a model.
pub struct ProbabilityFlow<'m, 's> {
    /// The model.
    pub ev: Evaluator<'m>,
    /// The process.
    pub schedule: &'s Schedule,
    /// State dimension.
    pub d: usize,
    coefs: Vec<Coefs>,
}

impl<'m, 's> ProbabilityFlow<'m, 's> {
    /// The flow of `ev` under `schedule` in `d` dimensions.
    pub fn new(ev: Evaluator<'m>, schedule: &'s Schedule, d: usize) -> Self {
        ProbabilityFlow {
            ev,
            schedule,
            d,
            coefs: Vec::new(),
        }
    }
}

impl RowSystem for ProbabilityFlow<'_, '_> {
    fn width(&self) -> usize {
        self.d
    }

    fn deriv(&mut self, _rows: &[usize], y: &[f64], t: &[f64], dy: &mut [f64]) -> Result<()> {
        if t.iter().all(|&ti| ti == t[0]) {
            let at = At::All(t[0], self.schedule.at(t[0]));
            return self.ev.drift(y, at, self.d, 0.5, dy);
        }
        self.coefs.clear();
        self.coefs.extend(t.iter().map(|&ti| self.schedule.at(ti)));
        self.ev
            .drift(y, At::PerRow(t, &self.coefs), self.d, 0.5, dy)
    }

    fn deriv_at(&mut self, y: &[f64], t: f64, dy: &mut [f64]) -> Result<()> {
        let at = At::All(t, self.schedule.at(t));
        self.ev.drift(y, at, self.d, 0.5, dy)
    }

    fn nfe(&self) -> usize {
        self.ev.nfe
    }

    fn set_step(&mut self, step: usize) {
        self.ev.step = step;
    }
}

/// Options of [`dopri5`].
#[derive(Debug, Clone, Copy)]
pub struct AdaptiveOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// First step size (absolute value); `None` picks it per sample (Hairer's rule).
    pub first_step: Option<f64>,
    /// Most attempted steps per sample.
    pub max_steps: usize,
}

/// Step statistics of an adaptive solve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdaptiveStats {
    /// Batch evaluations of the system's model.
    pub nfe: usize,
    /// Accepted steps per row.
    pub accepted: Vec<u32>,
    /// Rejected steps per row.
    pub rejected: Vec<u32>,
    /// Iterations (rounds of attempted steps over the active rows).
    pub iterations: usize,
    /// Whether the observer stopped the solve early.
    pub stopped: bool,
}

/// Called after every iteration with `(iteration, t per row, y)`; return `Ok(false)` to stop.
pub type RowObserver<'o> = dyn FnMut(usize, &[f64], &[f64]) -> Result<bool> + 'o;

const C: [f64; 7] = [0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0];
const A: [[f64; 6]; 7] = [
    [0.0; 6],
    [0.2, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// Fifth-order solution minus the embedded fourth-order one.
const E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];
const SAFETY: f64 = 0.9;
const MAX_FACTOR: f64 = 10.0;
const MIN_FACTOR: f64 = 0.2;

fn rms_scaled(w: usize, v: &[f64], y0: &[f64], y1: &[f64], rtol: f64, atol: f64) -> f64 {
    let mut acc = 0.0;
    for j in 0..w {
        let sc = atol + rtol * y0[j].abs().max(y1[j].abs());
        let e = v[j] / sc;
        acc += e * e;
    }
    (acc / w as f64).sqrt()
}

/// Integrate every row of `y` (`n x width`, row-major, updated in place) from `t0` to `t1`
/// (either direction) with Dormand-Prince 5(4) and a step size per row.
///
/// The error norm of a row is the RMS of `err_j / (atol + rtol max(|y_j|, |y_new_j|))`; a step
/// is accepted when it is at most 1, and the next step is scaled by
/// `clamp(0.9 err^(-1/5), 0.2, 10)`. Rows whose times reach `t1` leave the batch.
pub fn dopri5(
    sys: &mut dyn RowSystem,
    y: &mut [f64],
    t0: f64,
    t1: f64,
    opt: &AdaptiveOptions,
    observer: &mut RowObserver<'_>,
    monitor: &Monitor,
) -> Result<AdaptiveStats> {
    let w = sys.width();
    if w == 0 || y.len() % w != 0 {
        return Err(Error::invalid("the state must be a non-empty n x d array"));
    }
    let tol_ok = |v: f64| v.is_finite() && v >= 0.0;
    if !(tol_ok(opt.rtol) && tol_ok(opt.atol) && opt.rtol + opt.atol > 0.0) {
        return Err(Error::invalid(format!(
            "rtol and atol must be finite, >= 0 and not both 0; got {} and {}",
            opt.rtol, opt.atol
        )));
    }
    if let Some(h) = opt.first_step {
        if !(h.is_finite() && h > 0.0) {
            return Err(Error::invalid(format!("first_step must be > 0, got {h}")));
        }
    }
    if !(t0.is_finite() && t1.is_finite()) || t0 == t1 {
        return Err(Error::invalid(format!(
            "need two different finite end times, got {t0} and {t1}"
        )));
    }
    crate::real::check_finite(y, "the initial state")?;
    let n = y.len() / w;
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let all: Vec<usize> = (0..n).collect();
    let mut t = vec![t0; n];
    let mut k1 = vec![0.0; y.len()];
    sys.set_step(0);
    sys.deriv(&all, y, &t, &mut k1)?;
    // Step sizes (absolute values).
    let mut h = match opt.first_step {
        Some(h) => vec![h.min(span); n],
        None => initial_steps(sys, y, &k1, t0, dir, span, opt)?,
    };
    let mut stats = AdaptiveStats {
        accepted: vec![0; n],
        rejected: vec![0; n],
        ..AdaptiveStats::default()
    };
    monitor.set_total(n);
    let mut active = all;
    let mut k: Vec<Vec<f64>> = vec![Vec::new(); 7];
    let (mut ya, mut ys, mut y5, mut ts, mut ta, mut ha) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    while !active.is_empty() {
        monitor.check()?;
        stats.iterations += 1;
        sys.set_step(stats.iterations);
        let na = active.len();
        ya.clear();
        k[0].clear();
        ta.clear();
        ha.clear();
        for &r in &active {
            ya.extend_from_slice(&y[r * w..(r + 1) * w]);
            k[0].extend_from_slice(&k1[r * w..(r + 1) * w]);
            let remaining = (t1 - t[r]).abs();
            ha.push(if h[r] >= remaining * (1.0 - 1e-12) {
                remaining
            } else {
                h[r]
            });
            ta.push(t[r]);
        }
        for s in 1..7 {
            ys.clear();
            ys.extend_from_slice(&ya);
            for i in 0..na {
                let hs = dir * ha[i];
                let row = &mut ys[i * w..(i + 1) * w];
                for (j, kj) in k.iter().enumerate().take(s) {
                    let a = A[s][j];
                    if a != 0.0 {
                        for (v, &kv) in row.iter_mut().zip(&kj[i * w..(i + 1) * w]) {
                            *v += hs * a * kv;
                        }
                    }
                }
            }
            ts.clear();
            ts.extend((0..na).map(|i| {
                if s >= 5 {
                    // Land exactly on the target time at the end of a clipped step.
                    let end = ta[i] + dir * ha[i];
                    if (t1 - end).abs() <= 1e-12 * span {
                        t1
                    } else {
                        end
                    }
                } else {
                    ta[i] + C[s] * dir * ha[i]
                }
            }));
            if s == 6 {
                y5.clear();
                y5.extend_from_slice(&ys);
            }
            let mut ks = std::mem::take(&mut k[s]);
            ks.resize(na * w, 0.0);
            let res = sys.deriv(&active, &ys, &ts, &mut ks);
            k[s] = ks;
            res?;
        }
        let mut still = Vec::with_capacity(na);
        for (i, &r) in active.iter().enumerate() {
            let hs = dir * ha[i];
            let mut err = vec![0.0; w];
            for (j, kj) in k.iter().enumerate() {
                if E[j] != 0.0 {
                    for (e, &kv) in err.iter_mut().zip(&kj[i * w..(i + 1) * w]) {
                        *e += hs * E[j] * kv;
                    }
                }
            }
            let y_old = &ya[i * w..(i + 1) * w];
            let y_new = &y5[i * w..(i + 1) * w];
            let en = rms_scaled(w, &err, y_old, y_new, opt.rtol, opt.atol);
            if !en.is_finite() {
                return Err(Error::invalid(format!(
                    "the solution of sample {r} became non-finite at t = {}",
                    ta[i]
                )));
            }
            let factor = if en == 0.0 {
                MAX_FACTOR
            } else {
                (SAFETY * en.powf(-0.2)).clamp(MIN_FACTOR, MAX_FACTOR)
            };
            if en <= 1.0 {
                y[r * w..(r + 1) * w].copy_from_slice(y_new);
                k1[r * w..(r + 1) * w].copy_from_slice(&k[6][i * w..(i + 1) * w]);
                t[r] = ts[i];
                stats.accepted[r] += 1;
                h[r] = ha[i] * factor;
                if t[r] == t1 {
                    monitor.advance(1);
                    continue;
                }
            } else {
                stats.rejected[r] += 1;
                h[r] = ha[i] * factor.min(1.0);
            }
            if (stats.accepted[r] + stats.rejected[r]) as usize >= opt.max_steps {
                return Err(Error::invalid(format!(
                    "sample {r} did not reach t = {t1} within max_steps = {} (stopped at t = {}); \
                     loosen rtol/atol or raise max_steps",
                    opt.max_steps, t[r]
                )));
            }
            still.push(r);
        }
        active = still;
        if !observer(stats.iterations, &t, y)? {
            stats.stopped = true;
            break;
        }
    }
    stats.nfe = sys.nfe();
    Ok(stats)
}

/// Hairer's starting step (Solving ODEs I, II.4) for every row: one extra evaluation.
fn initial_steps(
    sys: &mut dyn RowSystem,
    y: &[f64],
    f0: &[f64],
    t0: f64,
    dir: f64,
    span: f64,
    opt: &AdaptiveOptions,
) -> Result<Vec<f64>> {
    let w = sys.width();
    let n = y.len() / w;
    let scaled = |v: &[f64], y: &[f64]| rms_scaled(w, v, y, y, opt.rtol, opt.atol);
    let mut h0 = vec![0.0; n];
    let mut y1 = y.to_vec();
    for r in 0..n {
        let (yr, fr) = (&y[r * w..(r + 1) * w], &f0[r * w..(r + 1) * w]);
        let (d0, d1) = (scaled(yr, yr), scaled(fr, yr));
        let h = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        };
        h0[r] = h.min(span);
        for (v, &fv) in y1[r * w..(r + 1) * w].iter_mut().zip(fr) {
            *v += dir * h0[r] * fv;
        }
    }
    let t: Vec<f64> = h0.iter().map(|h| t0 + dir * h).collect();
    let all: Vec<usize> = (0..n).collect();
    let mut f1 = vec![0.0; y.len()];
    sys.deriv(&all, &y1, &t, &mut f1)?;
    Ok((0..n)
        .map(|r| {
            let yr = &y[r * w..(r + 1) * w];
            let diff: Vec<f64> = (0..w).map(|j| f1[r * w + j] - f0[r * w + j]).collect();
            let d1 = scaled(&f0[r * w..(r + 1) * w], yr);
            let d2 = scaled(&diff, yr) / h0[r];
            let h1 = if d1.max(d2) <= 1e-15 {
                (h0[r] * 1e-3).max(1e-6)
            } else {
                (0.01 / d1.max(d2)).powf(0.2)
            };
            (100.0 * h0[r]).min(h1).min(span)
        })
        .collect())
}
