//! Evaluating a batch of points: request checks, chunking over threads, output buffers.

use super::*;
use crate::buffers::zeros;

impl GaussianMixture {
    /// Validate an evaluation; returns the shared marginal when every point has one level.
    pub(super) fn check_request(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
    ) -> Result<Option<Marginal>> {
        let d = self.d;
        if x.len() % d != 0 {
            return Err(Error::invalid(format!(
                "x has {} values, not a multiple of the mixture dimension {d}",
                x.len()
            )));
        }
        let b = x.len() / d;
        check_finite(x, "x")?;
        let check_level = |s: f64, sigma: f64| -> Result<()> {
            if !s.is_finite() || !sigma.is_finite() {
                return Err(Error::invalid(format!(
                    "s and sigma must be finite; got s = {s}, sigma = {sigma}"
                )));
            }
            if sigma < 0.0 {
                return Err(Error::invalid(format!("sigma must be >= 0; got {sigma}")));
            }
            if request.denoise && s == 0.0 {
                return Err(Error::invalid(
                    "the denoiser E[x_0 | x_t] needs s != 0 (at s = 0, x_t carries no signal)",
                ));
            }
            Ok(())
        };
        let single = match levels {
            Levels::Single(s, sigma) => {
                check_level(s, sigma)?;
                Some(self.marginal(s, sigma)?)
            }
            Levels::PerPoint(s, sigma) => {
                if s.len() != b || sigma.len() != b {
                    return Err(Error::invalid(format!(
                        "s and sigma must have one value per point ({b}); got {} and {}",
                        s.len(),
                        sigma.len()
                    )));
                }
                for (&si, &gi) in s.iter().zip(sigma) {
                    check_level(si, gi)?;
                }
                None
            }
        };
        if let Some((a, c)) = request.divergence {
            if !a.is_finite() || !c.is_finite() {
                return Err(Error::invalid(format!(
                    "a and c must be finite; got a = {a}, c = {c}"
                )));
            }
        }
        Ok(single)
    }

    /// Evaluate the requested quantities of `p_t` at the `B x d` points `x` (row-major).
    ///
    /// `monitor` counts points and can cancel; `n_threads` sizes the pool (`None`: rayon's
    /// global one). Results do not depend on either.
    pub fn evaluate(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
    ) -> Result<Evaluation> {
        let single = self.check_request(x, levels, request)?;
        let d = self.d;
        let b = x.len() / d;
        let buf = |on: bool, len: usize, what: &str| zeros::<f64>(if on { len } else { 0 }, what);
        let mut lp = buf(request.log_prob, b, "the log densities")?;
        let mut sc = buf(request.score, x.len(), "the scores")?;
        let mut dn = buf(request.denoise, x.len(), "the denoised points")?;
        let mut dv = buf(request.divergence.is_some(), b, "the divergences")?;
        let out = Outputs {
            log_prob: &mut lp,
            score: &mut sc,
            denoise: &mut dn,
            divergence: &mut dv,
        };
        self.evaluate_checked(x, levels, single.as_ref(), request, n_threads, monitor, out)?;
        let keep = |on: bool, v: Vec<f64>| on.then_some(v);
        Ok(Evaluation {
            log_prob: keep(request.log_prob, lp),
            score: keep(request.score, sc),
            denoise: keep(request.denoise, dn),
            divergence: keep(request.divergence.is_some(), dv),
        })
    }

    /// [`Self::evaluate`] into caller-owned buffers: each requested output of `out` must have
    /// its full length (`B` or `B x d`); the others are ignored.
    pub fn evaluate_into(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
        out: Outputs<'_>,
    ) -> Result<()> {
        let d = self.d;
        let b = x.len() / d.max(1);
        let lens = [
            (request.log_prob, out.log_prob.len(), b, "log_prob"),
            (request.score, out.score.len(), b * d, "score"),
            (request.denoise, out.denoise.len(), b * d, "denoise"),
            (
                request.divergence.is_some(),
                out.divergence.len(),
                b,
                "divergence",
            ),
        ];
        for (on, have, want, name) in lens {
            if on && have != want {
                return Err(Error::invalid(format!(
                    "the {name} buffer has {have} values, expected {want}"
                )));
            }
        }
        let single = self.check_request(x, levels, request)?;
        self.evaluate_checked(x, levels, single.as_ref(), request, n_threads, monitor, out)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn evaluate_checked(
        &self,
        x: &[f64],
        levels: Levels<'_>,
        single: Option<&Marginal>,
        request: Request,
        n_threads: Option<usize>,
        monitor: &Monitor,
        out: Outputs<'_>,
    ) -> Result<()> {
        let d = self.d;
        let b = x.len() / d;
        monitor.set_total(b);
        let (lp, sc, dn, dv) = (
            pick(request.log_prob, out.log_prob),
            pick(request.score, out.score),
            pick(request.denoise, out.denoise),
            pick(request.divergence.is_some(), out.divergence),
        );
        // Split every output into per-chunk pieces (empty pieces for outputs not requested).
        let n_chunks = b.div_ceil(CHUNK);
        let work: Vec<_> = pieces(lp, 1, n_chunks)
            .into_iter()
            .zip(pieces(sc, d, n_chunks))
            .zip(pieces(dn, d, n_chunks))
            .zip(pieces(dv, 1, n_chunks))
            .enumerate()
            .collect();
        with_threads(n_threads, || {
            work.into_par_iter()
                .try_for_each(|(ci, (((lp, sc), dn), dv))| -> Result<()> {
                    monitor.check()?;
                    let start = ci * CHUNK;
                    let end = (start + CHUNK).min(b);
                    let outs = ChunkOut { lp, sc, dn, dv };
                    self.chunk(x, start, end, levels, single, request, outs)?;
                    monitor.advance(end - start);
                    Ok(())
                })
        })?
    }

    /// Evaluate points `start..end` into their chunk's outputs, in blocks of [`LANES`] points.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn chunk_generic(
        &self,
        x: &[f64],
        start: usize,
        end: usize,
        levels: Levels<'_>,
        single: Option<&Marginal>,
        request: Request,
        out: ChunkOut<'_>,
    ) -> Result<()> {
        let d = self.d;
        let want_vec = request.score || request.denoise || request.divergence.is_some();
        let mut scratch = Scratch::new(self.k, d);
        let mut cached: Option<Marginal> = None;
        let mut q = start;
        while q < end {
            let full = (end - q).min(LANES);
            // A block shares one marginal; with per-point levels that differ inside the block,
            // fall back to one point per block (lanes are independent, so results are the same).
            let n = match (single, levels) {
                (None, Levels::PerPoint(s, sigma)) => {
                    let same = (q + 1..q + full).all(|p| {
                        s[p].to_bits() == s[q].to_bits() && sigma[p].to_bits() == sigma[q].to_bits()
                    });
                    if same {
                        full
                    } else {
                        1
                    }
                }
                _ => full,
            };
            if let Levels::PerPoint(s, sigma) = levels {
                let hit = cached.as_ref().is_some_and(|m| {
                    m.s.to_bits() == s[q].to_bits() && m.sigma.to_bits() == sigma[q].to_bits()
                });
                if !hit && single.is_none() {
                    cached = Some(self.marginal(s[q], sigma[q])?);
                }
            }
            let m = match single {
                Some(m) => m,
                None => cached.as_ref().expect("computed above"),
            };
            let xs = &x[q * d..(q + n) * d];
            m.block(xs, n, &mut scratch, want_vec, request.divergence.is_some());
            let v2 = m.sigma * m.sigma;
            for l in 0..n {
                let j = q - start + l;
                if request.log_prob {
                    out.lp[j] = scratch.max[l] + scratch.total[l].ln();
                }
                if request.score {
                    for c in 0..d {
                        out.sc[j * d + c] = scratch.g[c * LANES + l];
                    }
                }
                if request.denoise {
                    for c in 0..d {
                        let g = scratch.g[c * LANES + l];
                        out.dn[j * d + c] = (xs[l * d + c] + v2 * g) / m.s;
                    }
                }
                if let Some((a, c)) = request.divergence {
                    out.dv[j] = d as f64 * a + c * scratch.lap[l];
                }
            }
            q += n;
        }
        Ok(())
    }

    crate::widest! {
        /// `chunk_generic` compiled for the widest vector unit the CPU has: the same
        /// operations, so the same results (fused multiply-adds are written out with
        /// `mul_add`, which rounds once on every path).
        #[allow(clippy::too_many_arguments)]
        pub(super) fn chunk(
            &self,
            x: &[f64],
            start: usize,
            end: usize,
            levels: Levels<'_>,
            single: Option<&Marginal>,
            request: Request,
            out: ChunkOut<'_>,
        ) -> Result<()>;
        generic chunk_generic, avx512 chunk_avx512, avx2 chunk_avx2
    }
}

/// Caller-owned output buffers of [`GaussianMixture::evaluate_into`] (empty when not requested).
pub struct Outputs<'a> {
    /// `B` log-densities.
    pub log_prob: &'a mut [f64],
    /// `B x d` scores.
    pub score: &'a mut [f64],
    /// `B x d` posterior means.
    pub denoise: &'a mut [f64],
    /// `B` divergences.
    pub divergence: &'a mut [f64],
}

/// One chunk's slices of the outputs (empty when not requested).
pub(super) struct ChunkOut<'a> {
    pub(super) lp: &'a mut [f64],
    pub(super) sc: &'a mut [f64],
    pub(super) dn: &'a mut [f64],
    pub(super) dv: &'a mut [f64],
}

/// `v` when requested, else an empty slice.
pub(super) fn pick(on: bool, v: &mut [f64]) -> &mut [f64] {
    if on {
        v
    } else {
        &mut []
    }
}

/// Split an output into per-chunk pieces (empty pieces for an output not requested).
pub(super) fn pieces(v: &mut [f64], width: usize, n_chunks: usize) -> Vec<&mut [f64]> {
    if v.is_empty() {
        (0..n_chunks).map(|_| &mut [][..]).collect()
    } else {
        v.chunks_mut(CHUNK * width).collect()
    }
}
