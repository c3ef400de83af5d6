//! Exact k-nearest neighbours by blocked GEMM and bounded top-k selection.
//!
//! For each block of query rows and each block of data rows, one GEMM gives the dot products,
//! from which a ranking key is formed (`|x|^2 - 2 q.x` for the Euclidean metrics on centred
//! data, `-q.x` for cosine on normalised rows and for the inner product). A bounded heap per
//! query row keeps a candidate pool a little larger than `k`. The pool is then re-ranked by the
//! exact distance computed in f64 from the original vectors, and a rounding-error bound on the
//! GEMM keys proves that no point outside the pool could enter the top `k`; when the proof fails
//! (near-ties at the boundary), that row is recomputed exactly over all points. The result is the
//! exact top `k` under the order (f64 distance, index), so ties go to the lower index and the
//! output does not depend on the block sizes or the number of threads. The n x n distance matrix
//! is never formed.

use std::borrow::Cow;
use std::sync::Mutex;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::{check_finite, Real};
use crate::topk::TopK;
use crate::{Error, Result};

/// Query rows per block in a query-vs-data search (one GEMM tile is `QUERY_BLOCK x DATA_BLOCK`).
const QUERY_BLOCK: usize = 256;
/// Data rows per block in a query-vs-data search.
const DATA_BLOCK: usize = 2048;
/// Rows per block in a self-join, which computes only the tiles on and above the diagonal and
/// feeds each product to both of its rows.
const SELF_BLOCK: usize = 512;
/// Keys formed and tested together in the selection scans.
const LANES: usize = 32;

/// The dissimilarity used to rank neighbours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `||q - x||`
    Euclidean,
    /// `||q - x||^2`
    SqEuclidean,
    /// `1 - q.x / (||q|| ||x||)`, with a zero vector at cosine similarity 0 to everything.
    Cosine,
    /// `q.x`, a similarity: larger is nearer, reported in descending order.
    InnerProduct,
}

impl Metric {
    /// Parse a metric name as the Python API spells it.
    pub fn parse(name: &str) -> Result<Metric> {
        match name {
            "euclidean" => Ok(Metric::Euclidean),
            "sqeuclidean" => Ok(Metric::SqEuclidean),
            "cosine" => Ok(Metric::Cosine),
            "inner_product" => Ok(Metric::InnerProduct),
            other => Err(Error::invalid(format!(
                "unknown metric {other:?}; expected one of 'euclidean', 'sqeuclidean', 'cosine', \
                 'inner_product'"
            ))),
        }
    }

    fn is_euclidean(self) -> bool {
        matches!(self, Metric::Euclidean | Metric::SqEuclidean)
    }
}

/// A borrowed dense row-major matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a, T> {
    /// The entries, row after row.
    pub data: &'a [T],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl<'a, T> Matrix<'a, T> {
    /// Wrap `data` as a `rows x cols` matrix, checking the length.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Result<Self> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(Error::invalid(format!(
                "buffer of length {} cannot be a {rows} x {cols} matrix",
                data.len()
            )));
        }
        Ok(Matrix { data, rows, cols })
    }

    fn row(&self, i: usize) -> &'a [T] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// Options of a kNN search.
#[derive(Debug, Clone, Copy)]
pub struct KnnParams {
    /// Number of neighbours per query row.
    pub k: usize,
    /// The dissimilarity.
    pub metric: Metric,
    /// When set, query row `i` is data row `self_offset + i` and is never its own neighbour
    /// (exclusion by index, so duplicates of a point are still found).
    pub self_offset: Option<usize>,
    /// Size of the thread pool (`None`: rayon's global pool).
    pub n_threads: Option<usize>,
}

/// The neighbours of each query row, nearest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbors<T> {
    /// `rows x k` data indices, row-major.
    pub indices: Vec<i64>,
    /// `rows x k` distances (similarities for [`Metric::InnerProduct`]), row-major.
    pub distances: Vec<T>,
    /// Number of query rows.
    pub rows: usize,
    /// Neighbours per row.
    pub k: usize,
}

/// Exact kNN of every row of `query` (of `data` itself when `None`) among the rows of `data`.
///
/// `monitor` counts GEMM tiles as they finish and can cancel the search.
pub fn knn<T: Real>(
    data: Matrix<'_, T>,
    query: Option<Matrix<'_, T>>,
    params: &KnnParams,
    monitor: &Monitor,
) -> Result<Neighbors<T>> {
    with_threads(params.n_threads, || search(data, query, params, monitor))?
}

/// [`knn`] on the current rayon pool.
fn search<T: Real>(
    data: Matrix<'_, T>,
    query: Option<Matrix<'_, T>>,
    params: &KnnParams,
    monitor: &Monitor,
) -> Result<Neighbors<T>> {
    let (n, d) = (data.rows, data.cols);
    let q = query.unwrap_or(data);
    validate(data, q, params)?;
    let prep = Prepared::new(data, query, params.metric);
    let (m, k) = (q.rows, params.k);
    let search = Search {
        data,
        query: q,
        prep: &prep,
        params,
        n,
        d,
    };
    let mut heaps: Vec<TopK> = (0..m).map(|_| TopK::new(search.pool())).collect();
    let mut indices = vec![0i64; m * k];
    let mut distances = vec![T::ZERO; m * k];
    if query.is_none() {
        search.self_join(&mut heaps, monitor)?;
    } else {
        search.cross(&mut heaps, monitor)?;
    }
    indices
        .par_chunks_mut(k)
        .zip(distances.par_chunks_mut(k))
        .zip(heaps.par_iter_mut())
        .enumerate()
        .for_each(|(i, ((idx_out, dist_out), heap))| {
            for (slot, (e, j)) in search.refine(i, heap).into_iter().enumerate() {
                idx_out[slot] = j as i64;
                dist_out[slot] = search.report(e);
            }
        });
    Ok(Neighbors {
        indices,
        distances,
        rows: m,
        k,
    })
}

fn validate<T: Real>(data: Matrix<'_, T>, q: Matrix<'_, T>, p: &KnnParams) -> Result<()> {
    if data.rows == 0 {
        return Err(Error::invalid("the data has no rows"));
    }
    if data.cols == 0 {
        return Err(Error::invalid("the data has no columns (features)"));
    }
    if q.cols != data.cols {
        return Err(Error::invalid(format!(
            "query has {} columns but the data has {}",
            q.cols, data.cols
        )));
    }
    if p.k == 0 {
        return Err(Error::invalid("k must be at least 1"));
    }
    let available = match p.self_offset {
        Some(o) => {
            if o.checked_add(q.rows).is_none_or(|end| end > data.rows) {
                return Err(Error::invalid(format!(
                    "self_offset {o} + {} query rows exceeds the {} data rows",
                    q.rows, data.rows
                )));
            }
            data.rows - 1
        }
        None => data.rows,
    };
    if p.k > available {
        return Err(Error::invalid(match p.self_offset {
            Some(_) => format!(
                "k = {} must be smaller than the number of points n = {} (each point is excluded \
                 from its own neighbours)",
                p.k, data.rows
            ),
            None => format!(
                "k = {} must not exceed the number of data points n = {}",
                p.k, data.rows
            ),
        }));
    }
    check_finite(data.data, "the data")?;
    check_finite(q.data, "the query")
}

/// The rows in the form the GEMM kernel ranks, plus what the error bound needs.
struct Prepared<'a, T: Real> {
    data: Cow<'a, [T]>,
    query: Option<Cow<'a, [T]>>,
    /// Per data row: `|x|^2` (Euclidean metrics) or 0.
    bias: Vec<T>,
    /// Largest norm of a prepared data row.
    max_norm: f64,
    /// Coefficient of the dot product in the key (-2 or -1, exact in T).
    coef: T,
    metric: Metric,
    /// Original norms for the exact cosine (data, query).
    data_norms: Vec<f64>,
    query_norms: Option<Vec<f64>>,
}

impl<'a, T: Real> Prepared<'a, T> {
    fn new(data: Matrix<'a, T>, query: Option<Matrix<'a, T>>, metric: Metric) -> Self {
        let d = data.cols;
        let mean = if metric.is_euclidean() {
            column_mean(data)
        } else {
            vec![]
        };
        let transform = |m: Matrix<'a, T>| -> Cow<'a, [T]> {
            match metric {
                Metric::Euclidean | Metric::SqEuclidean => Cow::Owned(
                    m.data
                        .chunks_exact(d)
                        .flat_map(|r| {
                            r.iter()
                                .zip(&mean)
                                .map(|(v, mu)| T::from_f64(v.to_f64() - mu))
                        })
                        .collect(),
                ),
                Metric::Cosine => Cow::Owned(
                    m.data
                        .chunks_exact(d)
                        .flat_map(|r| {
                            let nr = norm(r);
                            let s = if nr > 0.0 { 1.0 / nr } else { 0.0 };
                            r.iter().map(move |v| T::from_f64(v.to_f64() * s))
                        })
                        .collect(),
                ),
                Metric::InnerProduct => Cow::Borrowed(m.data),
            }
        };
        let pdata = transform(data);
        let pquery = query.map(transform);
        let norms: Vec<f64> = pdata.chunks_exact(d).map(norm).collect();
        let max_norm = norms.iter().cloned().fold(0.0, f64::max);
        let bias = if metric.is_euclidean() {
            norms.iter().map(|v| T::from_f64(v * v)).collect()
        } else {
            vec![T::ZERO; data.rows]
        };
        let (data_norms, query_norms) = if metric == Metric::Cosine {
            (
                data.data.chunks_exact(d).map(norm).collect(),
                query.map(|q| q.data.chunks_exact(d).map(norm).collect()),
            )
        } else {
            (vec![], None)
        };
        let coef = T::from_f64(if metric.is_euclidean() { -2.0 } else { -1.0 });
        Prepared {
            data: pdata,
            query: pquery,
            bias,
            max_norm,
            coef,
            metric,
            data_norms,
            query_norms,
        }
    }

    fn query(&self) -> &[T] {
        self.query.as_deref().unwrap_or(&self.data)
    }

    fn query_norm(&self, i: usize) -> f64 {
        self.query_norms.as_ref().unwrap_or(&self.data_norms)[i]
    }
}

/// `sum_i f(a_i, b_i)` in f64 with eight independent accumulators (a fixed order, so the value
/// is deterministic, without the latency of one long dependency chain).
#[inline]
fn sum_pairs<T: Real>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| f(x.to_f64(), y.to_f64()))
        .sum();
    for (x, y) in ca.zip(cb) {
        for t in 0..8 {
            acc[t] += f(x[t].to_f64(), y[t].to_f64());
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

fn norm<T: Real>(r: &[T]) -> f64 {
    r.iter()
        .map(|v| v.to_f64() * v.to_f64())
        .sum::<f64>()
        .sqrt()
}

fn column_mean<T: Real>(m: Matrix<'_, T>) -> Vec<f64> {
    let mut mean = vec![0.0; m.cols];
    for r in m.data.chunks_exact(m.cols) {
        for (acc, v) in mean.iter_mut().zip(r) {
            *acc += v.to_f64();
        }
    }
    mean.iter_mut().for_each(|v| *v /= m.rows as f64);
    mean
}

struct Search<'s, 'a, T: Real> {
    data: Matrix<'a, T>,
    query: Matrix<'a, T>,
    prep: &'s Prepared<'a, T>,
    params: &'s KnnParams,
    n: usize,
    d: usize,
}

impl<T: Real> Search<'_, '_, T> {
    /// Size of the candidate pool kept per row before exact re-ranking.
    fn pool(&self) -> usize {
        let k = self.params.k;
        let available = self.n - self.params.self_offset.is_some() as usize;
        (k + (k / 4).max(16)).min(available)
    }

    fn self_index(&self, row: usize) -> Option<usize> {
        self.params.self_offset.map(|o| o + row)
    }

    /// The exact ranking value of data row `j` for query row `i` (smaller is nearer).
    fn exact(&self, i: usize, j: usize) -> f64 {
        let (q, x) = (self.query.row(i), self.data.row(j));
        match self.prep.metric {
            Metric::Euclidean | Metric::SqEuclidean => sum_pairs(q, x, |a, b| (a - b) * (a - b)),
            Metric::Cosine => {
                let den = self.prep.query_norm(i) * self.prep.data_norms[j];
                let dot = sum_pairs(q, x, |a, b| a * b);
                1.0 - if den > 0.0 { dot / den } else { 0.0 }
            }
            Metric::InnerProduct => -sum_pairs(q, x, |a, b| a * b),
        }
    }

    /// The reported value for an exact ranking value.
    fn report(&self, e: f64) -> T {
        T::from_f64(match self.params.metric {
            Metric::Euclidean => e.max(0.0).sqrt(),
            Metric::SqEuclidean => e.max(0.0),
            Metric::Cosine => e.clamp(0.0, 2.0),
            Metric::InnerProduct => -e,
        })
    }

    /// `dst = rows r0..r0+qb of the prepared query times rows c0..c0+db of the prepared data^T`.
    fn gemm(&self, query: &[T], r0: usize, qb: usize, c0: usize, db: usize, dst: &mut [T]) {
        let d = self.d;
        let lhs = MatRef::from_row_major_slice(&query[r0 * d..(r0 + qb) * d], qb, d);
        let rhs = MatRef::from_column_major_slice(&self.prep.data[c0 * d..(c0 + db) * d], d, db);
        let dst = MatMut::from_row_major_slice_mut(&mut dst[..qb * db], qb, db);
        matmul(dst, Accum::Replace, lhs, rhs, T::from_f64(1.0), Par::Seq);
    }

    /// Offer tile entry (r, jj) to query row r0 + r as candidate c0 + jj, for every entry.
    ///
    /// Keys are formed in `T` a chunk at a time; a chunk is looked at one by one only when one
    /// of its keys beats the row's current threshold, which after warm-up is rare.
    fn scan_rows(&self, tile: &[T], r0: usize, c0: usize, db: usize, heaps: &mut [TopK]) {
        let bias = &self.prep.bias[c0..c0 + db];
        let c = self.prep.coef;
        let mut keys = [T::ZERO; LANES];
        for (r, heap) in heaps.iter_mut().enumerate() {
            let skip = self.self_index(r0 + r);
            let row = &tile[r * db..(r + 1) * db];
            let mut thr = T::from_f64(heap.threshold());
            for (ch, (gs, bs)) in row.chunks(LANES).zip(bias.chunks(LANES)).enumerate() {
                let mut any = false;
                for ((key, &g), &a) in keys.iter_mut().zip(gs).zip(bs) {
                    *key = a + c * g;
                    any |= *key < thr;
                }
                if !any {
                    continue;
                }
                for (t, &key) in keys[..gs.len()].iter().enumerate() {
                    let j = c0 + ch * LANES + t;
                    if key < thr && skip != Some(j) {
                        heap.push(key.to_f64(), j);
                        thr = T::from_f64(heap.threshold());
                    }
                }
            }
        }
    }

    /// Offer tile entry (r, jj) to row c0 + jj as candidate r0 + r (the transposed use of an
    /// off-diagonal self-join tile, so no entry is a point's own).
    fn scan_cols(&self, tile: &[T], r0: usize, qb: usize, db: usize, heaps: &mut [TopK]) {
        let c = self.prep.coef;
        let mut thr: Vec<T> = heaps.iter().map(|h| T::from_f64(h.threshold())).collect();
        for r in 0..qb {
            let a = self.prep.bias[r0 + r];
            let row = &tile[r * db..(r + 1) * db];
            for lo in (0..db).step_by(LANES) {
                let hi = (lo + LANES).min(db);
                let mut any = false;
                for (&g, &t) in row[lo..hi].iter().zip(&thr[lo..hi]) {
                    any |= a + c * g < t;
                }
                if !any {
                    continue;
                }
                for jj in lo..hi {
                    let key = a + c * row[jj];
                    if key < thr[jj] {
                        heaps[jj].push(key.to_f64(), r0 + r);
                        thr[jj] = T::from_f64(heaps[jj].threshold());
                    }
                }
            }
        }
    }

    /// Fill the candidate pools of all query rows. Work items are (query block, range of data
    /// blocks): with few query blocks the data is split too, so that every thread has work. Each
    /// item fills private pools that are then merged into the block's shared ones; the kept set
    /// is the same whatever the split, since selection is by the total order (key, index).
    fn cross(&self, heaps: &mut [TopK], monitor: &Monitor) -> Result<()> {
        let (n, m) = (self.n, self.query.rows);
        let n_data_blocks = n.div_ceil(DATA_BLOCK);
        let n_query_blocks = m.div_ceil(QUERY_BLOCK);
        let splits = (2 * rayon::current_num_threads())
            .div_ceil(n_query_blocks)
            .clamp(1, n_data_blocks);
        let per_split = n_data_blocks.div_ceil(splits);
        monitor.set_total(n_query_blocks * n_data_blocks);
        let pool = self.pool();
        let blocks: Vec<Mutex<&mut [TopK]>> =
            heaps.chunks_mut(QUERY_BLOCK).map(Mutex::new).collect();
        let items: Vec<(usize, usize)> = (0..n_query_blocks)
            .flat_map(|b| (0..splits).map(move |s| (b, s)))
            .collect();
        items.par_iter().try_for_each_init(
            || (vec![T::ZERO; QUERY_BLOCK * DATA_BLOCK.min(n)], Vec::new()),
            |(tile, local), &(b, s)| -> Result<()> {
                let r0 = b * QUERY_BLOCK;
                let qb = QUERY_BLOCK.min(m - r0);
                local.clear();
                local.resize_with(qb, || TopK::new(pool));
                let data_blocks = s * per_split..((s + 1) * per_split).min(n_data_blocks);
                for c0 in data_blocks.map(|c| c * DATA_BLOCK) {
                    monitor.check()?;
                    let db = DATA_BLOCK.min(n - c0);
                    self.gemm(self.prep.query(), r0, qb, c0, db, tile);
                    self.scan_rows(tile, r0, c0, db, local);
                    monitor.advance(1);
                }
                let mut shared = blocks[b].lock().unwrap_or_else(|e| e.into_inner());
                for (h, l) in shared.iter_mut().zip(local.iter_mut()) {
                    for (key, j) in l.drain_sorted() {
                        h.push(key, j);
                    }
                }
                Ok(())
            },
        )
    }

    /// Fill the candidate pools of a self-join from the tiles on and above the block diagonal.
    fn self_join(&self, heaps: &mut [TopK], monitor: &Monitor) -> Result<()> {
        let n = self.n;
        let nb = n.div_ceil(SELF_BLOCK);
        let tiles: Vec<(usize, usize)> =
            (0..nb).flat_map(|b| (b..nb).map(move |c| (b, c))).collect();
        monitor.set_total(tiles.len());
        let blocks: Vec<Mutex<&mut [TopK]>> =
            heaps.chunks_mut(SELF_BLOCK).map(Mutex::new).collect();
        let lock = |b: usize| blocks[b].lock().unwrap_or_else(|e| e.into_inner());
        tiles.par_iter().try_for_each_init(
            || vec![T::ZERO; SELF_BLOCK * SELF_BLOCK.min(n)],
            |tile, &(b, c)| -> Result<()> {
                monitor.check()?;
                let (r0, c0) = (b * SELF_BLOCK, c * SELF_BLOCK);
                let (qb, db) = (SELF_BLOCK.min(n - r0), SELF_BLOCK.min(n - c0));
                self.gemm(&self.prep.data, r0, qb, c0, db, tile);
                self.scan_rows(tile, r0, c0, db, &mut lock(b));
                if c != b {
                    self.scan_cols(tile, r0, qb, db, &mut lock(c));
                }
                monitor.advance(1);
                Ok(())
            },
        )
    }

    /// Re-rank the pool of row `i` exactly; fall back to an exact scan when the rounding bound
    /// cannot prove that the pool holds the true top k.
    fn refine(&self, i: usize, heap: &mut TopK) -> Vec<(f64, usize)> {
        let k = self.params.k;
        let pool = heap.drain_sorted();
        let worst_key = pool.last().map_or(f64::INFINITY, |p| p.0);
        let complete = pool.len() == self.n - self.params.self_offset.is_some() as usize;
        let mut exact: Vec<(f64, usize)> =
            pool.iter().map(|&(_, j)| (self.exact(i, j), j)).collect();
        exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        exact.truncate(k);
        if complete || self.pool_is_proven(i, worst_key, exact[k - 1].0) {
            return exact;
        }
        let mut all = TopK::new(k);
        for j in 0..self.n {
            if self.self_index(i) != Some(j) {
                all.push(self.exact(i, j), j);
            }
        }
        all.drain_sorted()
    }

    /// Whether every point outside a pool whose largest key is `worst_key` is provably farther
    /// than the exact k-th value `kth`.
    fn pool_is_proven(&self, i: usize, worst_key: f64, kth: f64) -> bool {
        let qrow = &self.prep.query()[i * self.d..(i + 1) * self.d];
        let qn = norm(qrow);
        let scale = (qn + self.prep.max_norm).powi(2);
        let u = T::UNIT_ROUNDOFF;
        let d = self.d as f64;
        let bound = ((2.0 * d + 12.0) * u + 64.0 * (d + 1.0) * f64::EPSILON) * scale
            + 64.0 * (d + 1.0) * f64::EPSILON * kth.abs();
        let offset = match self.prep.metric {
            Metric::Euclidean | Metric::SqEuclidean => qn * qn,
            Metric::Cosine => 1.0,
            Metric::InnerProduct => 0.0,
        };
        worst_key - bound + offset > kth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T: Real>(
        m: Matrix<'_, T>,
        q: Option<Matrix<'_, T>>,
        p: &KnnParams,
    ) -> Result<Neighbors<T>> {
        knn(m, q, p, &Monitor::new())
    }

    fn lcg(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
            })
            .collect()
    }

    fn brute(
        data: &[f64],
        n: usize,
        d: usize,
        k: usize,
        metric: Metric,
    ) -> Vec<(Vec<usize>, Vec<f64>)> {
        (0..n)
            .map(|i| {
                let mut v: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let (a, b) = (&data[i * d..(i + 1) * d], &data[j * d..(j + 1) * d]);
                        let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                        let sq: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
                        let (na, nb) = (norm(a), norm(b));
                        let key = match metric {
                            Metric::Euclidean | Metric::SqEuclidean => sq,
                            Metric::Cosine => 1.0 - dot / (na * nb),
                            Metric::InnerProduct => -dot,
                        };
                        (key, j)
                    })
                    .collect();
                v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                v.truncate(k);
                (
                    v.iter().map(|p| p.1).collect(),
                    v.iter().map(|p| p.0).collect(),
                )
            })
            .collect()
    }

    fn params(k: usize, metric: Metric, threads: Option<usize>) -> KnnParams {
        KnnParams {
            k,
            metric,
            self_offset: Some(0),
            n_threads: threads,
        }
    }

    #[test]
    fn agrees_with_brute_force_all_metrics() {
        let (n, d, k) = (300, 7, 5);
        let data = lcg(1, n * d);
        for metric in [
            Metric::Euclidean,
            Metric::SqEuclidean,
            Metric::Cosine,
            Metric::InnerProduct,
        ] {
            let m = Matrix::new(&data, n, d).unwrap();
            let got = run(m, None, &params(k, metric, None)).unwrap();
            let want = brute(&data, n, d, k, metric);
            for (i, (want_idx, want_key)) in want.iter().enumerate() {
                let gi: Vec<usize> = got.indices[i * k..(i + 1) * k]
                    .iter()
                    .map(|&j| j as usize)
                    .collect();
                assert_eq!(&gi, want_idx, "metric {metric:?} row {i}");
                for (s, &e) in want_key.iter().enumerate() {
                    let expect = match metric {
                        Metric::Euclidean => e.sqrt(),
                        Metric::InnerProduct => -e,
                        _ => e,
                    };
                    assert!((got.distances[i * k + s] - expect).abs() < 1e-9);
                }
            }
        }
    }

    #[test]
    fn f32_matches_f64_indices_and_large_offsets() {
        // A big common offset stresses the norm trick; centring keeps it exact.
        let (n, d, k) = (500, 16, 8);
        let data: Vec<f64> = lcg(7, n * d).iter().map(|v| v + 1000.0).collect();
        let data32: Vec<f32> = data.iter().map(|&v| v as f32).collect();
        let back: Vec<f64> = data32.iter().map(|&v| v as f64).collect();
        let got = run(
            Matrix::new(&data32, n, d).unwrap(),
            None,
            &params(k, Metric::Euclidean, None),
        )
        .unwrap();
        let want = brute(&back, n, d, k, Metric::Euclidean);
        for (i, (want_idx, _)) in want.iter().enumerate() {
            let gi: Vec<usize> = got.indices[i * k..(i + 1) * k]
                .iter()
                .map(|&j| j as usize)
                .collect();
            assert_eq!(&gi, want_idx);
        }
    }

    #[test]
    fn duplicates_excluded_by_index_and_ties_to_lower_index() {
        let data = [0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 5.0, 1.0];
        let got = run(
            Matrix::new(&data, 4, 2).unwrap(),
            None,
            &params(1, Metric::Euclidean, None),
        )
        .unwrap();
        assert_eq!(got.indices, vec![1, 0, 3, 2]);
        // Four equidistant points: ties go to the lower index.
        let sq = [1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0, 0.0, 0.0];
        let got = run(
            Matrix::new(&sq, 5, 2).unwrap(),
            None,
            &params(2, Metric::Euclidean, None),
        )
        .unwrap();
        assert_eq!(&got.indices[8..10], &[0, 1]);
    }

    #[test]
    fn thread_count_and_blocks_do_not_change_results() {
        let (n, d, k) = (2 * DATA_BLOCK + 37, 5, 12);
        // Quantised values create many exact ties.
        let data: Vec<f32> = lcg(3, n * d)
            .iter()
            .map(|v| (v * 4.0).round() as f32)
            .collect();
        let m = Matrix::new(&data, n, d).unwrap();
        let a = run(m, None, &params(k, Metric::Euclidean, Some(1))).unwrap();
        let b = run(m, None, &params(k, Metric::Euclidean, Some(2))).unwrap();
        assert_eq!(a, b);
        // A query chunk with an offset gives the same rows as the full self-join.
        let (lo, hi) = (300, 700);
        let q = Matrix::new(&data[lo * d..hi * d], hi - lo, d).unwrap();
        let p = KnnParams {
            self_offset: Some(lo),
            ..params(k, Metric::Euclidean, None)
        };
        let c = run(m, Some(q), &p).unwrap();
        assert_eq!(c.indices, a.indices[lo * k..hi * k]);
        // Without self-exclusion each point is its own nearest neighbour (distance 0).
        let p = KnnParams {
            self_offset: None,
            ..params(k, Metric::Euclidean, None)
        };
        let e = run(m, None, &p).unwrap();
        assert!((0..n).all(|i| e.indices[i * k] == i as i64 || e.distances[i * k] == 0.0));
    }

    #[test]
    fn few_queries_split_the_data_without_changing_results() {
        let (n, d, k) = (3 * DATA_BLOCK + 11, 4, 7);
        let data: Vec<f64> = lcg(5, n * d).iter().map(|v| (v * 3.0).round()).collect();
        let m = Matrix::new(&data, n, d).unwrap();
        let q = Matrix::new(&data[..3 * d], 3, d).unwrap();
        let p = |t| KnnParams {
            self_offset: Some(0),
            ..params(k, Metric::Euclidean, Some(t))
        };
        let one = run(m, Some(q), &p(1)).unwrap();
        let two = run(m, Some(q), &p(2)).unwrap();
        let four = run(m, Some(q), &p(4)).unwrap();
        assert_eq!(one, two);
        assert_eq!(one, four);
        let full = run(m, None, &params(k, Metric::Euclidean, Some(2))).unwrap();
        assert_eq!(one.indices, full.indices[..3 * k]);
    }

    #[test]
    fn bad_input_is_an_error() {
        let data = [0.0, 1.0, 2.0, f64::NAN];
        let m = Matrix::new(&data, 2, 2).unwrap();
        assert!(run(m, None, &params(1, Metric::Euclidean, None)).is_err());
        let data = [0.0, 1.0, 2.0, 3.0];
        let m = Matrix::new(&data, 2, 2).unwrap();
        assert!(run(m, None, &params(2, Metric::Euclidean, None)).is_err());
        assert!(run(m, None, &params(0, Metric::Euclidean, None)).is_err());
        let q = Matrix::new(&data[..3], 1, 3).unwrap();
        let p = KnnParams {
            self_offset: None,
            ..params(1, Metric::Euclidean, None)
        };
        assert!(run(m, Some(q), &p).is_err());
        assert!(Metric::parse("manhattan").is_err());
        let mon = Monitor::new();
        mon.cancel();
        assert_eq!(
            knn(m, None, &params(1, Metric::Euclidean, None), &mon),
            Err(Error::Cancelled)
        );
        assert!(Matrix::new(&data, 3, 2).is_err());
    }
}
