//! The Python binding layer (`latentgeo._core`): one file per capability, as in the Python
//! package, plus [`convert`] (arrays and option strings) and [`monitor`] (GIL release, Ctrl-C,
//! progress, panics). This file registers the functions and maps [`crate::Error`] to Python
//! exceptions. No algorithm lives here.

use pyo3::exceptions::{PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

mod convert;
mod diffusion;
mod geodesics;
mod hubs;
mod losses;
mod monitor;
mod neighbors;
mod real;
mod unargmax;

use crate::Error;

/// Invalid input -> ValueError, a buffer that cannot be allocated -> MemoryError, cancellation
/// -> KeyboardInterrupt, a failure of caller code (a model, a callback) -> its own Python
/// exception, anything else -> RuntimeError.
impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::InvalidArgument(m) => PyValueError::new_err(m),
            Error::Runtime(m) => PyRuntimeError::new_err(m),
            Error::Memory(m) => PyMemoryError::new_err(m),
            Error::Cancelled => PyKeyboardInterrupt::new_err("cancelled"),
            Error::External(e) => match e.downcast::<PyErr>() {
                Ok(py_err) => *py_err,
                Err(other) => PyRuntimeError::new_err(other.to_string()),
            },
        }
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    monitor::install_panic_hook();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(neighbors::knn, m)?)?;
    m.add_function(wrap_pyfunction!(neighbors::knn_pair, m)?)?;
    m.add_function(wrap_pyfunction!(neighbors::knn_refine, m)?)?;
    m.add_function(wrap_pyfunction!(real::finite_max_abs, m)?)?;
    m.add_function(wrap_pyfunction!(hubs::k_occurrence, m)?)?;
    m.add_function(wrap_pyfunction!(geodesics::dijkstra, m)?)?;
    m.add_function(wrap_pyfunction!(geodesics::geodesic_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(unargmax::unargmax, m)?)?;
    m.add_function(wrap_pyfunction!(unargmax::witness_top_scores, m)?)?;
    m.add_function(wrap_pyfunction!(unargmax::witness_gram_top_scores, m)?)?;
    m.add_class::<diffusion::gmm::GaussianMixtureCore>()?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_sample, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_likelihood, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_schedule_at, m)?)?;
    m.add_function(wrap_pyfunction!(diffusion::diffusion_normals, m)?)?;
    m.add_function(wrap_pyfunction!(losses::exact_log, m)?)?;
    Ok(())
}
