//! latentgeo: geometry of learned representation spaces.
//!
//! One module per capability, named as in the Python package: [`neighbors`] (exact kNN),
//! [`hubs`] (k-occurrence), [`geodesics`] (shortest paths on CSR graphs), [`unargmax`]
//! (unargmaxable classes), [`diffusion`] (samplers, likelihoods, the analytic Gaussian mixture)
//! and [`losses`] (the EXACT expected-accuracy kernel); shared pieces ([`error`], [`buffers`],
//! [`real`], [`matrix`], [`parallel`], [`monitor`]) sit at the root. These modules are plain Rust and know
//! nothing of Python; the `python` feature adds the thin binding layer in `rust/python/` that
//! maturin builds as `latentgeo._core`.

pub mod buffers;
pub mod diffusion;
pub mod error;
pub mod geodesics;
pub mod hubs;
pub mod losses;
pub mod matrix;
pub mod monitor;
pub mod neighbors;
pub mod parallel;
pub mod real;
pub mod simd;
pub mod unargmax;

#[cfg(feature = "python")]
mod python;

#[cfg(test)]
mod test_util;

pub use error::{Error, Result};
