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

use std::sync::{Mutex, OnceLock};

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::buffers;
use crate::matrix::Matrix;
use crate::monitor::Monitor;
use crate::parallel::with_threads;
use crate::real::{check_finite, Real};
use crate::{Error, Result};
use topk::TopK;

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
    fn is_euclidean(self) -> bool {
        matches!(self, Metric::Euclidean | Metric::SqEuclidean)
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
    with_threads(params.n_threads, || {
        search(data, query, params, monitor, |s, e| s.report(e))
    })?
}

/// [`knn`], but with the exact f64 ranking value of each neighbour (ascending; for
/// [`Metric::InnerProduct`] the negated similarity) instead of the reported distance in `T`.
///
/// The ranking value of a (query row, data row) pair depends on those two rows only, so top-k
/// lists of one query against disjoint blocks of the data merge exactly by (value, index): this
/// is what a distributed search merges.
pub fn knn_keys<T: Real>(
    data: Matrix<'_, T>,
    query: Option<Matrix<'_, T>>,
    params: &KnnParams,
    monitor: &Monitor,
) -> Result<Neighbors<f64>> {
    with_threads(params.n_threads, || {
        search(data, query, params, monitor, |_, e| e)
    })?
}

/// [`knn`] on the current rayon pool; `out` turns an exact ranking value into the output.
fn search<T: Real, U: Copy + Send>(
    data: Matrix<'_, T>,
    query: Option<Matrix<'_, T>>,
    params: &KnnParams,
    monitor: &Monitor,
    out: impl Fn(&Search<'_, '_, T>, f64) -> U + Sync,
) -> Result<Neighbors<U>> {
    let (n, d) = (data.rows, data.cols);
    let q = query.unwrap_or(data);
    validate_shapes(data, q, params)?;
    let prep = match query {
        None => {
            check_finite(data.data, "the data")?;
            Prepared::new(data, None, params.metric)
        }
        Some(q) => {
            // The data is checked by the search's single pass over it (see `Search::cross`),
            // but first: its error, when both are bad.
            if let Err(e) = check_finite(q.data, "the query") {
                check_finite(data.data, "the data")?;
                return Err(e);
            }
            Prepared::for_queries(data, q, params.metric)
        }
    };
    let mut search = Search {
        data,
        query: q,
        prep: &prep,
        params,
        n,
        d,
        max_norm: prep.max_norm,
    };
    let mut heaps = search.heaps()?;
    if query.is_none() {
        search.self_join(&mut heaps, monitor)?;
    } else {
        search.max_norm = search.cross(&mut heaps, monitor)?;
    }
    search.finish(heaps, out)
}

/// Shapes, `k` and the self offset, then that every value is finite.
fn validate<T: Real>(data: Matrix<'_, T>, q: Matrix<'_, T>, p: &KnnParams) -> Result<()> {
    validate_shapes(data, q, p)?;
    check_finite(data.data, "the data")?;
    check_finite(q.data, "the query")
}

/// [`validate`] but for the finite checks.
fn validate_shapes<T: Real>(data: Matrix<'_, T>, q: Matrix<'_, T>, p: &KnnParams) -> Result<()> {
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
    Ok(())
}

mod pair;
mod prepare;
mod refine;
mod search;
pub mod topk;

pub use pair::knn_keys_pair;
use prepare::*;
pub use refine::{refine, RefineParams, Table};
use search::*;

#[cfg(test)]
mod tests;
