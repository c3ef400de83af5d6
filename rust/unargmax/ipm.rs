//! A dense primal-dual interior-point method (Mehrotra predictor-corrector) for the working-set
//! LP of [`super::lp`]: few variables (`d + 2`), many dense rows, plus a box on `x` (and `s`).
//!
//! Each Newton step solves the normal equations `G^T D G dy = r`, formed by one GEMM over the
//! dense rows (`m n^2` flops) and one dense Cholesky (`n^3 / 3`), instead of a sparse LDL^T of
//! the whole KKT matrix, whose dense rows factor one at a time. `None` when it does not
//! converge; the caller then falls back to clarabel, and every answer is checked in f64 anyway.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::lp::{LpSolution, Row};

const MAX_ITER: usize = 80;
const TOL: f64 = 1e-10;
/// Largest dual residual of an iterate returned after the iteration stalled.
const ACCEPT_DUAL: f64 = 1e-8;
/// Fraction of the way to the boundary a step may go.
const STEP: f64 = 0.995;

/// The LP: `y = (x, [s], t)`; minimise `-t` subject to, per row, `a.x + [c s] - t >= -[c]`
/// (`c` on the left when `homog`, on the right otherwise), `|x_i| <= 1` and `0 <= s <= 1`.
struct Lp {
    /// Dense constraint rows `g_r . y <= h_r`, column-major `m x n`.
    g: Mat<f64>,
    h: Vec<f64>,
    /// Bound rows `sign * y_var <= h`.
    bounds: Vec<(usize, f64, f64)>,
    n: usize,
}

impl Lp {
    fn new(rows: &[Row], d: usize, homog: bool) -> Self {
        let m = rows.len();
        let n = d + homog as usize + 1;
        let mut g = Mat::<f64>::zeros(m, n);
        for (r, row) in rows.iter().enumerate() {
            for i in 0..d {
                g[(r, i)] = -row.a[i];
            }
            if homog {
                g[(r, d)] = -row.c;
            }
            g[(r, n - 1)] = 1.0;
        }
        let h = rows.iter().map(|r| if homog { 0.0 } else { r.c }).collect();
        let mut bounds: Vec<(usize, f64, f64)> = (0..d)
            .flat_map(|i| [(i, 1.0, 1.0), (i, -1.0, 1.0)])
            .collect();
        if homog {
            bounds.extend([(d, 1.0, 1.0), (d, -1.0, 0.0)]);
        }
        Lp { g, h, bounds, n }
    }

    fn m(&self) -> usize {
        self.h.len()
    }

    /// `G y` (dense rows, then bound rows).
    fn apply(&self, y: &[f64]) -> Vec<f64> {
        let m = self.m();
        let mut out = vec![0.0; m];
        matmul(
            MatMut::from_column_major_slice_mut(&mut out, m, 1),
            Accum::Replace,
            self.g.as_ref(),
            MatRef::from_column_major_slice(y, self.n, 1),
            1.0,
            Par::Seq,
        );
        out.extend(self.bounds.iter().map(|&(v, s, _)| s * y[v]));
        out
    }

    /// `G^T u` for `u` over all rows.
    fn apply_t(&self, u: &[f64]) -> Vec<f64> {
        let m = self.m();
        let mut out = vec![0.0; self.n];
        matmul(
            MatMut::from_column_major_slice_mut(&mut out, self.n, 1),
            Accum::Replace,
            self.g.transpose(),
            MatRef::from_column_major_slice(&u[..m], m, 1),
            1.0,
            Par::Seq,
        );
        for (&(v, s, _), &ub) in self.bounds.iter().zip(&u[m..]) {
            out[v] += s * ub;
        }
        out
    }

    fn rhs(&self) -> impl Iterator<Item = f64> + '_ {
        self.h
            .iter()
            .copied()
            .chain(self.bounds.iter().map(|b| b.2))
    }
}

/// The Cholesky factor of `G^T D G` (lower) into `nm`, with a tiny ridge for safety; `scaled`
/// and `nm` are reused across iterations (large fresh allocations cost page faults).
fn normal_matrix(lp: &Lp, dw: &[f64], scaled: &mut Mat<f64>, nm: &mut Mat<f64>) -> Option<()> {
    let (m, n) = (lp.m(), lp.n);
    for j in 0..n {
        let src = lp.g.col_as_slice(j);
        for ((o, &gv), &w) in scaled.col_as_slice_mut(j).iter_mut().zip(src).zip(dw) {
            *o = gv * w.sqrt();
        }
    }
    // Only the lower triangle (the Cholesky reads no more): half the flops of a full product.
    triangular::matmul(
        nm.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        scaled.transpose(),
        BlockStructure::Rectangular,
        scaled.as_ref(),
        BlockStructure::Rectangular,
        1.0,
        Par::Seq,
    );
    for (&(v, _, _), &w) in lp.bounds.iter().zip(&dw[m..]) {
        nm[(v, v)] += w;
    }
    let trace: f64 = (0..n).map(|i| nm[(i, i)]).sum();
    let ridge = 1e-14 * trace / n as f64;
    (0..n).for_each(|i| nm[(i, i)] += ridge);
    cholesky(nm)
}

/// In-place Cholesky factor (lower) of a symmetric positive definite matrix, on this thread.
pub(super) fn cholesky(a: &mut Mat<f64>) -> Option<()> {
    let n = a.nrows();
    let mut mem = MemBuffer::new(llt::factor::cholesky_in_place_scratch::<f64>(
        n,
        Par::Seq,
        Default::default(),
    ));
    llt::factor::cholesky_in_place(
        a.as_mut(),
        Default::default(),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .ok()
    .map(|_| ())
}

/// Solve `L L^T x = b` in place with the factor from [`cholesky`].
pub(super) fn solve_chol(l: &Mat<f64>, b: &mut [f64]) {
    let n = b.len();
    solve_chol_many(l, faer::MatMut::from_column_major_slice_mut(b, n, 1));
}

/// [`solve_chol`] for every column of `b`.
pub(super) fn solve_chol_many(l: &Mat<f64>, mut b: faer::MatMut<'_, f64>) {
    let (n, k) = (b.nrows(), b.ncols());
    let mut mem = MemBuffer::new(llt::solve::solve_in_place_scratch::<f64>(n, k, Par::Seq));
    llt::solve::solve_in_place(l.as_ref(), b.as_mut(), Par::Seq, MemStack::new(&mut mem));
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Largest step in (0, 1] keeping `v + a dv >= 0`.
fn max_step(v: &[f64], dv: &[f64]) -> f64 {
    v.iter()
        .zip(dv)
        .filter(|(_, &d)| d < 0.0)
        .fold(1.0f64, |a, (&x, &d)| a.min(-x / d))
}

/// Solve the working-set LP; `None` when the iteration does not converge.
///
/// With `early = Some(t_min)` the iteration also stops at the first iterate whose own point
/// `(x, s)` lies in the box and whose value on the working set (its `t` less the largest row
/// excess, returned as `t`) exceeds both `t_min` and the complementarity gap: a candidate
/// witness that proves `t* > 0` on the working set, typically after 4-6 Newton steps instead
/// of 12-20 (any point is a valid candidate: the witness is checked against all rows; on the
/// tests' LPs it is within a factor 2 of the optimum). `mu` of such an answer is not converged
/// (no certificate can exist when `t* > 0`).
pub(super) fn solve(rows: &[Row], d: usize, homog: bool, early: Option<f64>) -> Option<LpSolution> {
    let lp = Lp::new(rows, d, homog);
    let (m, n) = (lp.m(), lp.n);
    let total = m + lp.bounds.len();
    let h: Vec<f64> = lp.rhs().collect();
    let mut q = vec![0.0; n];
    q[n - 1] = -1.0;
    // Start: y = 0 with s = 1/2, slacks at least 1, multipliers 1.
    let mut y = vec![0.0; n];
    if homog {
        y[d] = 0.5;
    }
    let gy = lp.apply(&y);
    let mut z: Vec<f64> = h.iter().zip(&gy).map(|(h, g)| (h - g).max(1.0)).collect();
    let mut lam = vec![1.0; total];
    let (mut scaled, mut chol) = (Mat::<f64>::zeros(m, n), Mat::<f64>::zeros(n, n));
    let hnorm = h.iter().fold(1.0f64, |a, v| a.max(v.abs()));
    let mut best: Option<(f64, LpSolution)> = None;
    for _ in 0..MAX_ITER {
        // Residuals: dual q + G^T lam, primal G y + z - h.
        let rd: Vec<f64> = q.iter().zip(lp.apply_t(&lam)).map(|(a, b)| a + b).collect();
        let gy = lp.apply(&y);
        let rp: Vec<f64> = gy
            .iter()
            .zip(&z)
            .zip(&h)
            .map(|((g, z), h)| g + z - h)
            .collect();
        let gap = dot(&z, &lam);
        let pobj = dot(&q, &y);
        let inf = |v: &[f64]| v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
        if !gap.is_finite() {
            break;
        }
        // Converged in the primal and the gap: done when the dual residual is small too, else
        // kept as the best so far (the dual residual can stall at the rounding level of the
        // ill-conditioned late steps; the multipliers are polished and checked downstream).
        let dual = inf(&rd);
        let sol = || LpSolution {
            x: y[..d].to_vec(),
            s: if homog { y[d] } else { 0.0 },
            t: y[n - 1],
            mu: lam[..m].to_vec(),
            converged: true,
        };
        let feasible = inf(&rp) <= TOL * hnorm;
        if let Some(t_min) = early {
            // The iterate's own point (x, s) is a candidate as soon as it lies in the box:
            // its value on the working set is t minus the largest row excess.
            let in_box = gy[m..].iter().zip(&h[m..]).all(|(g, h)| g <= h);
            let t = y[n - 1] + (0..m).map(|r| h[r] - gy[r]).fold(f64::INFINITY, f64::min);
            if in_box && t > t_min && gap <= t {
                return Some(LpSolution {
                    t,
                    converged: false,
                    ..sol()
                });
            }
        }
        if feasible && gap <= TOL * (1.0 + pobj.abs()) {
            if dual <= TOL {
                return Some(sol());
            }
            if best.as_ref().is_none_or(|b| dual < b.0) {
                best = Some((dual, sol()));
            } else if dual > 1e3 * best.as_ref().map_or(f64::INFINITY, |b| b.0) {
                break; // drifting away from the best iterate
            }
        }
        let dw: Vec<f64> = lam.iter().zip(&z).map(|(l, z)| l / z).collect();
        if normal_matrix(&lp, &dw, &mut scaled, &mut chol).is_none() {
            break;
        }
        // One Newton direction for the complementarity target `rc` (z o lam - target).
        let direction = |rc: &[f64]| -> (Vec<f64>, Vec<f64>, Vec<f64>) {
            let u: Vec<f64> = (0..total).map(|i| dw[i] * rp[i] - rc[i] / z[i]).collect();
            let mut dy: Vec<f64> = rd.iter().zip(lp.apply_t(&u)).map(|(a, b)| -a - b).collect();
            solve_chol(&chol, &mut dy);
            let gdy = lp.apply(&dy);
            let dl: Vec<f64> = (0..total)
                .map(|i| dw[i] * (gdy[i] + rp[i]) - rc[i] / z[i])
                .collect();
            let dz: Vec<f64> = (0..total)
                .map(|i| -(rc[i] + z[i] * dl[i]) / lam[i])
                .collect();
            (dy, dz, dl)
        };
        let mu = gap / total as f64;
        let rc: Vec<f64> = z.iter().zip(&lam).map(|(a, b)| a * b).collect();
        let (_, dz_a, dl_a) = direction(&rc);
        let (ap, ad) = (max_step(&z, &dz_a), max_step(&lam, &dl_a));
        let mu_aff = (0..total)
            .map(|i| (z[i] + ap * dz_a[i]) * (lam[i] + ad * dl_a[i]))
            .sum::<f64>()
            / total as f64;
        let sigma = (mu_aff / mu).clamp(0.0, 1.0).powi(3);
        let rc: Vec<f64> = (0..total)
            .map(|i| z[i] * lam[i] + dz_a[i] * dl_a[i] - sigma * mu)
            .collect();
        let (dy, dz, dl) = direction(&rc);
        let ap = (STEP * max_step(&z, &dz)).min(1.0);
        let ad = (STEP * max_step(&lam, &dl)).min(1.0);
        y.iter_mut().zip(&dy).for_each(|(v, d)| *v += ap * d);
        z.iter_mut().zip(&dz).for_each(|(v, d)| *v += ap * d);
        lam.iter_mut().zip(&dl).for_each(|(v, d)| *v += ad * d);
    }
    best.filter(|b| b.0 <= ACCEPT_DUAL).map(|b| b.1)
}
