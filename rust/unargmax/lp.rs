//! Stage 3: the exact test by linear programming with constraint generation (clarabel).
//!
//! With `a_j = w_k - w_j` and `c_j = b_k - b_j`, class `k` is argmaxable iff some `(x, s >= 0)`
//! has `a_j.x + s c_j > 0` for every `j != k` (box-free, homogeneous), or some `x` in
//! `[-R, R]^d` has `a_j.x + c_j > 0` (box). On a working set `J` of rows we solve
//!
//! ```text
//! maximise t  subject to  (a_j.x + s c_j) / n_j >= t  (j in J),  |x_i| <= 1,  0 <= s <= 1
//! ```
//!
//! (box: `(R a_j.y + c_j) / n_j >= t`, `|y_i| <= 1`, `x = R y`), with `n_j` the norm of the row,
//! always feasible and bounded. `t* > 0` gives a candidate witness `x / (s + t*/2)` (or `R y`),
//! checked against all V rows with one pass; rows it violates join `J`, most violated first,
//! topped up to `d / 2` rows a round with the nearly violated ones (with violated rows only, a
//! class argmaxable by a hair took 17 rounds adding 2-12 rows each while the optimum barely
//! moved; 8 rounds with them at 50,257 x 768). A round needs the exact optimum only when no
//! witness exists: the interior-point method stops at the first iterate in the box whose
//! value on the working set is positive and above its complementarity gap (4-6 Newton steps
//! instead of 17-20), and no certificate is attempted while `t > 0` (none can exist).
//! The LP's dual multipliers `mu` (clarabel's `z`: `sum_J mu_j = 1` from the `t` column) give
//! `lambda_j ~ mu_j / n_j`; normalised, they certify unargmaxability when the f64 check of
//! `sum lambda_j w_j - w_k` and `sum lambda_j b_j - b_k` passes. A certificate from a working set
//! is a global one. Anything the checks do not confirm is undecided.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus,
};

use super::caratheodory;
use super::check::{Problem, WitnessEval};
use super::ipm;
use crate::real::Real;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};

/// Most rounds of constraint generation before giving up (undecided).
const MAX_ROUNDS: usize = 60;
/// Smallest `t` (rows scaled to unit norm) that ends a working-set LP early with a candidate
/// witness, and above which no certificate is attempted: far above every tolerance.
const T_EARLY: f64 = 1e-6;

/// The LP stage's outcome for one class.
pub(crate) enum LpOutcome {
    Witness(Vec<f64>, WitnessEval),
    Certificate(Vec<usize>, Vec<f64>),
    Undecided,
}

/// One row of the working set, scaled.
pub(super) struct Row {
    j: usize,
    /// `a_j / n_j` (box: `R a_j / n_j`).
    pub(super) a: Vec<f64>,
    /// `c_j / n_j`.
    pub(super) c: f64,
    n: f64,
}

/// Decide class `k` exactly; `seed` is a point whose most violated rows start the working set.
pub(crate) fn decide<T: Real>(p: &Problem<'_, T>, k: usize, seed: &[f64]) -> LpOutcome {
    let (v, d) = (p.v(), p.d());
    let homog = p.bounds.is_none() && p.has_bias();
    let scale_x = p.bounds.unwrap_or(1.0);
    let make_row = |j: usize| -> Row {
        let (wk, wj) = (p.row(k), p.row(j));
        let mut a: Vec<f64> = (0..d)
            .map(|i| scale_x * (wk[i].to_f64() - wj[i].to_f64()))
            .collect();
        let mut c = p.bias(k) - p.bias(j);
        let with_c = homog || p.bounds.is_some();
        let nn = a.iter().map(|x| x * x).sum::<f64>() + if with_c { c * c } else { 0.0 };
        let n = if nn > 0.0 { nn.sqrt() } else { 1.0 };
        a.iter_mut().for_each(|x| *x /= n);
        c /= n;
        Row { j, a, c, n }
    };
    // Working set seeded by the smallest scaled margins at the seed point.
    // (A search order only: scores in the working precision, |w_k - w_j|^2 from the Gram row.)
    let z = p.scores(seed);
    let wk: Vec<f64> = p.row(k).iter().map(|v| v.to_f64()).collect();
    let gram = p.scores(&wk);
    let gk = gram[k] - p.bias(k);
    let mut order: Vec<(f64, usize)> = (0..v)
        .filter(|&j| j != k)
        .map(|j| {
            let gj = gram[j] - p.bias(j);
            let diff = (gk + p.norms[j].powi(2) - 2.0 * gj).max(0.0).sqrt();
            ((z[k] - z[j]) / diff.max(f64::MIN_POSITIVE), j)
        })
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let k0 = (2 * (d + 1)).max(16).min(v - 1);
    let mut rows: Vec<Row> = order[..k0].iter().map(|&(_, j)| make_row(j)).collect();
    let mut in_set = vec![false; v];
    rows.iter().for_each(|r| in_set[r.j] = true);
    let add_per_round = (d / 2).max(16);

    for _ in 0..MAX_ROUNDS {
        let Some(sol) = solve(&rows, d, homog, Some(T_EARLY)) else {
            return LpOutcome::Undecided;
        };
        let t = sol.t;
        let mut eval = None;
        if t > 0.0 {
            let x: Vec<f64> = if p.bounds.is_some() {
                sol.x.iter().map(|y| scale_x * y.clamp(-1.0, 1.0)).collect()
            } else if homog {
                let s = sol.s.max(0.0) + 0.5 * t;
                sol.x.iter().map(|y| y / s).collect()
            } else {
                sol.x.clone()
            };
            let e = p.eval_witness(k, &x);
            if e.ok {
                return LpOutcome::Witness(x, e);
            }
            eval = Some(e);
        }
        // Certificate from the multipliers of the working-set rows, unless the working set
        // allows t > 0 (then none can pass: sum_J lambda_j (a_j.x + s c_j) >= t).
        if sol.converged && t <= T_EARLY {
            let lam: Vec<(usize, f64)> = rows
                .iter()
                .zip(&sol.mu)
                .filter(|(_, &m)| m > 0.0)
                .map(|(r, &m)| (r.j, m / r.n))
                .collect();
            if let Some(cert) = certificate(p, k, lam) {
                return cert;
            }
        }
        let Some(eval) = eval else {
            return LpOutcome::Undecided;
        };
        if !add_rows(
            p,
            k,
            &eval,
            &mut rows,
            &mut in_set,
            add_per_round,
            &make_row,
        ) {
            return LpOutcome::Undecided;
        }
    }
    LpOutcome::Undecided
}

/// Add to the working set the rows outside it with the smallest scaled slack at the failed
/// witness: the violated ones first, then (up to `count`) the nearly violated ones, which would
/// otherwise join a few per round while the LP's optimal face wanders. False when no row
/// outside the set is violated (nothing to learn).
fn add_rows<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    eval: &WitnessEval,
    rows: &mut Vec<Row>,
    in_set: &mut [bool],
    count: usize,
    make_row: &impl Fn(usize) -> Row,
) -> bool {
    let mut cand: Vec<(f64, usize)> = (0..p.v())
        .filter(|&j| !in_set[j] && j != k)
        .map(|j| (eval.slack[j] / p.norms[j].max(p.norms[k]).max(1e-300), j))
        .collect();
    let n_viol = cand.iter().filter(|c| c.0 <= 0.0).count();
    if n_viol == 0 {
        return false;
    }
    let take = count.min(cand.len());
    cand.select_nth_unstable_by(take - 1, |a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    cand.truncate(take);
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for &(_, j) in &cand {
        in_set[j] = true;
        rows.push(make_row(j));
    }
    true
}

/// Normalise, sort by index, try the pruned support first, then the full one, then polish.
fn certificate<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    mut lam: Vec<(usize, f64)>,
) -> Option<LpOutcome> {
    let total: f64 = lam.iter().map(|l| l.1).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    lam.iter_mut().for_each(|l| l.1 /= total);
    lam.sort_by_key(|l| l.0);
    let top = lam.iter().fold(0.0f64, |a, l| a.max(l.1));
    let attempt = |cut: f64, lam: &[(usize, f64)]| -> Option<LpOutcome> {
        let kept: Vec<(usize, f64)> = lam.iter().copied().filter(|l| l.1 > cut).collect();
        let s: f64 = kept.iter().map(|l| l.1).sum();
        let idx: Vec<usize> = kept.iter().map(|l| l.0).collect();
        let w: Vec<f64> = kept.iter().map(|l| l.1 / s).collect();
        p.check_certificate(k, &idx, &w)
            .then(|| compact(p, k, idx, w))
    };
    for cut in [1e-9 * top, 0.0] {
        if let Some(c) = attempt(cut, &lam) {
            return Some(c);
        }
    }
    // Polish: the interior-point multipliers are accurate to ~1e-10; a few min-norm
    // least-squares corrections on their support drive the residual to rounding level.
    let mut cur: Vec<(usize, f64)> = lam.into_iter().filter(|l| l.1 > 1e-12 * top).collect();
    for _ in 0..4 {
        cur = polish(p, k, &cur)?;
        if let Some(c) = attempt(0.0, &cur) {
            return Some(c);
        }
    }
    None
}

/// Shrink a checked certificate to a Caratheodory support (at most `d + 1` entries) and keep the
/// result when it passes the same check (weights at rounding level dropped, or after up to two
/// polishing corrections: the reduction keeps the residual but can shrink the scale it is
/// measured against), else the input.
fn compact<T: Real>(p: &Problem<'_, T>, k: usize, idx: Vec<usize>, w: Vec<f64>) -> LpOutcome {
    if idx.len() <= p.d() + 2 {
        return LpOutcome::Certificate(idx, w);
    }
    let Some((ri, rw)) = caratheodory::reduce(p, k, &idx, &w) else {
        return LpOutcome::Certificate(idx, w);
    };
    let mut cur: Vec<(usize, f64)> = ri.into_iter().zip(rw).collect();
    for round in 0..3 {
        if round > 0 {
            match polish(p, k, &cur) {
                Some(next) => cur = next,
                None => break,
            }
        }
        // Weights that ended at rounding level (ties in the ratio test) are dropped first.
        let top = cur.iter().fold(0.0f64, |a, l| a.max(l.1));
        for cut in [1e-12 * top, 0.0] {
            let kept: Vec<(usize, f64)> = cur.iter().copied().filter(|l| l.1 > cut).collect();
            let s: f64 = kept.iter().map(|l| l.1).sum();
            let (ci, cw): (Vec<usize>, Vec<f64>) = kept.iter().map(|l| (l.0, l.1 / s)).unzip();
            if !ci.is_empty() && p.check_certificate(k, &ci, &cw) {
                return LpOutcome::Certificate(ci, cw);
            }
        }
    }
    LpOutcome::Certificate(idx, w)
}

/// One correction `lambda += delta` with `delta` the ridge-regularised min-norm solution of
/// `sum_j delta_j (w_j - w_k) = -r`, negative entries dropped, renormalised.
fn polish<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    lam: &[(usize, f64)],
) -> Option<Vec<(usize, f64)>> {
    let d = p.d();
    let m = lam.len();
    if m == 0 {
        return None;
    }
    let wk = p.row(k);
    // D: d x m, column j = w_j - w_k.
    let cols: Vec<Vec<f64>> = lam
        .iter()
        .map(|&(j, _)| {
            let wj = p.row(j);
            (0..d).map(|i| wj[i].to_f64() - wk[i].to_f64()).collect()
        })
        .collect();
    let mut r = vec![0.0; d];
    for (c, &(_, l)) in cols.iter().zip(lam) {
        for i in 0..d {
            r[i] += l * c[i];
        }
    }
    // The Gram products by GEMM.
    let dm = Mat::<f64>::from_fn(d, m, |i, j| cols[j][i]);
    let gram = |a: MatRef<'_, f64>, n: usize| {
        let mut g = Mat::<f64>::zeros(n, n);
        matmul(g.as_mut(), Accum::Replace, a, a.transpose(), 1.0, Par::Seq);
        g
    };
    let delta: Vec<f64> = if m <= d {
        // delta = -(D^T D + eps I)^-1 D^T r
        let mut g = gram(dm.transpose(), m);
        let mut rhs: Vec<f64> = cols
            .iter()
            .map(|c| -c.iter().zip(&r).map(|(x, y)| x * y).sum::<f64>())
            .collect();
        solve_spd(&mut g, &mut rhs)?;
        rhs
    } else {
        // delta = -D^T (D D^T + eps I)^-1 r
        let mut g = gram(dm.as_ref(), d);
        let mut y: Vec<f64> = r.iter().map(|v| -v).collect();
        solve_spd(&mut g, &mut y)?;
        cols.iter()
            .map(|c| c.iter().zip(&y).map(|(x, v)| x * v).sum())
            .collect()
    };
    let mut out: Vec<(usize, f64)> = lam
        .iter()
        .zip(&delta)
        .map(|(&(j, l), &dl)| (j, l + dl))
        .filter(|l| l.1 > 0.0)
        .collect();
    let s: f64 = out.iter().map(|l| l.1).sum();
    if !(s > 0.0 && s.is_finite()) {
        return None;
    }
    out.iter_mut().for_each(|l| l.1 /= s);
    Some(out)
}

/// Solve `(G + eps I) x = b` in place for a symmetric positive semi-definite `G` (Cholesky with a
/// small ridge so rank-deficient systems give a least-squares-like answer).
fn solve_spd(g: &mut Mat<f64>, b: &mut [f64]) -> Option<()> {
    let n = b.len();
    let trace: f64 = (0..n).map(|i| g[(i, i)]).sum();
    let eps = 1e-13 * trace / n as f64 + f64::MIN_POSITIVE;
    (0..n).for_each(|i| g[(i, i)] += eps);
    if !(0..n).all(|i| g[(i, i)] > 0.0) {
        return None;
    }
    ipm::cholesky(g)?;
    ipm::solve_chol(g, b);
    b.iter().all(|v| v.is_finite()).then_some(())
}

pub(super) struct LpSolution {
    pub(super) x: Vec<f64>,
    pub(super) s: f64,
    pub(super) t: f64,
    /// Multipliers of the working-set rows.
    pub(super) mu: Vec<f64>,
    /// False for an early answer of [`ipm::solve`] (a feasible point with `t > 0`, `mu` rough).
    pub(super) converged: bool,
}

/// Solve the working-set LP: the dense interior-point method, clarabel when it fails; `None`
/// when neither reports a solution.
fn solve(rows: &[Row], d: usize, homog: bool, early: Option<f64>) -> Option<LpSolution> {
    ipm::solve(rows, d, homog, early).or_else(|| solve_clarabel(rows, d, homog))
}

/// Solve the working-set LP with clarabel.
fn solve_clarabel(rows: &[Row], d: usize, homog: bool) -> Option<LpSolution> {
    let m_j = rows.len();
    let n = d + homog as usize + 1;
    let n_box = 2 * (d + homog as usize);
    let m = m_j + n_box;
    // Columns: x_0..x_{d-1}, [s], t.  Rows: working set, then the box of each x_i (and s).
    let mut colptr = Vec::with_capacity(n + 1);
    let mut rowval = Vec::new();
    let mut nzval = Vec::new();
    colptr.push(0);
    let push_box = |rowval: &mut Vec<usize>, nzval: &mut Vec<f64>, col: usize| {
        rowval.extend([m_j + 2 * col, m_j + 2 * col + 1]);
        nzval.extend([1.0, -1.0]);
    };
    for i in 0..d {
        for (r, row) in rows.iter().enumerate() {
            if row.a[i] != 0.0 {
                rowval.push(r);
                nzval.push(-row.a[i]);
            }
        }
        push_box(&mut rowval, &mut nzval, i);
        colptr.push(rowval.len());
    }
    if homog {
        for (r, row) in rows.iter().enumerate() {
            if row.c != 0.0 {
                rowval.push(r);
                nzval.push(-row.c);
            }
        }
        push_box(&mut rowval, &mut nzval, d);
        colptr.push(rowval.len());
    }
    for r in 0..m_j {
        rowval.push(r);
        nzval.push(1.0);
    }
    colptr.push(rowval.len());
    let a = CscMatrix::new(m, n, colptr, rowval, nzval);
    let mut b: Vec<f64> = rows.iter().map(|r| if homog { 0.0 } else { r.c }).collect();
    b.extend(std::iter::repeat_n(1.0, 2 * d));
    if homog {
        b.extend([1.0, 0.0]);
    }
    let mut q = vec![0.0; n];
    q[n - 1] = -1.0;
    let pm = CscMatrix::zeros((n, n));
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(200)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .tol_ktratio(1e-8)
        // Supernodal LDL^T (dense kernels); the working-set rows are dense.
        .direct_solve_method("faer".into())
        .max_threads(1)
        .build()
        .ok()?;
    let cones = [NonnegativeConeT(m)];
    let mut solver = DefaultSolver::new(&pm, &q, &a, &b, &cones, settings).ok()?;
    solver.solve();
    let sol = &solver.solution;
    if !matches!(
        sol.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    ) {
        return None;
    }
    if sol.x.iter().chain(&sol.z).any(|v| !v.is_finite()) {
        return None;
    }
    Some(LpSolution {
        x: sol.x[..d].to_vec(),
        s: if homog { sol.x[d] } else { 0.0 },
        t: sol.x[n - 1],
        mu: sol.z[..m_j].to_vec(),
        converged: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::test_util::{certificate_residuals, lcg, winning_margin, SQUARE_AND_CENTRE as SQ};
    use crate::unargmax::DEFAULT_TOL;

    fn run(w: &[f64], d: usize, b: Option<&[f64]>, bounds: Option<f64>, k: usize) -> LpOutcome {
        let p = Problem::new(
            Matrix::new(w, w.len() / d, d).unwrap(),
            b,
            bounds,
            DEFAULT_TOL,
        );
        decide(&p, k, &vec![0.0; d])
    }

    /// The LP's witness wins by its reported margin, checked independently (and lies in the box).
    fn assert_witness(w: &[f64], d: usize, b: Option<&[f64]>, bounds: Option<f64>, k: usize) {
        let LpOutcome::Witness(x, e) = run(w, d, b, bounds, k) else {
            panic!("class {k}: no witness");
        };
        let m = winning_margin(w, d, b, k, &x);
        assert!(m > 0.0, "class {k}: margin {m} at {x:?}");
        assert!((m - e.margin).abs() <= 1e-12 * m.abs().max(1.0));
        if let Some(r) = bounds {
            assert!(x.iter().all(|v| v.abs() <= r), "{x:?} outside the box");
        }
    }

    /// The certificate reproduces row k from the others with weights >= 0 summing to one, and
    /// the bias condition holds (the box-free test).
    fn assert_certificate(w: &[f64], d: usize, b: Option<&[f64]>, k: usize) -> Vec<usize> {
        let LpOutcome::Certificate(idx, lam) = run(w, d, b, None, k) else {
            panic!("class {k}: no certificate");
        };
        assert!(
            !idx.contains(&k) && idx.windows(2).all(|p| p[0] < p[1]),
            "{idx:?}"
        );
        // Supports above d + 2 are shrunk by Caratheodory (`compact`).
        assert!(idx.len() <= d + 2, "support {idx:?} larger than d + 2");
        let (res, bias, sum, min) = certificate_residuals(w, d, b, k, &idx, &lam);
        // Within the certificate tolerance (1e-9, relative to rows of norm ~1).
        assert!(
            res <= 1e-9 && sum <= 1e-12 && min > 0.0,
            "{res} {sum} {min}"
        );
        assert!(bias >= -1e-9, "bias condition {bias}");
        idx
    }

    /// The dense interior-point method and clarabel agree on random working sets: the same
    /// optimum t*, and multipliers that are a distribution over the rows.
    #[test]
    fn dense_ipm_agrees_with_clarabel() {
        for (seed, m, d, homog, shift) in [
            (1, 40, 5, false, 0.0),
            (2, 40, 5, true, 0.0),
            (3, 200, 30, false, 0.3),
            (4, 200, 30, true, -0.3),
            (5, 12, 8, false, 1.0),
        ] {
            let vals = lcg(seed, m * (d + 1));
            let rows: Vec<Row> = (0..m)
                .map(|r| {
                    let v = &vals[r * (d + 1)..(r + 1) * (d + 1)];
                    let mut a: Vec<f64> = v[..d].iter().map(|x| x + shift).collect();
                    let mut c = 0.3 * v[d];
                    let n = (a.iter().map(|x| x * x).sum::<f64>() + c * c).sqrt();
                    a.iter_mut().for_each(|x| *x /= n);
                    c /= n;
                    Row { j: r, a, c, n }
                })
                .collect();
            let ours = ipm::solve(&rows, d, homog, None).expect("ipm converges");
            let theirs = solve_clarabel(&rows, d, homog).expect("clarabel solves");
            assert!(
                (ours.t - theirs.t).abs() <= 1e-7 * (1.0 + theirs.t.abs()),
                "seed {seed}: t* {} vs clarabel {}",
                ours.t,
                theirs.t
            );
            assert!(ours.converged);
            let total: f64 = ours.mu.iter().sum();
            assert!((total - 1.0).abs() <= 1e-8 && ours.mu.iter().all(|&v| v >= 0.0));
            assert!(ours.x.iter().all(|v| v.abs() <= 1.0 + 1e-9));
            // The early answer: a feasible point whose t is positive and within a factor 2 of
            // the optimum (or the converged answer itself).
            let t_min = 1e-6;
            let early = ipm::solve(&rows, d, homog, Some(t_min)).expect("ipm converges");
            if theirs.t > 2.0 * t_min {
                assert!(early.t > t_min && early.t <= theirs.t + 1e-9, "seed {seed}");
                assert!(early.t >= 0.5 * theirs.t - 1e-9, "seed {seed}: {}", early.t);
                assert!(early.x.iter().all(|v| v.abs() <= 1.0 + 1e-9));
                assert!(!homog || (-1e-9..=1.0 + 1e-9).contains(&early.s));
                for r in &rows {
                    let lhs: f64 = r.a.iter().zip(&early.x).map(|(a, x)| a * x).sum::<f64>()
                        + if homog { r.c * early.s } else { r.c };
                    assert!(lhs >= early.t - 1e-8, "seed {seed}: row {} violated", r.j);
                }
            } else {
                assert!(early.converged && early.t <= 2.0 * t_min);
            }
        }
    }

    #[test]
    fn square_centre_is_certified_and_corners_get_witnesses() {
        for k in 0..4 {
            assert_witness(&SQ, 2, None, None, k);
        }
        assert_certificate(&SQ, 2, None, 4);
        // A positive bias lets the centre win at the origin (box-free and in a box); a negative
        // one keeps it unargmaxable, and the certificate carries the bias condition.
        let up = [0.0, 0.0, 0.0, 0.0, 0.5];
        assert_witness(&SQ, 2, Some(&up), None, 4);
        assert_witness(&SQ, 2, Some(&up), Some(0.1), 4);
        let down = [0.0, 0.0, 0.0, 0.0, -0.5];
        assert_certificate(&SQ, 2, Some(&down), 4);
        // With a box the corners still win (at the box's corners).
        for k in 0..4 {
            assert_witness(&SQ, 2, Some(&up), Some(1.0), k);
        }
    }

    #[test]
    fn duplicates_two_classes_and_one_dimension() {
        // A copy of row k (strict wins are impossible): the certificate is the copy itself.
        let w = [1.0, 0.5, 1.0, 0.5, -1.0, 0.0];
        assert_eq!(assert_certificate(&w, 2, None, 0), vec![1]);
        assert_eq!(assert_certificate(&w, 2, None, 1), vec![0]);
        assert_witness(&w, 2, None, None, 2);
        // V = 2.
        let w = [1.0, 0.0, 2.0, 0.0];
        assert_witness(&w, 2, None, None, 0);
        assert_witness(&w, 2, None, None, 1);
        // d = 1: 1 = (2/3) 2 + (1/3) (-1) is unargmaxable, the extremes win.
        let w = [1.0, 2.0, -1.0];
        assert_eq!(assert_certificate(&w, 1, None, 0), vec![1, 2]);
        assert_witness(&w, 1, None, None, 1);
        assert_witness(&w, 1, None, None, 2);
    }

    #[test]
    fn random_heads_with_planted_interior_rows() {
        // 60 random rows in d = 4 plus 8 convex mixtures of them: every mixture is certified,
        // and every class that gets a witness really wins there.
        let (v, d) = (60, 4);
        let mut w = lcg(21, v * d);
        let mix = lcg(22, 8 * 3);
        for m in 0..8 {
            let lam: Vec<f64> = mix[3 * m..3 * m + 3]
                .iter()
                .map(|x| x.abs() + 0.1)
                .collect();
            let total: f64 = lam.iter().sum();
            let rows = [m, m + 10, m + 20];
            let row: Vec<f64> = (0..d)
                .map(|i| {
                    rows.iter()
                        .zip(&lam)
                        .map(|(&j, l)| l / total * w[j * d + i])
                        .sum()
                })
                .collect();
            w.extend(row);
        }
        let b = lcg(23, v + 8)
            .iter()
            .map(|x| 0.01 * x)
            .collect::<Vec<f64>>();
        for k in v..v + 8 {
            // Without a bias a convex mixture of other rows is always unargmaxable.
            assert_certificate(&w, d, None, k);
        }
        for k in (0..v).step_by(7) {
            match run(&w, d, Some(&b), None, k) {
                LpOutcome::Witness(x, _) => {
                    assert!(winning_margin(&w, d, Some(&b), k, &x) > 0.0, "class {k}")
                }
                LpOutcome::Certificate(idx, lam) => {
                    let (res, bias, sum, min) =
                        certificate_residuals(&w, d, Some(&b), k, &idx, &lam);
                    assert!(res <= 1e-9 && sum <= 1e-12 && min > 0.0 && bias >= -1e-9);
                }
                LpOutcome::Undecided => panic!("class {k} undecided"),
            }
        }
    }
}
