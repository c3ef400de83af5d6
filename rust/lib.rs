//! latentgeo: geometry of learned representation spaces.
//!
//! The algorithm modules here are plain Rust and know nothing of Python; the `python` feature adds
//! the thin binding layer in `rust/python/` that maturin builds as `latentgeo._core`.

pub mod csr;
pub mod diffusion;
pub mod dijkstra;
pub mod error;
pub mod exact;
pub mod gmm;
pub mod knn;
pub mod monitor;
pub mod occurrence;
pub mod parallel;
pub mod real;
pub mod topk;
pub mod unargmax;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
