//! Binding of [`crate::hubs`]: k-occurrence counts of a neighbour table.

use numpy::{IntoPyArray, PyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::monitor::guarded;

/// Occurrences of each of `n_index` points in an int64 neighbour table (-1 = missing).
#[pyfunction]
#[pyo3(signature = (indices, *, n_index))]
pub fn k_occurrence<'py>(
    indices: PyReadonlyArrayDyn<'py, i64>,
    n_index: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let py = indices.py();
    let slice = indices
        .as_slice()
        .map_err(|_| PyValueError::new_err("indices must be a C-contiguous array"))?;
    let counts = guarded("k_occurrence", || {
        Ok(py.detach(|| crate::hubs::k_occurrence(slice, n_index))?)
    })?;
    Ok(counts.into_pyarray(py))
}
