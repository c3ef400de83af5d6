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

    /// Fill `out` with standard normals (Box-Muller on 53-bit uniforms) for one sample and step.
    pub fn normals(&self, stream: Stream, sample: u64, step: u64, out: &mut [f64]) {
        for (b, pair) in out.chunks_mut(2).enumerate() {
            let r = self.block(stream, sample, step, b as u64);
            let u1 = unit(r[0], r[1]);
            let u2 = unit(r[2], r[3]);
            let rad = (-2.0 * u1.ln()).sqrt();
            let (sn, cs) = (std::f64::consts::TAU * u2).sin_cos();
            pair[0] = rad * cs;
            if pair.len() > 1 {
                pair[1] = rad * sn;
            }
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

/// A uniform number in (0, 1) from 53 random bits; never 0 or 1.
fn unit(hi: u32, lo: u32) -> f64 {
    let bits = ((u64::from(hi) << 32) | u64::from(lo)) >> 11;
    (bits as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}
