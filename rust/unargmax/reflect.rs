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
        let z = p.scores(&x);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::test_util::{winning_margin, SQUARE_AND_CENTRE as SQ};
    use crate::unargmax::DEFAULT_TOL;

    fn run(
        w: &[f64],
        d: usize,
        b: Option<&[f64]>,
        k: usize,
        x0: &[f64],
        patience: usize,
    ) -> Reflected {
        let p = Problem::new(
            Matrix::new(w, w.len() / d, d).unwrap(),
            b,
            None,
            DEFAULT_TOL,
        );
        reflect(&p, k, x0.to_vec(), patience)
    }

    /// A witness found by the heuristic really makes its class win (checked independently).
    fn assert_wins(w: &[f64], d: usize, b: Option<&[f64]>, k: usize, r: &Reflected) {
        let (x, e) = r.witness.as_ref().expect("no witness");
        let m = winning_margin(w, d, b, k, x);
        assert!(m > 0.0, "class {k}: margin {m} at {x:?}");
        assert!(
            (m - e.margin).abs() <= 1e-12 * m.abs().max(1.0),
            "{m} vs {}",
            e.margin
        );
        assert_eq!(&r.last, x);
    }

    #[test]
    fn a_corner_is_reached_from_the_opposite_corner() {
        // From (-1, -1) the opposite corner wins; one reflection across z_0 = z_3 gives (1, 1).
        let r = run(&SQ, 2, None, 0, &[-1.0, -1.0], 100);
        assert_wins(&SQ, 2, None, 0, &r);
        assert_eq!(r.witness.unwrap().0, vec![1.0, 1.0]);
        for k in 0..4 {
            let r = run(&SQ, 2, None, k, &[0.3, -0.7], 100);
            assert_wins(&SQ, 2, None, k, &r);
        }
    }

    #[test]
    fn the_centre_is_never_proven_and_patience_bounds_the_walk() {
        for patience in [0, 1, 5, 100] {
            let r = run(&SQ, 2, None, 4, &[0.2, 0.1], patience);
            assert!(r.witness.is_none());
            assert!(r.last.iter().all(|v| v.is_finite()));
        }
        // Patience 0: only the start is tried, and a winning start is returned as it is.
        let r = run(&SQ, 2, None, 1, &[2.0, -3.0], 0);
        assert_wins(&SQ, 2, None, 1, &r);
        assert!(run(&SQ, 2, None, 1, &[-2.0, 3.0], 0).witness.is_none());
    }

    #[test]
    fn a_bias_makes_the_centre_win_at_the_origin() {
        let b = [0.0, 0.0, 0.0, 0.0, 1.0];
        let r = run(&SQ, 2, Some(&b), 4, &[0.0, 0.0], 100);
        assert_wins(&SQ, 2, Some(&b), 4, &r);
        // From (2, 0) corners 0 and then 1 win; two reflections lead back to the origin.
        let r = run(&SQ, 2, Some(&b), 4, &[2.0, 0.0], 100);
        assert_wins(&SQ, 2, Some(&b), 4, &r);
        assert_eq!(r.last, vec![0.0, 0.0]);
    }

    #[test]
    fn duplicate_rows_two_classes_and_one_dimension() {
        // A copy of w_k: z_k = z_j everywhere, the reflection has no hyperplane and stops.
        let w = [1.0, 0.5, 1.0, 0.5, -1.0, 0.0];
        let r = run(&w, 2, None, 0, &[1.0, 1.0], 100);
        assert!(r.witness.is_none());
        // V = 2: every distinct row wins on its side.
        let w = [1.0, 2.0, -3.0, 0.5];
        for k in 0..2 {
            let r = run(&w, 2, None, k, &[0.0, 0.0], 100);
            assert!(r.witness.is_none(), "a tie at the origin is no witness");
            let r = run(&w, 2, None, k, &[1.0, -1.0], 100);
            assert_wins(&w, 2, None, k, &r);
        }
        // d = 1: the largest and the smallest weights win, the one in between never does.
        let w = [1.0, 2.0, -1.0];
        assert_wins(&w, 1, None, 1, &run(&w, 1, None, 1, &[-1.0], 100));
        assert_wins(&w, 1, None, 2, &run(&w, 1, None, 2, &[1.0], 100));
        assert!(run(&w, 1, None, 0, &[1.0], 100).witness.is_none());
    }
}
