//! Support reduction of unargmaxability certificates (Caratheodory).
//!
//! A certificate `lambda >= 0` of class `k` satisfies the `d + 1` equations
//! `sum_j lambda_j (w_j - w_k) = r` (r = 0 up to tolerance; in box semantics the residual the
//! bias slack pays for) and `sum_j lambda_j = 1`, and keeps `sum_j lambda_j b_j >= b_k`. For any
//! `v` in the null space of the columns `[w_j - w_k; 1]` on the support, `lambda + t v` satisfies
//! the same equations; oriented so that `sum_j v_j b_j >= 0` and stepped until a weight hits zero,
//! it keeps the certificate valid with one entry fewer. Repeated, this leaves at most
//! `rank <= d + 1` entries.
//!
//! Done as a simplex-like sweep: a column-pivoted QR of the support's columns gives their
//! coordinates `R` in an orthonormal basis of their span (rank `r` read off its diagonal) and a
//! well-conditioned starting basis of `r` columns; each other column `c` gives the null vector
//! `(-B^-1 R_c, 1)`, and when a basic weight hits zero, `c` replaces it in the basis (an `O(r^2)`
//! update of an explicit inverse, refactored every [`REFACTOR_EVERY`] swaps). Cost
//! `O(s d^2 + s r^2)` for a support of `s` entries. Everything is sequential f64 arithmetic in a
//! fixed order, so the result does not depend on the thread count. The caller re-checks the
//! reduced certificate and keeps the original when the check fails.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::lu::partial_pivoting as lu;
use faer::linalg::qr::col_pivoting::factor::{qr_in_place, qr_in_place_scratch};
use faer::{Mat, Par};

use super::check::Problem;
use crate::real::Real;

/// Diagonal entries of `R` below this fraction of the largest one count as rank deficiency.
const RANK_TOL: f64 = 1e-11;
/// Basis swaps between two fresh inversions of the basis matrix.
const REFACTOR_EVERY: usize = 256;

crate::widest! {
    /// Reduce the support of the certificate `(indices, weights)` of class `k` to at most
    /// `rank([w_j - w_k; 1]) <= d + 1` entries. `None` when there is nothing to reduce or the
    /// linear algebra broke down; otherwise `(indices ascending, weights summing to one)`.
    /// Compiled for the widest vector unit the CPU has (the sweep's products and basis updates
    /// are the same operations on every path, so the same bits).
    pub(crate) fn reduce<T: Real>(
        p: &Problem<'_, T>,
        k: usize,
        indices: &[usize],
        weights: &[f64],
    ) -> Option<(Vec<usize>, Vec<f64>)>;
    generic reduce_generic, avx512 reduce_avx512, avx2 reduce_avx2
}

#[inline(always)]
fn reduce_generic<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    indices: &[usize],
    weights: &[f64],
) -> Option<(Vec<usize>, Vec<f64>)> {
    let (d, s) = (p.d(), indices.len());
    let m = d + 1;
    if s <= m || s != weights.len() {
        return None;
    }
    // Columns [w_j - w_k; scale], the last row scaled like the others for balance.
    let wk = p.row(k);
    let scale = indices
        .iter()
        .map(|&j| p.norms[j] + p.norms[k])
        .sum::<f64>()
        / s as f64;
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let mut a = Mat::<f64>::zeros(m, s);
    for (c, &j) in indices.iter().enumerate() {
        let wj = p.row(j);
        let col = a.col_mut(c).try_as_col_major_mut().unwrap().as_slice_mut();
        for i in 0..d {
            col[i] = wj[i].to_f64() - wk[i].to_f64();
        }
        col[d] = scale;
    }
    // Column-pivoted QR, sequential (deterministic).
    let size = m.min(s);
    let block = faer::linalg::qr::no_pivoting::factor::recommended_block_size::<f64>(m, s);
    let mut h = Mat::<f64>::zeros(block, size);
    let (mut perm, mut perm_inv) = (vec![0usize; s], vec![0usize; s]);
    let mut mem = MemBuffer::new(qr_in_place_scratch::<usize, f64>(
        m,
        s,
        block,
        Par::Seq,
        Default::default(),
    ));
    qr_in_place(
        a.as_mut(),
        h.as_mut(),
        &mut perm,
        &mut perm_inv,
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    let r00 = a[(0, 0)].abs();
    if !(r00 > 0.0 && r00.is_finite()) {
        return None;
    }
    let r = (0..size)
        .take_while(|&i| a[(i, i)].abs() > RANK_TOL * r00)
        .count();
    if s <= r + 1 {
        return None;
    }
    // Coordinates of pivot column c: a[0..r, c] (upper trapezoidal; entries below r dropped).
    let coords: Vec<Vec<f64>> = (0..s)
        .map(|c| {
            (0..r)
                .map(|i| if i <= c { a[(i, c)] } else { 0.0 })
                .collect()
        })
        .collect();
    let bias: Vec<f64> = (0..s).map(|c| p.bias(indices[perm[c]])).collect();
    let mut lam: Vec<f64> = (0..s).map(|c| weights[perm[c]]).collect();
    let lam_max = lam.iter().fold(0.0f64, |x, &v| x.max(v));
    let delta = 1e-14 * lam_max;
    let free_orientation = !p.has_bias();

    let mut basis: Vec<usize> = (0..r).collect();
    let mut binv = invert(&basis, &coords, r)?;
    let mut swaps = 0;
    let mut y = vec![0.0; r];
    for c in r..s {
        if lam[c] <= 0.0 {
            continue;
        }
        // y = B^-1 a_c; null vector v = (-y on the basis, 1 at c).
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = dot(&binv[i * r..(i + 1) * r], &coords[c]);
        }
        if y.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let ymax = y.iter().fold(1.0f64, |x, &v| x.max(v.abs()));
        let piv_tol = 1e-11 * ymax;
        let beta = bias[c]
            - basis
                .iter()
                .zip(&y)
                .map(|(&q, &yi)| yi * bias[q])
                .sum::<f64>();
        // sigma = +1: lambda_c grows, basics with y_i > 0 shrink; sigma = -1: lambda_c shrinks,
        // basics with y_i < 0 shrink. Harris ratio test: the largest pivot among near-minimal
        // ratios.
        let step = |sigma: f64| -> (f64, Option<usize>) {
            // (ratio, leaving basis position; None = c itself)
            let mut tmax = if sigma < 0.0 {
                (lam[c] + delta) / 1.0
            } else {
                f64::INFINITY
            };
            for (i, &yi) in y.iter().enumerate() {
                let g = sigma * yi;
                if g > piv_tol {
                    tmax = tmax.min((lam[basis[i]] + delta) / g);
                }
            }
            let mut best: (f64, f64, Option<usize>) = (f64::INFINITY, 0.0, None);
            if sigma < 0.0 && lam[c] <= tmax {
                best = (lam[c], 1.0, None);
            }
            for (i, &yi) in y.iter().enumerate() {
                let g = sigma * yi;
                if g > piv_tol {
                    let t = lam[basis[i]] / g;
                    if t <= tmax && g > best.1 {
                        best = (t, g, Some(i));
                    }
                }
            }
            (best.0, best.2)
        };
        let sigma = if free_orientation {
            let (tp, _) = step(1.0);
            let (tn, _) = step(-1.0);
            if tp < tn {
                1.0
            } else {
                -1.0
            }
        } else if beta >= 0.0 {
            1.0
        } else {
            -1.0
        };
        let (t, leave) = step(sigma);
        if !t.is_finite() {
            // Only possible with sigma = +1 and no shrinking basic: cannot happen in exact
            // arithmetic (the weights of v sum to zero); give up rather than guess.
            return None;
        }
        lam[c] += sigma * t;
        for (i, &yi) in y.iter().enumerate() {
            let q = basis[i];
            lam[q] -= sigma * t * yi;
            if lam[q] < 0.0 {
                lam[q] = 0.0;
            }
        }
        match leave {
            None => lam[c] = 0.0,
            Some(i) => {
                lam[basis[i]] = 0.0;
                if lam[c] < 0.0 {
                    lam[c] = 0.0;
                }
                basis[i] = c;
                swaps += 1;
                if swaps % REFACTOR_EVERY == 0 {
                    binv = invert(&basis, &coords, r)?;
                } else {
                    pivot(&mut binv, r, &y, i);
                }
            }
        }
    }
    let mut out: Vec<(usize, f64)> = (0..s)
        .filter(|&c| lam[c] > 0.0)
        .map(|c| (indices[perm[c]], lam[c]))
        .collect();
    let total: f64 = out.iter().map(|l| l.1).sum();
    if out.is_empty() || !(total > 0.0 && total.is_finite()) {
        return None;
    }
    out.sort_by_key(|l| l.0);
    Some((
        out.iter().map(|l| l.0).collect(),
        out.iter().map(|l| l.1 / total).collect(),
    ))
}

/// Dot product with independent partial sums (vectorisable; fixed order, so deterministic).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    const L: usize = 8;
    let mut acc = [0.0f64; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (pa, pb) in ca.zip(cb) {
        for i in 0..L {
            acc[i] += pa[i] * pb[i];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Replace basis column `i` by the column whose `B^-1 a = y`: row `i` of `B^-1` is divided by
/// `y_i` and eliminated from the others.
#[inline(always)]
fn pivot(binv: &mut [f64], r: usize, y: &[f64], i: usize) {
    let inv = 1.0 / y[i];
    let (head, rest) = binv.split_at_mut(i * r);
    let (row_i, tail) = rest.split_at_mut(r);
    row_i.iter_mut().for_each(|v| *v *= inv);
    for (l, row) in head
        .chunks_exact_mut(r)
        .chain(tail.chunks_exact_mut(r))
        .enumerate()
    {
        let yl = y[if l < i { l } else { l + 1 }];
        if yl != 0.0 {
            for (u, &v) in row.iter_mut().zip(row_i.iter()) {
                *u -= yl * v;
            }
        }
    }
}

/// `B^-1` (row-major, `r x r`) of the basis columns, by an LU factorisation with partial
/// pivoting (faer's blocked, vectorised kernels, on this thread); `None` when the basis is
/// numerically singular (a pivot below `1e-14` of the largest entry).
fn invert(basis: &[usize], coords: &[Vec<f64>], r: usize) -> Option<Vec<f64>> {
    let mut lu = Mat::<f64>::from_fn(r, r, |i, col| coords[basis[col]][i]);
    let norm = (0..r)
        .flat_map(|c| lu.col_as_slice(c).iter().copied())
        .fold(0.0f64, |x, v| x.max(v.abs()));
    let (mut fwd, mut bwd) = (vec![0usize; r], vec![0usize; r]);
    let mut mem = MemBuffer::new(
        lu::factor::lu_in_place_scratch::<usize, f64>(r, r, Par::Seq, Default::default())
            .or(lu::inverse::inverse_scratch::<usize, f64>(r, Par::Seq)),
    );
    let (_, perm) = lu::factor::lu_in_place(
        lu.as_mut(),
        &mut fwd,
        &mut bwd,
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    );
    if (0..r).any(|i| lu[(i, i)].is_nan() || lu[(i, i)].abs() <= 1e-14 * norm) {
        return None;
    }
    let mut inv = Mat::<f64>::zeros(r, r);
    lu::inverse::inverse(
        inv.as_mut(),
        lu.as_ref(),
        lu.as_ref(),
        perm,
        Par::Seq,
        MemStack::new(&mut mem),
    );
    Some(
        (0..r)
            .flat_map(|i| (0..r).map(move |j| (i, j)))
            .map(|(i, j)| inv[(i, j)])
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::test_util::lcg;

    /// d = 1 with a bias and equal weights that hit zero together.
    #[test]
    fn ties_in_one_dimension() {
        let w = [0.0, 0.0, 0.0, 1.0, -1.0];
        let b = [0.0, 0.0, 1.0, 0.0, 0.0];
        let m = Matrix::new(&w, 5, 1).unwrap();
        let p = Problem::new(m, Some(&b), None, 1e-9);
        let lam = [0.23326719, 0.30019843, 0.23326719, 0.23326719];
        let t: f64 = lam.iter().sum();
        let lam: Vec<f64> = lam.iter().map(|x| x / t).collect();
        let (ri, rl) = reduce(&p, 0, &[1, 2, 3, 4], &lam).unwrap();
        assert!(ri.len() <= 2);
        // The second weight is at rounding level; the LP stage drops such weights.
        let top = rl.iter().fold(0.0f64, |a, &l| a.max(l));
        let kept: Vec<usize> = ri
            .iter()
            .zip(&rl)
            .filter(|(_, &l)| l > 1e-12 * top)
            .map(|(&j, _)| j)
            .collect();
        assert_eq!(kept, vec![2]);
        assert!(p.check_certificate(0, &[2], &[1.0]));
    }

    /// Random convex combinations of many rows, with and without bias, rank-deficient too:
    /// the reduced certificate is small, keeps the combination and never lowers the bias sum.
    #[test]
    fn reduces_to_rank_plus_one() {
        for (seed, d, s, bias, rank) in [
            (1u64, 5usize, 60usize, false, 5usize),
            (2, 5, 60, true, 5),
            (3, 12, 200, true, 12),
            (4, 8, 100, false, 3),
            (5, 8, 100, true, 3),
        ] {
            let v = s + 1;
            let base = lcg(seed, v * rank);
            let mix = lcg(seed + 100, rank * d);
            // Rows in a `rank`-dimensional subspace of R^d.
            let mut w: Vec<f64> = (0..v)
                .flat_map(|j| {
                    (0..d)
                        .map(|i| (0..rank).map(|q| base[j * rank + q] * mix[q * d + i]).sum())
                        .collect::<Vec<f64>>()
                })
                .collect();
            let raw: Vec<f64> = lcg(seed + 200, s).iter().map(|x| x.abs() + 0.01).collect();
            let tot: f64 = raw.iter().sum();
            let lam: Vec<f64> = raw.iter().map(|x| x / tot).collect();
            // Row 0 (class k) is the combination of rows 1..=s.
            for i in 0..d {
                w[i] = (0..s).map(|c| lam[c] * w[(c + 1) * d + i]).sum();
            }
            let b: Vec<f64> = lcg(seed + 300, v);
            let mut bb = b.clone();
            bb[0] = (0..s).map(|c| lam[c] * b[c + 1]).sum::<f64>() - 0.1;
            let m = Matrix::new(&w, v, d).unwrap();
            let p = Problem::new(m, bias.then_some(&bb[..]), None, 1e-9);
            let idx: Vec<usize> = (1..=s).collect();
            let (ri, rl) = reduce(&p, 0, &idx, &lam).unwrap();
            assert!(ri.len() <= rank + 1, "support {} > rank + 1", ri.len());
            assert!(ri.windows(2).all(|x| x[0] < x[1]));
            assert!(rl.iter().all(|&l| l > 0.0));
            assert!((rl.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for i in 0..d {
                let got: f64 = ri.iter().zip(&rl).map(|(&j, &l)| l * w[j * d + i]).sum();
                assert!((got - w[i]).abs() < 1e-10, "residual {}", got - w[i]);
            }
            if bias {
                let before: f64 = (0..s).map(|c| lam[c] * bb[c + 1]).sum();
                let after: f64 = ri.iter().zip(&rl).map(|(&j, &l)| l * bb[j]).sum();
                assert!(after >= before - 1e-12);
            }
            assert!(p.check_certificate(0, &ri, &rl));
        }
    }
}
