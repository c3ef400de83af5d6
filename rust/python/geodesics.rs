//! Bindings of [`crate::geodesics`]: Dijkstra on a CSR graph `(n, indptr, indices, weights)`,
//! writing into caller buffers (float32 or float64 distances).

use numpy::{PyReadonlyArray1, PyReadwriteArray2};
use pyo3::prelude::*;

use super::convert::{indices, slice1, slice_mut, with_csr, with_dist_out, Csr, DistOut};
use super::monitor::run_monitored;
use crate::geodesics::{geodesic_neighbors_into, shortest_paths_into};

/// int64 sources as node ids of an `n`-node graph.
fn sources(sources: &PyReadonlyArray1<'_, i64>, n: usize) -> PyResult<Vec<usize>> {
    indices(slice1(sources, "sources")?, |s| {
        format!("source {s} is out of range for a graph with {n} nodes")
    })
}

/// Multi-source Dijkstra, filling `out` (len(sources) x n) and optionally `predecessors`
/// (int64); see `latentgeo.geodesic`.
#[pyfunction]
#[pyo3(signature = (
    graph, *, sources, out, predecessors=None, limit=None, n_threads=None, progress=None
))]
pub fn dijkstra<'py>(
    graph: Csr<'py>,
    sources: PyReadonlyArray1<'py, i64>,
    out: DistOut<'py>,
    mut predecessors: Option<PyReadwriteArray2<'py, i64>>,
    limit: Option<f64>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let py = sources.py();
    let src = self::sources(&sources, graph.0)?;
    let pred = match predecessors.as_mut() {
        Some(p) => Some(slice_mut(p, "predecessors")?),
        None => None,
    };
    with_csr!(graph, |g| with_dist_out!(out, |o| run_monitored(
        py,
        "dijkstra",
        progress,
        |mon| shortest_paths_into(&g, &src, limit, o, pred, n_threads, mon)
    )))
}

/// The `k` nearest nodes by geodesic distance from each source (the source excluded), filling
/// `out_indices` (int64) and `out`, both len(sources) x k, ordered by (distance, id) and padded
/// with -1 / inf; see `latentgeo.geodesic_neighbors`.
#[pyfunction]
#[pyo3(signature = (graph, *, sources, k, out_indices, out, n_threads=None, progress=None))]
pub fn geodesic_neighbors<'py>(
    graph: Csr<'py>,
    sources: PyReadonlyArray1<'py, i64>,
    k: usize,
    mut out_indices: PyReadwriteArray2<'py, i64>,
    out: DistOut<'py>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let py = sources.py();
    let src = self::sources(&sources, graph.0)?;
    let oi = slice_mut(&mut out_indices, "out_indices")?;
    with_csr!(graph, |g| with_dist_out!(out, |o| run_monitored(
        py,
        "geodesic_neighbors",
        progress,
        |mon| geodesic_neighbors_into(&g, &src, k, oi, o, n_threads, mon)
    )))
}
