//! Counter-based random numbers: Philox4x32-10 (Salmon et al., SC 2011) keyed by the seed and
//! counted by (stream, sample index, step, block). Every sample's noise depends only on those
//! numbers, never on the batch it is in or on the thread that draws it.

const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32 block with 10 rounds.
pub fn philox4x32_10(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key = [key[0].wrapping_add(W0), key[1].wrapping_add(W1)];
        }
        let p0 = u64::from(M0) * u64::from(ctr[0]);
        let p1 = u64::from(M1) * u64::from(ctr[2]);
        ctr = [
            (p1 >> 32) as u32 ^ ctr[1] ^ key[0],
            p1 as u32,
            (p0 >> 32) as u32 ^ ctr[3] ^ key[1],
            p0 as u32,
        ];
    }
    ctr
}

/// Check that the sample indices `first_index .. first_index + n` all exist (below 2^64).
pub fn check_indices(first_index: u64, n: usize) -> crate::Result<()> {
    match first_index.checked_add(n as u64) {
        Some(_) => Ok(()),
        None => Err(crate::Error::invalid(format!(
            "first_index + the number of samples must be below 2**64, got {first_index} + {n}"
        ))),
    }
}

/// What a block of random numbers is for; each purpose has its own stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The initial state drawn from the prior.
    Prior = 0,
    /// The noise of a stochastic sampler step.
    Step = 1,
    /// The noise of a Langevin corrector step.
    Corrector = 2,
    /// Hutchinson probe vectors.
    Probe = 3,
}

/// The random numbers of one seed.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    key: [u32; 2],
}

impl Noise {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Self {
        Noise {
            key: [seed as u32, (seed >> 32) as u32],
        }
    }

    fn block(&self, stream: Stream, sample: u64, step: u64, block: u64) -> [u32; 4] {
        let ctr = [
            block as u32,
            step as u32,
            sample as u32,
            ((sample >> 32) as u32 & 0x00FF_FFFF) | ((stream as u32) << 24),
        ];
        philox4x32_10(ctr, self.key)
    }

    /// Fill `out` with standard normals for one sample and step: Marsaglia and Tsang's ziggurat
    /// (256 layers) fed by the 64-bit words of consecutive Philox blocks, so a shorter `out` gets
    /// a prefix of a longer one.
    pub fn normals(&self, stream: Stream, sample: u64, step: u64, out: &mut [f64]) {
        let zig = ziggurat();
        let mut bits = Words {
            noise: self,
            stream,
            sample,
            step,
            block: 0,
            buf: [0; 2],
            pos: 2,
        };
        for v in out.iter_mut() {
            *v = zig.normal(&mut bits);
        }
    }

    /// Fill `out` with random signs (Rademacher variables) for one sample and step.
    pub fn signs(&self, stream: Stream, sample: u64, step: u64, out: &mut [f64]) {
        for (b, chunk) in out.chunks_mut(128).enumerate() {
            let r = self.block(stream, sample, step, b as u64);
            for (j, v) in chunk.iter_mut().enumerate() {
                let bit = (r[j / 32] >> (j % 32)) & 1;
                *v = if bit == 1 { 1.0 } else { -1.0 };
            }
        }
    }
}

/// The 64-bit words of the Philox blocks `0, 1, 2, ...` of one (stream, sample, step).
struct Words<'a> {
    noise: &'a Noise,
    stream: Stream,
    sample: u64,
    step: u64,
    block: u64,
    buf: [u64; 2],
    pos: usize,
}

impl Words<'_> {
    #[inline]
    fn next(&mut self) -> u64 {
        if self.pos == 2 {
            let r = self
                .noise
                .block(self.stream, self.sample, self.step, self.block);
            self.buf = [
                (u64::from(r[0]) << 32) | u64::from(r[1]),
                (u64::from(r[2]) << 32) | u64::from(r[3]),
            ];
            self.block += 1;
            self.pos = 0;
        }
        self.pos += 1;
        self.buf[self.pos - 1]
    }

    /// A uniform number in (0, 1); never 0 or 1.
    #[inline]
    fn open01(&mut self) -> f64 {
        unit(self.next())
    }
}

/// A uniform number in (0, 1) from the top 53 bits of `bits`; never 0 or 1.
#[inline]
fn unit(bits: u64) -> f64 {
    ((bits >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Layers of the normal ziggurat.
const ZIG_LAYERS: usize = 256;
/// Start of the tail (Marsaglia and Tsang 2000, 256 layers).
pub const ZIG_R: f64 = 3.654_152_885_361_009;
/// Area of every layer.
const ZIG_V: f64 = 0.004_928_673_233_99;

/// Layer edges `x` and densities `f = exp(-x^2 / 2)` of the normal ziggurat (`x[0]` is the
/// width of the base layer's rectangle of area V, `x[256] = 0`).
pub struct Ziggurat {
    x: [f64; ZIG_LAYERS + 1],
    f: [f64; ZIG_LAYERS + 1],
}

fn gauss(x: f64) -> f64 {
    (-0.5 * x * x).exp()
}

/// The tables, computed once.
pub fn ziggurat() -> &'static Ziggurat {
    static TABLES: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut x = [0.0; ZIG_LAYERS + 1];
        x[0] = ZIG_V / gauss(ZIG_R);
        x[1] = ZIG_R;
        for i in 2..ZIG_LAYERS {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + gauss(x[i - 1])).ln()).sqrt();
        }
        let f = x.map(gauss);
        Ziggurat { x, f }
    })
}

impl Ziggurat {
    /// The layer edges and densities (for tests).
    pub fn tables(&self) -> (&[f64], &[f64]) {
        (&self.x, &self.f)
    }

    /// One standard normal; one 64-bit word in about 99 % of the draws.
    #[inline]
    fn normal(&self, bits: &mut Words<'_>) -> f64 {
        loop {
            let w = bits.next();
            let i = (w & 0xff) as usize;
            // Bits 12..63 give u in [-1, 1); the layer index uses bits 0..7.
            let u = 2.0 * f64::from_bits((w >> 12) | 0x3ff0_0000_0000_0000) - 3.0;
            let x = u * self.x[i];
            if x.abs() < self.x[i + 1] {
                return x;
            }
            if i == 0 {
                // The tail beyond R (Marsaglia 1964).
                loop {
                    let xt = bits.open01().ln() / ZIG_R;
                    let yt = bits.open01().ln();
                    if -2.0 * yt >= xt * xt {
                        return if u < 0.0 { xt - ZIG_R } else { ZIG_R - xt };
                    }
                }
            }
            if self.f[i + 1] + (self.f[i] - self.f[i + 1]) * bits.open01() < gauss(x) {
                return x;
            }
        }
    }
}
