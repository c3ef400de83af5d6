use super::adaptive::{dopri5, AdaptiveOptions, ProbabilityFlow};
use super::fixed::{sample_fixed, FixedOptions, Method};
use super::gmm::{Covariances, GaussianMixture};
use super::likelihood::{likelihood_delta, Divergence, OdeMethod};
use super::model::{Evaluator, GmmModel};
use super::rng::{philox4x32_10, Noise, Stream};
use super::schedule::{Schedule, ScheduleKind};
use crate::monitor::Monitor;

#[test]
fn philox_known_answers() {
    // Random123 kat_vectors.
    assert_eq!(
        philox4x32_10([0; 4], [0; 2]),
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
            [0xa4093822, 0x299f31d0]
        ),
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
    );
}

#[test]
fn normals_have_unit_moments_and_depend_only_on_the_counter() {
    let noise = Noise::new(42);
    let mut z = vec![0.0; 200_001];
    noise.normals(Stream::Step, 7, 3, &mut z);
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    assert!(mean.abs() < 5.0 * (1.0 / n).sqrt(), "mean {mean}");
    assert!((var - 1.0).abs() < 5.0 * (2.0 / n).sqrt(), "var {var}");
    let mut head = vec![0.0; 5];
    noise.normals(Stream::Step, 7, 3, &mut head);
    assert_eq!(head[..], z[..5]);
    let mut other = vec![0.0; 5];
    noise.normals(Stream::Step, 8, 3, &mut other);
    assert_ne!(head, other);
    let mut signs = vec![0.0; 300];
    noise.signs(Stream::Probe, 0, 0, &mut signs);
    assert!(signs.iter().all(|s| s.abs() == 1.0));
    let sum: f64 = signs.iter().sum();
    assert!(sum.abs() < 60.0);
}

#[test]
fn ziggurat_tables_tile_the_density_and_normals_have_normal_moments() {
    use super::rng::ziggurat;
    let (x, f) = ziggurat().tables();
    // Strictly decreasing edges down to 0, and the top layer closes at the mode:
    // V = x[255] (1 - f(x[255])) within rounding.
    assert!(x.windows(2).all(|w| w[0] > w[1]) && x[256] == 0.0 && f[256] == 1.0);
    let v = 0.004_928_673_233_99;
    assert!(
        (x[255] * (1.0 - f[255]) - v).abs() < 1e-9 * v.max(1.0),
        "{}",
        x[255]
    );
    // Moments up to the fourth, and the tail beyond R, of 10^6 draws over many counters.
    let noise = Noise::new(7);
    let mut z = vec![0.0; 1000];
    let (mut m, n) = ([0.0f64; 5], 1_000_000.0);
    let mut tail = 0usize;
    for sample in 0..1000 {
        noise.normals(Stream::Step, sample, 0, &mut z);
        for &v in &z {
            let mut p = 1.0;
            for mk in m.iter_mut() {
                *mk += p;
                p *= v;
            }
            tail += usize::from(v.abs() > super::rng::ZIG_R);
        }
    }
    let mean = m[1] / n;
    assert!(mean.abs() < 5.0 / n.sqrt(), "mean {mean}");
    assert!(
        (m[2] / n - 1.0).abs() < 5.0 * (2.0 / n).sqrt(),
        "var {}",
        m[2] / n
    );
    assert!(
        (m[3] / n).abs() < 5.0 * (15.0 / n).sqrt(),
        "third {}",
        m[3] / n
    );
    assert!(
        (m[4] / n - 3.0).abs() < 5.0 * (96.0 / n).sqrt(),
        "fourth {}",
        m[4] / n
    );
    // P(|z| > R) = 2.581e-4: 258 expected, sd 16.
    assert!((tail as f64 - 258.1).abs() < 5.0 * 16.1, "tail {tail}");
}

#[test]
fn schedules_satisfy_the_moment_equations() {
    // d s / dt = f s and d sigma^2 / dt = 2 f sigma^2 + g^2 (central differences).
    let schedules = [
        Schedule::new(ScheduleKind::Vp, &[0.1, 20.0], None).unwrap(),
        Schedule::new(ScheduleKind::SubVp, &[0.1, 20.0], None).unwrap(),
        Schedule::new(ScheduleKind::Cosine, &[0.008], None).unwrap(),
        Schedule::new(ScheduleKind::Ve, &[0.01, 50.0], None).unwrap(),
        Schedule::new(ScheduleKind::Edm, &[], None).unwrap(),
    ];
    for sch in &schedules {
        for &t in &[0.05, 0.3, 0.6, 0.9] {
            let h = 1e-6;
            let (a, b, c) = (sch.at(t - h), sch.at(t), sch.at(t + h));
            let ds = (c.s - a.s) / (2.0 * h);
            let dv = (c.sigma * c.sigma - a.sigma * a.sigma) / (2.0 * h);
            let scale = 1.0 + b.g2 + b.f.abs();
            assert!((ds - b.f * b.s).abs() < 1e-6 * scale, "{sch:?} t={t}");
            let want = 2.0 * b.f * b.sigma * b.sigma + b.g2;
            assert!(
                (dv - want).abs() < 1e-5 * scale,
                "{sch:?} t={t}: {dv} vs {want}"
            );
        }
    }
    assert!(Schedule::new(ScheduleKind::Vp, &[1.0], None).is_err());
}

fn gaussian_1d(mu: f64, var: f64) -> GaussianMixture {
    GaussianMixture::new(vec![1.0], vec![mu], 1, Covariances::Spherical(vec![var])).unwrap()
}

#[test]
fn adaptive_flow_matches_the_affine_closed_form() {
    let (mu, var) = (1.5, 0.5);
    let g = gaussian_1d(mu, var);
    let sch = Schedule::new(ScheduleKind::Vp, &[0.1, 20.0], None).unwrap();
    let (t1, t0) = (1.0, 1e-3);
    let (c1, c0) = (sch.at(t1), sch.at(t0));
    let m = |c: super::schedule::Coefs| c.s * c.s * var + c.sigma * c.sigma;
    let mut x: Vec<f64> = (0..5)
        .map(|i| c1.s * mu + m(c1).sqrt() * (i as f64 - 2.0))
        .collect();
    let want: Vec<f64> = x
        .iter()
        .map(|&v| c0.s * mu + (m(c0) / m(c1)).sqrt() * (v - c1.s * mu))
        .collect();
    let mut model = GmmModel::new(&g);
    let mut flow = ProbabilityFlow::new(Evaluator::new(&mut model), &sch, 1);
    let opt = AdaptiveOptions {
        rtol: 1e-11,
        atol: 1e-11,
        first_step: None,
        max_steps: 100_000,
    };
    let stats = dopri5(
        &mut flow,
        &mut x,
        t1,
        t0,
        &opt,
        &mut |_, _, _| Ok(true),
        &Monitor::new(),
    )
    .unwrap();
    for (a, b) in x.iter().zip(&want) {
        assert!((a - b).abs() < 1e-8, "{a} vs {b}");
    }
    assert!(stats.accepted.iter().all(|&a| a > 5));
}

#[test]
fn exact_likelihood_of_a_gaussian() {
    let (mu, var) = (-0.5, 2.0);
    let g = gaussian_1d(mu, var);
    let sch = Schedule::new(ScheduleKind::Ve, &[0.01, 50.0], None).unwrap();
    let x = vec![-2.0, 0.0, 1.0];
    let mut model = GmmModel::new(&g);
    let opt = AdaptiveOptions {
        rtol: 1e-10,
        atol: 1e-10,
        first_step: None,
        max_steps: 100_000,
    };
    let (t0, t1) = (1e-4, 1.0);
    let res = likelihood_delta(
        &mut model,
        &sch,
        &x,
        1,
        &[t0, t1],
        OdeMethod::Dopri5,
        Divergence::Exact,
        0,
        0,
        &opt,
        &Monitor::new(),
    )
    .unwrap();
    let logn = |v: f64, m: f64, s2: f64| {
        -0.5 * (v - m) * (v - m) / s2 - 0.5 * (2.0 * std::f64::consts::PI * s2).ln()
    };
    let (c0, c1) = (sch.at(t0), sch.at(t1));
    for (i, &xi) in x.iter().enumerate() {
        let lp = logn(res.x_end[i], mu, var + c1.sigma * c1.sigma) + res.delta[i];
        let want = logn(xi, mu, var + c0.sigma * c0.sigma);
        assert!((lp - want).abs() < 1e-7, "{lp} vs {want}");
    }
}

#[test]
fn ancestral_sampling_needs_seeded_noise_and_is_reproducible() {
    let g = gaussian_1d(0.0, 1.0);
    let sch = Schedule::new(ScheduleKind::Vp, &[0.1, 20.0], None).unwrap();
    let grid: Vec<f64> = (0..=20)
        .map(|i| 1.0 - i as f64 * (1.0 - 1e-3) / 20.0)
        .collect();
    let run = |seed: u64| {
        let mut x = vec![0.3, -0.2, 1.0];
        let mut model = GmmModel::new(&g);
        let opt = FixedOptions {
            method: Method::Ancestral,
            eta: 0.0,
            r: 1.0,
            snr: 0.16,
            n_corrector: 1,
            seed,
            first_index: 0,
        };
        let st = sample_fixed(
            &mut model,
            &sch,
            &grid,
            true,
            &mut x,
            1,
            &opt,
            &mut |_, _, _| Ok(true),
            &Monitor::new(),
        )
        .unwrap();
        assert_eq!(st.nfe, 21);
        x
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn bad_grids_and_methods_are_rejected() {
    let g = gaussian_1d(0.0, 1.0);
    let mut model = GmmModel::new(&g);
    let sch = Schedule::new(ScheduleKind::Vp, &[0.1, 20.0], None).unwrap();
    let disc = Schedule::new(
        ScheduleKind::Discrete,
        &[],
        Some((&[0.9, 0.5], &[0.1, 0.5])),
    )
    .unwrap();
    let opt = FixedOptions {
        method: Method::Euler,
        eta: 0.0,
        r: 1.0,
        snr: 0.16,
        n_corrector: 1,
        seed: 0,
        first_index: 0,
    };
    let mut x = vec![0.0];
    let mut ok = |_: usize, _: f64, _: &[f64]| Ok(true);
    let mon = Monitor::new();
    assert!(sample_fixed(
        &mut model,
        &sch,
        &[0.5, 0.7],
        false,
        &mut x,
        1,
        &opt,
        &mut ok,
        &mon
    )
    .is_err());
    assert!(sample_fixed(&mut model, &sch, &[], false, &mut x, 1, &opt, &mut ok, &mon).is_err());
    assert!(sample_fixed(
        &mut model,
        &disc,
        &[1.0, 0.0],
        true,
        &mut x,
        1,
        &opt,
        &mut ok,
        &mon
    )
    .is_err());
    assert!(sample_fixed(
        &mut model,
        &disc,
        &[1.5],
        true,
        &mut x,
        1,
        &opt,
        &mut ok,
        &mon
    )
    .is_err());
}
