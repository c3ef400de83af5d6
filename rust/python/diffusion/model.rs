//! A model passed from Python: the analytic `GaussianMixtureCore`, or a batch callable
//! `fn(x, t) -> array` called with the GIL held.

use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::gmm::GaussianMixtureCore;
use crate::diffusion::model::{At, GmmModel, Kind, Model};
use crate::monitor::Monitor;
use crate::python::monitor::{guarded, run_monitored};
use crate::Error;

/// A user's batch model `fn(x, t) -> array`, called with the GIL held.
pub struct PyModel<'py> {
    py: Python<'py>,
    fun: Bound<'py, PyAny>,
    kind: Kind,
    shape: Vec<usize>,
    f32: bool,
    int_t: bool,
    asarray: Bound<'py, PyAny>,
    /// The `x` and `t` arrays of the previous call, refilled when the model kept no reference
    /// to them (saves an allocation, and the page faults of a fresh one, per call).
    x_arg: Option<Bound<'py, PyUntypedArray>>,
    t_arg: Option<Bound<'py, PyUntypedArray>>,
    /// The model's previous output, released only after the next call (see [`PyModel::call`]).
    last_out: Option<Bound<'py, PyUntypedArray>>,
}

/// `old` if nothing but us refers to it and it has `shape` and element type `T`, else a new
/// C-contiguous array; then filled from `values`.
fn refill<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    old: Option<Bound<'py, PyUntypedArray>>,
    shape: &[usize],
    values: impl ExactSizeIterator<Item = T>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    // SAFETY: reading the reference count of a live object we hold.
    let only_ours =
        |a: &Bound<'py, PyUntypedArray>| unsafe { pyo3::ffi::Py_REFCNT(a.as_ptr()) } == 1;
    let reuse = old
        .filter(|a| only_ours(a) && a.shape() == shape && a.is_c_contiguous())
        .and_then(|a| a.cast_into::<PyArrayDyn<T>>().ok())
        .filter(|a| a.try_readwrite().is_ok());
    let arr = match reuse {
        Some(a) => a,
        None => PyArrayDyn::<T>::zeros(py, shape, false),
    };
    {
        let mut rw = arr.try_readwrite()?;
        for (o, v) in rw.as_slice_mut()?.iter_mut().zip(values) {
            *o = v;
        }
    }
    Ok(arr.into_any().cast_into::<PyUntypedArray>()?)
}

impl<'py> PyModel<'py> {
    fn call(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> PyResult<()> {
        let py = self.py;
        py.check_signals()?;
        let d: usize = self.shape.iter().product();
        let n = x.len() / d.max(1);
        let mut shape = vec![n];
        shape.extend_from_slice(&self.shape);
        let old = self.x_arg.take();
        let xa = if self.f32 {
            refill(py, old, &shape, x.iter().map(|&v| v as f32))?
        } else {
            refill(py, old, &shape, x.iter().copied())?
        };
        let old = self.t_arg.take();
        let ta = match (self.int_t, at) {
            (true, At::All(t, _)) => refill(py, old, &[n], std::iter::repeat_n(t as i64, n))?,
            (false, At::All(t, _)) => refill(py, old, &[n], std::iter::repeat_n(t, n))?,
            (true, At::PerRow(t, _)) => refill(py, old, &[n], t.iter().map(|&v| v as i64))?,
            (false, At::PerRow(t, _)) => refill(py, old, &[n], t.iter().copied())?,
        };
        let res = self.fun.call1((&xa, &ta));
        self.x_arg = Some(xa);
        self.t_arg = Some(ta);
        let res = res?;
        let res = match res.cast::<PyUntypedArray>() {
            Ok(a) => a.clone(),
            Err(_) => self.asarray.call1((res,))?.cast_into::<PyUntypedArray>()?,
        };
        let kind = res.dtype().kind();
        if !matches!(kind, b'b' | b'i' | b'u' | b'f') {
            return Err(PyValueError::new_err(format!(
                "model output must hold real numbers, got dtype {}",
                res.dtype()
            )));
        }
        if res.shape() != shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "model output has shape {:?} but x has shape {:?}",
                res.shape(),
                shape
            )));
        }
        let contiguous = kind == b'f' && res.is_c_contiguous();
        if contiguous && res.dtype().itemsize() == 4 {
            // A float32 model (float32 states): widen straight into `out`.
            let arr = res.cast::<PyArrayDyn<f32>>()?.readonly();
            for (o, &v) in out.iter_mut().zip(arr.as_slice()?) {
                *o = f64::from(v);
            }
            drop(arr);
            self.keep_output(res);
            return Ok(());
        }
        let res = if contiguous && res.dtype().itemsize() == 8 {
            res
        } else {
            let np = py.import("numpy")?;
            np.getattr("ascontiguousarray")?
                .call1((res, np.getattr("float64")?))?
                .cast_into::<PyUntypedArray>()?
        };
        let arr = res.cast::<PyArrayDyn<f64>>()?.readonly();
        out.copy_from_slice(arr.as_slice()?);
        drop(arr);
        self.keep_output(res);
        Ok(())
    }

    /// Hold the model's output until the next call: this keeps glibc from trimming the top of
    /// the heap after every call (the model's output and temporaries are freed together there),
    /// which would make every call page-fault its fresh arrays in again. Not when it is the
    /// input array itself, which would then never be refilled.
    fn keep_output(&mut self, res: Bound<'py, PyUntypedArray>) {
        let is_input = self
            .x_arg
            .as_ref()
            .is_some_and(|a| a.as_ptr() == res.as_ptr());
        self.last_out = if is_input { None } else { Some(res) };
    }
}

impl Model for PyModel<'_> {
    fn kind(&self) -> Kind {
        self.kind
    }

    fn eval(&mut self, x: &[f64], at: At<'_>, out: &mut [f64]) -> crate::Result<()> {
        self.call(x, at, out).map_err(Error::external)
    }
}

/// A model passed from Python: an analytic mixture or a callable.
pub enum ModelArg<'py> {
    Gmm(PyRef<'py, GaussianMixtureCore>),
    Py(PyModel<'py>),
}

/// How to call a Python model: what it returns, the shape of one sample, float32 states,
/// integer (discrete-chain) times.
pub struct CallSpec {
    /// What the model returns.
    pub kind: Kind,
    /// The shape of one sample (the batch axis comes first).
    pub shape: Vec<usize>,
    /// Pass the states as float32.
    pub f32: bool,
    /// Pass the times as int64 (a discrete chain).
    pub int_t: bool,
}

/// The analytic mixture `model`, or the callable `model` called as `spec` says; `cols` is the
/// number of columns of the states, which one sample of `spec.shape` must fill exactly.
pub fn model_arg<'py>(
    model: &Bound<'py, PyAny>,
    spec: CallSpec,
    cols: usize,
) -> PyResult<ModelArg<'py>> {
    let py = model.py();
    let size = crate::buffers::product(&spec.shape, "one sample of sample_shape")?;
    if size != cols {
        return Err(PyValueError::new_err(format!(
            "sample_shape {:?} holds {size} values but the states have {cols} columns",
            spec.shape
        )));
    }
    if let Ok(g) = model.cast::<GaussianMixtureCore>() {
        return Ok(ModelArg::Gmm(g.borrow()));
    }
    if !model.is_callable() {
        return Err(PyTypeError::new_err(
            "model must be a GaussianMixture or a callable",
        ));
    }
    Ok(ModelArg::Py(PyModel {
        py,
        fun: model.clone(),
        kind: spec.kind,
        shape: spec.shape,
        f32: spec.f32,
        int_t: spec.int_t,
        asarray: py.import("numpy")?.getattr("asarray")?,
        x_arg: None,
        t_arg: None,
        last_out: None,
    }))
}

impl ModelArg<'_> {
    /// Run `job` on the model: an analytic mixture without the GIL (progress, Ctrl-C and
    /// `n_threads` through `run_monitored`), a Python model on this thread. A failure of the
    /// model (or of a callback) comes back as its own Python exception.
    pub fn run<R: Send>(
        &mut self,
        py: Python<'_>,
        op: &str,
        progress: Option<&Bound<'_, PyAny>>,
        n_threads: Option<usize>,
        job: impl FnOnce(&mut dyn Model, &Monitor) -> crate::Result<R> + Send,
    ) -> PyResult<R> {
        match self {
            ModelArg::Gmm(g) => {
                let gmm = g.inner();
                run_monitored(py, op, progress, |mon| {
                    crate::parallel::with_threads(n_threads, || job(&mut GmmModel::new(gmm), mon))?
                })
            }
            ModelArg::Py(pm) => guarded(op, || Ok(job(pm, &Monitor::new())?)),
        }
    }
}
