//! Unargmaxable classes of a softmax layer `z = W x + b`: exact, certified verdicts.
//!
//! Class `k` is argmaxable when some input `x` makes `z_k > z_j` for every `j != k`, else
//! unargmaxable. Each class gets a verdict with a certificate that was re-checked in f64:
//! a witness `x` for argmaxable classes, weights `lambda >= 0` summing to one with
//! `sum lambda_j w_j = w_k` and `sum lambda_j b_j >= b_k` (within a relative tolerance) for
//! unargmaxable ones. What cannot be certified is undecided, never guessed.
//!
//! Three stages, each only for the classes the previous one left open, parallel over classes and
//! deterministic whatever the thread count:
//! 1. [`screen`]: `x = alpha * w_k` for all classes by one blocked GEMM keeping per-row maxima,
//!    then the whitened `x = alpha (Sigma + eps I)^-1 (w_k - mu)` for the classes still open;
//! 2. [`reflect`]: the reference's reflection heuristic from the bias-aware start;
//! 3. [`lp`]: an exact LP by constraint generation (clarabel), giving a witness or `lambda`,
//!    whose support [`caratheodory`] shrinks to at most `d + 1` entries.

mod caratheodory;
mod check;
mod gram_scores;
mod ipm;
mod lp;
mod reflect;
mod scores;
mod screen;

use std::time::Instant;

use rayon::prelude::*;

use crate::matrix::Matrix;
use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::{check_finite, Real};
use crate::{Error, Result};

use check::Problem;
pub use gram_scores::gram_top_scores;
pub use scores::{top_scores, TopScores};

/// Default relative tolerance of unargmaxability certificates.
pub const DEFAULT_TOL: f64 = 1e-9;
/// Default patience of the reflection heuristic (the reference's default).
pub const DEFAULT_PATIENCE: usize = 100;

/// Options of a job.
#[derive(Debug, Clone)]
pub struct UnargParams {
    /// Classes to decide (`None`: all).
    pub classes: Option<Vec<usize>>,
    /// Box half-width `R` (inputs restricted to `[-R, R]^d`); `None`: box-free.
    pub bounds: Option<f64>,
    /// Relative tolerance of certificates: `||sum lambda_j w_j - w_k|| <= tol * sum lambda_j
    /// ||w_j - w_k||` (plus rounding), likewise for the bias.
    pub tol: f64,
    /// Reflections per class in the heuristic (0 skips it).
    pub patience: usize,
    /// Size of the thread pool (`None`: rayon's global pool).
    pub n_threads: Option<usize>,
}

impl Default for UnargParams {
    fn default() -> Self {
        UnargParams {
            classes: None,
            bounds: None,
            tol: DEFAULT_TOL,
            patience: DEFAULT_PATIENCE,
            n_threads: None,
        }
    }
}

/// The verdict on one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Argmaxable,
    Unargmaxable,
    Undecided,
}

/// The stage that decided (or last tried) a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Screen,
    Heuristic,
    Lp,
}

/// A witness of argmaxability.
#[derive(Debug, Clone, PartialEq)]
pub enum Witness {
    /// `x = alpha * w_k`.
    Scaled(f64),
    /// An explicit `x`.
    Point(Vec<f64>),
}

/// The outcome for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassVerdict {
    pub class: usize,
    pub status: Status,
    pub stage: Stage,
    /// Witness margin `min_{j != k} (z_k - z_j)` in f64 (for the screen a rigorous lower bound);
    /// NaN without a witness.
    pub margin: f64,
    pub witness: Option<Witness>,
    /// `(indices, weights)`, indices ascending, weights positive summing to one.
    pub certificate: Option<(Vec<usize>, Vec<f64>)>,
}

/// The map of the whitened screen's witnesses, `x_k = alpha_k R fl(R^T (w_k - mu))` up to
/// rounding: a hint for the Gram pass of `UnargmaxReport.verify()`, which proves what it uses.
#[derive(Debug, Clone)]
pub struct WhiteningBasis {
    /// `R` (about `L^-T`), row-major `d x d`.
    pub r: Vec<f64>,
    /// The row mean `mu`.
    pub mu: Vec<f64>,
}

/// All verdicts, in the order of the requested classes, and the seconds spent per stage.
#[derive(Debug, Clone)]
pub struct UnargReport {
    pub verdicts: Vec<ClassVerdict>,
    /// Seconds in the screen, the heuristic and the LP stage.
    pub timings: [f64; 3],
    /// The whitened witnesses' map, when the whitened screen ran.
    pub basis: Option<WhiteningBasis>,
}

/// Decide which classes of `z = W x + b` are argmaxable.
///
/// `monitor` counts screen tiles and decided classes and can cancel the job.
pub fn unargmaxable<T: Real>(
    w: Matrix<'_, T>,
    b: Option<&[f64]>,
    params: &UnargParams,
    monitor: &Monitor,
) -> Result<UnargReport> {
    let classes = validate(w, b, params)?;
    let p = Problem::new(w, b, params.bounds, params.tol);
    with_threads(params.n_threads, || {
        run(&p, &classes, params.patience, monitor)
    })?
}

fn validate<T: Real>(
    w: Matrix<'_, T>,
    b: Option<&[f64]>,
    params: &UnargParams,
) -> Result<Vec<usize>> {
    if w.rows <= 1 {
        return Err(Error::invalid(format!(
            "W needs at least 2 rows (classes), got {}",
            w.rows
        )));
    }
    if w.cols == 0 {
        return Err(Error::invalid("W has no columns (features)"));
    }
    check_finite(w.data, "W")?;
    if let Some(b) = b {
        if b.len() != w.rows {
            return Err(Error::invalid(format!(
                "b has {} entries but W has {} rows",
                b.len(),
                w.rows
            )));
        }
        check_finite(b, "b")?;
    }
    if let Some(r) = params.bounds {
        if !(r > 0.0 && r.is_finite()) {
            return Err(Error::invalid(format!(
                "bounds must be a positive finite number, got {r}"
            )));
        }
    }
    if !(params.tol >= 0.0 && params.tol.is_finite()) {
        return Err(Error::invalid(format!(
            "tol must be a non-negative finite number, got {}",
            params.tol
        )));
    }
    let classes = match &params.classes {
        None => (0..w.rows).collect(),
        Some(c) => {
            let mut seen = vec![false; w.rows];
            for &k in c {
                if k >= w.rows {
                    return Err(Error::invalid(format!(
                        "class {k} is out of range for W with {} rows",
                        w.rows
                    )));
                }
                if std::mem::replace(&mut seen[k], true) {
                    return Err(Error::invalid(format!("class {k} is listed twice")));
                }
            }
            c.clone()
        }
    };
    Ok(classes)
}

/// Classes sampled to choose the order of the two screens.
const SCREEN_SAMPLE: usize = 256;

/// Stage 1: the plain screen `alpha w_k` and the whitened one, in the order that suits W: when
/// the plain screen passes fewer than half of an evenly spaced sample of the rows (a common
/// offset, as in trained heads), the whitened screen goes first, so the plain pass over all of
/// W is spent only on what it leaves. Verdicts and the heuristic's starting scales per class.
fn screen_stage<T: Real>(
    p: &Problem<'_, T>,
    classes: &[usize],
    monitor: &Monitor,
) -> Result<(Vec<ClassVerdict>, Vec<f64>, Option<WhiteningBasis>)> {
    let n = classes.len();
    let mut basis = None;
    let undecided = |k: usize| ClassVerdict {
        class: k,
        status: Status::Undecided,
        stage: Stage::Screen,
        margin: f64::NAN,
        witness: None,
        certificate: None,
    };
    let mut verdicts: Vec<ClassVerdict> = classes.iter().map(|&k| undecided(k)).collect();
    let mut start_alpha = vec![1.0; n];
    // The sample is drawn from all rows, so the order (and every witness) does not depend on
    // which classes are asked for: a block of classes gets what the whole run gives it.
    let s_len = SCREEN_SAMPLE.min(p.v());
    let sample: Vec<usize> = (0..s_len).map(|i| i * p.v() / s_len).collect();
    let passed = screen::screen(p, &sample, &Monitor::new())?
        .iter()
        .filter(|o| o.witness.is_some())
        .count();
    let whitened_first = 2 * passed < s_len;
    let open =
        |v: &[ClassVerdict]| -> Vec<usize> { (0..n).filter(|&i| v[i].witness.is_none()).collect() };
    let add_total = |tiles: usize| {
        let (_, total) = monitor.progress();
        monitor.set_total(total + tiles);
    };
    for pass in 0..2 {
        let todo = if pass == 0 {
            (0..n).collect()
        } else {
            open(&verdicts)
        };
        let todo_classes: Vec<usize> = todo.iter().map(|&i| classes[i]).collect();
        if whitened_first == (pass == 0) {
            add_total(screen::n_tiles_whitened(todo.len(), p.v()));
            let (found, b) = screen::whitened(p, &todo_classes, monitor)?;
            basis = basis.or(b);
            for (&i, f) in todo.iter().zip(found) {
                if let Some((x, lb)) = f {
                    let v = &mut verdicts[i];
                    v.status = Status::Argmaxable;
                    v.margin = lb;
                    v.witness = Some(Witness::Point(x));
                    monitor.advance(1);
                }
            }
        } else {
            add_total(screen::n_tiles(todo.len(), p.v()));
            let screened = screen::screen(p, &todo_classes, monitor)?;
            for (&i, s) in todo.iter().zip(screened) {
                start_alpha[i] = s.start_alpha;
                if let Some((alpha, lb)) = s.witness {
                    let v = &mut verdicts[i];
                    v.status = Status::Argmaxable;
                    v.margin = lb;
                    v.witness = Some(Witness::Scaled(alpha));
                    monitor.advance(1);
                }
            }
        }
    }
    Ok((verdicts, start_alpha, basis))
}

fn run<T: Real>(
    p: &Problem<'_, T>,
    classes: &[usize],
    patience: usize,
    monitor: &Monitor,
) -> Result<UnargReport> {
    let n = classes.len();
    monitor.set_total(n);
    let mut timings = [0.0; 3];

    let t0 = Instant::now();
    let (mut verdicts, start_alpha, basis) = screen_stage(p, classes, monitor)?;
    timings[0] = t0.elapsed().as_secs_f64();

    // Stage 2 on the survivors.
    let t1 = Instant::now();
    let open: Vec<usize> = (0..n).filter(|&i| verdicts[i].witness.is_none()).collect();
    let starts: Vec<(usize, Vec<f64>)> = open
        .iter()
        .map(|&i| {
            let (k, alpha) = (classes[i], start_alpha[i]);
            (k, p.row(k).iter().map(|v| alpha * v.to_f64()).collect())
        })
        .collect();
    let tried = reflect::reflect_all(p, starts, patience, monitor)?;
    monitor.advance(tried.iter().filter(|r| r.witness.is_some()).count());
    let mut lp_open = Vec::new();
    for (&i, r) in open.iter().zip(tried) {
        let v = &mut verdicts[i];
        v.stage = Stage::Heuristic;
        match r.witness {
            Some((x, eval)) => {
                v.status = Status::Argmaxable;
                v.margin = eval.margin;
                v.witness = Some(Witness::Point(x));
            }
            None => lp_open.push((i, r.last)),
        }
    }
    timings[1] = t1.elapsed().as_secs_f64();

    // Stage 3.
    let t2 = Instant::now();
    let outcomes: Vec<lp::LpOutcome> = lp_open
        .par_iter()
        .map(|(i, seed)| -> Result<lp::LpOutcome> {
            monitor.check()?;
            let o = lp::decide(p, classes[*i], seed);
            monitor.advance(1);
            Ok(o)
        })
        .collect::<Result<_>>()?;
    for ((i, _), o) in lp_open.iter().zip(outcomes) {
        let v = &mut verdicts[*i];
        v.stage = Stage::Lp;
        match o {
            lp::LpOutcome::Witness(x, eval) => {
                v.status = Status::Argmaxable;
                v.margin = eval.margin;
                v.witness = Some(Witness::Point(x));
            }
            lp::LpOutcome::Certificate(idx, w) => {
                v.status = Status::Unargmaxable;
                v.certificate = Some((idx, w));
            }
            lp::LpOutcome::Undecided => {}
        }
    }
    timings[2] = t2.elapsed().as_secs_f64();
    Ok(UnargReport {
        verdicts,
        timings,
        basis,
    })
}

#[cfg(test)]
mod tests;
