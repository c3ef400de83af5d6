use super::*;

fn eval(g: &GaussianMixture, x: &[f64], s: f64, sigma: f64, ac: (f64, f64)) -> Evaluation {
    let req = Request {
        log_prob: true,
        score: true,
        denoise: s != 0.0,
        divergence: Some(ac),
    };
    g.evaluate(x, Levels::Single(s, sigma), req, None, &Monitor::new())
        .unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn one_dimensional_two_components_match_hand_formulas() {
    let (w, mu, var) = ([0.3, 0.7], [-1.0, 2.0], [0.5, 2.0]);
    let g = GaussianMixture::new(
        w.to_vec(),
        mu.to_vec(),
        1,
        Covariances::Spherical(var.to_vec()),
    )
    .unwrap();
    let (s, sigma, a, c) = (0.8, 0.6, -0.3, 0.45);
    let xs = [-3.0, -1.0, 0.2, 1.5, 4.0, 30.0];
    let e = eval(&g, &xs, s, sigma, (a, c));
    for (p, &x) in xs.iter().enumerate() {
        let cv: Vec<f64> = var.iter().map(|v| s * s * v + sigma * sigma).collect();
        let n: Vec<f64> = (0..2)
            .map(|i| {
                w[i] * (-(x - s * mu[i]).powi(2) / (2.0 * cv[i])).exp()
                    / (2.0 * std::f64::consts::PI * cv[i]).sqrt()
            })
            .collect();
        let pdf = n[0] + n[1];
        let dn: Vec<f64> = (0..2).map(|i| -n[i] * (x - s * mu[i]) / cv[i]).collect();
        let d2n: Vec<f64> = (0..2)
            .map(|i| n[i] * (((x - s * mu[i]) / cv[i]).powi(2) - 1.0 / cv[i]))
            .collect();
        let score = (dn[0] + dn[1]) / pdf;
        let lap = (d2n[0] + d2n[1]) / pdf - score * score;
        if x < 20.0 {
            assert!(close(e.log_prob.as_ref().unwrap()[p], pdf.ln(), 1e-12));
            assert!(close(e.score.as_ref().unwrap()[p], score, 1e-11));
            assert!(close(e.divergence.as_ref().unwrap()[p], a + c * lap, 1e-10));
            let tweedie = (x + sigma * sigma * score) / s;
            assert!(close(e.denoise.as_ref().unwrap()[p], tweedie, 1e-12));
        } else {
            // Far in the tail the pdf underflows; the log-sum-exp must not.
            let lp = e.log_prob.as_ref().unwrap()[p];
            assert!(lp.is_finite() && lp < -100.0);
            // Component 1 dominates completely there.
            let s1 = -(x - s * mu[1]) / cv[1];
            assert!(close(e.score.as_ref().unwrap()[p], s1, 1e-12));
        }
    }
}

#[test]
fn full_diag_spherical_agree() {
    let (k, d) = (3, 4);
    let w = vec![0.2, 0.5, 0.3];
    let means: Vec<f64> = (0..k * d).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();
    let sph = vec![0.3, 1.0, 2.5];
    let diag: Vec<f64> = (0..k).flat_map(|i| vec![sph[i]; d]).collect();
    let diag2: Vec<f64> = (0..k * d).map(|i| 0.2 + (i % 3) as f64 * 0.7).collect();
    let full_of = |dg: &[f64]| -> Vec<f64> {
        let mut f = vec![0.0; k * d * d];
        for i in 0..k {
            for j in 0..d {
                f[i * d * d + j * d + j] = dg[i * d + j];
            }
        }
        f
    };
    let x: Vec<f64> = (0..50 * d)
        .map(|i| ((i as f64) * 0.37).sin() * 3.0)
        .collect();
    for (s, sigma) in [(1.0, 0.0), (0.6, 0.8), (0.1, 1.0)] {
        let gs = GaussianMixture::new(
            w.clone(),
            means.clone(),
            d,
            Covariances::Spherical(sph.clone()),
        )
        .unwrap();
        let gd = GaussianMixture::new(w.clone(), means.clone(), d, Covariances::Diag(diag.clone()))
            .unwrap();
        let gf = GaussianMixture::new(
            w.clone(),
            means.clone(),
            d,
            Covariances::Full(full_of(&diag)),
        )
        .unwrap();
        let gd2 = GaussianMixture::new(
            w.clone(),
            means.clone(),
            d,
            Covariances::Diag(diag2.clone()),
        )
        .unwrap();
        let gf2 = GaussianMixture::new(
            w.clone(),
            means.clone(),
            d,
            Covariances::Full(full_of(&diag2)),
        )
        .unwrap();
        for (ga, gb) in [(&gs, &gd), (&gs, &gf), (&gd2, &gf2)] {
            let ea = eval(ga, &x, s, sigma, (0.7, -1.3));
            let eb = eval(gb, &x, s, sigma, (0.7, -1.3));
            let pairs = [
                (ea.log_prob.unwrap(), eb.log_prob.unwrap()),
                (ea.score.unwrap(), eb.score.unwrap()),
                (ea.denoise.unwrap(), eb.denoise.unwrap()),
                (ea.divergence.unwrap(), eb.divergence.unwrap()),
            ];
            for (u, v) in pairs {
                for (a, b) in u.iter().zip(&v) {
                    assert!(close(*a, *b, 1e-11), "{a} vs {b}");
                }
            }
        }
    }
}

#[test]
fn per_point_levels_match_single_and_threads_do_not_matter() {
    let d = 2;
    let cov = vec![1.0, 0.3, 0.3, 0.5, 0.2, -0.1, -0.1, 0.4];
    let g = GaussianMixture::new(
        vec![0.4, 0.6],
        vec![1.0, -1.0, -2.0, 0.5],
        d,
        Covariances::Full(cov),
    )
    .unwrap();
    let b = 3000;
    let x: Vec<f64> = (0..b * d)
        .map(|i| ((i as f64) * 0.113).cos() * 2.5)
        .collect();
    let s: Vec<f64> = (0..b).map(|i| if i < 1500 { 0.9 } else { 0.5 }).collect();
    let sigma: Vec<f64> = (0..b).map(|i| if i < 1500 { 0.3 } else { 0.7 }).collect();
    let req = Request {
        log_prob: true,
        score: true,
        denoise: true,
        divergence: Some((0.1, 0.2)),
    };
    let mon = Monitor::new();
    let per = g
        .evaluate(&x, Levels::PerPoint(&s, &sigma), req, Some(2), &mon)
        .unwrap();
    let one = g
        .evaluate(&x, Levels::PerPoint(&s, &sigma), req, Some(1), &mon)
        .unwrap();
    assert_eq!(per, one);
    let a = g
        .evaluate(&x[..1500 * d], Levels::Single(0.9, 0.3), req, None, &mon)
        .unwrap();
    assert_eq!(
        a.score.as_ref().unwrap()[..],
        per.score.as_ref().unwrap()[..1500 * d]
    );
    assert_eq!(
        a.divergence.as_ref().unwrap()[..],
        per.divergence.as_ref().unwrap()[..1500]
    );
}

#[test]
fn fast_exp_matches_std() {
    let mut worst: f64 = 0.0;
    for i in 0..200_000 / LANES {
        let mut x = [0.0; LANES];
        for (l, v) in x.iter_mut().enumerate() {
            *v = -((i * LANES + l) as f64) * 708.0 / 200_000.0;
        }
        let want = x.map(f64::exp);
        exp_lanes(&mut x);
        for (a, b) in x.iter().zip(&want) {
            worst = worst.max((a - b).abs() / b);
        }
    }
    assert!(worst < 4.0 * f64::EPSILON, "worst relative error {worst:e}");
    let mut x = [0.0; LANES];
    x[1..4].copy_from_slice(&[f64::NEG_INFINITY, -800.0, -708.5]);
    exp_lanes(&mut x);
    assert_eq!(x[..4], [1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn bad_input_is_rejected_with_a_message() {
    let err = |r: Result<GaussianMixture>| match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected an error, got {other:?}"),
    };
    let sph = || Covariances::Spherical(vec![1.0, 1.0]);
    assert!(err(GaussianMixture::new(
        vec![-0.5, 1.5],
        vec![0.0, 1.0],
        1,
        sph()
    ))
    .contains("non-negative"));
    assert!(err(GaussianMixture::new(
        vec![0.5, 0.6],
        vec![0.0, 1.0],
        1,
        sph()
    ))
    .contains("sum to 1"));
    assert!(err(GaussianMixture::new(vec![0.5, 0.5], vec![0.0], 1, sph())).contains("means"));
    assert!(err(GaussianMixture::new(
        vec![0.5, 0.5],
        vec![0.0, f64::NAN],
        1,
        sph()
    ))
    .contains("non-finite"));
    let nonpsd = Covariances::Full(vec![1.0, 2.0, 2.0, 1.0]);
    assert!(
        err(GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, nonpsd)).contains("semi-definite")
    );
    let asym = Covariances::Full(vec![1.0, 0.2, 0.1, 1.0]);
    assert!(err(GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, asym)).contains("symmetric"));
    // A singular (PSD) covariance is a valid data model but has no density at sigma = 0.
    let sing = Covariances::Full(vec![1.0, 1.0, 1.0, 1.0]);
    let g = GaussianMixture::new(vec![1.0], vec![0.0, 0.0], 2, sing).unwrap();
    let req = Request {
        log_prob: true,
        ..Request::default()
    };
    let mon = Monitor::new();
    assert!(g
        .evaluate(&[0.0, 0.0], Levels::Single(1.0, 0.0), req, None, &mon)
        .is_err());
    assert!(g
        .evaluate(&[0.0, 0.0], Levels::Single(1.0, 0.1), req, None, &mon)
        .is_ok());
    assert!(g
        .evaluate(&[0.0, 0.0, 1.0], Levels::Single(1.0, 0.1), req, None, &mon)
        .is_err());
    assert!(g
        .evaluate(&[0.0, 0.0], Levels::Single(1.0, -0.1), req, None, &mon)
        .is_err());
}
