//! Borrowed weighted graphs in compressed-sparse-row (CSR) form, as scipy stores them.
//!
//! Row `u` lists the arcs leaving node `u`: columns `indices[indptr[u]..indptr[u + 1]]` with
//! weights `weights[indptr[u]..indptr[u + 1]]`. Construction validates everything the graph
//! algorithms rely on, so they can index without further checks: a square shape, an `indptr` of
//! length `n + 1` that starts at 0, never decreases and ends at the number of stored arcs, column
//! indices in `0..n`, and weights that are finite and non-negative. Explicit zero weights are
//! valid arcs (of length 0) and are kept; duplicate arcs are allowed (shortest-path algorithms
//! then see the smaller weight); column order within a row is free.

use crate::{Error, Result};

/// An integer type usable for CSR column indices (scipy uses int32 or int64).
pub trait CsrIndex: Copy + Send + Sync + std::fmt::Display + std::fmt::Debug + 'static {
    /// The value as an index, or `None` when it is negative or does not fit in `usize`.
    fn to_index(self) -> Option<usize>;
    /// The value as an index; only called on values already checked by [`CsrIndex::to_index`].
    fn index(self) -> usize;
}

macro_rules! csr_index {
    ($($t:ty),*) => {$(
        impl CsrIndex for $t {
            #[inline]
            fn to_index(self) -> Option<usize> {
                usize::try_from(self).ok()
            }
            #[inline]
            fn index(self) -> usize {
                self as usize
            }
        }
    )*};
}
csr_index!(i32, i64, u32, u64, usize);

/// A validated, borrowed square CSR graph with `f64` weights.
#[derive(Debug, Clone, Copy)]
pub struct CsrGraph<'a, I: CsrIndex = i32> {
    n: usize,
    indptr: &'a [i64],
    indices: &'a [I],
    weights: &'a [f64],
}

impl<'a, I: CsrIndex> CsrGraph<'a, I> {
    /// Wrap and validate a CSR graph of the given `(rows, cols)` shape.
    pub fn new(
        shape: (usize, usize),
        indptr: &'a [i64],
        indices: &'a [I],
        weights: &'a [f64],
    ) -> Result<Self> {
        let (n, cols) = shape;
        if n != cols {
            return Err(Error::invalid(format!(
                "the graph must be square (n x n), got shape ({n}, {cols})"
            )));
        }
        if indptr.len() != n + 1 {
            return Err(Error::invalid(format!(
                "indptr has length {} but a graph with {n} nodes needs n + 1 = {}",
                indptr.len(),
                n + 1
            )));
        }
        if indices.len() != weights.len() {
            return Err(Error::invalid(format!(
                "indices ({}) and weights ({}) must have the same length",
                indices.len(),
                weights.len()
            )));
        }
        if indptr[0] != 0 {
            return Err(Error::invalid(format!(
                "indptr must start at 0, got {}",
                indptr[0]
            )));
        }
        if let Some(u) = (0..n).find(|&u| indptr[u + 1] < indptr[u]) {
            return Err(Error::invalid(format!(
                "indptr must be non-decreasing, but indptr[{}] = {} < indptr[{u}] = {}",
                u + 1,
                indptr[u + 1],
                indptr[u]
            )));
        }
        if usize::try_from(indptr[n]).ok() != Some(indices.len()) {
            return Err(Error::invalid(format!(
                "indptr ends at {} but {} arcs are stored",
                indptr[n],
                indices.len()
            )));
        }
        let graph = CsrGraph {
            n,
            indptr,
            indices,
            weights,
        };
        for u in 0..n {
            let (lo, hi) = graph.bounds(u);
            for p in lo..hi {
                let (j, w) = (indices[p], weights[p]);
                if j.to_index().is_none_or(|v| v >= n) {
                    return Err(Error::invalid(format!(
                        "column index {j} in row {u} is out of range for a graph with {n} nodes"
                    )));
                }
                if !(w >= 0.0 && w.is_finite()) {
                    let what = if w.is_nan() {
                        "NaN"
                    } else if w < 0.0 {
                        "negative"
                    } else {
                        "infinite"
                    };
                    return Err(Error::invalid(format!(
                        "edge ({u}, {j}) has a {what} weight {w}; weights must be finite and >= 0"
                    )));
                }
            }
        }
        Ok(graph)
    }

    /// Number of nodes.
    #[inline]
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of stored arcs (duplicates and explicit zeros included).
    #[inline]
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// All arc weights, in storage order.
    #[inline]
    pub fn weights(&self) -> &'a [f64] {
        self.weights
    }

    #[inline]
    fn bounds(&self, u: usize) -> (usize, usize) {
        // Validated: 0 <= indptr[u] <= indptr[u + 1] <= nnz.
        (self.indptr[u] as usize, self.indptr[u + 1] as usize)
    }

    /// Ask the CPU to bring `indptr[u]` into cache, ahead of a later [`CsrGraph::prefetch_row`]
    /// or [`CsrGraph::row`]. A hint only: no effect on any result.
    #[inline]
    pub fn prefetch_bounds(&self, u: usize) {
        prefetch(&self.indptr[u..u + 1]);
    }

    /// Ask the CPU to bring the arcs leaving `u` into cache, ahead of [`CsrGraph::row`]. A
    /// hint only: no effect on any result.
    #[inline]
    pub fn prefetch_row(&self, u: usize) {
        let (lo, hi) = self.bounds(u);
        prefetch(&self.indices[lo..hi]);
        prefetch(&self.weights[lo..hi]);
    }

    /// The arcs leaving node `u`: (column indices, weights), of equal length.
    #[inline]
    pub fn row(&self, u: usize) -> (&'a [I], &'a [f64]) {
        let (lo, hi) = self.bounds(u);
        (&self.indices[lo..hi], &self.weights[lo..hi])
    }
}

/// Prefetch the cache lines of `data` (into all levels). A no-op off x86-64.
#[inline]
fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let (start, bytes) = (data.as_ptr().cast::<i8>(), std::mem::size_of_val(data));
        for offset in (0..bytes).step_by(64) {
            // SAFETY: prefetching has no architectural effect and cannot fault; the address
            // lies within `data` anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_graph_and_rows() {
        // 0 -> 1 (w 0, explicit zero), 0 -> 2 (w 2), 2 -> 0 (w 1); node 1 has no arcs.
        let (indptr, indices, weights) = ([0i64, 2, 2, 3], [1i32, 2, 0], [0.0, 2.0, 1.0]);
        let g = CsrGraph::new((3, 3), &indptr, &indices, &weights).unwrap();
        assert_eq!((g.n(), g.nnz()), (3, 3));
        assert_eq!(g.row(0), (&[1i32, 2][..], &[0.0, 2.0][..]));
        assert_eq!(g.row(1).0.len(), 0);
        let empty = CsrGraph::<i64>::new((0, 0), &[0], &[], &[]).unwrap();
        assert_eq!(empty.n(), 0);
    }

    fn err<I: CsrIndex>(
        shape: (usize, usize),
        indptr: &[i64],
        indices: &[I],
        weights: &[f64],
    ) -> String {
        match CsrGraph::new(shape, indptr, indices, weights) {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected an InvalidArgument error, got {other:?}"),
        }
    }

    #[test]
    fn invalid_graphs_are_errors_naming_the_problem() {
        let ip = [0i64, 1, 2];
        assert!(err((2, 3), &ip, &[1i32, 0], &[1.0, 1.0]).contains("square"));
        assert!(err((2, 2), &[0, 1], &[1i32], &[1.0]).contains("indptr has length"));
        assert!(err((2, 2), &[1, 1, 2], &[1i32, 0], &[1.0, 1.0]).contains("start at 0"));
        assert!(err((2, 2), &[0, 2, 1], &[1i32, 0], &[1.0, 1.0]).contains("non-decreasing"));
        assert!(err((2, 2), &[0, 1, 3], &[1i32, 0], &[1.0, 1.0]).contains("ends at 3"));
        assert!(err((2, 2), &ip, &[1i32], &[1.0, 1.0]).contains("same length"));
        assert!(err((2, 2), &ip, &[1i32, 2], &[1.0, 1.0]).contains("column index 2 in row 1"));
        assert!(err((2, 2), &ip, &[1i64, -1], &[1.0, 1.0]).contains("column index -1"));
        assert!(err((2, 2), &ip, &[1i32, 0], &[1.0, -0.5]).contains("edge (1, 0) has a negative"));
        assert!(err((2, 2), &ip, &[1i32, 0], &[f64::NAN, 1.0]).contains("NaN"));
        assert!(err((2, 2), &ip, &[1i32, 0], &[f64::INFINITY, 1.0]).contains("infinite"));
    }
}
