//! The floating-point element types the algorithms accept (f32 and f64).

use faer::traits::ComplexField;

/// A real scalar usable in the GEMM-based kernels: f32 or f64.
pub trait Real:
    ComplexField
    + Copy
    + Send
    + Sync
    + PartialOrd
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + 'static
{
    /// Unit roundoff (half the machine epsilon).
    const UNIT_ROUNDOFF: f64;
    /// Additive identity.
    const ZERO: Self;
    /// Widen to f64 (exact).
    fn to_f64(self) -> f64;
    /// Round an f64 to this type.
    fn from_f64(x: f64) -> Self;
}

impl Real for f32 {
    const UNIT_ROUNDOFF: f64 = f32::EPSILON as f64 / 2.0;
    const ZERO: Self = 0.0;
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}

impl Real for f64 {
    const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
    const ZERO: Self = 0.0;
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Fail with a message naming `what` if any value is NaN or infinite.
///
/// Blocks are checked with a branch-free scan (in parallel from 2^20 values on); the reported
/// position is the first.
pub fn check_finite<T: Real>(values: &[T], what: &str) -> crate::Result<()> {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 14;
    let all_finite = |block: &[T]| block.iter().fold(true, |ok, v| ok & v.to_f64().is_finite());
    let first_bad = if values.len() < crate::parallel::PAR_CHEAP {
        values.chunks(BLOCK).position(|c| !all_finite(c))
    } else {
        values.par_chunks(BLOCK).position_first(|c| !all_finite(c))
    };
    let Some(b) = first_bad else {
        return Ok(());
    };
    let start = b * BLOCK;
    let i = start
        + values[start..]
            .iter()
            .position(|v| !v.to_f64().is_finite())
            .unwrap_or(0);
    Err(crate::Error::invalid(format!(
        "{what} contains a non-finite value (NaN or inf) at flat position {i}"
    )))
}
