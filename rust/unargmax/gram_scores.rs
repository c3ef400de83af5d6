//! The largest scores of witnesses that all come from one factor matrix: for every class `k`
//! asked for, `t_jk = y_j . y_k + sum_t p_jt q_kt` in float32 over the rows `j != k`, keeping
//! the largest, its row and the second largest (as [`TopScores`]).
//!
//! This is the Gram pass of `UnargmaxReport.verify()` for witnesses `x_k = alpha_k B y_k` (the
//! screen's `alpha_k w_k` with `B = I`, the whitened witnesses with their `B`): `y_j . y_k` is
//! symmetric, so one GEMM tile on or above the block diagonal serves both of its blocks (half
//! the flops), scanned along its columns and, off the diagonal, along its rows. The small
//! rank terms `p_j . q_k` carry the caller's bias and rounding allowances; the caller bounds the
//! rounding of any float32 summation order of the `p + T` products rigorously.
//!
//! Every pair is computed once, and the top two of a class are merged with the first row on
//! ties, so the result does not depend on the thread count or the order of the tiles.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use super::scores::TopScores;
use crate::buffers;
use crate::matrix::Matrix;
use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::{Error, Result};

/// Rows (and columns) of a block: a tile is `BLOCK x BLOCK` float32.
const BLOCK: usize = 256;

/// [`TopScores`] (one entry per row of `y`, `V x p`) of the classes with `wanted[k]`, over the
/// scores `y_j . y_k + sum_t pt[j][t] qt[k][t]` (`pt`, `qt`: `V x T`) of the rows `j != k`; the
/// other classes get no score (`-inf`, row `-1`). A class with a NaN score gets a NaN top and
/// second, row `-1`.
pub fn gram_top_scores(
    y: Matrix<'_, f32>,
    pt: Matrix<'_, f32>,
    qt: Matrix<'_, f32>,
    wanted: &[bool],
    n_threads: Option<usize>,
    monitor: &Monitor,
) -> Result<TopScores> {
    let (v, p, nt) = (y.rows, y.cols, pt.cols);
    if pt.rows != v || qt.rows != v || qt.cols != nt {
        return Err(Error::invalid(format!(
            "row terms {} x {} and column terms {} x {} for {v} rows",
            pt.rows, pt.cols, qt.rows, qt.cols
        )));
    }
    if wanted.len() != v {
        return Err(Error::invalid(format!(
            "{} flags for {v} classes",
            wanted.len()
        )));
    }
    if v > i32::MAX as usize {
        return Err(Error::invalid(format!("{v} rows are more than 2^31 - 1")));
    }
    let blocks: Vec<usize> = (0..v).step_by(BLOCK).collect();
    let any: Vec<bool> = blocks
        .iter()
        .map(|&b0| wanted[b0..(b0 + BLOCK).min(v)].iter().any(|&w| w))
        .collect();
    // Tiles (I, J), I <= J, that some wanted class needs: its column block J, or its row block I
    // off the diagonal.
    let tiles: Vec<(usize, usize)> = (0..blocks.len())
        .flat_map(|i| (i..blocks.len()).map(move |j| (i, j)))
        .filter(|&(i, j)| any[j] || (i != j && any[i]))
        .collect();
    let tile_len = BLOCK.min(v) * BLOCK.min(v);
    buffers::ensure::<f32>(buffers::product(&[2, tile_len], "a score tile")?, "a tile")?;
    buffers::ensure::<f32>(
        buffers::product(&[4, v], "the top scores")?,
        "the top scores",
    )?;
    monitor.set_total(tiles.len());
    // The rank terms column by column (`T x V`), so a row of scores is a sum of whole slices.
    let soa = |m: Matrix<'_, f32>| -> Vec<f32> {
        (0..nt)
            .flat_map(|t| (0..v).map(move |j| m.data[j * nt + t]))
            .collect()
    };
    let terms = Terms {
        pt: soa(pt),
        qt: soa(qt),
        nt,
        v,
    };
    let acc = with_threads(n_threads, || {
        tiles
            .par_iter()
            .try_fold(
                || {
                    (
                        Acc::new(v),
                        vec![0.0f32; tile_len],
                        vec![0.0f32; tile_len],
                        vec![0.0f32; BLOCK],
                    )
                },
                |(mut acc, mut tile, mut tr, mut buf), &(bi, bj)| -> Result<_> {
                    monitor.check()?;
                    let (r0, c0) = (blocks[bi], blocks[bj]);
                    let (nr, nc) = (BLOCK.min(v - r0), BLOCK.min(v - c0));
                    let lhs = MatRef::from_row_major_slice(&y.data[r0 * p..(r0 + nr) * p], nr, p);
                    let rhs =
                        MatRef::from_column_major_slice(&y.data[c0 * p..(c0 + nc) * p], p, nc);
                    let dst = MatMut::from_row_major_slice_mut(&mut tile[..nr * nc], nr, nc);
                    matmul(dst, Accum::Replace, lhs, rhs, 1.0f32, Par::Seq);
                    if any[bj] {
                        // Classes c0.. (the columns), rows r0...
                        terms.scan(&tile[..nr * nc], (r0, nr), (c0, nc), &mut acc, &mut buf);
                    }
                    if bi != bj && any[bi] {
                        // Classes r0.. (the rows), rows c0..: the transposed tile.
                        for (r, row) in tile[..nr * nc].chunks_exact(nc).enumerate() {
                            for (c, &g) in row.iter().enumerate() {
                                tr[c * nr + r] = g;
                            }
                        }
                        terms.scan(&tr[..nr * nc], (c0, nc), (r0, nr), &mut acc, &mut buf);
                    }
                    monitor.advance(1);
                    Ok((acc, tile, tr, buf))
                },
            )
            .map(|r| r.map(|(acc, ..)| acc))
            .try_reduce(|| Acc::new(v), |a, b| Ok(a.merge(b)))
    })??;
    Ok(acc.into_top(wanted))
}

/// The running top two of every class (structure of arrays, so a row of a tile updates all its
/// columns at once): a class's largest score, its row (the smallest on ties), the second
/// largest (equal to the largest on a tie), and whether a NaN was seen.
struct Acc {
    top: Vec<f32>,
    arg: Vec<i32>,
    second: Vec<f32>,
    nan: Vec<i32>,
}

impl Acc {
    fn new(v: usize) -> Self {
        Acc {
            top: vec![f32::NEG_INFINITY; v],
            arg: vec![-1; v],
            second: vec![f32::NEG_INFINITY; v],
            nan: vec![0; v],
        }
    }

    /// The top two of the union of both sets of rows (the same whatever the order of updates).
    fn merge(mut self, o: Acc) -> Acc {
        for k in 0..self.top.len() {
            let (t, a, s) = (self.top[k], self.arg[k], self.second[k]);
            let (u, b, r) = (o.top[k], o.arg[k], o.second[k]);
            (self.top[k], self.arg[k], self.second[k]) = if t > u {
                (t, a, s.max(u))
            } else if u > t {
                (u, b, r.max(t))
            } else if t == f32::NEG_INFINITY {
                (t, -1, t)
            } else {
                (t, a.min(b), t)
            };
            self.nan[k] |= o.nan[k];
        }
        self
    }

    fn into_top(self, wanted: &[bool]) -> TopScores {
        let mut out = TopScores {
            top: self.top,
            arg: self.arg.iter().map(|&a| a as i64).collect(),
            second: self.second,
        };
        for (k, &w) in wanted.iter().enumerate() {
            if !w {
                (out.top[k], out.arg[k], out.second[k]) =
                    (f32::NEG_INFINITY, -1, f32::NEG_INFINITY);
            } else if self.nan[k] != 0 {
                (out.top[k], out.arg[k], out.second[k]) = (f32::NAN, -1, f32::NAN);
            }
        }
        out
    }
}

/// The rank terms, each `T x V` (term by term).
struct Terms {
    pt: Vec<f32>,
    qt: Vec<f32>,
    nt: usize,
    v: usize,
}

impl Terms {
    crate::widest! {
        /// Fold a tile (`tile[r][c] = y_(j0 + r) . y_(k0 + c)`, `nj x nk`) into the classes
        /// `k0..k0 + nk`, row by row, each class's own row left out.
        fn scan(&self, tile: &[f32], rows: (usize, usize), cols: (usize, usize), acc: &mut Acc, buf: &mut [f32]) -> ();
        generic scan_generic, avx512 scan_avx512, avx2 scan_avx2
    }

    #[inline(always)]
    fn scan_generic(
        &self,
        tile: &[f32],
        (j0, nj): (usize, usize),
        (k0, nk): (usize, usize),
        acc: &mut Acc,
        buf: &mut [f32],
    ) {
        let (nt, v) = (self.nt, self.v);
        let buf = &mut buf[..nk];
        let ks = k0..k0 + nk;
        let top = &mut acc.top[ks.clone()];
        let arg = &mut acc.arg[ks.clone()];
        let second = &mut acc.second[ks.clone()];
        let nan = &mut acc.nan[ks.clone()];
        for (r, g) in tile.chunks_exact(nk).take(nj).enumerate() {
            let j = j0 + r;
            buf.copy_from_slice(g);
            for t in 0..nt {
                let pj = self.pt[t * v + j];
                let q = &self.qt[t * v + k0..t * v + k0 + nk];
                buf.iter_mut().zip(q).for_each(|(s, &qk)| *s += pj * qk);
            }
            if ks.contains(&j) {
                buf[j - k0] = f32::NEG_INFINITY;
            }
            let jj = j as i32;
            for ((((&s, t), a), sc), nn) in buf
                .iter()
                .zip(top.iter_mut())
                .zip(arg.iter_mut())
                .zip(second.iter_mut())
                .zip(nan.iter_mut())
            {
                let gt = s > *t;
                let eq = s == *t && s > f32::NEG_INFINITY;
                *nn |= s.is_nan() as i32;
                *sc = if gt {
                    *t
                } else if eq {
                    s
                } else {
                    sc.max(s)
                };
                *a = if gt {
                    jj
                } else if eq {
                    (*a).min(jj)
                } else {
                    *a
                };
                *t = if gt { s } else { *t };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::lcg;

    type Top = (f32, i64, f32);
    const EMPTY: Top = (f32::NEG_INFINITY, -1, f32::NEG_INFINITY);

    /// Top two by sorting exact (f64) scores, the first row on ties.
    fn brute(y: &[f32], pt: &[f32], qt: &[f32], p: usize, nt: usize, wanted: &[bool]) -> Top3 {
        let v = wanted.len();
        let mut out = vec![EMPTY; v];
        for k in (0..v).filter(|&k| wanted[k]) {
            let mut s: Vec<(f64, usize)> = (0..v)
                .filter(|&j| j != k)
                .map(|j| {
                    let dot: f64 = (0..p)
                        .map(|t| y[j * p + t] as f64 * y[k * p + t] as f64)
                        .sum();
                    let extra: f64 = (0..nt)
                        .map(|t| pt[j * nt + t] as f64 * qt[k * nt + t] as f64)
                        .sum();
                    (dot + extra, j)
                })
                .collect();
            s.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if let Some(&(t, j)) = s.first() {
                out[k] = (t as f32, j as i64, f32::NEG_INFINITY);
            }
            if let Some(&(t, _)) = s.get(1) {
                out[k].2 = t as f32;
            }
        }
        out
    }

    type Top3 = Vec<Top>;

    #[test]
    fn agrees_with_brute_force_across_tiles_threads_and_subsets() {
        let (v, p, nt) = (700, 7, 3);
        // Small integers (many exact ties) and then general values.
        for round in [true, false] {
            let y: Vec<f32> = lcg(1, v * p)
                .iter()
                .map(|&a| {
                    if round {
                        (3.0 * a).round() as f32
                    } else {
                        a as f32
                    }
                })
                .collect();
            let small = |seed, n| -> Vec<f32> {
                let r = lcg(seed, n).into_iter();
                r.map(|a| {
                    if round {
                        (2.0 * a).round() as f32
                    } else {
                        a as f32
                    }
                })
                .collect()
            };
            let (pt, qt) = (small(2, v * nt), small(3, v * nt));
            let ym = Matrix::new(&y, v, p).unwrap();
            let (pm, qm) = (
                Matrix::new(&pt, v, nt).unwrap(),
                Matrix::new(&qt, v, nt).unwrap(),
            );
            for wanted in [
                vec![true; v],
                (0..v).map(|k| k % 3 == 1).collect::<Vec<_>>(),
                (0..v).map(|k| k >= 600).collect(),
            ] {
                let run = |t| gram_top_scores(ym, pm, qm, &wanted, t, &Monitor::new()).unwrap();
                let got = run(Some(1));
                let want = brute(&y, &pt, &qt, p, nt, &wanted);
                for (k, &(t, a, s)) in want.iter().enumerate() {
                    assert_eq!(got.arg[k], a, "class {k}");
                    let close = |a: f32, b: f32| a == b || (a - b).abs() <= 1e-5 * (1.0 + b.abs());
                    assert!(close(got.top[k], t) && close(got.second[k], s), "class {k}");
                }
                assert_eq!(got, run(Some(3)));
                assert_eq!(got, run(Some(2)));
            }
        }
    }

    #[test]
    fn ties_nans_and_bad_shapes() {
        // Rows 0 and 2 tie for the top of class 1; class 3 has a NaN row (row 1).
        let y = [1.0f32, 1.0, 1.0, 0.5];
        let zero = [0.0f32; 4];
        let run = |y: &[f32], pt: &[f32]| {
            let v = y.len();
            gram_top_scores(
                Matrix::new(y, v, 1).unwrap(),
                Matrix::new(pt, v, 1).unwrap(),
                Matrix::new(&[1.0f32; 4][..v], v, 1).unwrap(),
                &vec![true; v],
                None,
                &Monitor::new(),
            )
        };
        let got = run(&y, &zero).unwrap();
        assert_eq!((got.top[1], got.arg[1], got.second[1]), (1.0, 0, 1.0));
        assert_eq!((got.top[3], got.arg[3], got.second[3]), (0.5, 0, 0.5));
        let got = run(&y, &[0.0, f32::NAN, 0.0, 0.0]).unwrap();
        assert!(got.top[3].is_nan() && got.second[3].is_nan() && got.arg[3] == -1);
        assert!(got.top[1].is_finite() && got.arg[1] == 0);
        let one = run(&y[..1], &zero[..1]).unwrap();
        assert_eq!((one.top[0], one.arg[0]), (f32::NEG_INFINITY, -1));
        let short = gram_top_scores(
            Matrix::new(&y, 4, 1).unwrap(),
            Matrix::new(&zero[..3], 3, 1).unwrap(),
            Matrix::new(&zero, 4, 1).unwrap(),
            &[true; 4],
            None,
            &Monitor::new(),
        );
        assert!(short.unwrap_err().to_string().contains("row terms 3 x 1"));
    }
}
