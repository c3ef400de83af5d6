//! Running a long Rust job without the GIL while the calling thread keeps Python responsive:
//! it polls for Ctrl-C (KeyboardInterrupt cancels the job) and reports progress to an optional
//! Python callable `callback(done, total)`. A panic in the job becomes a RuntimeError.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::monitor::Monitor;

const POLL: Duration = Duration::from_millis(100);

/// Run `job` on a worker thread and wait for it with the GIL released.
pub fn run_monitored<R: Send>(
    py: Python<'_>,
    callback: Option<&Bound<'_, PyAny>>,
    job: impl FnOnce(&Monitor) -> crate::Result<R> + Send,
) -> PyResult<R> {
    let monitor = Monitor::new();
    let callback: Option<Py<PyAny>> = callback.map(|c| c.clone().unbind());
    let mut py_err: Option<PyErr> = None;
    let joined = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = channel();
            let mon = &monitor;
            let handle = s.spawn(move || {
                let r = job(mon);
                let _ = tx.send(());
                r
            });
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
                    Err(RecvTimeoutError::Timeout) => {
                        if py_err.is_none() {
                            py_err = Python::attach(|py| poll(py, &monitor, callback.as_ref()));
                            if py_err.is_some() {
                                monitor.cancel();
                            }
                        }
                    }
                }
            }
            handle.join()
        })
    });
    if let Some(e) = py_err {
        return Err(e);
    }
    let result =
        joined.map_err(|_| PyRuntimeError::new_err("internal error: the Rust job panicked"))??;
    if let Some(cb) = &callback {
        let (done, total) = monitor.progress();
        cb.call1(py, (done.max(total), total))?;
    }
    Ok(result)
}

fn poll(py: Python<'_>, monitor: &Monitor, callback: Option<&Py<PyAny>>) -> Option<PyErr> {
    if let Err(e) = py.check_signals() {
        return Some(e);
    }
    let cb = callback?;
    let (done, total) = monitor.progress();
    cb.call1(py, (done, total)).err()
}
