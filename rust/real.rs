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
    /// `max |v|` over `values` (0 when empty), taken on the bit patterns: NaN or infinite
    /// exactly when a value is, as their patterns exceed every finite one.
    fn max_abs(values: &[Self]) -> f64;
}

/// [`Real::max_abs`] for a float type and the unsigned integer of its bits (an integer
/// maximum: LLVM vectorises the reduction itself).
macro_rules! max_abs_by_bits {
    ($values:expr, $float:ty, $bits:ty) => {{
        const ABS: $bits = <$bits>::MAX >> 1; // all but the sign bit
        let top = $values
            .iter()
            .fold(0, |m: $bits, v| m.max(v.to_bits() & ABS));
        <$float>::from_bits(top) as f64
    }};
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
    #[inline(always)]
    fn max_abs(values: &[Self]) -> f64 {
        max_abs_by_bits!(values, f32, u32)
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
    #[inline(always)]
    fn max_abs(values: &[Self]) -> f64 {
        max_abs_by_bits!(values, f64, u64)
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

/// `max |v|` over `values` (0 when empty) as an f64, or NaN when a value is NaN or infinite:
/// finiteness and magnitude in one pass (in parallel from 2^20 values on; the maximum does not
/// depend on the order).
pub fn finite_max_abs<T: Real>(values: &[T]) -> f64 {
    use rayon::prelude::*;
    const BLOCK: usize = 1 << 16;
    let merge = |a: f64, b: f64| {
        if a.is_nan() || b.is_nan() {
            f64::NAN
        } else {
            a.max(b)
        }
    };
    let top = if values.len() < crate::parallel::PAR_CHEAP {
        values.chunks(BLOCK).map(widest_max_abs).fold(0.0, merge)
    } else {
        values
            .par_chunks(BLOCK)
            .map(widest_max_abs)
            .reduce(|| 0.0, merge)
    };
    if top.is_finite() {
        top
    } else {
        f64::NAN
    }
}

crate::widest! {
    /// [`Real::max_abs`] compiled for the widest vector unit the CPU has (the default x86-64
    /// target has only SSE2, which lacks an unsigned 32-bit maximum).
    fn widest_max_abs<T: Real>(values: &[T]) -> f64;
    generic T::max_abs, avx512 max_abs_avx512, avx2 max_abs_avx2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_max_abs_finds_the_magnitude_or_a_non_finite_value() {
        let big: Vec<f32> = (0..(3 << 20)).map(|i| (i % 1000) as f32 - 500.0).collect();
        assert_eq!(finite_max_abs(&big), 500.0);
        assert_eq!(widest_max_abs(&big[5..]), f32::max_abs(&big[5..])); // vectorised = plain
        assert_eq!(finite_max_abs::<f64>(&[]), 0.0);
        assert_eq!(finite_max_abs(&[0.5f64, -3.0, 2.0]), 3.0);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 17, big.len() - 1] {
                let mut v = big.clone();
                v[at] = bad;
                assert!(finite_max_abs(&v).is_nan(), "{bad} at {at}");
                assert!(finite_max_abs(&v[at..at + 1]).is_nan());
            }
        }
    }
}
