//! Binding of [`crate::losses`]: EXACT expected accuracy of float64 logit rows (GIL released).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::convert::{array2, matrix, slice1};
use super::monitor::guarded;
use crate::losses::expected_accuracy::{exact_rows, ExactOptions};

type ExactOut<'py> = (Bound<'py, PyArray1<f64>>, Option<Bound<'py, PyArray2<f64>>>);

/// `(log A, d log A / d logits or None)` of the `n x c` logits with labels `n`; `quadrature` is
/// `(nodes, log_weights)` of the Gauss-Hermite rule.
#[pyfunction]
#[pyo3(signature = (logits, labels, *, sigma, margin, quadrature, want_grad, n_threads=None))]
pub fn exact_log<'py>(
    logits: PyReadonlyArray2<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    sigma: f64,
    margin: Option<f64>,
    quadrature: (PyReadonlyArray1<'py, f64>, PyReadonlyArray1<'py, f64>),
    want_grad: bool,
    n_threads: Option<usize>,
) -> PyResult<ExactOut<'py>> {
    let py = logits.py();
    let m = matrix(&logits, "logits")?;
    let labels = slice1(&labels, "labels")?;
    let opt = ExactOptions {
        sigma,
        margin,
        nodes: slice1(&quadrature.0, "nodes")?,
        log_weights: slice1(&quadrature.1, "log_weights")?,
    };
    let (n, c) = (m.rows, m.cols);
    let mut log_a = vec![0.0; n];
    let mut grad = vec![0.0; if want_grad { n * c } else { 0 }];
    guarded("exact_log", || {
        Ok(py.detach(|| {
            crate::parallel::in_pool(|| {
                crate::parallel::with_threads(n_threads, || {
                    exact_rows(m.data, c, labels, &opt, &mut log_a, &mut grad)
                })
            })
        })???)
    })?;
    let grad = want_grad.then(|| array2(py, (n, c), grad)).transpose()?;
    Ok((log_a.into_pyarray(py), grad))
}
