use super::*;
use crate::test_util::lcg;

fn decide(w: &[f64], d: usize, b: Option<&[f64]>, params: &UnargParams) -> UnargReport {
    let m = Matrix::new(w, w.len() / d, d).unwrap();
    unargmaxable(m, b, params, &Monitor::new()).unwrap()
}

fn statuses(r: &UnargReport) -> Vec<Status> {
    r.verdicts.iter().map(|v| v.status).collect()
}

fn cross_polytope(d: usize) -> Vec<f64> {
    let mut w = vec![0.0; 2 * d * d];
    for i in 0..d {
        w[(2 * i) * d + i] = 1.0;
        w[(2 * i + 1) * d + i] = -1.0;
    }
    w
}

use Status::{Argmaxable as A, Unargmaxable as U};

/// Every certificate is re-checked here with the same rules `verify()` uses.
fn assert_certified(w: &[f64], d: usize, b: Option<&[f64]>, r: &UnargReport, bounds: Option<f64>) {
    let m = Matrix::new(w, w.len() / d, d).unwrap();
    let p = Problem::new(m, b, bounds, DEFAULT_TOL);
    for v in &r.verdicts {
        match v.status {
            Status::Argmaxable => {
                let x: Vec<f64> = match v.witness.as_ref().unwrap() {
                    Witness::Scaled(a) => p.row(v.class).iter().map(|t| a * t).collect(),
                    Witness::Point(x) => x.clone(),
                };
                let e = p.eval_witness(v.class, &x);
                assert!(e.ok, "class {} witness fails", v.class);
                assert!(e.margin >= v.margin * (1.0 - 1e-9), "margin overstated");
            }
            Status::Unargmaxable => {
                let (i, l) = v.certificate.as_ref().unwrap();
                assert!(p.check_certificate(v.class, i, l));
                assert!(i.len() <= d + 2, "class {} support {}", v.class, i.len());
            }
            Status::Undecided => panic!("class {} undecided", v.class),
        }
    }
}

#[test]
fn cross_polytope_and_planted_points() {
    for d in [2, 3, 5] {
        let mut w = cross_polytope(d);
        let r = decide(&w, d, None, &UnargParams::default());
        assert!(statuses(&r).iter().all(|&s| s == A));
        assert!(r.verdicts.iter().all(|v| v.stage == Stage::Screen));
        // a * e_1 inside, the zero row, and the facet-centre tests.
        let mut inner = vec![0.0; d];
        inner[0] = 0.7;
        w.extend(&inner);
        w.extend(vec![0.0; d]);
        let (v0, mut expect) = (2 * d, vec![A; 2 * d]);
        expect.extend([U, U]);
        for delta in [0.05, -0.05] {
            w.extend(vec![(1.0 - delta) / d as f64; d]);
            expect.push(if delta > 0.0 { U } else { A });
        }
        for params in [
            UnargParams::default(),
            UnargParams {
                patience: 0,
                ..Default::default()
            },
        ] {
            let r = decide(&w, d, None, &params);
            let got = statuses(&r);
            // With delta = -0.05 beyond the facet, the e_i become... still vertices.
            assert_eq!(got, expect, "d = {d}");
            assert_certified(&w, d, None, &r, None);
            assert_eq!(r.verdicts[v0].stage, Stage::Lp);
        }
    }
}

#[test]
fn unit_norm_rows_and_voronoi_bias_are_all_argmaxable() {
    let (v, d) = (300, 6);
    let mut w = lcg(5, v * d);
    for row in w.chunks_mut(d) {
        let n = row.iter().map(|x| x * x).sum::<f64>().sqrt();
        row.iter_mut().for_each(|x| *x /= n);
    }
    let r = decide(&w, d, None, &UnargParams::default());
    assert!(statuses(&r).iter().all(|&s| s == A));
    assert_certified(&w, d, None, &r, None);
    let w = lcg(6, v * d);
    let b: Vec<f64> = w
        .chunks(d)
        .map(|r| -0.5 * r.iter().map(|x| x * x).sum::<f64>())
        .collect();
    let r = decide(&w, d, Some(&b), &UnargParams::default());
    assert!(statuses(&r).iter().all(|&s| s == A));
    assert_certified(&w, d, Some(&b), &r, None);
}

#[test]
fn duplicates_zero_rows_and_bias_only_rows() {
    // Duplicates: both copies unargmaxable; the rest untouched.
    let mut w = cross_polytope(3);
    w.extend([1.0, 0.0, 0.0]);
    let r = decide(&w, 3, None, &UnargParams::default());
    assert_eq!(statuses(&r), vec![U, A, A, A, A, A, U]);
    assert_certified(&w, 3, None, &r, None);
    // Same w, different bias: the lower bias is unargmaxable, the higher keeps its verdict.
    let mut b = vec![0.0; 7];
    b[6] = 0.5;
    let r = decide(&w, 3, Some(&b), &UnargParams::default());
    assert_eq!(statuses(&r), vec![U, A, A, A, A, A, A]);
    assert_certified(&w, 3, Some(&b), &r, None);
    // Bias only: all rows equal; the unique largest bias wins, equal maxima tie (both UNARG).
    let w = [0.3, -1.0].repeat(4);
    let r = decide(&w, 2, Some(&[0.0, 1.0, 3.0, 2.0]), &UnargParams::default());
    assert_eq!(statuses(&r), vec![U, U, A, U]);
    assert_certified(&w, 2, Some(&[0.0, 1.0, 3.0, 2.0]), &r, None);
    let r = decide(&w, 2, Some(&[0.0, 3.0, 3.0, 2.0]), &UnargParams::default());
    assert_eq!(statuses(&r), vec![U, U, U, U]);
    // A zero row inside the hull: UNARG, but ARG with the strictly largest bias (x = 0).
    let mut w = cross_polytope(2);
    w.extend([0.0, 0.0]);
    let r = decide(&w, 2, None, &UnargParams::default());
    assert_eq!(r.verdicts[4].status, U);
    let b = [0.0, 0.0, 0.0, 0.0, 1.0];
    let r = decide(&w, 2, Some(&b), &UnargParams::default());
    assert_eq!(statuses(&r), vec![A; 5]);
    assert_certified(&w, 2, Some(&b), &r, None);
    // All-zero W without bias: every class is unargmaxable.
    let r = decide(&[0.0; 6], 2, None, &UnargParams::default());
    assert_eq!(statuses(&r), vec![U; 3]);
}

#[test]
fn moment_curve_vertices_and_mixtures() {
    let (n, half) = (40, 3);
    let d = 2 * half;
    let mut w = Vec::new();
    for i in 0..n {
        let t = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
        for h in 1..=half {
            w.extend([(h as f64 * t).cos(), (h as f64 * t).sin()]);
        }
    }
    let coef = lcg(9, 3 * 5);
    for m in 0..3 {
        let c: Vec<f64> = coef[m * 5..(m + 1) * 5]
            .iter()
            .map(|x| x.abs() + 0.1)
            .collect();
        let s: f64 = c.iter().sum();
        let mut p = vec![0.0; d];
        for (q, &cq) in c.iter().enumerate() {
            let j = (7 * m + 11 * q) % n;
            for i in 0..d {
                p[i] += cq / s * w[j * d + i];
            }
        }
        w.extend(p);
    }
    let r = decide(&w, d, None, &UnargParams::default());
    let mut expect = vec![A; n];
    expect.extend([U; 3]);
    assert_eq!(statuses(&r), expect);
    assert_certified(&w, d, None, &r, None);
}

#[test]
fn box_semantics_differ_from_box_free_only_with_a_bias() {
    // Class 1 wins only for x > 150.
    let w = [0.0, 1.0];
    let b = [0.0, -150.0];
    let free = decide(&w, 1, Some(&b), &UnargParams::default());
    assert_eq!(statuses(&free), vec![A, A]);
    let boxed = UnargParams {
        bounds: Some(100.0),
        ..Default::default()
    };
    let r = decide(&w, 1, Some(&b), &boxed);
    assert_eq!(statuses(&r), vec![A, U]);
    assert_certified(&w, 1, Some(&b), &r, Some(100.0));
    let r = decide(
        &w,
        1,
        Some(&b),
        &UnargParams {
            bounds: Some(200.0),
            ..Default::default()
        },
    );
    assert_eq!(statuses(&r), vec![A, A]);
    assert_certified(&w, 1, Some(&b), &r, Some(200.0));
    // Without a bias the box changes nothing.
    let w = cross_polytope(3);
    let r = decide(&w, 3, None, &boxed);
    assert_eq!(statuses(&r), vec![A; 6]);
    assert_certified(&w, 3, None, &r, Some(100.0));
}

#[test]
fn random_instances_f32_threads_and_subsets() {
    let (v, d) = (400, 5);
    // Points in a ball: many are interior, so all three stages run.
    let mut w32: Vec<f32> = lcg(11, v * d).iter().map(|&x| x as f32).collect();
    // Plant convex combinations.
    for k in 0..5 {
        for i in 0..d {
            w32[k * d + i] = 0.5 * w32[(100 + k) * d + i] + 0.5 * w32[(200 + k) * d + i];
        }
    }
    let m = Matrix::new(&w32, v, d).unwrap();
    let run = |params: &UnargParams| unargmaxable(m, None, params, &Monitor::new()).unwrap();
    let one = run(&UnargParams {
        n_threads: Some(1),
        ..Default::default()
    });
    let two = run(&UnargParams {
        n_threads: Some(2),
        ..Default::default()
    });
    // Debug strings compare NaN margins as equal and print every bit of the floats.
    assert_eq!(format!("{:?}", one.verdicts), format!("{:?}", two.verdicts));
    let w64: Vec<f64> = w32.iter().map(|&x| x as f64).collect();
    let r64 = decide(&w64, d, None, &UnargParams::default());
    assert_eq!(statuses(&one), statuses(&r64));
    assert_certified(&w64, d, None, &r64, None);
    assert!((0..5).all(|k| one.verdicts[k].status == U));
    let stages: Vec<Stage> = one.verdicts.iter().map(|v| v.stage).collect();
    assert!(stages.contains(&Stage::Screen) && stages.contains(&Stage::Lp));
    // A subset gives the same verdicts for its classes.
    let sub = vec![399, 3, 150, 0];
    let r = run(&UnargParams {
        classes: Some(sub.clone()),
        ..Default::default()
    });
    for (v, &k) in r.verdicts.iter().zip(&sub) {
        assert_eq!(v.class, k);
        assert_eq!(v.status, one.verdicts[k].status);
    }
}

#[test]
fn a_common_offset_puts_the_whitened_screen_first() {
    // Anisotropic rows far from the origin (as in trained heads): `alpha w_k` passes for few
    // classes, so the whitened screen runs first; with planted mixtures, and with a bias.
    let (v, d) = (600, 6);
    let mut w: Vec<f64> = lcg(21, v * d)
        .iter()
        .enumerate()
        .map(|(i, x)| 5.0 + x * (1.0 + (i % d) as f64))
        .collect();
    for k in 0..4 {
        for i in 0..d {
            w[k * d + i] = 0.3 * w[(100 + k) * d + i] + 0.7 * w[(300 + k) * d + i];
        }
    }
    let b: Vec<f64> = lcg(22, v).iter().map(|x| 0.01 * x).collect();
    for bias in [None, Some(b.as_slice())] {
        let r = decide(&w, d, bias, &UnargParams::default());
        assert_certified(&w, d, bias, &r, None);
        let points = r
            .verdicts
            .iter()
            .filter(|v| v.stage == Stage::Screen && matches!(v.witness, Some(Witness::Point(_))))
            .count();
        let screened = r
            .verdicts
            .iter()
            .filter(|v| v.stage == Stage::Screen && v.witness.is_some())
            .count();
        assert!(
            screened > 100 && 10 * points >= 9 * screened,
            "{points} whitened of {screened} screen witnesses"
        );
        if bias.is_none() {
            assert!((0..4).all(|k| r.verdicts[k].status == U));
        }
        // The same verdicts, stages and witnesses with one thread.
        let one = decide(
            &w,
            d,
            bias,
            &UnargParams {
                n_threads: Some(1),
                ..Default::default()
            },
        );
        assert_eq!(format!("{:?}", one.verdicts), format!("{:?}", r.verdicts));
    }
}

#[test]
fn bad_input_is_an_error() {
    let p = UnargParams::default();
    let m = Matrix::new(&[1.0, 2.0], 1, 2).unwrap();
    assert!(unargmaxable(m, None, &p, &Monitor::new()).is_err());
    let w = [1.0, f64::NAN, 0.0, 1.0];
    let m = Matrix::new(&w, 2, 2).unwrap();
    assert!(unargmaxable(m, None, &p, &Monitor::new()).is_err());
    let w = [1.0, 0.0, 0.0, 1.0];
    let m = Matrix::new(&w, 2, 2).unwrap();
    assert!(unargmaxable(m, Some(&[0.0]), &p, &Monitor::new()).is_err());
    assert!(unargmaxable(m, Some(&[0.0, f64::INFINITY]), &p, &Monitor::new()).is_err());
    for bad in [
        UnargParams {
            bounds: Some(0.0),
            ..Default::default()
        },
        UnargParams {
            classes: Some(vec![2]),
            ..Default::default()
        },
        UnargParams {
            classes: Some(vec![1, 1]),
            ..Default::default()
        },
        UnargParams {
            tol: -1.0,
            ..Default::default()
        },
        UnargParams {
            n_threads: Some(0),
            ..Default::default()
        },
    ] {
        assert!(unargmaxable(m, None, &bad, &Monitor::new()).is_err());
    }
    let mon = Monitor::new();
    mon.cancel();
    assert!(matches!(
        unargmaxable(m, None, &p, &mon),
        Err(Error::Cancelled)
    ));
}
