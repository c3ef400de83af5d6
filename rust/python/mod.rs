//! The Python binding layer (`latentgeo._core`): converts numpy arrays, releases the GIL around
//! heavy work and maps [`crate::Error`] to Python exceptions. No algorithm lives here.

use numpy::ndarray::{Array1, Array2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
    PyReadwriteArray2, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

mod diffusion;
mod exact;
mod gmm;
mod monitor;
mod unargmax;

use monitor::run_monitored;

use crate::csr::{CsrGraph, CsrIndex};
use crate::dijkstra::{geodesic_neighbors_into, shortest_paths_into};
use crate::knn::{knn, KnnParams, Matrix, Metric};
use crate::real::Real;
use crate::Error;

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::InvalidArgument(m) => PyValueError::new_err(m),
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("cancelled"),
        }
    }
}

fn matrix<'a, T: Real + numpy::Element>(
    a: &'a PyReadonlyArray2<'_, T>,
    what: &str,
) -> PyResult<Matrix<'a, T>> {
    let shape = a.shape();
    let slice = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous array")))?;
    Ok(Matrix::new(slice, shape[0], shape[1])?)
}

type KnnOut<'py, T> = (Bound<'py, PyArray2<i64>>, Bound<'py, PyArray2<T>>);

#[allow(clippy::too_many_arguments)]
fn knn_impl<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, T>,
    query: Option<PyReadonlyArray2<'py, T>>,
    k: usize,
    metric: &str,
    self_offset: Option<usize>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<KnnOut<'py, T>> {
    let params = KnnParams {
        k,
        metric: Metric::parse(metric)?,
        self_offset,
        n_threads,
    };
    let dm = matrix(&data, "X")?;
    let qm = match &query {
        Some(q) => Some(matrix(q, "query")?),
        None => None,
    };
    let res = run_monitored(py, progress, |mon| knn(dm, qm, &params, mon))?;
    let shape = (res.rows, res.k);
    let idx = Array2::from_shape_vec(shape, res.indices)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let dist = Array2::from_shape_vec(shape, res.distances)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok((idx.into_pyarray(py), dist.into_pyarray(py)))
}

/// Exact kNN on float32 rows; see `latentgeo.knn`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (data, query, k, metric, self_offset=None, n_threads=None, progress=None))]
fn knn_f32<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f32>,
    query: Option<PyReadonlyArray2<'py, f32>>,
    k: usize,
    metric: &str,
    self_offset: Option<usize>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<KnnOut<'py, f32>> {
    knn_impl(py, data, query, k, metric, self_offset, n_threads, progress)
}

/// Exact kNN on float64 rows; see `latentgeo.knn`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (data, query, k, metric, self_offset=None, n_threads=None, progress=None))]
fn knn_f64<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    query: Option<PyReadonlyArray2<'py, f64>>,
    k: usize,
    metric: &str,
    self_offset: Option<usize>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<KnnOut<'py, f64>> {
    knn_impl(py, data, query, k, metric, self_offset, n_threads, progress)
}

/// Occurrences of each of `n_index` points in an int64 neighbour table (-1 = missing).
#[pyfunction]
fn k_occurrence<'py>(
    py: Python<'py>,
    indices: PyReadonlyArrayDyn<'py, i64>,
    n_index: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let slice = indices
        .as_slice()
        .map_err(|_| PyValueError::new_err("indices must be a C-contiguous array"))?;
    let counts = py.detach(|| crate::occurrence::k_occurrence(slice, n_index))?;
    Ok(Array1::from_vec(counts).into_pyarray(py))
}

/// CSR column indices as scipy stores them.
#[derive(FromPyObject)]
enum CsrIndices<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

/// A distance output buffer.
#[derive(FromPyObject)]
enum DistOut<'py> {
    F32(PyReadwriteArray2<'py, f32>),
    F64(PyReadwriteArray2<'py, f64>),
}

/// Evaluate `$body` with `$o` bound to the mutable slice of a [`DistOut`], whatever its dtype.
macro_rules! with_dist_out {
    ($out:expr, |$o:ident| $body:expr) => {
        match $out {
            DistOut::F32(mut a) => {
                let $o = a.as_slice_mut().map_err(|_| out_not_contiguous())?;
                $body
            }
            DistOut::F64(mut a) => {
                let $o = a.as_slice_mut().map_err(|_| out_not_contiguous())?;
                $body
            }
        }
    };
}

fn out_not_contiguous() -> PyErr {
    PyValueError::new_err("out must be a C-contiguous writeable array")
}

fn slice1<'a, T: numpy::Element>(a: &'a PyReadonlyArray1<'_, T>, what: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous array")))
}

#[allow(clippy::too_many_arguments)]
fn dijkstra_impl<'py, I: CsrIndex + numpy::Element>(
    py: Python<'py>,
    n: usize,
    indptr: &[i64],
    indices: &PyReadonlyArray1<'py, I>,
    weights: &[f64],
    sources: &[usize],
    limit: Option<f64>,
    out: DistOut<'py>,
    predecessors: Option<PyReadwriteArray2<'py, i64>>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let graph = CsrGraph::new((n, n), indptr, slice1(indices, "indices")?, weights)?;
    let mut predecessors = predecessors;
    let pred = match predecessors.as_mut() {
        Some(p) => Some(p.as_slice_mut().map_err(|_| {
            PyValueError::new_err("predecessors must be a C-contiguous writeable array")
        })?),
        None => None,
    };
    with_dist_out!(out, |o| run_monitored(py, progress, |mon| {
        shortest_paths_into(&graph, sources, limit, o, pred, n_threads, mon)
    }))
}

/// Multi-source Dijkstra on an n x n CSR graph, filling `out` (len(sources) x n, float32 or
/// float64) and optionally `predecessors` (int64); see `latentgeo.geodesic`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    n, indptr, indices, weights, sources, out, predecessors=None, limit=None, n_threads=None,
    progress=None
))]
fn dijkstra<'py>(
    py: Python<'py>,
    n: usize,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: CsrIndices<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    sources: PyReadonlyArray1<'py, i64>,
    out: DistOut<'py>,
    predecessors: Option<PyReadwriteArray2<'py, i64>>,
    limit: Option<f64>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let ip = slice1(&indptr, "indptr")?;
    let w = slice1(&weights, "weights")?;
    let sources = source_list(slice1(&sources, "sources")?, n)?;
    let (s, l) = (&sources[..], limit);
    match &indices {
        CsrIndices::I32(ix) => dijkstra_impl(
            py,
            n,
            ip,
            ix,
            w,
            s,
            l,
            out,
            predecessors,
            n_threads,
            progress,
        ),
        CsrIndices::I64(ix) => dijkstra_impl(
            py,
            n,
            ip,
            ix,
            w,
            s,
            l,
            out,
            predecessors,
            n_threads,
            progress,
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn neighbors_impl<'py, I: CsrIndex + numpy::Element>(
    py: Python<'py>,
    n: usize,
    indptr: &[i64],
    indices: &PyReadonlyArray1<'py, I>,
    weights: &[f64],
    sources: &[usize],
    k: usize,
    out_indices: &mut [i64],
    out: DistOut<'py>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let graph = CsrGraph::new((n, n), indptr, slice1(indices, "indices")?, weights)?;
    with_dist_out!(out, |o| run_monitored(py, progress, |mon| {
        geodesic_neighbors_into(&graph, sources, k, out_indices, o, n_threads, mon)
    }))
}

/// The `k` nearest nodes by geodesic distance from each source (the source excluded), Dijkstra
/// stopped early, filling `out_indices` (int64) and `out` (float32 or float64), both
/// len(sources) x k, ordered by (distance, id) and padded with -1 / inf; see
/// `latentgeo.geodesic_neighbors`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (
    n, indptr, indices, weights, sources, k, out_indices, out, n_threads=None, progress=None
))]
fn geodesic_neighbors<'py>(
    py: Python<'py>,
    n: usize,
    indptr: PyReadonlyArray1<'py, i64>,
    indices: CsrIndices<'py>,
    weights: PyReadonlyArray1<'py, f64>,
    sources: PyReadonlyArray1<'py, i64>,
    k: usize,
    mut out_indices: PyReadwriteArray2<'py, i64>,
    out: DistOut<'py>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let ip = slice1(&indptr, "indptr")?;
    let w = slice1(&weights, "weights")?;
    let sources = source_list(slice1(&sources, "sources")?, n)?;
    let oi = out_indices
        .as_slice_mut()
        .map_err(|_| PyValueError::new_err("out_indices must be a C-contiguous writeable array"))?;
    let s = &sources[..];
    match &indices {
        CsrIndices::I32(ix) => neighbors_impl(py, n, ip, ix, w, s, k, oi, out, n_threads, progress),
        CsrIndices::I64(ix) => neighbors_impl(py, n, ip, ix, w, s, k, oi, out, n_threads, progress),
    }
}

/// int64 sources as indices; negative ones are out of range.
fn source_list(sources: &[i64], n: usize) -> PyResult<Vec<usize>> {
    sources
        .iter()
        .map(|&s| {
            usize::try_from(s).map_err(|_| {
                PyValueError::new_err(format!(
                    "source {s} is out of range for a graph with {n} nodes"
                ))
            })
        })
        .collect()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(knn_f32, m)?)?;
    m.add_function(wrap_pyfunction!(knn_f64, m)?)?;
    m.add_function(wrap_pyfunction!(k_occurrence, m)?)?;
    m.add_function(wrap_pyfunction!(dijkstra, m)?)?;
    m.add_function(wrap_pyfunction!(geodesic_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(unargmax::unargmax_f32, m)?)?;
    m.add_function(wrap_pyfunction!(unargmax::unargmax_f64, m)?)?;
    m.add_class::<gmm::GaussianMixtureCore>()?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_sample, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_likelihood, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_schedule_at, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_normals, m)?)?;
    m.add_function(wrap_pyfunction!(exact::exact_log, m)?)?;
    Ok(())
}
