//! Stage 1: the batched witness screen `x = alpha * w_k` for many classes at once.
//!
//! One blocked GEMM of the class rows against all rows gives `G_kj = w_k . w_j` a tile at a time;
//! per class only two numbers are kept (never the V x V matrix): the largest certified upper
//! bound of `G_kj` over `j != k`, and with a bias the largest ratio `(b_j - b_k) / (G_kk - G_kj)`.
//! The GEMM runs in the input precision; the a-priori bound `|fl(G_kj) - G_kj| <= gamma ||w_k||
//! ||w_j||` turns the tile values into certified bounds, so a class that passes is proven
//! argmaxable with a margin that is a rigorous lower bound, without another pass over W.
//!
//! [`whitened`] repeats the pass with the whitened (LDA-like) direction
//! `x_k ~ (Sigma + eps I)^-1 (w_k - mu)`, `mu` the row mean and `Sigma` the row covariance:
//! `z_k - z_j = (w_k - w_j).x + b_k - b_j` does not involve `mu`, so a passing `alpha x_k` is a
//! witness of the original problem. With `Sigma + eps I = L L^T` and the whitened rows
//! `u_j = L^-1 (w_j - mu)` (rounded to the input precision), `x_k = L^-T u_k` and the scores
//! that matter are the Gram matrix `u_j . u_k`: symmetric, so when every class is screened each
//! GEMM tile above the block diagonal serves both of its blocks (half the flops of `W X^T`).
//! The rounding of `u_j` and of `x_k` enters the same rigorous bound, so its margin is likewise
//! a rigorous lower bound. No per-class f64 re-check over W follows: on real-looking heads (a
//! common offset) most classes pass here, and V matvecs over W cost far more than the GEMM.

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::check::{Problem, U64};
use super::ipm;
use super::WhiteningBasis;
use crate::monitor::Monitor;
use crate::real::Real;
use crate::Result;

/// Class rows per block.
const QUERY_BLOCK: usize = 256;
/// Data rows per block.
const DATA_BLOCK: usize = 2048;
/// Rows per chunk of the mean and covariance sums (fixed, so sums do not depend on threads).
const COV_BLOCK: usize = 1024;
/// Ridge of the whitening, relative to the mean variance.
const WHITEN_EPS: f64 = 1e-6;

/// What the screen found for one class.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScreenOutcome {
    /// `Some((alpha, margin lower bound))` when `alpha * w_k` is a proven witness.
    pub witness: Option<(f64, f64)>,
    /// A bias-aware starting scale for the heuristic.
    pub start_alpha: f64,
}

/// Number of GEMM tiles the screen of `n_classes` classes runs (for progress totals): with
/// every class, the tiles on and above the block diagonal of the symmetric Gram matrix.
pub(crate) fn n_tiles(n_classes: usize, v: usize) -> usize {
    if n_classes == v {
        (0..v)
            .step_by(QUERY_BLOCK)
            .map(|r0| (v - r0).div_ceil(DATA_BLOCK))
            .sum()
    } else {
        n_classes.div_ceil(QUERY_BLOCK) * v.div_ceil(DATA_BLOCK)
    }
}

/// Screen `classes` with `x = alpha * w_k`; the caller runs this inside the thread pool.
pub(crate) fn screen<T: Real>(
    p: &Problem<'_, T>,
    classes: &[usize],
    monitor: &Monitor,
) -> Result<Vec<ScreenOutcome>> {
    let d = p.d();
    // G_kk (f64, rounded down); ||w_k|| bounds the keys' rounding.
    let gkk_of = |k: usize| p.norms[k] * p.norms[k] * (1.0 - 4.0 * (d as f64 + 2.0) * U64);
    let norms_t: Vec<T> = p.norms.iter().map(|&n| T::from_f64(n)).collect();
    let out = if classes.len() == p.v() {
        // Every class: W W^T is symmetric, each tile above the block diagonal serves both.
        let gkk: Vec<f64> = (0..p.v()).map(gkk_of).collect();
        let all = scan_symmetric(p, p.w.data, &norms_t, &gkk, &p.norms, monitor)?;
        classes.iter().map(|&k| all[k]).collect()
    } else {
        let gkk: Vec<f64> = classes.iter().map(|&k| gkk_of(k)).collect();
        let qnorm: Vec<f64> = classes.iter().map(|&k| p.norms[k]).collect();
        scan(
            p,
            p.w.data,
            &norms_t,
            classes,
            |r| p.row(classes[r]),
            &gkk,
            &qnorm,
            monitor,
        )?
    };
    let (nmax, bmax) = extremes(p);
    Ok(classes
        .iter()
        .zip(out)
        .map(|(&k, o)| {
            let qinf = p.row(k).iter().fold(0.0f64, |a, v| a.max(v.to_f64().abs()));
            outcome(p, k, gkk_of(k), p.norms[k], qinf, o, nmax, bmax)
        })
        .collect())
}

/// A witness and a rigorous lower bound of its margin.
pub(crate) type Checked = (Vec<f64>, f64);

/// Number of GEMM tiles [`whitened`] runs for `n_classes` open classes (see [`n_tiles`]).
pub(crate) fn n_tiles_whitened(n_classes: usize, v: usize) -> usize {
    if n_classes == 0 {
        0
    } else {
        n_tiles(n_classes, v)
    }
}

/// The rows of W in whitened coordinates: `u_j = fl_T(L^-1 (w_j - mu))` with
/// `Sigma + eps I = L L^T`, and per row the bounds the screen needs.
struct Whitened<T> {
    /// The row mean.
    mu: Vec<f64>,
    /// `u_j`, row-major `V x d`, in the working precision.
    u: Vec<T>,
    /// `R = fl_T(L^-T)` (held in f64), row-major `d x d`: the witness of class `k` is
    /// `alpha R u_k`.
    r: Vec<f64>,
    /// `||R||_F`, rounded up.
    r_fro: f64,
    /// `||u_j||` (of the rounded `u_j`, in f64, rounded up).
    norm: Vec<f64>,
    /// `eps_j >= ||u_j - R^T (w_j - mu)||`: the rounding of `u_j` against the exact product.
    err: Vec<f64>,
    /// A lower bound of `H_jj = ||u_j||^2 - e_j.u_j` (see [`whitened`]).
    hkk: Vec<f64>,
}

/// Whiten the rows: one f64 GEMM per block of rows, rounded to `T`.
fn whiten_rows<T: Real>(p: &Problem<'_, T>) -> Option<Whitened<T>> {
    let (v, d) = (p.v(), p.d());
    let (mu, l_inv_t) = whitening(p)?;
    let rf: Vec<f64> = l_inv_t.iter().map(|&x| T::from_f64(x).to_f64()).collect();
    let r_fro = rf.iter().map(|x| x * x).sum::<f64>().sqrt() * (1.0 + 4.0 * d as f64 * U64);
    let mu_norm = mu.iter().map(|x| x * x).sum::<f64>().sqrt();
    let uf = T::UNIT_ROUNDOFF;
    let gam64 = 2.0 * (d as f64 + 2.0) * U64;
    let mut u = vec![T::ZERO; v * d];
    let mut norm = vec![0.0; v];
    let mut err = vec![0.0; v];
    let mut hkk = vec![0.0; v];
    u.par_chunks_mut(QUERY_BLOCK * d)
        .zip(norm.par_chunks_mut(QUERY_BLOCK))
        .zip(err.par_chunks_mut(QUERY_BLOCK))
        .zip(hkk.par_chunks_mut(QUERY_BLOCK))
        .enumerate()
        .for_each(|(blk, (((out, nrm), er), hk))| {
            let rows = nrm.len();
            let j0 = blk * QUERY_BLOCK;
            let centred: Vec<f64> = (j0..j0 + rows)
                .flat_map(|j| p.row(j).iter().zip(&mu).map(|(w, m)| w.to_f64() - m))
                .collect();
            let mut x = vec![0.0; centred.len()];
            // u_j^T = c_j^T R (R = L^-T), i.e. u_j = R^T c_j = L^-1 c_j.
            triangular::matmul(
                MatMut::from_row_major_slice_mut(&mut x, rows, d),
                BlockStructure::Rectangular,
                Accum::Replace,
                MatRef::from_row_major_slice(&centred, rows, d),
                BlockStructure::Rectangular,
                MatRef::from_row_major_slice(&rf, d, d),
                BlockStructure::TriangularUpper,
                1.0,
                Par::Seq,
            );
            for i in 0..rows {
                let xi = &x[i * d..(i + 1) * d];
                let c_norm = centred[i * d..(i + 1) * d]
                    .iter()
                    .map(|c| c * c)
                    .sum::<f64>()
                    .sqrt();
                let x_norm = xi.iter().map(|c| c * c).sum::<f64>().sqrt();
                let ui = &mut out[i * d..(i + 1) * d];
                ui.iter_mut()
                    .zip(xi)
                    .for_each(|(o, &v)| *o = T::from_f64(v));
                let n2: f64 = ui.iter().map(|v| v.to_f64() * v.to_f64()).sum();
                nrm[i] = n2.sqrt() * (1.0 + 4.0 * (d as f64 + 2.0) * U64);
                // |fl_T(x) - x| <= u_T |x|; |x - R^T c| <= gamma_d |R|^T |c|; |c - (w - mu)|
                // <= u |w - mu|: each norm bounded through ||R||_F, doubled for the norms'
                // own rounding.
                let w_norm = p.norms[j0 + i];
                er[i] = 1.01 * (uf * x_norm + gam64 * r_fro * (c_norm + w_norm + mu_norm));
                hk[i] = n2 * (1.0 - gam64) - er[i] * nrm[i];
            }
        });
    Some(Whitened {
        mu,
        u,
        r: rf,
        r_fro,
        norm,
        err,
        hkk,
    })
}

/// Try the whitened witness for `classes`: `x_k = R u_k`, about `(Sigma + eps I)^-1 (w_k - mu)`
/// (`Sigma`, `mu` the row covariance and mean), scaled by `alpha`; per class a certified
/// witness with its margin lower bound, or `None`.
///
/// With `e_j = u_j - R^T (w_j - mu)` (bounded by `eps_j`), `(w_k - w_j).x_k = H_kk - H_kj`
/// exactly for `H_kj = u_j.u_k - e_j.u_k`: the mean drops out. So the scores are the Gram
/// matrix of the whitened rows, which is symmetric: with every class asked for, one GEMM tile
/// serves both of its blocks (half the flops), scanned along its rows and its columns. The
/// keys bound `H_kj` from above by the GEMM's rounding `gamma ||u_k|| ||u_j||` plus
/// `eps_j ||u_k||`, and the margin bound pays for the rounding of `x_k = R u_k` in f64.
///
/// Also returns the [`WhiteningBasis`] of the witnesses (`None` when nothing was whitened).
pub(crate) fn whitened<T: Real>(
    p: &Problem<'_, T>,
    classes: &[usize],
    monitor: &Monitor,
) -> Result<(Vec<Option<Checked>>, Option<WhiteningBasis>)> {
    if classes.is_empty() {
        return Ok((Vec::new(), None));
    }
    let (v, d) = (p.v(), p.d());
    let Some(wh) = whiten_rows(p) else {
        return Ok(((0..classes.len()).map(|_| None).collect(), None));
    };
    let gamma = 2.0 * (d as f64 + 4.0) * T::UNIT_ROUNDOFF;
    let gam64 = 2.0 * (d as f64 + 2.0) * U64;
    // Per row (as a data row): the key's norm factor n_j = ||u_j|| + eps_j / gamma.
    let nb: Vec<T> = (0..v)
        .map(|j| T::from_f64((wh.norm[j] + wh.err[j] / gamma) * (1.0 + 1e-6)))
        .collect();
    let urow = |k: usize| &wh.u[k * d..(k + 1) * d];
    let out = if classes.len() == v {
        let all = scan_symmetric(p, &wh.u, &nb, &wh.hkk, &wh.norm, monitor)?;
        classes.iter().map(|&k| all[k]).collect()
    } else {
        let hkk: Vec<f64> = classes.iter().map(|&k| wh.hkk[k]).collect();
        let qnorm: Vec<f64> = classes.iter().map(|&k| wh.norm[k]).collect();
        scan(
            p,
            &wh.u,
            &nb,
            classes,
            |r| urow(classes[r]),
            &hkk,
            &qnorm,
            monitor,
        )?
    };
    let (nmax, bmax) = extremes(p);
    // x_k = R u_k in f64, one GEMM per block of classes (as the classes come, so a range of
    // whole blocks gets the bits of the full run); its rounding (gamma_d ||R||_F ||u_k||)
    // moves every margin by at most (||w_k|| + ||w_j||) times that: taken off the bound, and
    // charged four times over to the re-check allowance through the norm `outcome` is given.
    let mut found: Vec<Option<Checked>> = vec![None; classes.len()];
    found
        .par_chunks_mut(QUERY_BLOCK)
        .zip(classes.par_chunks(QUERY_BLOCK))
        .zip(out.par_chunks(QUERY_BLOCK))
        .for_each(|((dst, cls), o)| {
            let u: Vec<f64> = cls
                .iter()
                .flat_map(|&k| urow(k).iter().map(|v| v.to_f64()))
                .collect();
            let mut x = vec![0.0; u.len()];
            triangular::matmul(
                MatMut::from_row_major_slice_mut(&mut x, cls.len(), d),
                BlockStructure::Rectangular,
                Accum::Replace,
                MatRef::from_row_major_slice(&u, cls.len(), d),
                BlockStructure::Rectangular,
                MatRef::from_row_major_slice(&wh.r, d, d).transpose(),
                BlockStructure::TriangularLower,
                1.0,
                Par::Seq,
            );
            for (r, &k) in cls.iter().enumerate() {
                let x = &x[r * d..(r + 1) * d];
                let x_norm = x.iter().map(|a| a * a).sum::<f64>().sqrt() * (1.0 + gam64)
                    + wh.r_fro * wh.norm[k];
                let x_inf = x.iter().fold(0.0f64, |a, v| a.max(v.abs())) * (1.0 + gam64)
                    + gam64 * wh.r_fro * wh.norm[k];
                let oc = outcome(p, k, wh.hkk[k], x_norm, x_inf, o[r], nmax, bmax);
                let x_err = 1.01 * gam64 * wh.r_fro * wh.norm[k] * (p.norms[k] + nmax);
                dst[r] = oc.witness.and_then(|(alpha, lb)| {
                    let lb = lb - alpha * x_err;
                    (lb > 0.0).then(|| (x.iter().map(|v| alpha * v).collect(), lb))
                });
            }
        });
    let basis = WhiteningBasis { r: wh.r, mu: wh.mu };
    Ok((found, Some(basis)))
}

/// The row mean (f64) and `L^-T` (row-major, upper triangular) for the Cholesky factor
/// `Sigma + eps I = L L^T` of the row covariance with a small ridge, summed over fixed row
/// chunks in a fixed order; `None` if no ridge makes it positive definite in floating point
/// (overflow).
fn whitening<T: Real>(p: &Problem<'_, T>) -> Option<(Vec<f64>, Vec<f64>)> {
    let (v, d) = (p.v(), p.d());
    let chunks: Vec<usize> = (0..v).step_by(COV_BLOCK).collect();
    let sums: Vec<Vec<f64>> = chunks
        .par_iter()
        .map(|&c0| {
            let mut s = vec![0.0; d];
            for j in c0..(c0 + COV_BLOCK).min(v) {
                for (a, w) in s.iter_mut().zip(p.row(j)) {
                    *a += w.to_f64();
                }
            }
            s
        })
        .collect();
    let mut mu = vec![0.0; d];
    for s in &sums {
        mu.iter_mut().zip(s).for_each(|(a, b)| *a += b);
    }
    mu.iter_mut().for_each(|a| *a /= v as f64);
    let grams: Vec<Mat<f64>> = chunks
        .par_iter()
        .map(|&c0| {
            let n = (c0 + COV_BLOCK).min(v) - c0;
            let mut c = Mat::<f64>::zeros(d, n);
            for jj in 0..n {
                for (i, w) in p.row(c0 + jj).iter().enumerate() {
                    c[(i, jj)] = w.to_f64() - mu[i];
                }
            }
            // The lower triangle only (the Cholesky reads no more): half the flops.
            let mut g = Mat::<f64>::zeros(d, d);
            triangular::matmul(
                g.as_mut(),
                BlockStructure::TriangularLower,
                Accum::Replace,
                c.as_ref(),
                BlockStructure::Rectangular,
                c.transpose(),
                BlockStructure::Rectangular,
                1.0,
                Par::Seq,
            );
            g
        })
        .collect();
    let mut cov = Mat::<f64>::zeros(d, d);
    for g in &grams {
        for b in 0..d {
            for (a, x) in cov.col_as_slice_mut(b).iter_mut().zip(g.col_as_slice(b)) {
                *a += x;
            }
        }
    }
    let trace: f64 = (0..d).map(|i| cov[(i, i)]).sum::<f64>() / v as f64;
    // Cholesky; a ridge that is too small for rounding gets raised until it succeeds.
    let mut eps = WHITEN_EPS * trace / d as f64 + f64::MIN_POSITIVE;
    for _ in 0..40 {
        let mut l = Mat::<f64>::from_fn(d, d, |a, b| cov[(a, b)] / v as f64);
        (0..d).for_each(|i| l[(i, i)] += eps);
        if ipm::cholesky(&mut l).is_some() && (0..d).all(|i| l[(i, i)].is_finite()) {
            // L^-1 by a forward solve of the identity; L^-T row-major is L^-1 column-major.
            let mut inv = Mat::<f64>::identity(d, d);
            faer::linalg::triangular_solve::solve_lower_triangular_in_place(
                l.as_ref(),
                inv.as_mut(),
                Par::Seq,
            );
            let l_inv_t = (0..d).flat_map(|c| inv.col_as_slice(c).to_vec()).collect();
            return Some((mu, l_inv_t));
        }
        eps = (eps * 100.0).max(1e-300);
    }
    None
}

fn extremes<T: Real>(p: &Problem<'_, T>) -> (f64, f64) {
    let nmax = p.norms.iter().fold(0.0f64, |a, &n| a.max(n));
    let bmax =
        p.b.map_or(0.0, |b| b.iter().fold(0.0f64, |a, v| a.max(v.abs())));
    (nmax, bmax)
}

/// One blocked GEMM of the query vectors `query(r)` (one per class) against all rows of `data`
/// (`V x d`, W or its whitened rows): per class the largest certified upper bound
/// `H_kj + e_k nb_j` of `H_kj = data_j . x_k` over `j != k`, with `e_k` the GEMM's rounding per
/// unit of `nb_j` (`gamma qnorm_k`), and with a bias the largest `(b_j - b_k) / (H_kk - H_kj)`.
/// `hkk` are lower bounds of `H_kk`, `qnorm` upper bounds of `||x_k||`.
#[allow(clippy::too_many_arguments)]
fn scan<'q, T: Real + 'q>(
    p: &Problem<'_, T>,
    data: &[T],
    nb: &[T],
    classes: &[usize],
    query: impl Fn(usize) -> &'q [T] + Sync,
    hkk: &[f64],
    qnorm: &[f64],
    monitor: &Monitor,
) -> Result<Vec<(f64, f64)>> {
    let (v, d) = (p.v(), p.d());
    let bias = p.has_bias();
    // Rounding of a d-term dot product in T, doubled, plus the rounding of forming the key in T.
    let gamma = 2.0 * (d as f64 + 4.0) * T::UNIT_ROUNDOFF;
    let mut out = vec![(f64::NEG_INFINITY, f64::NEG_INFINITY); classes.len()];
    out.par_chunks_mut(QUERY_BLOCK)
        .enumerate()
        .try_for_each_init(
            || {
                (
                    vec![T::ZERO; QUERY_BLOCK * d],
                    vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(v)],
                )
            },
            |(qbuf, tile), (blk, acc)| -> Result<()> {
                let r0 = blk * QUERY_BLOCK;
                let qb = acc.len();
                let cls = &classes[r0..r0 + qb];
                for r in 0..qb {
                    qbuf[r * d..(r + 1) * d].copy_from_slice(query(r0 + r));
                }
                // Per class: the per-unit-norm error of its keys.
                let ek: Vec<T> = (0..qb)
                    .map(|r| T::from_f64(gamma * qnorm[r0 + r] * (1.0 + 1e-6)))
                    .collect();
                for c0 in (0..v).step_by(DATA_BLOCK) {
                    monitor.check()?;
                    let db = DATA_BLOCK.min(v - c0);
                    let lhs = MatRef::from_row_major_slice(&qbuf[..qb * d], qb, d);
                    let rhs = MatRef::from_column_major_slice(&data[c0 * d..(c0 + db) * d], d, db);
                    let dst = MatMut::from_row_major_slice_mut(&mut tile[..qb * db], qb, db);
                    matmul(dst, Accum::Replace, lhs, rhs, T::from_f64(1.0), Par::Seq);
                    let t = Tile {
                        tile: &tile[..qb * db],
                        nb: &nb[c0..c0 + db],
                        c0,
                        cls,
                        ek: &ek,
                        hkk: &hkk[r0..r0 + qb],
                        b: p.b.filter(|_| bias),
                    };
                    scan_tile(&t, acc);
                    monitor.advance(1);
                }
                Ok(())
            },
        )?;
    Ok(out)
}

/// [`scan`] of every row against every row for a symmetric `H` (`H_kj = data_k . data_j`):
/// only the tiles on and above the block diagonal, each scanned along its rows (the classes of
/// its row block) and, transposed, along its columns. Per task a running maximum over all
/// classes, merged by maxima (exact in any order, so deterministic whatever the threads).
fn scan_symmetric<T: Real>(
    p: &Problem<'_, T>,
    data: &[T],
    nb: &[T],
    hkk: &[f64],
    qnorm: &[f64],
    monitor: &Monitor,
) -> Result<Vec<(f64, f64)>> {
    let (v, d) = (p.v(), p.d());
    let b = p.b.filter(|_| p.has_bias());
    let gamma = 2.0 * (d as f64 + 4.0) * T::UNIT_ROUNDOFF;
    let ek: Vec<T> = qnorm
        .iter()
        .map(|&q| T::from_f64(gamma * q * (1.0 + 1e-6)))
        .collect();
    let all: Vec<usize> = (0..v).collect();
    let blocks: Vec<usize> = (0..v).step_by(QUERY_BLOCK).collect();
    let empty = || vec![(f64::NEG_INFINITY, f64::NEG_INFINITY); v];
    let merge = |mut a: Vec<(f64, f64)>, b: Vec<(f64, f64)>| {
        for (x, y) in a.iter_mut().zip(b) {
            x.0 = x.0.max(y.0);
            x.1 = x.1.max(y.1);
        }
        a
    };
    blocks
        .par_iter()
        .try_fold(
            || {
                (
                    empty(),
                    vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(v)],
                    vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(v)],
                )
            },
            |(mut acc, mut tile, mut tr), &r0| -> Result<_> {
                let qb = QUERY_BLOCK.min(v - r0);
                let lhs = MatRef::from_row_major_slice(&data[r0 * d..(r0 + qb) * d], qb, d);
                for c0 in (r0..v).step_by(DATA_BLOCK) {
                    monitor.check()?;
                    let db = DATA_BLOCK.min(v - c0);
                    let rhs = MatRef::from_column_major_slice(&data[c0 * d..(c0 + db) * d], d, db);
                    let dst = MatMut::from_row_major_slice_mut(&mut tile[..qb * db], qb, db);
                    matmul(dst, Accum::Replace, lhs, rhs, T::from_f64(1.0), Par::Seq);
                    // Along the rows: classes r0.., data rows c0...
                    let rows = Tile {
                        tile: &tile[..qb * db],
                        nb: &nb[c0..c0 + db],
                        c0,
                        cls: &all[r0..r0 + qb],
                        ek: &ek[r0..r0 + qb],
                        hkk: &hkk[r0..r0 + qb],
                        b,
                    };
                    scan_tile(&rows, &mut acc[r0..r0 + qb]);
                    // Along the columns: classes c0.., data rows r0...
                    for (r, row) in tile[..qb * db].chunks_exact(db).enumerate() {
                        for (jj, &g) in row.iter().enumerate() {
                            tr[jj * qb + r] = g;
                        }
                    }
                    let cols = Tile {
                        tile: &tr[..qb * db],
                        nb: &nb[r0..r0 + qb],
                        c0: r0,
                        cls: &all[c0..c0 + db],
                        ek: &ek[c0..c0 + db],
                        hkk: &hkk[c0..c0 + db],
                        b,
                    };
                    scan_tile(&cols, &mut acc[c0..c0 + db]);
                    monitor.advance(1);
                }
                Ok((acc, tile, tr))
            },
        )
        .map(|r| r.map(|(acc, _, _)| acc))
        .try_reduce(empty, |a, b| Ok(merge(a, b)))
}

/// One tile of the screen: `tile[r][jj] = H_{cls[r], c0 + jj}` with the data rows' norms `nb`,
/// the classes' key errors `ek` and lower bounds `hkk` of `H_kk`, and the bias when it matters.
struct Tile<'a, T> {
    tile: &'a [T],
    nb: &'a [T],
    c0: usize,
    cls: &'a [usize],
    ek: &'a [T],
    hkk: &'a [f64],
    b: Option<&'a [f64]>,
}

crate::widest! {
    /// [`scan_tile_generic`] compiled for the widest vector unit the CPU has (maxima are exact,
    /// so every path gives the same bits).
    fn scan_tile<T: Real>(t: &Tile<'_, T>, acc: &mut [(f64, f64)]) -> ();
    generic scan_tile_generic, avx512 scan_tile_avx512, avx2 scan_tile_avx2
}

/// Scan one tile into the per-class accumulators: the largest certified upper bound
/// `H_kj + e_k n_j` of the row, its own column excluded, and with a bias the largest
/// `(b_j - b_k) / (H_kk - H_kj)` over rows with `b_j > b_k` (lanes of eight, so the loops
/// vectorise; a maximum is exact in any order).
#[inline(always)]
fn scan_tile_generic<T: Real>(t: &Tile<'_, T>, acc: &mut [(f64, f64)]) {
    let Tile {
        tile,
        nb,
        c0,
        cls,
        ek,
        hkk,
        b,
    } = *t;
    const L: usize = 8;
    let db = nb.len();
    for (r, &k) in cls.iter().enumerate() {
        let g = &tile[r * db..(r + 1) * db];
        let e = ek[r];
        let (gmax, ratio) = &mut acc[r];
        // Largest certified upper bound of H_kj, the diagonal excluded.
        let max_key = |g: &[T], nb: &[T], start: T| -> T {
            let mut lanes = [start; L];
            let (cg, cn) = (g.chunks_exact(L), nb.chunks_exact(L));
            let mut m = start;
            for (&gj, &nj) in cg.remainder().iter().zip(cn.remainder()) {
                let key = gj + e * nj;
                m = if key > m { key } else { m };
            }
            for (pg, pn) in cg.zip(cn) {
                for i in 0..L {
                    let key = pg[i] + e * pn[i];
                    lanes[i] = if key > lanes[i] { key } else { lanes[i] };
                }
            }
            lanes.iter().fold(m, |a, &v| if v > a { v } else { a })
        };
        let m = T::from_f64(*gmax);
        let m = match k.checked_sub(c0).filter(|&kk| kk < db) {
            Some(kk) => {
                let m = max_key(&g[..kk], &nb[..kk], m);
                max_key(&g[kk + 1..], &nb[kk + 1..], m)
            }
            None => max_key(g, nb, m),
        };
        *gmax = m.to_f64();
        if let Some(b) = b {
            // Rows with b_j <= b_k, among them k itself, contribute -inf.
            let (bk, h) = (b[k], hkk[r]);
            let b = &b[c0..c0 + db];
            let term = |gj: T, nj: T, bj: f64| -> f64 {
                let (diff, den) = (bj - bk, h - (gj + e * nj).to_f64());
                let q = if den > 0.0 { diff / den } else { f64::INFINITY };
                if diff > 0.0 {
                    q
                } else {
                    f64::NEG_INFINITY
                }
            };
            let mut lanes = [*ratio; L];
            let (cg, cn, cb) = (g.chunks_exact(L), nb.chunks_exact(L), b.chunks_exact(L));
            let mut best = *ratio;
            for ((&gj, &nj), &bj) in cg
                .remainder()
                .iter()
                .zip(cn.remainder())
                .zip(cb.remainder())
            {
                let v = term(gj, nj, bj);
                best = if v > best { v } else { best };
            }
            for ((pg, pn), pb) in cg.zip(cn).zip(cb) {
                for i in 0..L {
                    let v = term(pg[i], pn[i], pb[i]);
                    lanes[i] = if v > lanes[i] { v } else { lanes[i] };
                }
            }
            *ratio = lanes.iter().fold(best, |a, &v| if v > a { v } else { a });
        }
    }
}

/// Choose `alpha` from the scan's two numbers and bound the margin of `alpha x_k` from below;
/// `hkk` is a lower bound of `w_k . x_k`, `qnorm` and `qinf` bound `||x_k||_2` and
/// `||x_k||_inf` (for `x_k = w_k`: `||w_k||`).
#[allow(clippy::too_many_arguments)]
fn outcome<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    hkk: f64,
    qnorm: f64,
    qinf: f64,
    (gmax, ratio): (f64, f64),
    nmax: f64,
    bmax: f64,
) -> ScreenOutcome {
    let d = p.d() as f64;
    let nk = p.norms[k];
    // Largest alpha the box allows.
    let alpha_max = match p.bounds {
        Some(r) if qinf > 0.0 => {
            // Shrunk by a few ulps so that alpha * |x_ki| <= R survives rounding.
            r / qinf * (1.0 - 4.0 * U64)
        }
        _ => f64::INFINITY,
    };
    let needed = ratio.max(0.0);
    let mut alpha = if needed < 0.5 { 1.0 } else { 2.0 * needed };
    alpha = alpha.min(alpha_max);
    let start_alpha = if alpha > 0.0 && alpha.is_finite() {
        alpha
    } else {
        1.0
    };
    let a_min = hkk - gmax;
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
    // sum_i |w_ji x_i| <= alpha ||x_k|| ||w_j|| (Cauchy-Schwarz).
    let allowance = 4.0 * 2.0 * (d + 2.0) * U64 * (alpha * qnorm * (nk + nmax) + 2.0 * bmax);
    ScreenOutcome {
        witness: (lb > allowance).then_some((alpha, lb)),
        start_alpha,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::test_util::{lcg, winning_margin, SQUARE_AND_CENTRE as SQ};
    use crate::unargmax::DEFAULT_TOL;

    fn problem<'a>(
        w: &'a [f64],
        d: usize,
        b: Option<&'a [f64]>,
        bounds: Option<f64>,
    ) -> Problem<'a, f64> {
        Problem::new(
            Matrix::new(w, w.len() / d, d).unwrap(),
            b,
            bounds,
            DEFAULT_TOL,
        )
    }

    /// Every screen witness `alpha w_k` wins, by at least the claimed lower bound (checked
    /// independently); returns which classes got one.
    fn check_screen(w: &[f64], d: usize, b: Option<&[f64]>, bounds: Option<f64>) -> Vec<bool> {
        let p = problem(w, d, b, bounds);
        let classes: Vec<usize> = (0..p.v()).collect();
        let out = screen(&p, &classes, &Monitor::new()).unwrap();
        out.iter()
            .enumerate()
            .map(|(k, o)| {
                assert!(o.start_alpha > 0.0 && o.start_alpha.is_finite());
                let Some((alpha, lb)) = o.witness else {
                    return false;
                };
                let x: Vec<f64> = w[k * d..(k + 1) * d].iter().map(|v| alpha * v).collect();
                let m = winning_margin(w, d, b, k, &x);
                assert!(
                    lb > 0.0 && m >= lb,
                    "class {k}: margin {m} below the bound {lb}"
                );
                if let Some(r) = bounds {
                    assert!(x.iter().all(|v| v.abs() <= r));
                }
                true
            })
            .collect()
    }

    #[test]
    fn square_corners_pass_and_the_centre_does_not() {
        assert_eq!(
            check_screen(&SQ, 2, None, None),
            [true, true, true, true, false]
        );
        // Biases the direction w_k must overcome: alpha grows past (b_j - b_k) / (G_kk - G_kj).
        let b = [-3.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(
            check_screen(&SQ, 2, Some(&b), None),
            [true, true, true, true, false]
        );
        // A box too small for that alpha: corner 0 is left to the later stages.
        assert!(!check_screen(&SQ, 2, Some(&b), Some(0.5))[0]);
        assert_eq!(n_tiles(5, 5), 1);
        assert_eq!(n_tiles(257, 2049), 4);
        assert_eq!(n_tiles_whitened(0, 10), 0);
    }

    #[test]
    fn duplicates_two_classes_and_one_dimension() {
        // Copies can never be separated; the third row passes.
        let w = [1.0, 0.5, 1.0, 0.5, -1.0, 0.0];
        assert_eq!(check_screen(&w, 2, None, None), [false, false, true]);
        // V = 2 with rows of different norms: w_0 . w_0 = 1 < w_0 . w_1 = 2, so alpha w_0 fails
        // for row 0 although it is argmaxable; row 1 passes.
        let w = [1.0, 0.0, 2.0, 0.0];
        assert_eq!(check_screen(&w, 2, None, None), [false, true]);
        // d = 1: only the row of largest norm on each side can pass.
        let w = [1.0, 2.0, -1.0, -0.5];
        assert_eq!(check_screen(&w, 1, None, None), [false, true, true, false]);
    }

    #[test]
    fn whitened_witnesses_win_and_never_for_interior_rows() {
        // Gaussian-like rows of unequal scales plus convex mixtures (unargmaxable).
        let (v, d) = (80, 5);
        let mut w: Vec<f64> = lcg(31, v * d)
            .iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + (i % d) as f64))
            .collect();
        for m in 0..6 {
            let row: Vec<f64> = (0..d)
                .map(|i| 0.5 * (w[m * d + i] + w[(m + 40) * d + i]))
                .collect();
            w.extend(row);
        }
        let b: Vec<f64> = lcg(32, v + 6).iter().map(|x| 0.1 * x).collect();
        for bias in [None, Some(b.as_slice())] {
            let passed = check_screen(&w, d, bias, None);
            let p = problem(&w, d, bias, None);
            let open: Vec<usize> = (0..v + 6).filter(|&k| !passed[k]).collect();
            let found = whitened(&p, &open, &Monitor::new()).unwrap().0;
            assert_eq!(found.len(), open.len());
            for (&k, f) in open.iter().zip(&found) {
                if let Some((x, lb)) = f {
                    let m = winning_margin(&w, d, bias, k, x);
                    assert!(*lb > 0.0 && m >= *lb, "class {k}: margin {m} below {lb}");
                }
            }
            if bias.is_none() {
                // The midpoints are unargmaxable: neither pass may claim them.
                assert!((v..v + 6).all(|k| !passed[k]));
                assert!(open.iter().zip(&found).all(|(&k, f)| k < v || f.is_none()));
            }
        }
        assert!(whitened(&problem(&SQ, 2, None, None), &[], &Monitor::new())
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn plain_screen_of_every_class_uses_the_symmetric_scan_and_agrees() {
        let (v, d) = (2300, 6);
        let w: Vec<f64> = lcg(43, v * d)
            .iter()
            .enumerate()
            .map(|(i, x)| x * (1.0 + (i % d) as f64))
            .collect();
        let b: Vec<f64> = lcg(44, v).iter().map(|x| 0.05 * x).collect();
        assert_eq!(n_tiles(v, v), 2 + 8);
        for bias in [None, Some(b.as_slice())] {
            let p = problem(&w, d, bias, None);
            let all: Vec<usize> = (0..v).collect();
            let full = screen(&p, &all, &Monitor::new()).unwrap();
            let key = |o: &ScreenOutcome| (o.witness, o.start_alpha.to_bits());
            for (lo, hi) in [(0, 256), (256, 768), (2048, v)] {
                let range: Vec<usize> = (lo..hi).collect();
                let part = screen(&p, &range, &Monitor::new()).unwrap();
                assert!(part
                    .iter()
                    .zip(&full[lo..hi])
                    .all(|(a, b)| key(a) == key(b)));
            }
            let rev: Vec<usize> = (0..v).rev().collect();
            let back = screen(&p, &rev, &Monitor::new()).unwrap();
            assert!((0..v).all(|k| key(&back[v - 1 - k]) == key(&full[k])));
            // Every witness wins by its bound (as in `check_screen`, which also runs this path).
            assert!(check_screen(&w, d, bias, None).iter().any(|&x| x));
        }
    }

    #[test]
    fn whitened_screen_of_every_class_uses_the_symmetric_scan_and_agrees() {
        // V = 2300 spans 9 query blocks and two data blocks; rows with a common offset and
        // unequal scales, plus interior mixtures.
        let (v, d) = (2300, 6);
        let mut w: Vec<f64> = lcg(41, v * d)
            .iter()
            .enumerate()
            .map(|(i, x)| 3.0 + x * (1.0 + (i % d) as f64))
            .collect();
        for m in 0..5 {
            for i in 0..d {
                w[m * d + i] = 0.5 * (w[(m + 100) * d + i] + w[(m + 300) * d + i]);
            }
        }
        let b: Vec<f64> = lcg(42, v).iter().map(|x| 0.05 * x).collect();
        // The query block at 0 sees two data blocks (from 0 and 2048), the eight others one.
        assert_eq!(n_tiles_whitened(v, v), 2 + 8);
        for bias in [None, Some(b.as_slice())] {
            let p = problem(&w, d, bias, None);
            let all: Vec<usize> = (0..v).collect();
            let full = whitened(&p, &all, &Monitor::new()).unwrap().0;
            // The same answers for the classes in another order, and for ranges of whole query
            // blocks (the scan over all rows, not the symmetric one: `scale.unargmaxable`'s
            // ranges); single classes go through matrix-vector products, whose rounding
            // differs in the last bits.
            let rev: Vec<usize> = (0..v).rev().collect();
            let back = whitened(&p, &rev, &Monitor::new()).unwrap().0;
            for (lo, hi) in [(0, 256), (256, 768), (2048, v)] {
                let range: Vec<usize> = (lo..hi).collect();
                let part = whitened(&p, &range, &Monitor::new()).unwrap().0;
                assert_eq!(part, full[lo..hi], "classes {lo}..{hi}");
            }
            let one = whitened(&p, &[444], &Monitor::new()).unwrap().0;
            let (x, lb) = one[0]
                .as_ref()
                .zip(full[444].as_ref())
                .map(|(a, b)| {
                    let dx =
                        a.0.iter()
                            .zip(&b.0)
                            .all(|(p, q)| (p - q).abs() <= 1e-12 * q.abs());
                    (dx, (a.1 - b.1).abs() <= 1e-12 * b.1)
                })
                .unwrap();
            assert!(x && lb);
            let mut passed = 0;
            for k in 0..v {
                assert_eq!(back[v - 1 - k], full[k], "class {k}");
                if let Some((x, lb)) = &full[k] {
                    let m = winning_margin(&w, d, bias, k, x);
                    assert!(*lb > 0.0 && m >= *lb, "class {k}: margin {m} below {lb}");
                    passed += 1;
                }
            }
            // In d = 6 most of the 2300 rows are interior; the hull's vertices pass.
            assert!(passed >= 100, "{passed} passed");
            if bias.is_none() {
                assert!((0..5).all(|k| full[k].is_none()));
            }
        }
    }
}
