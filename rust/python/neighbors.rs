//! Binding of [`crate::neighbors`]: exact kNN of float32 or float64 rows (kept in their dtype).

use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::convert::{array2, matrix, same_dtype, with_rows, FromRows, Rows, Wrap};
use super::monitor::run_monitored;
use crate::neighbors::{
    knn as knn_search, knn_keys, knn_keys_pair, refine, KnnParams, Metric, Neighbors, RefineParams,
    Table,
};

/// `(indices (int64), distances (the dtype of data))`, both `rows x k`; see `latentgeo.knn`.
/// With `keys=True` the distances are the exact float64 ranking values instead (ascending,
/// unclamped; the negated similarity for the inner product), which merge exactly across blocks.
#[pyfunction]
#[pyo3(signature = (
    data, *, k, metric, query=None, self_offset=None, n_threads=None, progress=None, keys=false
))]
#[allow(clippy::too_many_arguments)]
pub fn knn<'py>(
    data: Rows<'py>,
    k: usize,
    metric: Wrap<Metric>,
    query: Option<Rows<'py>>,
    self_offset: Option<usize>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
    keys: bool,
) -> PyResult<(Bound<'py, PyArray2<i64>>, Bound<'py, PyAny>)> {
    let params = KnnParams {
        k,
        metric: metric.0,
        self_offset,
        n_threads,
    };
    with_rows!(data, |d| {
        let q = same_dtype(query, "query", "data")?;
        search(d, q, &params, progress, keys)
    })
}

fn search<'py, T: FromRows<'py>>(
    data: PyReadonlyArray2<'py, T>,
    query: Option<PyReadonlyArray2<'py, T>>,
    params: &KnnParams,
    progress: Option<&Bound<'py, PyAny>>,
    keys: bool,
) -> PyResult<(Bound<'py, PyArray2<i64>>, Bound<'py, PyAny>)> {
    let py = data.py();
    let dm = matrix(&data, "X")?;
    let qm = query.as_ref().map(|q| matrix(q, "query")).transpose()?;
    if keys {
        let res = run_monitored(py, "knn", progress, |mon| knn_keys(dm, qm, params, mon))?;
        let shape = (res.rows, res.k);
        return Ok((
            array2(py, shape, res.indices)?,
            array2(py, shape, res.distances)?.into_any(),
        ));
    }
    let res = run_monitored(py, "knn", progress, |mon| knn_search(dm, qm, params, mon))?;
    let shape = (res.rows, res.k);
    Ok((
        array2(py, shape, res.indices)?,
        array2(py, shape, res.distances)?.into_any(),
    ))
}

/// One block pair of a distributed self-join ranked both ways from one GEMM per tile:
/// `(indices_a, keys_a, indices_b, keys_b)`, the exact float64 ranking values of the top `k_a`
/// rows of `b` for each row of `a` and of the top `k_b` rows of `a` for each row of `b`.
#[pyfunction]
#[pyo3(signature = (a, b, *, k_a, k_b, metric, n_threads=None))]
pub fn knn_pair<'py>(
    a: Rows<'py>,
    b: Rows<'py>,
    k_a: usize,
    k_b: usize,
    metric: Wrap<Metric>,
    n_threads: Option<usize>,
) -> PyResult<PairArrays<'py>> {
    with_rows!(a, |a| pair(a, b, (k_a, k_b), metric.0, n_threads))
}

type PairArrays<'py> = (
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<f64>>,
);

fn pair<'py, T: FromRows<'py>>(
    a: PyReadonlyArray2<'py, T>,
    b: Rows<'py>,
    k: (usize, usize),
    metric: Metric,
    n_threads: Option<usize>,
) -> PyResult<PairArrays<'py>> {
    let py = a.py();
    let b = T::from_rows(b).ok_or_else(|| PyTypeError::new_err("b must have the dtype of a"))?;
    let (am, bm) = (matrix(&a, "a")?, matrix(&b, "b")?);
    let (ra, rb) = run_monitored(py, "knn", None, |mon| {
        knn_keys_pair(am, bm, k, metric, n_threads, mon)
    })?;
    let arrays = |r: Neighbors<f64>| -> PyResult<_> {
        let shape = (r.rows, r.k);
        Ok((
            array2(py, shape, r.indices)?,
            array2(py, shape, r.distances)?,
        ))
    };
    let ((ia, ka), (ib, kb)) = (arrays(ra)?, arrays(rb)?);
    Ok((ia, ka, ib, kb))
}

/// Refine a self-join's kNN table (`indices`, exact float64 `keys`, both `rows x k`) by
/// NN-descent's local join: `(indices, keys, changes)`, `changes` the entries each round changed.
#[pyfunction]
#[pyo3(signature = (
    data, indices, keys, *, metric, rounds, reverse, exclude_self, order=None, fresh=None,
    n_threads=None, progress=None
))]
#[allow(clippy::too_many_arguments)]
pub fn knn_refine<'py>(
    data: Rows<'py>,
    indices: PyReadonlyArray2<'py, i64>,
    keys: PyReadonlyArray2<'py, f64>,
    metric: Wrap<Metric>,
    rounds: usize,
    reverse: usize,
    exclude_self: bool,
    order: Option<PyReadonlyArray1<'py, i64>>,
    fresh: Option<PyReadonlyArray2<'py, bool>>,
    n_threads: Option<usize>,
    progress: Option<&Bound<'py, PyAny>>,
) -> PyResult<RefineArrays<'py>> {
    let py = indices.py();
    let k = indices.shape()[1];
    if keys.shape() != indices.shape() {
        return Err(PyValueError::new_err(format!(
            "keys has shape {:?} but indices {:?}",
            keys.shape(),
            indices.shape()
        )));
    }
    let table = Table {
        indices: indices.as_array().iter().copied().collect(),
        keys: keys.as_array().iter().copied().collect(),
        k,
    };
    let order = order.as_ref().map(|o| o.as_slice()).transpose()?;
    if fresh.as_ref().is_some_and(|f| f.shape() != indices.shape()) {
        return Err(PyValueError::new_err(
            "fresh must have the shape of indices",
        ));
    }
    let fresh: Option<Vec<bool>> = fresh.map(|f| f.as_array().iter().copied().collect());
    let params = RefineParams {
        metric: metric.0,
        rounds,
        reverse,
        exclude_self,
        n_threads,
    };
    let (table, changes) = with_rows!(data, |d| {
        let dm = matrix(&d, "X")?;
        run_monitored(py, "knn", progress, |mon| {
            refine(dm, table, order, fresh.as_deref(), &params, mon)
        })?
    });
    let shape = (table.indices.len() / k.max(1), k);
    Ok((
        array2(py, shape, table.indices)?,
        array2(py, shape, table.keys)?,
        changes,
    ))
}

type RefineArrays<'py> = (
    Bound<'py, PyArray2<i64>>,
    Bound<'py, PyArray2<f64>>,
    Vec<usize>,
);
