//! Buffers whose size comes from the caller: sizes multiplied with overflow checks and memory
//! reserved fallibly, so that an absurd size becomes an [`Error::Memory`] naming the input
//! ("cannot allocate N bytes for ...") instead of an abort (a refused allocation) or a panic
//! (a capacity overflow, or a product that wraps around and indexes out of bounds).

use std::alloc::Layout;

use crate::{Error, Result};

/// The product of `dims`, or an [`Error::Memory`] saying that the size of `what` overflows.
pub fn product(dims: &[usize], what: &str) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            let dims: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            Error::memory(format!(
                "cannot allocate {what}: its size {} overflows",
                dims.join(" x ")
            ))
        })
}

/// The error for `len` elements of `T` that cannot be had.
fn refused<T>(len: usize, what: &str) -> Error {
    let bytes = len as u128 * std::mem::size_of::<T>() as u128;
    Error::memory(format!("cannot allocate {bytes} bytes for {what}"))
}

/// An empty vector with room for exactly `len` elements.
pub fn with_capacity<T>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| refused::<T>(len, what))?;
    Ok(v)
}

/// `len` copies of `value`.
pub fn filled<T: Clone>(len: usize, value: T, what: &str) -> Result<Vec<T>> {
    let mut v = with_capacity(len, what)?;
    v.resize(len, value);
    Ok(v)
}

/// Check that `len` elements of `T` could be allocated now, for memory that is then allocated
/// in many pieces (each of which would abort if refused): the block is reserved and freed.
pub fn ensure<T>(len: usize, what: &str) -> Result<()> {
    with_capacity::<T>(len, what).map(drop)
}

/// Element types whose all-zero bit pattern is the value zero.
///
/// # Safety
/// Implement only for types for which every byte being 0 is a valid value.
pub unsafe trait ZeroBits: Copy {}

// SAFETY: 0 bits are 0 / 0.0 / false for all of these.
unsafe impl ZeroBits for f32 {}
unsafe impl ZeroBits for f64 {}
unsafe impl ZeroBits for i32 {}
unsafe impl ZeroBits for i64 {}
unsafe impl ZeroBits for u32 {}
unsafe impl ZeroBits for u64 {}
unsafe impl ZeroBits for usize {}
unsafe impl ZeroBits for bool {}

/// `len` zeros from zeroed memory: like `vec![0; len]`, the system hands the pages out lazily
/// (no pass writing zeros), but a refused allocation is an error instead of an abort.
pub fn zeros<T: ZeroBits>(len: usize, what: &str) -> Result<Vec<T>> {
    if len == 0 || std::mem::size_of::<T>() == 0 {
        return Ok(Vec::new());
    }
    let layout = Layout::array::<T>(len).map_err(|_| refused::<T>(len, what))?;
    // SAFETY: the layout has a non-zero size (len > 0 and T is not zero-sized).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(refused::<T>(len, what));
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of `[T; len]`, which is
    // what a Vec of capacity `len` frees with, and all-zero bytes are a valid `T` (ZeroBits).
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_that_overflow_or_cannot_be_had_are_errors() {
        assert_eq!(product(&[3, 4, 5], "x").unwrap(), 60);
        assert_eq!(product(&[], "x").unwrap(), 1);
        let e = product(&[1 << 40, 1 << 40], "the states").unwrap_err();
        assert!(matches!(e, Error::Memory(_)), "{e:?}");
        assert!(e.to_string().contains("the states"), "{e}");
        // More than isize::MAX bytes: refused before asking the system.
        let e = zeros::<f64>(usize::MAX / 4, "the output").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot allocate 36893488147419103224 bytes for the output"),
            "{e}"
        );
        assert!(with_capacity::<u32>(usize::MAX / 2, "w").is_err());
        assert!(filled(usize::MAX / 2, 1.0f64, "w").is_err());
        // Far more than any machine has (1 PiB): the system refuses, no abort.
        assert!(matches!(zeros::<f64>(1 << 47, "x"), Err(Error::Memory(_))));
    }

    #[test]
    fn buffers_hold_what_they_promise() {
        let z: Vec<f64> = zeros(1000, "z").unwrap();
        assert_eq!(z.len(), 1000);
        assert!(z.iter().all(|&v| v == 0.0));
        let mut z: Vec<i64> = zeros(3, "z").unwrap();
        z.push(4);
        assert_eq!(z, [0, 0, 0, 4]);
        assert!(zeros::<u32>(0, "z").unwrap().is_empty());
        assert_eq!(filled(2, f64::NAN, "f").unwrap().len(), 2);
        let c: Vec<u8> = with_capacity(17, "c").unwrap();
        assert!(c.is_empty() && c.capacity() >= 17);
    }
}
