//! The sampler's observer: saved snapshots, the user's callback and progress (Python models).

use std::time::{Duration, Instant};

use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::Error;

const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The states, saved snapshots, callback and progress of a sampler run.
pub struct Recorder {
    pub shape: Vec<usize>,
    pub f32: bool,
    pub save_every: usize,
    pub saved: Vec<f64>,
    pub saved_t: Vec<f64>,
    pub callback: Option<Py<PyAny>>,
    /// Progress callable called from the observer (Python models only; run_monitored reports
    /// progress for analytic ones).
    pub progress: Option<(Py<PyAny>, usize, Instant)>,
}

impl Recorder {
    fn state<'py>(&self, py: Python<'py>, x: &[f64]) -> PyResult<Bound<'py, PyAny>> {
        let d: usize = self.shape.iter().product();
        let mut shape = vec![x.len() / d.max(1)];
        shape.extend_from_slice(&self.shape);
        Ok(if self.f32 {
            PyArray1::from_iter(py, x.iter().map(|&v| v as f32))
                .reshape(shape)?
                .into_any()
        } else {
            PyArray1::from_slice(py, x).reshape(shape)?.into_any()
        })
    }

    fn observe_py(&mut self, step: usize, t: Option<&[f64]>, t1: f64, x: &[f64]) -> PyResult<bool> {
        Python::attach(|py| {
            if let Some((cb, total, last)) = &mut self.progress {
                if last.elapsed() >= PROGRESS_EVERY {
                    *last = Instant::now();
                    cb.call1(py, (step.min(*total), *total))?;
                }
                py.check_signals()?;
            }
            let Some(cb) = &self.callback else {
                return Ok(true);
            };
            let info = PyDict::new(py);
            info.set_item("step", step)?;
            match t {
                Some(ts) => info.set_item("t", PyArray1::from_slice(py, ts))?,
                None if t1.is_nan() => info.set_item("t", py.None())?,
                None => info.set_item("t", t1)?,
            }
            info.set_item("x", self.state(py, x)?)?;
            match cb.call1(py, (info,)) {
                Ok(r) => Ok(!r.bind(py).is_truthy()?),
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyStopIteration>(py) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// The observer of step `step` at time `t1` (or per-row times `t`).
    pub fn observe(
        &mut self,
        step: usize,
        t: Option<&[f64]>,
        t1: f64,
        x: &[f64],
    ) -> crate::Result<bool> {
        if self.save_every > 0 && step % self.save_every == 0 {
            if self.saved.try_reserve(x.len()).is_err() {
                let bytes = (self.saved.len() as u128 + x.len() as u128) * 8;
                return Err(Error::memory(format!(
                    "cannot allocate {bytes} bytes for the trajectory saved with save_every = {} \
                     (save less often)",
                    self.save_every
                )));
            }
            self.saved.extend_from_slice(x);
            self.saved_t.push(t1);
        }
        if self.callback.is_none() && self.progress.is_none() {
            return Ok(true);
        }
        self.observe_py(step, t, t1, x).map_err(Error::external)
    }
}
