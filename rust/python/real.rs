//! Binding of [`crate::real`]: the one-pass finiteness and magnitude check of the input gate.

use pyo3::prelude::*;

use super::convert::{matrix, with_rows, Rows};
use super::monitor::guarded;
use crate::parallel::in_pool;

/// `max |x|` over a C-contiguous float32 / float64 matrix as a float, NaN when an entry is NaN
/// or infinite; one pass, in parallel and without the GIL.
#[pyfunction]
pub fn finite_max_abs(py: Python<'_>, a: Rows<'_>) -> PyResult<f64> {
    with_rows!(a, |a| {
        let values = matrix(&a, "a")?.data;
        guarded("finite_max_abs", || {
            Ok(py.detach(|| in_pool(|| crate::real::finite_max_abs(values)))?)
        })
    })
}
