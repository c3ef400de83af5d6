//! Stage 1: the batched witness screen `x = alpha * w_k` for many classes at once.
//!
//! One blocked GEMM of the class rows against all rows gives `G_kj = w_k . w_j` a tile at a time;
//! per class only two numbers are kept (never the V x V matrix): the largest certified upper
//! bound of `G_kj` over `j != k`, and with a bias the largest ratio `(b_j - b_k) / (G_kk - G_kj)`.
//! The GEMM runs in the input precision; the a-priori bound `|fl(G_kj) - G_kj| <= gamma ||w_k||
//! ||w_j||` turns the tile values into certified bounds, so a class that passes is proven
//! argmaxable with a margin that is a rigorous lower bound, without another pass over W.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::check::{Problem, U64};
use crate::monitor::Monitor;
use crate::real::Real;
use crate::Result;

/// Class rows per block.
const QUERY_BLOCK: usize = 256;
/// Data rows per block.
const DATA_BLOCK: usize = 2048;

/// What the screen found for one class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScreenOutcome {
    /// `Some((alpha, margin lower bound))` when `alpha * w_k` is a proven witness.
    pub witness: Option<(f64, f64)>,
    /// A bias-aware starting scale for the heuristic.
    pub start_alpha: f64,
}

/// Number of GEMM tiles the screen of `n_classes` classes runs (for progress totals).
pub(crate) fn n_tiles(n_classes: usize, v: usize) -> usize {
    n_classes.div_ceil(QUERY_BLOCK) * v.div_ceil(DATA_BLOCK)
}

/// Screen `classes`; the caller runs this inside the thread pool.
pub(crate) fn screen<T: Real>(
    p: &Problem<'_, T>,
    classes: &[usize],
    monitor: &Monitor,
) -> Result<Vec<ScreenOutcome>> {
    let (v, d) = (p.v(), p.d());
    let bias = p.has_bias();
    // Rounding of a d-term dot product in T, doubled, plus the rounding of forming the key in T.
    let gamma = 2.0 * (d as f64 + 4.0) * T::UNIT_ROUNDOFF;
    let norms_t: Vec<T> = p.norms.iter().map(|&n| T::from_f64(n)).collect();
    let data = p.w.data;
    let mut out = vec![(f64::NEG_INFINITY, f64::NEG_INFINITY); classes.len()];
    out.par_chunks_mut(QUERY_BLOCK)
        .zip(classes.par_chunks(QUERY_BLOCK))
        .try_for_each_init(
            || {
                (
                    vec![T::ZERO; QUERY_BLOCK * d],
                    vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(v)],
                )
            },
            |(qbuf, tile), (acc, cls)| -> Result<()> {
                let qb = cls.len();
                for (r, &k) in cls.iter().enumerate() {
                    qbuf[r * d..(r + 1) * d].copy_from_slice(p.row(k));
                }
                // Per class: G_kk (f64, rounded down) and the per-unit-norm error of its keys.
                let gkk: Vec<f64> = cls
                    .iter()
                    .map(|&k| p.norms[k] * p.norms[k] * (1.0 - 4.0 * (d as f64 + 2.0) * U64))
                    .collect();
                let ek: Vec<T> = cls
                    .iter()
                    .map(|&k| T::from_f64(gamma * p.norms[k] * (1.0 + 1e-6)))
                    .collect();
                for c0 in (0..v).step_by(DATA_BLOCK) {
                    monitor.check()?;
                    let db = DATA_BLOCK.min(v - c0);
                    let lhs = MatRef::from_row_major_slice(&qbuf[..qb * d], qb, d);
                    let rhs = MatRef::from_column_major_slice(&data[c0 * d..(c0 + db) * d], d, db);
                    let dst = MatMut::from_row_major_slice_mut(&mut tile[..qb * db], qb, db);
                    matmul(dst, Accum::Replace, lhs, rhs, T::from_f64(1.0), Par::Seq);
                    let nb = &norms_t[c0..c0 + db];
                    for (r, &k) in cls.iter().enumerate() {
                        let g = &tile[r * db..(r + 1) * db];
                        let e = ek[r];
                        let (gmax, ratio) = &mut acc[r];
                        // Largest certified upper bound of G_kj, the diagonal excluded.
                        let mut m = T::from_f64(*gmax);
                        for (jj, (&gj, &nj)) in g.iter().zip(nb).enumerate() {
                            let key = gj + e * nj;
                            if key > m && c0 + jj != k {
                                m = key;
                            }
                        }
                        *gmax = m.to_f64();
                        if bias {
                            let bk = p.bias(k);
                            for (jj, (&gj, &nj)) in g.iter().zip(nb).enumerate() {
                                let j = c0 + jj;
                                let bj = p.bias(j);
                                if bj > bk && j != k {
                                    let den = gkk[r] - (gj + e * nj).to_f64();
                                    let q = if den > 0.0 {
                                        (bj - bk) / den
                                    } else {
                                        f64::INFINITY
                                    };
                                    if q > *ratio {
                                        *ratio = q;
                                    }
                                }
                            }
                        }
                    }
                    monitor.advance(1);
                }
                Ok(())
            },
        )?;
    let nmax = p.norms.iter().fold(0.0f64, |a, &n| a.max(n));
    let bmax =
        p.b.map_or(0.0, |b| b.iter().fold(0.0f64, |a, v| a.max(v.abs())));
    Ok(classes
        .iter()
        .zip(&out)
        .map(|(&k, &(gmax, ratio))| outcome(p, k, gmax, ratio, nmax, bmax))
        .collect())
}

/// Choose `alpha` from the screen's two numbers and bound the witness margin from below.
fn outcome<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    gmax: f64,
    ratio: f64,
    nmax: f64,
    bmax: f64,
) -> ScreenOutcome {
    let d = p.d() as f64;
    let nk = p.norms[k];
    let gkk = nk * nk * (1.0 - 4.0 * (d + 2.0) * U64);
    // Largest alpha the box allows.
    let alpha_max = match p.bounds {
        Some(r) => {
            let inf = p.row(k).iter().fold(0.0f64, |a, v| a.max(v.to_f64().abs()));
            if inf > 0.0 {
                // Shrunk by a few ulps so that alpha * |w_ki| <= R survives rounding.
                r / inf * (1.0 - 4.0 * U64)
            } else {
                f64::INFINITY
            }
        }
        None => f64::INFINITY,
    };
    let needed = ratio.max(0.0);
    let mut alpha = if needed < 0.5 { 1.0 } else { 2.0 * needed };
    alpha = alpha.min(alpha_max);
    let start_alpha = if alpha > 0.0 && alpha.is_finite() {
        alpha
    } else {
        1.0
    };
    let a_min = gkk - gmax;
    if !(a_min > 0.0 && alpha > needed && alpha.is_finite()) {
        return ScreenOutcome {
            witness: None,
            start_alpha,
        };
    }
    let lb = if needed > 0.0 {
        a_min * (alpha - needed)
    } else {
        alpha * a_min
    } * (1.0 - 1e-12);
    // The bound must clear what an independent f64 re-check may lose to rounding:
    // sum_i |w_ji x_i| <= alpha ||w_k|| ||w_j|| (Cauchy-Schwarz).
    let allowance = 4.0 * 2.0 * (d + 2.0) * U64 * (alpha * nk * (nk + nmax) + 2.0 * bmax);
    ScreenOutcome {
        witness: (lb > allowance).then_some((alpha, lb)),
        start_alpha,
    }
}
