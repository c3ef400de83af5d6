//! Everything that crosses the boundary, in one place: the dtype enums of array arguments,
//! slice and matrix views of numpy arrays, result arrays, and option strings parsed once into
//! the core's enums (`Wrap<T>`).

use numpy::ndarray::Array2;
use numpy::{
    IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::diffusion::fixed::Method;
use crate::diffusion::model::Kind;
use crate::diffusion::rng::Stream;
use crate::diffusion::runge_kutta::RkMethod;
use crate::diffusion::schedule::ScheduleKind;
use crate::geodesics::csr::CsrGraph;
use crate::matrix::Matrix;
use crate::neighbors::Metric;
use crate::real::Real;

/// A C-contiguous 1-D array as a slice; `what` names it in the error.
pub fn slice1<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    what: &str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous array")))
}

/// A C-contiguous 2-D array as a [`Matrix`]; `what` names it in the error.
pub fn matrix<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray2<'_, T>,
    what: &str,
) -> PyResult<Matrix<'a, T>> {
    let shape = a.shape();
    let slice = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be a C-contiguous array")))?;
    Ok(Matrix::new(slice, shape[0], shape[1])?)
}

/// A writeable C-contiguous 2-D array as a mutable slice; `what` names it in the error.
pub fn slice_mut<'a, T: numpy::Element>(
    a: &'a mut PyReadwriteArray2<'_, T>,
    what: &str,
) -> PyResult<&'a mut [T]> {
    a.as_slice_mut().map_err(|_| {
        PyValueError::new_err(format!("{what} must be a C-contiguous writeable array"))
    })
}

/// A row-major `rows x cols` buffer as a new numpy array.
pub fn array2<'py, T: numpy::Element>(
    py: Python<'py>,
    (rows, cols): (usize, usize),
    v: Vec<T>,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    Ok(Array2::from_shape_vec((rows, cols), v)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?
        .into_pyarray(py))
}

/// Rows of real numbers in either float dtype, kept as they are (no copy of float32 input).
#[derive(FromPyObject)]
pub enum Rows<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

/// Evaluate `$body` with `$a` bound to the typed array of a [`Rows`], whatever its dtype.
macro_rules! with_rows {
    ($rows:expr, |$a:ident| $body:expr) => {
        match $rows {
            $crate::python::convert::Rows::F32($a) => $body,
            $crate::python::convert::Rows::F64($a) => $body,
        }
    };
}
pub(crate) use with_rows;

/// The float32 / float64 array of a [`Rows`] (`None` when it has the other dtype).
pub trait FromRows<'py>: Real + numpy::Element {
    fn from_rows(rows: Rows<'py>) -> Option<PyReadonlyArray2<'py, Self>>;
}

impl<'py> FromRows<'py> for f32 {
    fn from_rows(rows: Rows<'py>) -> Option<PyReadonlyArray2<'py, f32>> {
        match rows {
            Rows::F32(a) => Some(a),
            Rows::F64(_) => None,
        }
    }
}

impl<'py> FromRows<'py> for f64 {
    fn from_rows(rows: Rows<'py>) -> Option<PyReadonlyArray2<'py, f64>> {
        match rows {
            Rows::F64(a) => Some(a),
            Rows::F32(_) => None,
        }
    }
}

/// `other` as an array of dtype `T` (that of the main argument), or a TypeError naming both.
pub fn same_dtype<'py, T: FromRows<'py>>(
    other: Option<Rows<'py>>,
    what: &str,
    main: &str,
) -> PyResult<Option<PyReadonlyArray2<'py, T>>> {
    other
        .map(|r| {
            T::from_rows(r).ok_or_else(|| {
                PyTypeError::new_err(format!("{what} must have the dtype of {main}"))
            })
        })
        .transpose()
}

/// A distance output buffer, float32 or float64.
#[derive(FromPyObject)]
pub enum DistOut<'py> {
    F32(PyReadwriteArray2<'py, f32>),
    F64(PyReadwriteArray2<'py, f64>),
}

/// Evaluate `$body` with `$o` bound to the mutable slice of a [`DistOut`], whatever its dtype.
macro_rules! with_dist_out {
    ($out:expr, |$o:ident| $body:expr) => {
        match $out {
            $crate::python::convert::DistOut::F32(mut a) => {
                let $o = $crate::python::convert::slice_mut(&mut a, "out")?;
                $body
            }
            $crate::python::convert::DistOut::F64(mut a) => {
                let $o = $crate::python::convert::slice_mut(&mut a, "out")?;
                $body
            }
        }
    };
}
pub(crate) use with_dist_out;

/// CSR column indices as scipy stores them.
#[derive(FromPyObject)]
pub enum CsrIndices<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

/// An `n x n` CSR graph passed as the tuple `(n, indptr, indices, weights)`.
#[derive(FromPyObject)]
pub struct Csr<'py>(
    pub usize,
    pub PyReadonlyArray1<'py, i64>,
    pub CsrIndices<'py>,
    pub PyReadonlyArray1<'py, f64>,
);

/// Evaluate `$body` with `$g` bound to the validated [`CsrGraph`] of a [`Csr`], whatever its
/// index dtype.
macro_rules! with_csr {
    ($csr:expr, |$g:ident| $body:expr) => {{
        let csr = &$csr;
        let n = csr.0;
        let indptr = $crate::python::convert::slice1(&csr.1, "indptr")?;
        let weights = $crate::python::convert::slice1(&csr.3, "weights")?;
        match &csr.2 {
            $crate::python::convert::CsrIndices::I32(ix) => {
                let ix = $crate::python::convert::slice1(ix, "indices")?;
                let $g = $crate::python::convert::csr_graph(n, indptr, ix, weights)?;
                $body
            }
            $crate::python::convert::CsrIndices::I64(ix) => {
                let ix = $crate::python::convert::slice1(ix, "indices")?;
                let $g = $crate::python::convert::csr_graph(n, indptr, ix, weights)?;
                $body
            }
        }
    }};
}
pub(crate) use with_csr;

/// The validated graph (see [`CsrGraph::new`]).
pub fn csr_graph<'a, I: crate::geodesics::csr::CsrIndex>(
    n: usize,
    indptr: &'a [i64],
    indices: &'a [I],
    weights: &'a [f64],
) -> PyResult<CsrGraph<'a, I>> {
    Ok(CsrGraph::new((n, n), indptr, indices, weights)?)
}

/// int64 indices as `usize`; a negative one is an error naming `what` (e.g. "source").
pub fn indices(values: &[i64], what: impl Fn(i64) -> String) -> PyResult<Vec<usize>> {
    values
        .iter()
        .map(|&v| usize::try_from(v).map_err(|_| PyValueError::new_err(what(v))))
        .collect()
}

/// A core enum extracted from an option string: `Wrap<Metric>` from `"cosine"`.
pub struct Wrap<T>(pub T);

/// An option spelled as a string in Python and as an enum in the core.
pub trait Choice: Sized + Copy + 'static {
    /// The option's name in error messages ("metric").
    const OPTION: &'static str;
    /// Every accepted spelling with its value.
    const CHOICES: &'static [(&'static str, Self)];
}

impl<'py, T: Choice> FromPyObject<'_, 'py> for Wrap<T> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        let name: String = obj
            .extract()
            .map_err(|_| PyTypeError::new_err(format!("{} must be a string", T::OPTION)))?;
        match T::CHOICES.iter().find(|(n, _)| *n == name) {
            Some(&(_, v)) => Ok(Wrap(v)),
            None => {
                let allowed: Vec<String> =
                    T::CHOICES.iter().map(|(n, _)| format!("'{n}'")).collect();
                Err(PyValueError::new_err(format!(
                    "unknown {} {name:?}; expected one of {}",
                    T::OPTION,
                    allowed.join(", ")
                )))
            }
        }
    }
}

impl Choice for Metric {
    const OPTION: &'static str = "metric";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("euclidean", Metric::Euclidean),
        ("sqeuclidean", Metric::SqEuclidean),
        ("cosine", Metric::Cosine),
        ("inner_product", Metric::InnerProduct),
    ];
}

impl Choice for Kind {
    const OPTION: &'static str = "model kind";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("score", Kind::Score),
        ("eps", Kind::Eps),
        ("x0", Kind::X0),
        ("v", Kind::V),
    ];
}

impl Choice for ScheduleKind {
    const OPTION: &'static str = "schedule";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("vp", ScheduleKind::Vp),
        ("subvp", ScheduleKind::SubVp),
        ("cosine", ScheduleKind::Cosine),
        ("ve", ScheduleKind::Ve),
        ("edm", ScheduleKind::Edm),
        ("discrete", ScheduleKind::Discrete),
    ];
}

impl Choice for Stream {
    const OPTION: &'static str = "stream";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("prior", Stream::Prior),
        ("step", Stream::Step),
        ("corrector", Stream::Corrector),
        ("probe", Stream::Probe),
    ];
}

/// The sampler's method: adaptive Dormand-Prince or a fixed-grid method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleMethod {
    Dopri5,
    Fixed(Method),
}

impl Choice for SampleMethod {
    const OPTION: &'static str = "method";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("dopri5", SampleMethod::Dopri5),
        ("euler", SampleMethod::Fixed(Method::Euler)),
        ("heun", SampleMethod::Fixed(Method::Heun)),
        ("midpoint", SampleMethod::Fixed(Method::Midpoint)),
        ("rk4", SampleMethod::Fixed(Method::Rk4)),
        ("ddim", SampleMethod::Fixed(Method::Ddim)),
        ("ancestral", SampleMethod::Fixed(Method::Ancestral)),
        ("dpmpp_2m", SampleMethod::Fixed(Method::DpmSolver2M)),
        ("euler_maruyama", SampleMethod::Fixed(Method::EulerMaruyama)),
        ("pc", SampleMethod::Fixed(Method::PredictorCorrector)),
    ];
}

impl Choice for crate::diffusion::likelihood::OdeMethod {
    const OPTION: &'static str = "method";
    const CHOICES: &'static [(&'static str, Self)] = {
        use crate::diffusion::likelihood::OdeMethod::{Dopri5, Fixed};
        &[
            ("dopri5", Dopri5),
            ("euler", Fixed(RkMethod::Euler)),
            ("midpoint", Fixed(RkMethod::Midpoint)),
            ("heun", Fixed(RkMethod::Heun)),
            ("rk4", Fixed(RkMethod::Rk4)),
        ]
    };
}

/// How the likelihood computes the divergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DivergenceKind {
    Exact,
    Hutchinson,
}

impl Choice for DivergenceKind {
    const OPTION: &'static str = "divergence";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("exact", DivergenceKind::Exact),
        ("hutchinson", DivergenceKind::Hutchinson),
    ];
}

/// The distribution of Hutchinson probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Rademacher,
    Gaussian,
}

impl Choice for Probe {
    const OPTION: &'static str = "probe";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("rademacher", Probe::Rademacher),
        ("gaussian", Probe::Gaussian),
    ];
}

/// The covariance structure of a Gaussian mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CovarianceType {
    Full,
    Diag,
    Spherical,
}

impl Choice for CovarianceType {
    const OPTION: &'static str = "covariance_type";
    const CHOICES: &'static [(&'static str, Self)] = &[
        ("full", CovarianceType::Full),
        ("diag", CovarianceType::Diag),
        ("spherical", CovarianceType::Spherical),
    ];
}
