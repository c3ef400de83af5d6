//! Binding of [`crate::neighbors`]: exact kNN of float32 or float64 rows (kept in their dtype).

use numpy::{PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;

use super::convert::{array2, matrix, same_dtype, with_rows, FromRows, Rows, Wrap};
use super::monitor::run_monitored;
use crate::neighbors::{knn as knn_search, knn_keys, KnnParams, Metric};

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
