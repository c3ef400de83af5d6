//! Bindings of [`crate::gmm`]: a frozen `GaussianMixtureCore` that `latentgeo.diffusion.gmm`
//! wraps in `GaussianMixture`.

use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::monitor::run_monitored;
use super::{matrix, slice1};
use crate::gmm::{Covariances, GaussianMixture, Levels, Request};

/// The `(log_prob, score, denoise, divergence)` arrays, `None` where not requested.
type EvalOut<'py> = (
    Option<Bound<'py, PyArray1<f64>>>,
    Option<Bound<'py, PyArray2<f64>>>,
    Option<Bound<'py, PyArray2<f64>>>,
    Option<Bound<'py, PyArray1<f64>>>,
);

/// A validated Gaussian mixture; see `latentgeo.diffusion.GaussianMixture`.
#[pyclass(frozen, module = "latentgeo._core")]
pub struct GaussianMixtureCore {
    inner: GaussianMixture,
}

impl GaussianMixtureCore {
    /// The validated mixture.
    pub(super) fn inner(&self) -> &GaussianMixture {
        &self.inner
    }
}

#[pymethods]
impl GaussianMixtureCore {
    /// `covariances` is the flattened parameter array of `covariance_type` ("full": K x d x d,
    /// "diag": K x d, "spherical": K).
    #[new]
    fn new(
        weights: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray2<'_, f64>,
        covariances: PyReadonlyArray1<'_, f64>,
        covariance_type: &str,
    ) -> PyResult<Self> {
        let w = slice1(&weights, "weights")?.to_vec();
        let m = matrix(&means, "means")?;
        let c = slice1(&covariances, "covariances")?.to_vec();
        let cov = match covariance_type {
            "full" => Covariances::Full(c),
            "diag" => Covariances::Diag(c),
            "spherical" => Covariances::Spherical(c),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown covariance_type {other:?}; expected one of 'full', 'diag', \
                     'spherical'"
                )))
            }
        };
        Ok(GaussianMixtureCore {
            inner: GaussianMixture::new(w, m.data.to_vec(), m.cols, cov)?,
        })
    }

    /// The normalised weights.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        Array1::from_vec(self.inner.weights().to_vec()).into_pyarray(py)
    }

    /// The flattened (symmetrised) covariance parameters.
    #[getter]
    fn covariances<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let c = match self.inner.covariances() {
            Covariances::Full(c) | Covariances::Diag(c) | Covariances::Spherical(c) => c.clone(),
        };
        Array1::from_vec(c).into_pyarray(py)
    }

    /// Evaluate the requested quantities at the B x d float64 points `x`; `s` and `sigma` hold
    /// one value (for all points) or B values.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (
        x, s, sigma, log_prob=false, score=false, denoise=false, divergence=None, n_threads=None,
        progress=None
    ))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        s: PyReadonlyArray1<'py, f64>,
        sigma: PyReadonlyArray1<'py, f64>,
        log_prob: bool,
        score: bool,
        denoise: bool,
        divergence: Option<(f64, f64)>,
        n_threads: Option<usize>,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<EvalOut<'py>> {
        let xm = matrix(&x, "x")?;
        let d = self.inner.dim();
        if xm.cols != d {
            return Err(PyValueError::new_err(format!(
                "x has {} columns but the mixture has dimension {d}",
                xm.cols
            )));
        }
        let (s, sigma) = (slice1(&s, "s")?, slice1(&sigma, "sigma")?);
        let levels = if s.len() == 1 && sigma.len() == 1 {
            Levels::Single(s[0], sigma[0])
        } else {
            Levels::PerPoint(s, sigma)
        };
        let request = Request {
            log_prob,
            score,
            denoise,
            divergence,
        };
        let inner = &self.inner;
        let ev = run_monitored(py, progress, |mon| {
            inner.evaluate(xm.data, levels, request, n_threads, mon)
        })?;
        let b = xm.rows;
        let vec1 = |v: Option<Vec<f64>>| v.map(|v| Array1::from_vec(v).into_pyarray(py));
        let vec2 = |v: Option<Vec<f64>>| -> PyResult<Option<Bound<'py, PyArray2<f64>>>> {
            v.map(|v| {
                Array2::from_shape_vec((b, d), v)
                    .map(|a| a.into_pyarray(py))
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))
            })
            .transpose()
        };
        Ok((
            vec1(ev.log_prob),
            vec2(ev.score)?,
            vec2(ev.denoise)?,
            vec1(ev.divergence),
        ))
    }
}
