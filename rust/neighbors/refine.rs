//! Refinement of an approximate kNN table by NN-descent's local join.
//!
//! Each round gives every row, as candidates, the neighbours of its neighbours, its reverse
//! neighbours (the rows that list it; the nearest [`RefineParams::reverse`] of them) and their
//! neighbours. Every candidate's exact ranking value is computed (the value the exact search
//! ranks by) and the row keeps its best `k` under (value, index). A round only improves a list,
//! and a pair compared in one round is not compared again: a candidate counts only when the
//! path that reaches it uses an entry that is new since the previous round. The rows are
//! independent within a round (each reads the previous round's table), so the result does not
//! depend on the thread count. An approximate graph search that ends in the wrong region for
//! some rows (their lists pile onto a few far points, inflating hubness) is mended mostly by
//! the reverse neighbours: the rows that did find such a row bring it back to its region.

use std::cmp::Ordering;

use rayon::prelude::*;

use super::{exact_key, Metric};
use crate::buffers;
use crate::matrix::Matrix;
use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::Real;
use crate::{Error, Result};

/// Rows handled per parallel task (and per progress unit).
const CHUNK: usize = 1024;

/// Options of [`refine`].
#[derive(Debug, Clone, Copy)]
pub struct RefineParams {
    /// The dissimilarity (that of the table).
    pub metric: Metric,
    /// Most rounds (fewer when a round changes nothing).
    pub rounds: usize,
    /// Reverse neighbours used per row, the nearest ones.
    pub reverse: usize,
    /// Whether a row is never its own neighbour (a self-join that excludes self).
    pub exclude_self: bool,
    /// Size of the thread pool (`None`: the current pool).
    pub n_threads: Option<usize>,
}

/// A neighbour table: `rows x k` indices and their exact ranking values, row-major, each row
/// ascending under (value, index).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Neighbour indices.
    pub indices: Vec<i64>,
    /// Their exact ranking values.
    pub keys: Vec<f64>,
    /// Neighbours per row.
    pub k: usize,
}

/// Improve the kNN table of the self-join of `data` for up to `params.rounds` rounds; returns
/// the table and the number of entries each round changed.
///
/// `keys` must be the exact ranking values of the entries (as [`super::knn_keys`] gives them);
/// `order`, when given, a permutation of the rows in which to visit them (rows of one region
/// together keep their candidates in cache; the result does not depend on it); `fresh`, when
/// given, marks the entries that are new (the others were refined before: only paths through
/// a new entry are compared in the first round); `None` marks all.
pub fn refine<T: Real>(
    data: Matrix<'_, T>,
    table: Table,
    order: Option<&[i64]>,
    fresh: Option<&[bool]>,
    params: &RefineParams,
    monitor: &Monitor,
) -> Result<(Table, Vec<usize>)> {
    let n = data.rows;
    check(data, &table, order, params)?;
    if fresh.is_some_and(|f| f.len() != table.indices.len()) {
        return Err(Error::invalid("fresh must have the shape of the table"));
    }
    let order: Vec<usize> = match order {
        Some(o) => o.iter().map(|&i| i as usize).collect(),
        None => (0..n).collect(),
    };
    let norms: Vec<f64> = match params.metric {
        Metric::Cosine => (0..n).map(|i| super::norm(data.row(i))).collect(),
        _ => Vec::new(),
    };
    let mut table = table;
    let mut fresh = match fresh {
        Some(f) => f.to_vec(),
        None => buffers::filled(table.indices.len(), true, "the refinement flags")?,
    };
    let mut changes = Vec::new();
    monitor.set_total(params.rounds * n.div_ceil(CHUNK));
    for _ in 0..params.rounds {
        let round = Round {
            data,
            table: &table,
            fresh: &fresh,
            reverse: Reverse::new(&table, n, params.reverse)?,
            norms: &norms,
            params,
        };
        let (next, next_fresh, changed) =
            with_threads(params.n_threads, || round.run(&order, monitor))??;
        changes.push(changed);
        table = next;
        fresh = next_fresh;
        if changed == 0 {
            break;
        }
    }
    Ok((table, changes))
}

fn check<T: Real>(
    data: Matrix<'_, T>,
    table: &Table,
    order: Option<&[i64]>,
    p: &RefineParams,
) -> Result<()> {
    let n = data.rows;
    if n > u32::MAX as usize {
        return Err(Error::invalid(format!(
            "refinement handles at most {} rows, got {n}",
            u32::MAX
        )));
    }
    if table.k == 0 || table.indices.len() != n * table.k || table.keys.len() != n * table.k {
        return Err(Error::invalid(format!(
            "the table must have {n} rows (one per data row) of k >= 1 entries"
        )));
    }
    if let Some(bad) = table
        .indices
        .iter()
        .find(|&&j| j < 0 || j as u64 >= n as u64)
    {
        return Err(Error::invalid(format!(
            "neighbour index {bad} is outside the {n} data rows"
        )));
    }
    if p.exclude_self && table.k >= n {
        return Err(Error::invalid(format!(
            "k = {} must be smaller than the number of points n = {n}",
            table.k
        )));
    }
    if let Some(o) = order {
        let mut seen = buffers::filled(n, false, "the row order check")?;
        if o.len() != n
            || o.iter().any(|&i| {
                i < 0 || i as u64 >= n as u64 || std::mem::replace(&mut seen[i as usize], true)
            })
        {
            return Err(Error::invalid(format!(
                "order must be a permutation of the {n} rows"
            )));
        }
    }
    Ok(())
}

/// The reverse lists of a table: for each row, the rows that list it (nearest first, at most
/// `cap`), with the slot at which they list it.
struct Reverse {
    start: Vec<usize>,
    /// (row that lists, slot of the entry in that row).
    entries: Vec<(u32, u32)>,
}

impl Reverse {
    fn new(table: &Table, n: usize, cap: usize) -> Result<Self> {
        let k = table.k;
        let mut count = buffers::filled(n + 1, 0usize, "the reverse neighbour lists")?;
        for &j in &table.indices {
            count[j as usize + 1] += 1;
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut all = buffers::filled(table.indices.len(), (0u32, 0u32), "the reverse lists")?;
        for (e, &j) in table.indices.iter().enumerate() {
            all[fill[j as usize]] = ((e / k) as u32, (e % k) as u32);
            fill[j as usize] += 1;
        }
        // The nearest `cap` of each list, under (value, index): a hub keeps its closest rows.
        let keys = &table.keys;
        let mut lists: Vec<&mut [(u32, u32)]> = Vec::with_capacity(n);
        let mut rest = all.as_mut_slice();
        for i in 0..n {
            let (head, tail) = rest.split_at_mut(count[i + 1] - count[i]);
            lists.push(head);
            rest = tail;
        }
        let key = |&(r, s): &(u32, u32)| (keys[r as usize * k + s as usize], r);
        lists.par_iter_mut().for_each(|l| {
            if l.len() > cap {
                l.select_nth_unstable_by(cap, |a, b| cmp_key(key(a), key(b)));
            }
        });
        let mut start = Vec::with_capacity(n + 1);
        let mut entries = Vec::new();
        start.push(0);
        for l in lists {
            let mut kept = l[..l.len().min(cap)].to_vec();
            kept.sort_unstable_by(|a, b| cmp_key(key(a), key(b)));
            entries.extend_from_slice(&kept);
            start.push(entries.len());
        }
        Ok(Reverse { start, entries })
    }

    fn of(&self, i: usize) -> &[(u32, u32)] {
        &self.entries[self.start[i]..self.start[i + 1]]
    }
}

fn cmp_key(a: (f64, u32), b: (f64, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// One round: the previous table, its flags, and what the rows read.
struct Round<'a, 'd, T> {
    data: Matrix<'d, T>,
    table: &'a Table,
    fresh: &'a [bool],
    reverse: Reverse,
    norms: &'a [f64],
    params: &'a RefineParams,
}

/// An entry of a row's new list: (index, value, new since the previous table).
type Entry = (i64, f64, bool);

impl<T: Real> Round<'_, '_, T> {
    fn run(&self, order: &[usize], monitor: &Monitor) -> Result<(Table, Vec<bool>, usize)> {
        let k = self.table.k;
        let rows: Vec<Vec<Entry>> = order
            .par_chunks(CHUNK)
            .map(|chunk| {
                monitor.check()?;
                let out = self.rows(chunk);
                monitor.advance(1);
                Ok(out)
            })
            .collect::<Result<_>>()?;
        let len = self.table.indices.len();
        let mut indices = buffers::zeros(len, "the refined indices")?;
        let mut keys = buffers::zeros(len, "the refined distances")?;
        let mut fresh = buffers::filled(len, false, "the refinement flags")?;
        let mut changed = 0;
        for (&i, row) in order
            .iter()
            .zip(rows.iter().flat_map(|r| r.chunks_exact(k)))
        {
            for (s, &(j, v, new)) in row.iter().enumerate() {
                indices[i * k + s] = j;
                keys[i * k + s] = v;
                fresh[i * k + s] = new;
                changed += new as usize;
            }
        }
        Ok((Table { indices, keys, k }, fresh, changed))
    }

    crate::widest! {
        /// The lists of `rows` after this round, one after another (k entries each), the
        /// distances vectorised for the widest unit.
        fn rows(&self, rows: &[usize]) -> Vec<Entry>;
        generic rows_generic, avx512 rows_avx512, avx2 rows_avx2
    }

    #[inline(always)]
    fn rows_generic(&self, rows: &[usize]) -> Vec<Entry> {
        let (mut cand, mut best) = (Vec::new(), Vec::new());
        let mut out = Vec::with_capacity(rows.len() * self.table.k);
        for &i in rows {
            self.row(i, &mut cand, &mut best);
            out.extend_from_slice(&best);
        }
        out
    }

    /// Row `i`'s list after this round into `best` (`cand`, `best`: reused buffers).
    #[inline(always)]
    fn row(&self, i: usize, cand: &mut Vec<u32>, best: &mut Vec<Entry>) {
        let (t, k) = (self.table, self.table.k);
        let list = &t.indices[i * k..(i + 1) * k];
        let new_at = |r: usize, s: usize| self.fresh[r * k + s];
        cand.clear();
        for (s, &j) in list.iter().enumerate() {
            let j = j as usize;
            for (sj, &c) in t.indices[j * k..(j + 1) * k].iter().enumerate() {
                if new_at(i, s) || new_at(j, sj) {
                    cand.push(c as u32);
                }
            }
        }
        for &(j, s) in self.reverse.of(i) {
            let (j, s) = (j as usize, s as usize);
            if new_at(j, s) {
                cand.push(j as u32);
            }
            for (sj, &c) in t.indices[j * k..(j + 1) * k].iter().enumerate() {
                if new_at(j, s) || new_at(j, sj) {
                    cand.push(c as u32);
                }
            }
        }
        if !self.params.exclude_self && new_at(i, 0) {
            cand.push(i as u32);
        }
        cand.sort_unstable();
        cand.dedup();
        best.clear();
        best.extend(
            list.iter()
                .zip(&t.keys[i * k..(i + 1) * k])
                .map(|(&j, &v)| (j, v, false)),
        );
        let worst = best[k - 1];
        for &c in cand.iter() {
            let c = c as usize;
            if (self.params.exclude_self && c == i) || list.contains(&(c as i64)) {
                continue;
            }
            let v = self.key(i, c);
            if cmp_key((v, c as u32), (worst.1, worst.0 as u32)) == Ordering::Less {
                best.push((c as i64, v, true));
            }
        }
        if best.len() > k {
            best.sort_unstable_by(|a, b| cmp_key((a.1, a.0 as u32), (b.1, b.0 as u32)));
            best.truncate(k);
        }
    }

    #[inline(always)]
    fn key(&self, i: usize, j: usize) -> f64 {
        let (q, x) = (self.data.row(i), self.data.row(j));
        exact_key(self.params.metric, q, x, || (self.norms[i], self.norms[j]))
    }
}

#[cfg(test)]
#[path = "refine_tests.rs"]
mod tests;
