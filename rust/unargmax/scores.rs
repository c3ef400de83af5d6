//! The largest scores of witnesses: for each witness `x_c` and each row `w_j` of a float32
//! matrix, `t_jc = (w_j . x_c + a_j s_c) + b_j` in float32 (the dot products by blocked GEMM),
//! keeping per witness the largest and the second largest over the rows other than its own
//! class, and the row of the largest.
//!
//! This is the fast pass of `UnargmaxReport.verify()`: its caller bounds the rounding of any
//! float32 summation order rigorously, so the blocking (and faer's kernels) only change the
//! values within that bound. The result is the same whatever the thread count (each column
//! block is scanned by one thread, its row tiles in increasing order).

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::buffers;
use crate::matrix::Matrix;
use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::{Error, Result};

/// Witness columns per task (one GEMM operand).
const COLS: usize = 256;
/// Rows of `w` per GEMM tile (the tile, `COLS x ROWS` float32, stays in L2).
const ROWS: usize = 512;

/// Per column: the largest score over the other rows, its row (the first one on ties; -1 when
/// there is no other row), and the second largest (equal to the largest on a tie); a NaN score
/// counts as the largest.
#[derive(Debug, Clone, PartialEq)]
pub struct TopScores {
    /// Largest score (`-inf` when there is no other row).
    pub top: Vec<f32>,
    /// Its row.
    pub arg: Vec<i64>,
    /// Second largest score (`-inf` when there is no second row).
    pub second: Vec<f32>,
}

/// [`TopScores`] of the witnesses `x` (`m x p`, one per row, with the scales `s`) against the
/// rows of `w` (`V x p`, with the row terms `a` and `b`), the row `classes[c]` left out for
/// witness `c`.
pub fn top_scores(
    w: Matrix<'_, f32>,
    (a, b): (&[f32], &[f32]),
    x: Matrix<'_, f32>,
    s: &[f32],
    classes: &[i64],
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<TopScores> {
    let (v, p, m) = (w.rows, w.cols, x.rows);
    if x.cols != p {
        return Err(Error::invalid(format!(
            "the witnesses have {} columns but the weights {p}",
            x.cols
        )));
    }
    if a.len() != v || b.len() != v || s.len() != m {
        return Err(Error::invalid(format!(
            "row terms of lengths {} and {} for {v} rows, scales of length {} for {m} witnesses",
            a.len(),
            b.len(),
            s.len()
        )));
    }
    if classes.len() != m {
        return Err(Error::invalid(format!(
            "{} classes given for {m} witnesses",
            classes.len()
        )));
    }
    if let Some(k) = classes.iter().find(|&&k| k < 0 || k as u64 >= v as u64) {
        return Err(Error::invalid(format!("class {k} is outside the {v} rows")));
    }
    let mut top = buffers::filled(m, f32::NEG_INFINITY, "the top scores")?;
    let mut arg = buffers::filled(m, -1i64, "the top rows")?;
    let mut second = buffers::filled(m, f32::NEG_INFINITY, "the second scores")?;
    buffers::ensure::<f32>(
        buffers::product(&[COLS, ROWS.min(v.max(1))], "a score tile")?,
        "a score tile",
    )?;
    monitor.set_total(m.div_ceil(COLS));
    with_threads(n_threads, || {
        top.par_chunks_mut(COLS)
            .zip(arg.par_chunks_mut(COLS))
            .zip(second.par_chunks_mut(COLS))
            .enumerate()
            .try_for_each(|(block, ((top, arg), second))| {
                monitor.check()?;
                let c0 = block * COLS;
                let cols = top.len();
                let lhs = MatRef::from_row_major_slice(&x.data[c0 * p..(c0 + cols) * p], cols, p);
                let mut tile = vec![0.0f32; cols * ROWS.min(v)];
                for r0 in (0..v).step_by(ROWS) {
                    let rows = ROWS.min(v - r0);
                    let rhs =
                        MatRef::from_column_major_slice(&w.data[r0 * p..(r0 + rows) * p], p, rows);
                    let dst =
                        MatMut::from_row_major_slice_mut(&mut tile[..cols * rows], cols, rows);
                    matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::Seq);
                    let (ra, rb) = (&a[r0..r0 + rows], &b[r0..r0 + rows]);
                    for c in 0..cols {
                        let scores = &mut tile[c * rows..(c + 1) * rows];
                        let sc = s[c0 + c];
                        for ((t, &aj), &bj) in scores.iter_mut().zip(ra).zip(rb) {
                            *t = (*t + aj * sc) + bj;
                        }
                        let own = classes[c0 + c] - r0 as i64;
                        if (0..rows as i64).contains(&own) {
                            scores[own as usize] = f32::NEG_INFINITY;
                        }
                        scan(scores, r0, &mut top[c], &mut arg[c], &mut second[c]);
                    }
                }
                monitor.advance(1);
                Ok(())
            })
    })??;
    Ok(TopScores { top, arg, second })
}

/// Fold `scores` (rows `r0..`) into a column's running top two; a NaN score becomes the top
/// for good (and fails the caller's finiteness test). `-inf` scores (the own class) are skipped.
#[inline]
fn scan(scores: &[f32], r0: usize, top: &mut f32, arg: &mut i64, second: &mut f32) {
    if top.is_nan() {
        return;
    }
    for (r, &s) in scores.iter().enumerate() {
        if s <= *second || s == f32::NEG_INFINITY {
            continue;
        }
        if s.is_nan() {
            (*top, *arg) = (s, (r0 + r) as i64);
            return;
        }
        if s > *top {
            (*second, *top, *arg) = (*top, s, (r0 + r) as i64);
        } else {
            *second = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::lcg;

    fn brute(
        w: &[f32],
        ab: (&[f32], &[f32]),
        x: &[f32],
        sc: &[f32],
        p: usize,
        classes: &[i64],
    ) -> TopScores {
        let v = ab.0.len();
        let m = classes.len();
        let mut out = TopScores {
            top: vec![f32::NEG_INFINITY; m],
            arg: vec![-1; m],
            second: vec![f32::NEG_INFINITY; m],
        };
        for c in 0..m {
            let mut s: Vec<(f64, usize)> = (0..v)
                .filter(|&j| j as i64 != classes[c])
                .map(|j| {
                    let dot: f64 = (0..p)
                        .map(|t| w[j * p + t] as f64 * x[c * p + t] as f64)
                        .sum();
                    (dot + ab.0[j] as f64 * sc[c] as f64 + ab.1[j] as f64, j)
                })
                .collect();
            s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(&(t, j)) = s.first() {
                out.top[c] = t as f32;
                out.arg[c] = j as i64;
            }
            if let Some(&(t, _)) = s.get(1) {
                out.second[c] = t as f32;
            }
        }
        out
    }

    #[test]
    fn agrees_with_brute_force_across_tiles_and_threads() {
        let (v, p, m) = (2500, 9, 150);
        let w: Vec<f32> = lcg(1, v * p).iter().map(|&a| a as f32).collect();
        let x: Vec<f32> = lcg(2, m * p).iter().map(|&a| a as f32).collect();
        let classes: Vec<i64> = (0..m as i64).map(|c| (c * 17) % v as i64).collect();
        let (wm, xm) = (
            Matrix::new(&w, v, p).unwrap(),
            Matrix::new(&x, m, p).unwrap(),
        );
        let a: Vec<f32> = lcg(3, v).iter().map(|&t| t.abs() as f32).collect();
        let b: Vec<f32> = lcg(4, v).iter().map(|&t| t as f32).collect();
        let sc: Vec<f32> = lcg(5, m).iter().map(|&t| t.abs() as f32).collect();
        let run = |threads| top_scores(wm, (&a, &b), xm, &sc, &classes, threads, &Monitor::new());
        let got = run(Some(1)).unwrap();
        let want = brute(&w, (&a, &b), &x, &sc, p, &classes);
        assert_eq!(got.arg, want.arg);
        for c in 0..m {
            assert!((got.top[c] - want.top[c]).abs() <= 1e-5 * (1.0 + want.top[c].abs()));
            assert!((got.second[c] - want.second[c]).abs() <= 1e-5 * (1.0 + want.second[c].abs()));
        }
        assert_eq!(got, run(Some(3)).unwrap());
    }

    #[test]
    fn ties_nans_and_a_single_row() {
        // Rows 0 and 2 tie for the top of witness 0; its own class (1) would be larger.
        let w = [1.0f32, 5.0, 1.0, 0.5];
        let zero = [0.0f32; 4];
        let x = [1.0f32];
        let xm = Matrix::new(&x, 1, 1).unwrap();
        let run = |w: &[f32], k: i64| {
            let v = w.len();
            let wm = Matrix::new(w, v, 1).unwrap();
            top_scores(
                wm,
                (&zero[..v], &zero[..v]),
                xm,
                &[1.0],
                &[k],
                None,
                &Monitor::new(),
            )
        };
        let got = run(&w, 1).unwrap();
        assert_eq!((got.top[0], got.arg[0], got.second[0]), (1.0, 0, 1.0));
        let got = run(&[1.0, f32::NAN, 2.0], 0).unwrap();
        assert!(got.top[0].is_nan());
        let one = run(&w[..1], 0).unwrap();
        assert_eq!((one.top[0], one.arg[0]), (f32::NEG_INFINITY, -1));
        assert!(run(&w, 4)
            .unwrap_err()
            .to_string()
            .contains("outside the 4 rows"));
        let wm = Matrix::new(&w, 4, 1).unwrap();
        let short = top_scores(
            wm,
            (&zero[..3], &zero),
            xm,
            &[1.0],
            &[0],
            None,
            &Monitor::new(),
        );
        assert!(short
            .unwrap_err()
            .to_string()
            .contains("row terms of lengths 3 and 4"));
    }
}
