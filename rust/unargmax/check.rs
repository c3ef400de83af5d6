//! The problem data shared by every stage and the float64 checks of witnesses and certificates.
//!
//! Every verdict rests on these checks, never on a solver's word: a witness `x` is accepted when
//! `z_k - z_j` computed in f64 exceeds a rounding-error bound for every `j != k`; a certificate
//! `lambda` when `sum lambda_j w_j - w_k` and `sum lambda_j b_j - b_k` meet the tolerance.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::matrix::Matrix;
use crate::real::Real;

/// f64 unit roundoff.
pub(crate) const U64: f64 = f64::EPSILON / 2.0;

/// The Rust side accepts a witness only when every margin exceeds this many times the rounding
/// bound that `UnargmaxReport.verify()` allows, so an independent re-check with another summation
/// order cannot fail.
const WITNESS_SAFETY: f64 = 4.0;
/// The Rust side accepts a certificate only within this fraction of the allowance that
/// `verify()` uses.
const CERT_SAFETY: f64 = 0.5;

/// W, b and the semantics of one job.
pub(crate) struct Problem<'a, T> {
    pub w: Matrix<'a, T>,
    pub b: Option<&'a [f64]>,
    /// Box half-width `R` for x in [-R, R]^d; `None` for the box-free question.
    pub bounds: Option<f64>,
    /// Relative tolerance of certificates.
    pub tol: f64,
    /// Euclidean norm of every row, in f64.
    pub norms: Vec<f64>,
}

/// The result of checking a candidate witness against all rows.
pub(crate) struct WitnessEval {
    /// Per row: `z_k - z_j` minus the acceptance allowance (+inf for `j == k`).
    pub slack: Vec<f64>,
    /// `min_{j != k} (z_k - z_j)` in f64.
    pub margin: f64,
    /// Whether every slack is positive and x lies in the box.
    pub ok: bool,
}

impl<'a, T: Real> Problem<'a, T> {
    pub fn new(w: Matrix<'a, T>, b: Option<&'a [f64]>, bounds: Option<f64>, tol: f64) -> Self {
        let norms = (0..w.rows)
            .map(|j| dot_f64(row(&w, j), row(&w, j)).0.sqrt())
            .collect();
        Problem {
            w,
            b,
            bounds,
            tol,
            norms,
        }
    }

    pub fn v(&self) -> usize {
        self.w.rows
    }

    pub fn d(&self) -> usize {
        self.w.cols
    }

    pub fn row(&self, j: usize) -> &'a [T] {
        row(&self.w, j)
    }

    pub fn bias(&self, j: usize) -> f64 {
        self.b.map_or(0.0, |b| b[j])
    }

    /// Whether some bias differs from another (a constant bias changes nothing).
    pub fn has_bias(&self) -> bool {
        self.b
            .is_some_and(|b| b.iter().any(|&v| v.to_bits() != b[0].to_bits()))
    }

    /// Approximate logits `z_j` for a search (never for a verdict): one matrix-vector product
    /// in the working precision `T` (vectorised; `x` rounded to `T`), plus the bias in f64.
    pub fn scores(&self, x: &[f64]) -> Vec<f64> {
        let (v, d) = (self.v(), self.d());
        let xt: Vec<T> = x.iter().map(|&a| T::from_f64(a)).collect();
        let mut z = vec![T::ZERO; v];
        matmul(
            MatMut::from_column_major_slice_mut(&mut z, v, 1),
            Accum::Replace,
            MatRef::from_row_major_slice(self.w.data, v, d),
            MatRef::from_column_major_slice(&xt, d, 1),
            T::from_f64(1.0),
            Par::Seq,
        );
        z.iter()
            .enumerate()
            .map(|(j, a)| a.to_f64() + self.bias(j))
            .collect()
    }

    /// `(z_j, sum_i |w_ji x_i|)` for every row, in f64.
    pub fn logits(&self, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        (0..self.v())
            .map(|j| {
                let (z, s) = dot_abs(self.row(j), x);
                (z + self.bias(j), s)
            })
            .unzip()
    }

    /// The rounding allowance of `z_k - z_j` that `verify()` uses.
    pub fn witness_allowance(&self, sk: f64, sj: f64, k: usize, j: usize) -> f64 {
        2.0 * (self.d() as f64 + 2.0) * U64 * (sk + sj + self.bias(k).abs() + self.bias(j).abs())
    }

    /// Check `x` as a witness for class `k` against every row.
    pub fn eval_witness(&self, k: usize, x: &[f64]) -> WitnessEval {
        let in_box = match self.bounds {
            Some(r) => x.iter().all(|v| v.abs() <= r),
            None => true,
        };
        let finite = x.iter().all(|v| v.is_finite());
        let (z, s) = self.logits(x);
        let mut margin = f64::INFINITY;
        let slack: Vec<f64> = (0..self.v())
            .map(|j| {
                if j == k {
                    return f64::INFINITY;
                }
                let m = z[k] - z[j];
                margin = margin.min(m);
                m - WITNESS_SAFETY * self.witness_allowance(s[k], s[j], k, j)
            })
            .collect();
        let ok = in_box && finite && slack.iter().all(|&v| v > 0.0);
        WitnessEval { slack, margin, ok }
    }

    /// Check the certificate `(indices, weights)` of class `k` (weights are normalised here).
    pub fn check_certificate(&self, k: usize, indices: &[usize], weights: &[f64]) -> bool {
        certificate_ok(self, k, indices, weights, CERT_SAFETY)
    }
}

/// The certificate test of `verify()`, with the allowance scaled by `factor`.
fn certificate_ok<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    indices: &[usize],
    weights: &[f64],
    factor: f64,
) -> bool {
    if indices.is_empty()
        || indices.len() != weights.len()
        || indices.iter().any(|&j| j == k || j >= p.v())
        || weights.iter().any(|&l| !(l > 0.0 && l.is_finite()))
    {
        return false;
    }
    let total: f64 = weights.iter().sum();
    let d = p.d();
    let wk = p.row(k);
    let mut r: Vec<f64> = wk.iter().map(|v| -v.to_f64()).collect();
    let (mut scale_w2, mut scale_w1, mut mass_w, mut slack, mut scale_b, mut mass_b) =
        (0.0, 0.0, 0.0, -p.bias(k), 0.0, 0.0);
    for (&j, &l) in indices.iter().zip(weights) {
        let l = l / total;
        let wj = p.row(j);
        let (mut d2, mut d1) = (0.0, 0.0);
        for i in 0..d {
            let (a, c) = (wj[i].to_f64(), wk[i].to_f64());
            r[i] += l * a;
            d2 += (a - c) * (a - c);
            d1 += (a - c).abs();
        }
        scale_w2 += l * d2.sqrt();
        scale_w1 += l * d1;
        mass_w += l * p.norms[j];
        slack += l * p.bias(j);
        scale_b += l * (p.bias(j) - p.bias(k)).abs();
        mass_b += l * p.bias(j).abs();
    }
    let n = indices.len() as f64;
    let round_w = 4.0 * (n + d as f64 + 2.0) * U64 * (mass_w + p.norms[k]);
    let round_b = 4.0 * (n + 2.0) * U64 * (mass_b + p.bias(k).abs());
    let r2 = r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let r1: f64 = r.iter().map(|v| v.abs()).sum();
    match p.bounds {
        None => {
            r2 <= factor * (p.tol * scale_w2 + round_w)
                && slack >= -factor * (p.tol * scale_b + round_b)
        }
        Some(big_r) => {
            let allow = p.tol * (scale_b + big_r * scale_w1)
                + round_b
                + big_r * (d as f64).sqrt() * round_w;
            slack - big_r * r1 >= -factor * allow
        }
    }
}

fn row<'a, T>(w: &Matrix<'a, T>, j: usize) -> &'a [T] {
    &w.data[j * w.cols..(j + 1) * w.cols]
}

/// `(sum a_i b_i, sum |a_i b_i|)` in f64 with independent partial sums (vectorisable).
pub(crate) fn dot_abs<T: Real>(a: &[T], x: &[f64]) -> (f64, f64) {
    const L: usize = 8;
    let (mut s, mut t) = ([0.0f64; L], [0.0f64; L]);
    let mut ca = a.chunks_exact(L);
    let mut cx = x.chunks_exact(L);
    for (pa, px) in (&mut ca).zip(&mut cx) {
        for i in 0..L {
            let p = pa[i].to_f64() * px[i];
            s[i] += p;
            t[i] += p.abs();
        }
    }
    let (mut z, mut m) = (s.iter().sum::<f64>(), t.iter().sum::<f64>());
    for (va, vx) in ca.remainder().iter().zip(cx.remainder()) {
        let p = va.to_f64() * vx;
        z += p;
        m += p.abs();
    }
    (z, m)
}

/// `(sum a_i b_i, sum |a_i b_i|)` of two rows of the same type, in f64.
pub(crate) fn dot_f64<T: Real>(a: &[T], b: &[T]) -> (f64, f64) {
    let (mut z, mut m) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let p = x.to_f64() * y.to_f64();
        z += p;
        m += p.abs();
    }
    (z, m)
}
