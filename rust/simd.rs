//! Kernels compiled for the widest vector unit the CPU has.
//!
//! The default x86-64 target has only SSE2. [`widest!`](crate::widest) defines a function (or a
//! method) that runs a generic `#[inline(always)]` kernel through a copy compiled for AVX-512
//! or for AVX2 + FMA when the CPU has them, else the plain one. The operations and their order
//! do not change, hence neither do the bits: Rust never contracts a multiply and an add on its
//! own, and `mul_add` rounds once on every path. (A closure passed to one generic
//! `#[target_feature]` function is not reliably inlined into it, so each kernel gets its own
//! copies.)

/// Define `$name`, running `$generic` (same arguments, `#[inline(always)]`) compiled for the
/// widest vector unit, with the copies `$avx512` and `$avx2`. Two forms: a method
/// (`fn name(&self, ...)`, inside an `impl`) and a function generic over one type.
#[macro_export]
macro_rules! widest {
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        generic $generic:ident, avx512 $avx512:ident, avx2 $avx2:ident
    ) => {
        $(#[$attr])*
        $vis fn $name(&self $(, $arg: $ty)*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features this copy is compiled for.
                    return unsafe { self.$avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { self.$avx2($($arg),*) };
                }
            }
            self.$generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn $avx512(&self $(, $arg: $ty)*) -> $ret {
            self.$generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn $avx2(&self $(, $arg: $ty)*) -> $ret {
            self.$generic($($arg),*)
        }
    };
    (
        $(#[$attr:meta])*
        $vis:vis fn $name:ident<$g:ident: $bound:path>($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
        generic $generic:path, avx512 $avx512:ident, avx2 $avx2:ident
    ) => {
        $(#[$attr])*
        $vis fn $name<$g: $bound>($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports the features this copy is compiled for.
                    return unsafe { $avx512::<$g>($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { $avx2::<$g>($($arg),*) };
                }
            }
            $generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn $avx512<$g: $bound>($($arg: $ty),*) -> $ret {
            $generic($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2<$g: $bound>($($arg: $ty),*) -> $ret {
            $generic($($arg),*)
        }
    };
}
