//! The model a sampler queries: a batch function of `(x, t)` declared as a score, noise (eps),
//! denoiser (x_0) or v prediction, and the conversions between them. Evaluations are counted and
//! their outputs checked for NaN and infinity.

use rayon::prelude::*;

use super::gmm::{GaussianMixture, Levels, Outputs, Request};
use super::schedule::Coefs;
use crate::monitor::Monitor;
use crate::parallel::PAR_CHEAP;
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

/// Costly per-value work (random normals, ~10 ns each) runs in parallel from this many values.
const PAR_COSTLY: usize = 1 << 12;
const CHUNK_ROWS: usize = 256;
/// Values per task of a parallel flat pass.
const FLAT_CHUNK: usize = 1 << 16;

/// Apply `op(row, x_row, out_row)` to every row of `x` (`d` columns) and `out` (a cheap pass:
/// parallel from [`PAR_CHEAP`] values on).
pub fn rows_mut<F>(x: &[f64], out: &mut [f64], d: usize, op: F)
where
    F: Fn(usize, &[f64], &mut [f64]) + Sync,
{
    if d == 0 {
        return;
    }
    if out.len() < PAR_CHEAP {
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

/// Fill every row of `out` (`d` columns) with `op(row, out_row)`, costly work: parallel from
/// [`PAR_COSTLY`] values on. Each row depends only on its index, so results do not depend on
/// the number of threads.
pub fn fill_rows<F>(out: &mut [f64], d: usize, op: F)
where
    F: Fn(usize, &mut [f64]) + Sync,
{
    if d == 0 {
        return;
    }
    if out.len() < PAR_COSTLY {
        for (i, or) in out.chunks_mut(d).enumerate() {
            op(i, or);
        }
    } else {
        out.par_chunks_mut(d * CHUNK_ROWS)
            .enumerate()
            .for_each(|(c, oc)| {
                for (j, or) in oc.chunks_mut(d).enumerate() {
                    op(c * CHUNK_ROWS + j, or);
                }
            });
    }
}

/// What the samplers need from a model's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The score.
    Score,
    /// The denoiser `x_0`.
    X0,
}

/// Every conversion is affine: `target = a x + b raw` with `(a, b)` from the kind and `(s,
/// sigma)` (see `latentgeo.diffusion.models`).
pub fn affine(kind: Kind, target: Target, c: Coefs) -> (f64, f64) {
    let (s, sg) = (c.s, c.sigma);
    let r2 = s * s + sg * sg;
    match (target, kind) {
        (Target::Score, Kind::Score) | (Target::X0, Kind::X0) => (0.0, 1.0),
        (Target::Score, Kind::Eps) => (0.0, -1.0 / sg),
        (Target::Score, Kind::X0) => (-1.0 / (sg * sg), s / (sg * sg)),
        (Target::Score, Kind::V) => (-1.0 / r2, -s / (r2.sqrt() * sg)),
        (Target::X0, Kind::Score) => (1.0 / s, sg * sg / s),
        (Target::X0, Kind::Eps) => (1.0 / s, -sg / s),
        (Target::X0, Kind::V) => (s / r2, -sg / r2.sqrt()),
    }
}

/// `out = a x + b src` (`src = None` means `out` itself), one flat pass over all values,
/// in parallel from [`PAR_CHEAP`] values on.
pub fn axpby(x: &[f64], src: Option<&[f64]>, out: &mut [f64], a: f64, b: f64) {
    let apply = |xs: &[f64], rs: Option<&[f64]>, os: &mut [f64]| match rs {
        Some(rs) => {
            for ((o, &xv), &rv) in os.iter_mut().zip(xs).zip(rs) {
                *o = a * xv + b * rv;
            }
        }
        None => {
            for (o, &xv) in os.iter_mut().zip(xs) {
                *o = a * xv + b * *o;
            }
        }
    };
    if out.len() < PAR_CHEAP {
        apply(x, src, out);
    } else {
        out.par_chunks_mut(FLAT_CHUNK)
            .zip(x.par_chunks(FLAT_CHUNK))
            .enumerate()
            .for_each(|(i, (oc, xc))| {
                let rs = src.map(|r| &r[i * FLAT_CHUNK..i * FLAT_CHUNK + oc.len()]);
                apply(xc, rs, oc);
            });
    }
}

/// `out = a x + b src` row by row, with `(a, b) = coef(row's coefficients)`; `src = None` means
/// `out` itself. A single time for all rows runs as one flat (vectorisable) pass.
fn affine_rows<F>(x: &[f64], src: Option<&[f64]>, out: &mut [f64], d: usize, at: At<'_>, coef: F)
where
    F: Fn(Coefs) -> (f64, f64) + Sync,
{
    match at {
        At::All(_, c) => {
            let (a, b) = coef(c);
            axpby(x, src, out, a, b);
        }
        At::PerRow(..) => rows_mut(x, out, d, |i, xr, or| {
            let (a, b) = coef(at.row(i).1);
            axpby(xr, src.map(|r| &r[i * d..(i + 1) * d]), or, a, b);
        }),
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

    /// The model's output at the rows converted to `target`, into `out`.
    fn converted(
        &mut self,
        x: &[f64],
        at: At<'_>,
        d: usize,
        out: &mut [f64],
        target: Target,
    ) -> Result<()> {
        let kind = self.kind();
        self.nfe += 1;
        if matches!(
            (target, kind),
            (Target::Score, Kind::Score) | (Target::X0, Kind::X0)
        ) {
            self.model.eval(x, at, out)?;
        } else {
            if self.raw.len() != x.len() {
                self.raw.resize(x.len(), 0.0);
            }
            self.model.eval(x, at, &mut self.raw)?;
            affine_rows(x, Some(&self.raw), out, d, at, |c| affine(kind, target, c));
        }
        self.check(out, at, d)
    }

    /// The score at the rows into `out`.
    pub fn score(&mut self, x: &[f64], at: At<'_>, d: usize, out: &mut [f64]) -> Result<()> {
        self.converted(x, at, d, out, Target::Score)
    }

    /// The denoiser at the rows into `out`.
    pub fn x0(&mut self, x: &[f64], at: At<'_>, d: usize, out: &mut [f64]) -> Result<()> {
        self.converted(x, at, d, out, Target::X0)
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
        affine_rows(x, None, out, d, at, |c| (c.f, -scale * c.g2));
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

    fn run(&mut self, x: &[f64], at: At<'_>, request: Request, out: Outputs<'_>) -> Result<()> {
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
        self.gmm
            .evaluate_into(x, levels, request, None, &Monitor::new(), out)
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
        let out = Outputs {
            log_prob: &mut [],
            score: out,
            denoise: &mut [],
            divergence: &mut [],
        };
        self.run(x, at, request, out)
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
        let out = Outputs {
            log_prob: &mut [],
            score,
            denoise: &mut [],
            divergence: laplacian,
        };
        self.run(x, at, request, out)?;
        Ok(true)
    }
}
