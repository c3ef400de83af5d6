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

use rayon::prelude::*;

use super::check::{Problem, WitnessEval};
use crate::monitor::Monitor;
use crate::real::Real;
use crate::Result;

/// Reflections without a better margin after which the heuristic gives up.
pub(crate) const STALL: usize = 30;
/// Rows of W per task when the scores of all walks are computed.
const ROW_CHUNK: usize = 1024;
/// Lanes of the partial sums of one dot product (its summation order).
const LANES: usize = 16;

/// The outcome of the heuristic for one class.
pub(crate) struct Reflected {
    /// A verified witness and its evaluation.
    pub witness: Option<(Vec<f64>, WitnessEval)>,
    /// The last point visited (a seed for the LP's working set).
    pub last: Vec<f64>,
}

/// Run the heuristic for class `k` from `x0`.
#[cfg(test)]
pub(crate) fn reflect<T: Real>(
    p: &Problem<'_, T>,
    k: usize,
    x0: Vec<f64>,
    patience: usize,
) -> Reflected {
    let mut all = reflect_all(p, vec![(k, x0)], patience, &Monitor::new()).unwrap();
    all.pop().unwrap()
}

/// Run the heuristic for every `(class, start)`, all walks in step: each step computes the
/// scores of every walk still going in one pass over W (read once per step, not once per walk),
/// then each walk moves on its own. A walk's scores do not depend on the others (each dot
/// product has one summation order), so neither do its steps, nor the thread count.
pub(crate) fn reflect_all<T: Real>(
    p: &Problem<'_, T>,
    starts: Vec<(usize, Vec<f64>)>,
    patience: usize,
    monitor: &Monitor,
) -> Result<Vec<Reflected>> {
    let mut walks: Vec<Walk> = starts.into_iter().map(|(k, x)| Walk::new(k, x)).collect();
    loop {
        let mut going: Vec<&mut Walk> = walks.iter_mut().filter(|w| !w.done).collect();
        if going.is_empty() {
            break;
        }
        monitor.check()?;
        let ks: Vec<usize> = going.iter().map(|w| w.k).collect();
        let xs: Vec<T> = going
            .iter()
            .flat_map(|w| w.x.iter().map(|&v| T::from_f64(v)))
            .collect();
        let tops = winners(p, &ks, &xs);
        going
            .par_iter_mut()
            .zip(tops.par_iter())
            .for_each(|(w, top)| w.advance(p, *top, patience));
    }
    Ok(walks
        .into_iter()
        .map(|w| Reflected {
            witness: w.witness,
            last: w.x,
        })
        .collect())
}

/// One class's walk.
struct Walk {
    k: usize,
    x: Vec<f64>,
    step: usize,
    best: f64,
    since_best: usize,
    done: bool,
    witness: Option<(Vec<f64>, WitnessEval)>,
}

impl Walk {
    fn new(k: usize, x: Vec<f64>) -> Self {
        Walk {
            k,
            x,
            step: 0,
            best: f64::NEG_INFINITY,
            since_best: 0,
            done: false,
            witness: None,
        }
    }

    /// One step, given the scores at `x`: `z_k` and the winner `(j, z_j)` among the others.
    fn advance<T: Real>(&mut self, p: &Problem<'_, T>, top: Top, patience: usize) {
        let Top { zk, j, zj } = top;
        let (k, d) = (self.k, p.d());
        if zk > zj {
            let eval = p.eval_witness(k, &self.x);
            if eval.ok {
                self.witness = Some((self.x.clone(), eval));
            }
            self.done = true;
            return;
        }
        let norm = self.x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let margin = (zk - zj) / norm.max(f64::MIN_POSITIVE);
        if margin > self.best {
            (self.best, self.since_best) = (margin, 0);
        } else {
            self.since_best += 1;
        }
        if self.step >= patience || self.since_best >= STALL {
            self.done = true;
            return;
        }
        self.step += 1;
        let (wk, wj) = (p.row(k), p.row(j));
        let a: Vec<f64> = (0..d).map(|i| wk[i].to_f64() - wj[i].to_f64()).collect();
        let nn: f64 = a.iter().map(|v| v * v).sum();
        if nn == 0.0 {
            self.done = true;
            return;
        }
        let val: f64 =
            a.iter().zip(&self.x).map(|(u, v)| u * v).sum::<f64>() + p.bias(k) - p.bias(j);
        let f = 2.0 * val / nn;
        let next: Vec<f64> = self.x.iter().zip(&a).map(|(v, u)| v - f * u).collect();
        if next == self.x || next.iter().any(|v| !v.is_finite()) {
            self.done = true;
            return;
        }
        self.x = next;
    }
}

/// A walk's scores: its own class's `z_k`, and the winner among the others (the lowest row on
/// ties).
#[derive(Debug, Clone, Copy)]
struct Top {
    zk: f64,
    j: usize,
    zj: f64,
}

impl Top {
    const NONE: Top = Top {
        zk: f64::NAN,
        j: usize::MAX,
        zj: f64::NEG_INFINITY,
    };

    /// The union of two ranges of rows.
    fn merge(self, o: Top) -> Top {
        let zk = if self.zk.is_nan() { o.zk } else { self.zk };
        let take = o.j != usize::MAX
            && (self.j == usize::MAX || o.zj > self.zj || (o.zj == self.zj && o.j < self.j));
        let (j, zj) = if take { (o.j, o.zj) } else { (self.j, self.zj) };
        Top { zk, j, zj }
    }
}

/// [`Top`] of every walk (classes `ks`, points `xs` rounded to `T`, one after the other):
/// `z_j = fl_T(w_j . x) + b_j`, row chunks in parallel.
fn winners<T: Real>(p: &Problem<'_, T>, ks: &[usize], xs: &[T]) -> Vec<Top> {
    let (v, n) = (p.v(), ks.len());
    let chunks: Vec<usize> = (0..v).step_by(ROW_CHUNK).collect();
    chunks
        .par_iter()
        .map(|&r0| {
            let mut out = vec![Top::NONE; n];
            let mut z = vec![0.0f64; n];
            for j in r0..(r0 + ROW_CHUNK).min(v) {
                dots(p.row(j), xs, &mut z);
                let bj = p.bias(j);
                for ((t, &zc), &k) in out.iter_mut().zip(&z).zip(ks) {
                    let zc = zc + bj;
                    if j == k {
                        t.zk = zc;
                    } else if t.j == usize::MAX || zc > t.zj {
                        (t.j, t.zj) = (j, zc);
                    }
                }
            }
            out
        })
        .reduce(
            || vec![Top::NONE; n],
            |a, b| a.into_iter().zip(b).map(|(x, y)| x.merge(y)).collect(),
        )
}

crate::widest! {
    /// [`dots_generic`] compiled for the widest vector unit the CPU has (the same operations in
    /// the same order on every path, so the same bits).
    fn dots<T: Real>(w: &[T], xs: &[T], z: &mut [f64]) -> ();
    generic dots_generic, avx512 dots_avx512, avx2 dots_avx2
}

/// `z[c] = w . x_c` in `T` for each point `x_c` of `xs`: per point [`LANES`] partial sums over
/// the whole chunks of `w`, added in order, then the tail; four points share each load of `w`
/// (the order of each point's sum does not depend on its neighbours).
#[inline(always)]
fn dots_generic<T: Real>(w: &[T], xs: &[T], z: &mut [f64]) {
    let d = w.len();
    let body = d / LANES * LANES;
    for (quad, zq) in xs.chunks(4 * d).zip(z.chunks_mut(4)) {
        let mut acc = [[T::ZERO; LANES]; 4];
        for (i, wc) in w[..body].chunks_exact(LANES).enumerate() {
            for (a, x) in acc.iter_mut().zip(quad.chunks_exact(d)) {
                let xc = &x[i * LANES..(i + 1) * LANES];
                for l in 0..LANES {
                    a[l] += wc[l] * xc[l];
                }
            }
        }
        for ((a, x), out) in acc.iter().zip(quad.chunks_exact(d)).zip(zq.iter_mut()) {
            let mut s = T::ZERO;
            for &al in a {
                s += al;
            }
            for i in body..d {
                s += w[i] * x[i];
            }
            *out = s.to_f64();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;
    use crate::parallel::with_threads;
    use crate::test_util::{lcg, winning_margin, SQUARE_AND_CENTRE as SQ};
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

    #[test]
    fn walks_in_step_match_walks_alone_at_any_thread_count() {
        // float32 rows of 37 (two chunks of lanes and a tail), a bias, 2,500 rows (3 chunks).
        let (v, d) = (2500, 37);
        let w: Vec<f32> = lcg(1, v * d).iter().map(|&a| a as f32).collect();
        let b: Vec<f64> = lcg(2, v).iter().map(|a| 0.3 * a).collect();
        let p = Problem::new(Matrix::new(&w, v, d).unwrap(), Some(&b), None, DEFAULT_TOL);
        let starts: Vec<(usize, Vec<f64>)> = (0..24)
            .map(|c| ((c * 97) % v, lcg(3 + c as u64, d)))
            .collect();
        let key = |r: &Reflected| {
            (
                r.last.clone(),
                r.witness.as_ref().map(|(x, e)| (x.clone(), e.margin)),
            )
        };
        let all = reflect_all(&p, starts.clone(), 100, &Monitor::new()).unwrap();
        assert!(all.iter().any(|r| r.witness.is_some()));
        for ((k, x0), r) in starts.iter().zip(&all) {
            assert_eq!(key(&reflect(&p, *k, x0.clone(), 100)), key(r));
        }
        for t in [1, 3] {
            let again = with_threads(Some(t), || {
                reflect_all(&p, starts.clone(), 100, &Monitor::new()).unwrap()
            })
            .unwrap();
            assert!(again.iter().zip(&all).all(|(a, b)| key(a) == key(b)));
        }
    }
}
