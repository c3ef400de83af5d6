//! Running work on a rayon pool of a chosen size.

use crate::{Error, Result};

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
