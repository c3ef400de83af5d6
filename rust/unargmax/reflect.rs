//! Stage 2: the reference's "braid reflect" heuristic, started from the bias-aware `alpha * w_k`.
//!
//! While some other class `j` wins at `x`, reflect `x` across the hyperplane `z_k = z_j`; stop
//! when `k` wins (a witness, then checked against every row in f64), when the winner is a copy of
//! `w_k` (nothing separates them), after `patience` reflections, or when the margin
//! `(z_k - max_j z_j) / ||x||` has not improved for [`STALL`] reflections in a row. It only ever
//! proves argmaxability, so stopping early never changes a verdict, only which stage gives it.
//!
//! The stall rule: on the softmax example and on Gaussian heads with planted interior rows,
//! successful runs never went more than 25 reflections without a better margin (99th percentile
//! 13), while interior rows, which the heuristic can never prove, wander 39-64 steps without one.

use super::check::{Problem, WitnessEval};
use crate::real::Real;

/// Reflections without a better margin after which the heuristic gives up.
pub(crate) const STALL: usize = 30;

/// The outcome of the heuristic for one class.
pub(crate) struct Reflected {
    /// A verified witness and its evaluation.
    pub witness: Option<(Vec<f64>, WitnessEval)>,
    /// The last point visited (a seed for the LP's working set).
    pub last: Vec<f64>,
}

/// Run the heuristic for class `k` from `x0`.
pub(crate) fn reflect<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    x0: Vec<f64>,
    patience: usize,
) -> Reflected {
    let d = p.d();
    let wk = p.row(k);
    let mut x = x0;
    let mut step = 0;
    let (mut best, mut since_best) = (f64::NEG_INFINITY, 0usize);
    loop {
        let (z, _) = p.logits(&x);
        // Winner among the others; ties go to the lower index.
        let mut j = usize::MAX;
        let mut zj = f64::NEG_INFINITY;
        for (i, &zi) in z.iter().enumerate() {
            if i != k && (zi > zj || j == usize::MAX) {
                j = i;
                zj = zi;
            }
        }
        if z[k] > zj {
            let eval = p.eval_witness(k, &x);
            if eval.ok {
                return Reflected {
                    witness: Some((x.clone(), eval)),
                    last: x,
                };
            }
            break;
        }
        let margin = (z[k] - zj)
            / x.iter()
                .map(|v| v * v)
                .sum::<f64>()
                .sqrt()
                .max(f64::MIN_POSITIVE);
        if margin > best {
            (best, since_best) = (margin, 0);
        } else {
            since_best += 1;
        }
        if step >= patience || since_best >= STALL {
            break;
        }
        step += 1;
        let wj = p.row(j);
        let a: Vec<f64> = (0..d).map(|i| wk[i].to_f64() - wj[i].to_f64()).collect();
        let nn: f64 = a.iter().map(|v| v * v).sum();
        if nn == 0.0 {
            break;
        }
        let val: f64 = a.iter().zip(&x).map(|(u, v)| u * v).sum::<f64>() + p.bias(k) - p.bias(j);
        let f = 2.0 * val / nn;
        let next: Vec<f64> = x.iter().zip(&a).map(|(v, u)| v - f * u).collect();
        if next == x || next.iter().any(|v| !v.is_finite()) {
            break;
        }
        x = next;
    }
    Reflected {
        witness: None,
        last: x,
    }
}
