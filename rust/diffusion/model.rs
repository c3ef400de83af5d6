//! The model a sampler queries: a batch function of `(x, t)` declared as a score, noise (eps),
//! denoiser (x_0) or v prediction, and the conversions between them. Evaluations are counted and
//! their outputs checked for NaN and infinity.

use rayon::prelude::*;

use super::schedule::Coefs;
use crate::gmm::{GaussianMixture, Levels, Request};
use crate::monitor::Monitor;
use crate::real::check_finite;
use crate::{Error, Result};

/// What a model's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `grad log p_t(x)`.
    Score,
    /// The noise `eps = (x - s x_0) / sigma`.
    Eps,
    /// The denoiser `E[x_0 | x_t = x]`.
    X0,
    /// `v = (s eps - sigma x_0) / sqrt(s^2 + sigma^2)`.
    V,
}

impl Kind {
    /// Parse "score", "eps", "x0" or "v".
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "score" => Kind::Score,
            "eps" => Kind::Eps,
            "x0" => Kind::X0,
            "v" => Kind::V,
            other => {
                return Err(Error::invalid(format!(
                    "unknown model kind {other:?}; expected score, eps, x0 or v"
                )))
            }
        })
    }
}

/// The times of one batch evaluation: one for all rows, or one per row.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    /// Every row at the same time.
    All(f64, Coefs),
    /// Row `i` at `times[i]` with coefficients `coefs[i]`.
    PerRow(&'a [f64], &'a [Coefs]),
}

impl At<'_> {
    /// Time and coefficients of row `i`.
    pub fn row(&self, i: usize) -> (f64, Coefs) {
        match *self {
            At::All(t, c) => (t, c),
            At::PerRow(t, c) => (t[i], c[i]),
        }
    }
}

/// A batch model.
pub trait Model {
    /// What [`Model::eval`] returns.
    fn kind(&self) -> Kind;

    /// The raw output at the `n x d` rows `x` (row-major) into `out` (same shape).
    fn eval(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> Result<()>;

    /// The score and the exact Laplacian of `log p_t` at the rows, when the model knows them;
    /// `Ok(false)` otherwise.
    fn score_laplacian(
        &mut self,
        _x: &[f64],
        _at: At<'_>,
        _score: &mut [f64],
        _laplacian: &mut [f64],
    ) -> Result<bool> {
        Ok(false)
    }
}

/// Rows at or above this many values are processed in parallel.
const PAR_MIN: usize = 1 << 14;
const CHUNK_ROWS: usize = 256;

/// Apply `op(row, x_row, out_row)` to every row of `x` (`d` columns) and `out`.
pub fn rows_mut<F>(x: &[f64], out: &mut [f64], d: usize, op: F)
where
    F: Fn(usize, &[f64], &mut [f64]) + Sync,
{
    if d == 0 {
        return;
    }
    if out.len() < PAR_MIN {
        for (i, (xr, or)) in x.chunks(d).zip(out.chunks_mut(d)).enumerate() {
            op(i, xr, or);
        }
    } else {
        out.par_chunks_mut(d * CHUNK_ROWS)
            .zip(x.par_chunks(d * CHUNK_ROWS))
            .enumerate()
            .for_each(|(c, (oc, xc))| {
                for (j, (xr, or)) in xc.chunks(d).zip(oc.chunks_mut(d)).enumerate() {
                    op(c * CHUNK_ROWS + j, xr, or);
                }
            });
    }
}

/// The score implied by one raw output value.
#[inline]
pub fn to_score(kind: Kind, x: f64, raw: f64, c: Coefs) -> f64 {
    match kind {
        Kind::Score => raw,
        Kind::Eps => -raw / c.sigma,
        Kind::X0 => (c.s * raw - x) / (c.sigma * c.sigma),
        Kind::V => {
            let r = c.s.hypot(c.sigma);
            -((c.sigma * x / r + c.s * raw) / r) / c.sigma
        }
    }
}

/// The denoiser `x_0` implied by one raw output value.
#[inline]
pub fn to_x0(kind: Kind, x: f64, raw: f64, c: Coefs) -> f64 {
    match kind {
        Kind::Score => (x + c.sigma * c.sigma * raw) / c.s,
        Kind::Eps => (x - c.sigma * raw) / c.s,
        Kind::X0 => raw,
        Kind::V => {
            let r = c.s.hypot(c.sigma);
            (c.s * x / r - c.sigma * raw) / r
        }
    }
}

/// A model with evaluation counting and output checks.
pub struct Evaluator<'m> {
    model: &'m mut dyn Model,
    /// Number of batch evaluations so far.
    pub nfe: usize,
    /// The step being computed (for error messages).
    pub step: usize,
    raw: Vec<f64>,
}

impl<'m> Evaluator<'m> {
    /// Wrap `model`.
    pub fn new(model: &'m mut dyn Model) -> Self {
        Evaluator {
            model,
            nfe: 0,
            step: 0,
            raw: Vec::new(),
        }
    }

    /// The model's kind.
    pub fn kind(&self) -> Kind {
        self.model.kind()
    }

    fn check(&self, values: &[f64], at: At<'_>, d: usize) -> Result<()> {
        if check_finite(values, "model output").is_err() {
            let i = values.iter().position(|v| !v.is_finite()).unwrap_or(0) / d.max(1);
            let (t, _) = at.row(i);
            return Err(Error::invalid(format!(
                "model output contains NaN or infinite values at step {} (t = {t}, sample {i})",
                self.step
            )));
        }
        Ok(())
    }

    /// The raw output at the rows (kept in an internal buffer).
    pub fn raw(&mut self, x: &[f64], at: At<'_>, d: usize) -> Result<&[f64]> {
        self.raw.clear();
        self.raw.resize(x.len(), 0.0);
        self.model.eval(x, at, &mut self.raw)?;
        self.nfe += 1;
        let raw = std::mem::take(&mut self.raw);
        let checked = self.check(&raw, at, d);
        self.raw = raw;
        checked?;
        Ok(&self.raw)
    }

    /// The raw output at the rows converted by `conv` (one of [`to_score`], [`to_x0`]).
    fn converted(
        &mut self,
        x: &[f64],
        at: At<'_>,
        d: usize,
        out: &mut [f64],
        conv: fn(Kind, f64, f64, Coefs) -> f64,
    ) -> Result<()> {
        let kind = self.kind();
        let raw = self.raw(x, at, d)?;
        rows_mut(x, out, d, |i, xr, or| {
            let (_, c) = at.row(i);
            let rr = &raw[i * d..(i + 1) * d];
            for ((o, &xv), &rv) in or.iter_mut().zip(xr).zip(rr) {
                *o = conv(kind, xv, rv, c);
            }
        });
        self.check(out, at, d)
    }

    /// The score at the rows into `out`.
    pub fn score(&mut self, x: &[f64], at: At<'_>, d: usize, out: &mut [f64]) -> Result<()> {
        self.converted(x, at, d, out, to_score)
    }

    /// The denoiser at the rows into `out`.
    pub fn x0(&mut self, x: &[f64], at: At<'_>, d: usize, out: &mut [f64]) -> Result<()> {
        self.converted(x, at, d, out, to_x0)
    }

    /// The probability-flow velocity `f x - g^2 score / 2` (or the drift
    /// `f x - (1 + r^2) g^2 score / 2` of the same-marginal family with `scale = (1 + r^2) / 2`).
    pub fn drift(
        &mut self,
        x: &[f64],
        at: At<'_>,
        d: usize,
        scale: f64,
        out: &mut [f64],
    ) -> Result<()> {
        self.score(x, at, d, out)?;
        let out_ro: &mut [f64] = out;
        rows_mut(x, out_ro, d, |i, xr, or| {
            let (_, c) = at.row(i);
            for (o, &xv) in or.iter_mut().zip(xr) {
                *o = c.f * xv - scale * c.g2 * *o;
            }
        });
        Ok(())
    }

    /// Score and exact Laplacian of `log p_t`, if the model has them.
    pub fn score_laplacian(
        &mut self,
        x: &[f64],
        at: At<'_>,
        score: &mut [f64],
        laplacian: &mut [f64],
    ) -> Result<bool> {
        let ok = self.model.score_laplacian(x, at, score, laplacian)?;
        if ok {
            self.nfe += 1;
        }
        Ok(ok)
    }
}

/// The analytic model of Gaussian-mixture data: the exact score of every noised marginal.
pub struct GmmModel<'a> {
    gmm: &'a GaussianMixture,
    levels: (Vec<f64>, Vec<f64>),
}

impl<'a> GmmModel<'a> {
    /// The model of data distributed as `gmm`.
    pub fn new(gmm: &'a GaussianMixture) -> Self {
        GmmModel {
            gmm,
            levels: (Vec::new(), Vec::new()),
        }
    }

    fn run(&mut self, x: &[f64], at: At<'_>, request: Request) -> Result<crate::gmm::Evaluation> {
        let levels = match at {
            At::All(_, c) => Levels::Single(c.s, c.sigma),
            At::PerRow(_, cs) => {
                self.levels.0.clear();
                self.levels.1.clear();
                self.levels.0.extend(cs.iter().map(|c| c.s));
                self.levels.1.extend(cs.iter().map(|c| c.sigma));
                Levels::PerPoint(&self.levels.0, &self.levels.1)
            }
        };
        self.gmm.evaluate(x, levels, request, None, &Monitor::new())
    }
}

impl Model for GmmModel<'_> {
    fn kind(&self) -> Kind {
        Kind::Score
    }

    fn eval(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> Result<()> {
        let request = Request {
            score: true,
            ..Request::default()
        };
        let ev = self.run(x, at, request)?;
        out.copy_from_slice(&ev.score.unwrap_or_default());
        Ok(())
    }

    fn score_laplacian(
        &mut self,
        x: &[f64],
        at: At<'_>,
        score: &mut [f64],
        laplacian: &mut [f64],
    ) -> Result<bool> {
        let request = Request {
            score: true,
            divergence: Some((0.0, 1.0)),
            ..Request::default()
        };
        let ev = self.run(x, at, request)?;
        score.copy_from_slice(&ev.score.unwrap_or_default());
        laplacian.copy_from_slice(&ev.divergence.unwrap_or_default());
        Ok(true)
    }
}
