//! Running Rust work from Python.
//!
//! [`run_monitored`] runs a long job without the GIL while the calling thread keeps Python
//! responsive: it polls for Ctrl-C (KeyboardInterrupt cancels the job) and reports progress to an
//! optional Python callable `callback(done, total)`. [`guarded`] turns a Rust panic into a
//! RuntimeError naming the operation: no `PanicException`, and no panic message on stderr (the
//! hook installed by [`install_panic_hook`] stays quiet while a guarded call runs).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Once;
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::monitor::Monitor;

const POLL: Duration = Duration::from_millis(100);

/// Guarded calls in progress; the panic hook prints nothing while there is one.
static GUARDED: AtomicUsize = AtomicUsize::new(0);

/// Install (once per process) a panic hook that stays quiet while a guarded call runs and
/// defers to the previous hook otherwise.
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.load(Ordering::SeqCst) == 0 {
                previous(info);
            }
        }));
    });
}

/// Run `f`, catching a panic (on this thread, or propagated from a worker) as its message.
pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    struct Count;
    impl Drop for Count {
        fn drop(&mut self) {
            GUARDED.fetch_sub(1, Ordering::SeqCst);
        }
    }
    GUARDED.fetch_add(1, Ordering::SeqCst);
    let _count = Count;
    catch_unwind(AssertUnwindSafe(f)).map_err(panic_message)
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

fn internal_error(op: &str, msg: &str) -> PyErr {
    PyRuntimeError::new_err(format!("internal error in {op}: {msg}"))
}

/// Run the binding body `f` of operation `op`; a panic becomes a RuntimeError naming `op`.
pub fn guarded<R>(op: &str, f: impl FnOnce() -> PyResult<R>) -> PyResult<R> {
    catch_quietly(f).unwrap_or_else(|msg| Err(internal_error(op, &msg)))
}

/// Run `job` (operation `op`) on a worker thread and wait for it with the GIL released.
pub fn run_monitored<R: Send>(
    py: Python<'_>,
    op: &str,
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
                let r = catch_quietly(|| crate::parallel::in_pool(|| job(mon)));
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
    let result = match joined {
        Ok(Ok(r)) => r??,
        Ok(Err(msg)) => return Err(internal_error(op, &msg)),
        Err(payload) => return Err(internal_error(op, &panic_message(payload))),
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_comes_back_as_its_message() {
        install_panic_hook();
        assert_eq!(catch_quietly(|| 3), Ok(3));
        let e = catch_quietly(|| -> u8 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(e, "boom 7");
        let e = catch_quietly(|| -> Vec<u8> {
            let v: Vec<u8> = Vec::new();
            vec![v[3]]
        })
        .unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
        // A panic on a rayon worker reaches the caller too.
        let e = catch_quietly(|| {
            use rayon::prelude::*;
            (0..64)
                .into_par_iter()
                .for_each(|i| assert!(i != 40, "worker {i}"))
        })
        .unwrap_err();
        assert_eq!(e, "worker 40");
        assert_eq!(GUARDED.load(Ordering::SeqCst), 0);
    }
}
