//! Running work on a rayon pool of a chosen size.

use std::sync::{Arc, Mutex};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::{Error, Result};

/// Cheap element-wise passes (a few flops per value, memory-bound) run in parallel from this
/// many values on: below it a rayon dispatch, and worker threads spinning beside the caller's
/// next (Python) call, cost more than the pass.
pub const PAR_CHEAP: usize = 1 << 20;

/// Run `f` on a pool of `n_threads` threads, or on the current pool when `None` (rayon's
/// global pool, or the pool of [`in_pool`] under the Python binding).
///
/// Pools are built once per size and kept (see [`pool`]), so that a loop of small calls with
/// `n_threads` set does not start threads on every call. Algorithms in this crate never let
/// their results depend on the pool size.
pub fn with_threads<R: Send>(n_threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match n_threads {
        None => Ok(f()),
        Some(0) => Err(Error::invalid("n_threads must be at least 1")),
        Some(t) => Ok(pool(t)?.install(f)),
    }
}

/// Run `f` on the kept pool of the default size (`RAYON_NUM_THREADS`, else the available
/// cores), never on rayon's global pool, whose threads a forked child process does not have
/// (a call there would wait for them forever).
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(default_threads())?.install(f))
}

fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&t| t > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|t| t.get()))
        .unwrap_or(1)
}

/// Distinct pool sizes kept alive between calls.
pub const KEPT_POOLS: usize = 8;

/// The kept pools, and the process that built them.
struct Pools {
    pid: u32,
    kept: Vec<(usize, Arc<ThreadPool>)>,
}

static POOLS: Mutex<Pools> = Mutex::new(Pools {
    pid: 0,
    kept: Vec::new(),
});

/// The pool of `t` threads, built on first use and kept (at most [`KEPT_POOLS`] sizes; a
/// further size gets a pool for this call only). A forked child process inherits the list but
/// not the threads: it drops the list (without joining threads it does not have) and builds
/// its own pools.
pub fn pool(t: usize) -> Result<Arc<ThreadPool>> {
    let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        std::mem::forget(std::mem::take(&mut pools.kept));
        pools.pid = pid;
    }
    if let Some((_, p)) = pools.kept.iter().find(|(size, _)| *size == t) {
        return Ok(Arc::clone(p));
    }
    let p = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .map_err(|e| Error::Runtime(format!("could not build a thread pool: {e}")))?,
    );
    if pools.kept.len() < KEPT_POOLS {
        pools.kept.push((t, Arc::clone(&p)));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_kept_per_size() {
        let a = pool(3).unwrap();
        let b = pool(3).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 3);
        assert_eq!(
            with_threads(Some(2), rayon::current_num_threads).unwrap(),
            2
        );
        assert!(with_threads(Some(0), || ()).is_err());
        let inner = in_pool(|| with_threads(None, rayon::current_num_threads)).unwrap();
        assert_eq!(inner.unwrap(), default_threads());
    }
}
