//! EXACT expected accuracy (Karpukhin et al. 2022) for a batch of logit rows: the probability
//! that the label stays the argmax under iid Gaussian logit noise, and its gradient.
//!
//! The same algorithm as `latentgeo.losses.exact_accuracy` (the array-API reference): with
//! `a_j = min(f_y - f_j, margin) / sigma`, `A = integral phi(t) prod_{j != y} Phi(a_j + t) dt`,
//! integrated by adaptive Gauss-Hermite quadrature around the mode of the log-integrand, with
//! log Phi split into an exact quadratic and a moderate remainder below -8 so that node weights
//! stay accurate far in the tails. Rows are independent and run in parallel; results do not
//! depend on the number of threads.

use rayon::prelude::*;

use crate::{Error, Result};

const LOG_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// Below this argument log Phi uses Laplace's continued fraction for the Mills ratio.
const TAIL: f64 = -8.0;
const CF_TERMS: usize = 16;
const NEWTON_STEPS: usize = 12;
/// `a_j` is clipped to `[-A_MAX, A_MAX]`: beyond it `Phi(a_j + t)` is exactly 0 or 1 in f64
/// (A is then exactly 0, or unaffected), and squares of sums of such values stay finite, where
/// `Delta / sigma` itself may overflow to infinity (logits of 1, sigma = 1e-310).
const A_MAX: f64 = 1e150;

/// The remainder `1/(x + 2/(x + 3/(x + ...)))` (16 terms) of the continued fraction below.
fn mills_frac(x: f64) -> f64 {
    let mut frac = 0.0;
    for k in (1..=CF_TERMS).rev() {
        frac = k as f64 / (x + frac);
    }
    frac
}

/// `phi(x) / Phi(-x)` for `x >= 8`: `x + 1/(x + 2/(x + 3/(x + ...)))`, 16 terms.
fn mills_cf(x: f64) -> f64 {
    x + mills_frac(x)
}

/// `(q, r)` with `log Phi(z) = r - q`: `q = z^2 / 2` below -8 (else 0), `r` of moderate size.
fn split_log_ndtr(z: f64) -> (f64, f64) {
    if z < TAIL {
        (0.5 * z * z, -LOG_SQRT_2PI - mills_cf(-z).ln())
    } else if z < 0.0 {
        (
            0.0,
            (0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2)).ln(),
        )
    } else {
        (
            0.0,
            (-0.5 * libm::erfc(z * std::f64::consts::FRAC_1_SQRT_2)).ln_1p(),
        )
    }
}

/// The inverse Mills ratio `phi(z) / Phi(z)` from `split_log_ndtr(z)`.
fn inv_mills(z: f64, (q, r): (f64, f64)) -> f64 {
    ((q - 0.5 * z * z) - LOG_SQRT_2PI - r).exp()
}

/// `lambda(z)` and `-lambda'(z) = lambda(z) (z + lambda(z))`, which lies in (0, 1), for the
/// Newton steps. Below -8 both come from the continued fraction, where `z + lambda(z)` is its
/// remainder: forming it as a difference would cancel completely far in the tail (at z = -1e9
/// it is 1e-9 next to 1e9), and a rounding error of either sign there once made the curvature
/// positive and the Laplace width NaN.
fn inv_mills_curv(z: f64) -> (f64, f64) {
    let (lam, rest) = if z < TAIL {
        let frac = mills_frac(-z);
        (-z + frac, frac)
    } else {
        let lam = inv_mills(z, split_log_ndtr(z));
        (lam, z + lam)
    };
    (lam, (lam * rest).clamp(0.0, 1.0))
}

/// Options of [`exact_rows`].
#[derive(Debug, Clone, Copy)]
pub struct ExactOptions<'a> {
    /// Noise standard deviation, > 0.
    pub sigma: f64,
    /// Clip `f_y - f_j` at this value first.
    pub margin: Option<f64>,
    /// Gauss-Hermite nodes `x_k`.
    pub nodes: &'a [f64],
    /// `log(w_k) + x_k^2` of those nodes.
    pub log_weights: &'a [f64],
}

/// log A of every row of the `n x c` logits, and with `grad` (`n x c`, or empty) d log A / d f.
pub fn exact_rows(
    logits: &[f64],
    c: usize,
    labels: &[i64],
    opt: &ExactOptions<'_>,
    log_a: &mut [f64],
    grad: &mut [f64],
) -> Result<()> {
    let n = labels.len();
    if c == 0 || logits.len() != n * c || log_a.len() != n {
        return Err(Error::invalid("logits, labels and outputs do not match"));
    }
    if !grad.is_empty() && grad.len() != n * c {
        return Err(Error::invalid(
            "the gradient buffer must have the logits' shape",
        ));
    }
    let sigma_ok = opt.sigma.is_finite() && opt.sigma > 0.0;
    if !sigma_ok || opt.nodes.len() != opt.log_weights.len() || opt.nodes.is_empty() {
        return Err(Error::invalid(
            "sigma must be > 0 and the nodes must match their weights",
        ));
    }
    if let Some(i) = labels.iter().position(|&y| y < 0 || y as usize >= c) {
        return Err(Error::invalid(format!("label {} out of range", labels[i])));
    }
    let want_grad = !grad.is_empty();
    let run = |(i, (la, g)): (usize, (&mut f64, &mut [f64]))| {
        let row = &logits[i * c..(i + 1) * c];
        *la = exact_row(
            row,
            labels[i] as usize,
            opt,
            if want_grad { Some(g) } else { None },
        );
    };
    if want_grad {
        log_a
            .par_iter_mut()
            .zip(grad.par_chunks_mut(c))
            .enumerate()
            .for_each(run);
    } else {
        log_a
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, la)| run((i, (la, &mut []))));
    }
    Ok(())
}

/// One row: log A, and d log A / d f into `grad`.
fn exact_row(f: &[f64], y: usize, opt: &ExactOptions<'_>, grad: Option<&mut [f64]>) -> f64 {
    let c = f.len();
    let sigma = opt.sigma;
    // a_j for j != y (the label's entry is skipped everywhere below).
    let a: Vec<f64> = f
        .iter()
        .map(|&fj| {
            let delta = f[y] - fj;
            (opt.margin.map_or(delta, |m| delta.min(m)) / sigma).clamp(-A_MAX, A_MAX)
        })
        .collect();
    let others = || (0..c).filter(move |&j| j != y);
    // Start at the mode of the piecewise-linear large-gap limit: max_k S_k / (k + 1) over the k
    // largest b = -a (S_0 = 0), then Newton's method on the concave log-integrand.
    let mut b: Vec<f64> = others().map(|j| -a[j]).collect();
    b.sort_by(|u, v| v.total_cmp(u));
    let (mut t, mut sum) = (0.0f64, 0.0);
    for (k, &bk) in b.iter().enumerate() {
        sum += bk;
        t = t.max(sum / (k + 2) as f64);
    }
    // Newton converges monotonically (and quadratically near the mode): stop once a step no
    // longer moves t, with the curvature taken at the final t.
    let (mut g2, mut settled) = (-1.0, false);
    for step in 0..=NEWTON_STEPS {
        let (mut g1, mut curv) = (-t, -1.0);
        for j in others() {
            let (lam, dlam) = inv_mills_curv(a[j] + t);
            g1 += lam;
            curv -= dlam;
        }
        g2 = curv;
        if step == NEWTON_STEPS || settled {
            break;
        }
        let dt = g1 / g2;
        t -= dt;
        settled = dt.abs() <= 1e-15 * t.abs().max(1.0);
    }
    let (center, scale) = (t, 1.0 / (-g2).sqrt());
    // h(c) and the rule relative to it.
    let mut h_c = -0.5 * center * center - LOG_SQRT_2PI;
    let split_c: Vec<(f64, f64)> = a.iter().map(|&aj| split_log_ndtr(aj + center)).collect();
    for j in others() {
        h_c += split_c[j].1 - split_c[j].0;
    }
    let k_nodes = opt.nodes.len();
    let width = std::f64::consts::SQRT_2 * scale;
    let mut terms = vec![0.0; k_nodes];
    // Keep log Phi at every (class, node) for the gradient.
    let mut grid: Vec<(f64, (f64, f64))> =
        Vec::with_capacity(if grad.is_some() { c * k_nodes } else { 0 });
    for (k, (&xk, &lwk)) in opt.nodes.iter().zip(opt.log_weights).enumerate() {
        let d = width * xk;
        let mut h_d = -d * (center + 0.5 * d);
        for j in others() {
            let zc = a[j] + center;
            let w = zc + d;
            let (qw, rw) = split_log_ndtr(w);
            let (qz, rz) = split_c[j];
            let dq = if zc < TAIL && w < TAIL {
                d * (zc + 0.5 * d)
            } else {
                qw - qz
            };
            h_d += (rw - rz) - dq;
            if grad.is_some() {
                grid.push((w, (qw, rw)));
            }
        }
        terms[k] = lwk + h_d;
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = top + terms.iter().map(|&v| (v - top).exp()).sum::<f64>().ln();
    let log_a = (h_c + width.ln() + lse).min(0.0);
    if let Some(g) = grad {
        // d log A / d a_j = sum_k omega_k lambda(a_j + t_k), omega = normalised node weights.
        g.fill(0.0);
        let mut total = 0.0;
        let m = c - 1;
        for (k, &tk) in terms.iter().enumerate() {
            let omega = (tk - lse).exp();
            for (jj, j) in others().enumerate() {
                let (w, split) = grid[k * m + jj];
                g[j] += omega * inv_mills(w, split);
            }
        }
        for j in others() {
            let delta = f[y] - f[j];
            let clipped = opt.margin.is_some_and(|mg| delta > mg);
            let dd = if clipped { 0.0 } else { g[j] / sigma };
            total += dd;
            g[j] = -dd;
        }
        g[y] = total;
    }
    log_a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The n-point Gauss-Hermite rule (Numerical Recipes' `gauher`): nodes and log(w) + x^2.
    fn hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut x, mut lw) = (vec![0.0; n], vec![0.0; n]);
        let nf = n as f64;
        for i in 0..n.div_ceil(2) {
            let mut z = match i {
                0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-1.0 / 6.0),
                1 => x[0] - 1.14 * nf.powf(0.426) / x[0],
                2 => 1.86 * x[1] - 0.86 * x[0],
                3 => 1.91 * x[2] - 0.91 * x[1],
                _ => 2.0 * x[i - 1] - x[i - 2],
            };
            let mut pp = 1.0;
            for _ in 0..100 {
                let (mut p1, mut p2) = (std::f64::consts::PI.powf(-0.25), 0.0);
                for j in 1..=n {
                    let p3 = p2;
                    p2 = p1;
                    let jf = j as f64;
                    p1 = z * (2.0 / jf).sqrt() * p2 - ((jf - 1.0) / jf).sqrt() * p3;
                }
                pp = (2.0 * nf).sqrt() * p2;
                let dz = p1 / pp;
                z -= dz;
                if dz.abs() < 1e-15 {
                    break;
                }
            }
            let l = (2.0 / (pp * pp)).ln() + z * z;
            (x[i], x[n - 1 - i], lw[i], lw[n - 1 - i]) = (z, -z, l, l);
        }
        (x, lw)
    }

    #[test]
    fn two_classes_match_the_closed_form_and_gradients_sum_to_zero() {
        let (x, lw) = hermite(32);
        let opt = ExactOptions {
            sigma: 1.0,
            margin: None,
            nodes: &x,
            log_weights: &lw,
        };
        for gap in [-30.0, -3.0, 0.0, 1.3, 5.0] {
            let f = [gap, 0.0];
            let (mut la, mut g) = ([0.0], [0.0; 2]);
            exact_rows(&f, 2, &[0], &opt, &mut la, &mut g).unwrap();
            // A = Phi(gap / sqrt 2).
            let (q, r) = split_log_ndtr(gap / std::f64::consts::SQRT_2);
            assert!(
                (la[0] - (r - q)).abs() < 1e-12 * (r - q).abs().max(1e-3),
                "{gap}: {}",
                la[0]
            );
            assert!((g[0] + g[1]).abs() < 1e-12);
        }
        let e = exact_rows(&[0.0, 1.0], 2, &[2], &opt, &mut [0.0], &mut []);
        assert!(e.is_err());
    }

    /// log Phi(x) without this module: `0.5 erfc(-x / sqrt 2)` above -30, below it the
    /// asymptotic series `phi(x) / -x * (1 - 1/x^2 + 3/x^4 - 15/x^6 + 105/x^8)` (error < 1e-13).
    fn log_phi_reference(x: f64) -> f64 {
        if x > -30.0 {
            return (0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)).ln();
        }
        let y = 1.0 / (x * x);
        let series = 1.0 - y * (1.0 - y * (3.0 - y * (15.0 - 105.0 * y)));
        -0.5 * x * x - LOG_SQRT_2PI - (-x).ln() + series.ln()
    }

    /// `integral phi(u) prod_j Phi(a_j + u) du` by composite Simpson on [-40, 40], step 1/256.
    fn simpson(a: &[f64]) -> f64 {
        let (lo, n) = (-40.0, 80 * 256);
        let h = 80.0 / n as f64;
        let f = |u: f64| {
            let mut log = -0.5 * u * u - LOG_SQRT_2PI;
            for &aj in a {
                log += log_phi_reference(aj + u);
            }
            log.exp()
        };
        let mut sum = f(lo) + f(lo + n as f64 * h);
        for i in 1..n {
            sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(lo + i as f64 * h);
        }
        sum * h / 3.0
    }

    fn run(f: &[f64], y: i64, sigma: f64, x: &[f64], lw: &[f64]) -> (f64, Vec<f64>) {
        let opt = ExactOptions {
            sigma,
            margin: None,
            nodes: x,
            log_weights: lw,
        };
        let (mut la, mut g) = ([0.0], vec![0.0; f.len()]);
        exact_rows(f, f.len(), &[y], &opt, &mut la, &mut g).unwrap();
        (la[0], g)
    }

    #[test]
    fn agrees_with_plain_simpson_integration() {
        let (x, lw) = hermite(32);
        for (seed, c) in [(1u64, 3usize), (2, 5), (3, 8), (4, 20)] {
            let f: Vec<f64> = crate::test_util::lcg(seed, c)
                .iter()
                .map(|v| 3.0 * v)
                .collect();
            for y in [0, c - 1] {
                let (la, g) = run(&f, y as i64, 0.8, &x, &lw);
                let a: Vec<f64> = (0..c)
                    .filter(|&j| j != y)
                    .map(|j| (f[y] - f[j]) / 0.8)
                    .collect();
                let want = simpson(&a);
                assert!(
                    (la.exp() - want).abs() <= 1e-7 * want.max(1e-3),
                    "{c} {y}: {la} {want}"
                );
                assert!(
                    g.iter().sum::<f64>().abs() < 1e-12 * g.iter().map(|v| v.abs()).sum::<f64>()
                );
            }
        }
    }

    #[test]
    fn extreme_gaps_and_tiny_sigma_stay_finite_and_match_the_closed_form() {
        let (x, lw) = hermite(32);
        // C = 2: log A = log Phi(Delta / (sigma sqrt 2)), far beyond where Phi underflows.
        for (gap, sigma) in [
            (-1.0, 1e-9),
            (-3.0, 1e-6),
            (-1e6, 1.0),
            (-5e-300, 1e-300),
            (-1e-294, 1e-300),
            (2.0, 1e-9),
        ] {
            let (la, g) = run(&[gap, 0.0], 0, sigma, &x, &lw);
            let want = log_phi_reference(gap / (sigma * std::f64::consts::SQRT_2));
            let tol = 1e-12 * want.abs().max(1e-3);
            assert!((la - want).abs() <= tol, "{gap} {sigma}: {la} {want}");
            assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
        }
        // Delta / sigma overflows: a is clipped at 1e150, where A is exactly 0 (or 1).
        let (la, _) = run(&[-1.0, 0.0], 0, 1e-310, &x, &lw);
        assert!(la.is_finite() && la < -1e299, "{la}");
        let (la, g) = run(&[1.0, 0.0], 0, 1e-310, &x, &lw);
        assert!(la == 0.0 && g == [0.0, 0.0], "{la} {g:?}");
        // Logits [0, 1, 2], label 0, sigma = 1e-9 once gave a NaN Laplace width, log A = 0 and a
        // NaN gradient. The label is worse by 1e9 and 2e9 sigma; the integrand peaks at u = 1e9,
        // where Phi(a_1 + u) = 1/2, so log A is the two-class value of the best class, -1e18,
        // up to O(1) (below the rounding of 1e18).
        let (la, g) = run(&[0.0, 1.0, 2.0], 0, 1e-9, &x, &lw);
        let two_class = log_phi_reference(-2e9 / std::f64::consts::SQRT_2);
        assert!(
            (la - two_class).abs() <= 1e-12 * two_class.abs(),
            "{la} {two_class}"
        );
        assert!(
            g.iter().all(|v| v.is_finite()) && g[0] > 0.0 && g[1] < 0.0 && g[2] < 0.0,
            "{g:?}"
        );
        // The best label at tiny sigma: log A = 0 to rounding, gradient 0.
        let (la, g) = run(&[2.0, 1.0, 0.0], 0, 1e-9, &x, &lw);
        assert!(
            la <= 0.0 && la > -1e-14 && g.iter().all(|v| v.is_finite()),
            "{la} {g:?}"
        );
    }
}
