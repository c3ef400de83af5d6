//! Binding of [`crate::exact`]: EXACT expected accuracy of float64 logit rows (GIL released).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{matrix, slice1};
use crate::exact::{exact_rows, ExactOptions};

type ExactOut<'py> = (Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyArray2<f64>>>);

/// `(log A, d log A / d logits or None)` of the `n x c` logits with labels `n`.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (logits, labels, sigma, margin, nodes, log_weights, want_grad, n_threads=None))]
pub fn exact_log<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    sigma: f64,
    margin: Option<f64>,
    nodes: PyReadonlyArray1<'py, f64>,
    log_weights: PyReadonlyArray1<'py, f64>,
    want_grad: bool,
    n_threads: Option<usize>,
) -> PyResult<ExactOut<'py>> {
    let m = matrix(&logits, "logits")?;
    let labels = slice1(&labels, "labels")?;
    let opt = ExactOptions {
        sigma,
        margin,
        nodes: slice1(&nodes, "nodes")?,
        log_weights: slice1(&log_weights, "log_weights")?,
    };
    let (n, c) = (m.rows, m.cols);
    let mut log_a = vec![0.0; n];
    let mut grad = vec![0.0; if want_grad { n * c } else { 0 }];
    py.detach(|| {
        crate::parallel::with_threads(n_threads, || {
            exact_rows(m.data, c, labels, &opt, &mut log_a, &mut grad)
        })
    })??;
    let grad = if want_grad {
        Some(
            numpy::ndarray::Array2::from_shape_vec((n, c), grad)
                .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?
                .into_pyarray(py),
        )
    } else {
        None
    };
    Ok((log_a.into_pyarray(py), grad))
}
