//! Running work on a rayon pool of a chosen size.

use crate::{Error, Result};

/// Cheap element-wise passes (a few flops per value, memory-bound) run in parallel from this
/// many values on: below it a rayon dispatch, and worker threads spinning beside the caller's
/// next (Python) call, cost more than the pass.
pub const PAR_CHEAP: usize = 1 << 20;

/// Run `f` on a dedicated pool of `n_threads` threads, or on rayon's global pool when `None`.
///
/// Algorithms in this crate never let their results depend on the pool size.
pub fn with_threads<R: Send>(n_threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    match n_threads {
        None => Ok(f()),
        Some(0) => Err(Error::invalid("n_threads must be at least 1")),
        Some(t) => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| Error::Runtime(format!("could not build a thread pool: {e}")))?;
            Ok(pool.install(f))
        }
    }
}
