//! Bindings of [`crate::diffusion::gmm`]: a frozen `GaussianMixtureCore` that `latentgeo.diffusion.gmm`
//! wraps in `GaussianMixture`.

use numpy::ndarray::Array1;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::diffusion::gmm::{Covariances, GaussianMixture, Levels, Request};
use crate::python::convert::{array2, matrix, slice1, CovarianceType, Wrap};
use crate::python::monitor::{guarded, run_monitored};

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
    #[pyo3(signature = (weights, means, covariances, *, covariance_type))]
    fn new(
        weights: PyReadonlyArray1<'_, f64>,
        means: PyReadonlyArray2<'_, f64>,
        covariances: PyReadonlyArray1<'_, f64>,
        covariance_type: Wrap<CovarianceType>,
    ) -> PyResult<Self> {
        let w = slice1(&weights, "weights")?.to_vec();
        let m = matrix(&means, "means")?;
        let c = slice1(&covariances, "covariances")?.to_vec();
        let cov = match covariance_type.0 {
            CovarianceType::Full => Covariances::Full(c),
            CovarianceType::Diag => Covariances::Diag(c),
            CovarianceType::Spherical => Covariances::Spherical(c),
        };
        let (means, d) = (m.data.to_vec(), m.cols);
        let inner = guarded("GaussianMixtureCore", || {
            Ok(GaussianMixture::new(w, means, d, cov)?)
        })?;
        Ok(GaussianMixtureCore { inner })
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
        x, s, sigma, *, log_prob=false, score=false, denoise=false, divergence=None,
        n_threads=None, progress=None
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
        let ev = run_monitored(py, "GaussianMixtureCore.evaluate", progress, |mon| {
            inner.evaluate(xm.data, levels, request, n_threads, mon)
        })?;
        let b = xm.rows;
        let vec1 = |v: Option<Vec<f64>>| v.map(|v| Array1::from_vec(v).into_pyarray(py));
        let vec2 = |v: Option<Vec<f64>>| -> PyResult<Option<Bound<'py, PyArray2<f64>>>> {
            v.map(|v| array2(py, (b, d), v)).transpose()
        };
        Ok((
            vec1(ev.log_prob),
            vec2(ev.score)?,
            vec2(ev.denoise)?,
            vec1(ev.divergence),
        ))
    }
}
