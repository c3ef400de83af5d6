use super::*;

const INF: f64 = f64::INFINITY;

/// A CSR graph built from an arc list (kept in the given order, duplicates included).
struct Owned {
    n: usize,
    indptr: Vec<i64>,
    indices: Vec<i32>,
    weights: Vec<f64>,
}

impl Owned {
    fn new(n: usize, arcs: &[(usize, usize, f64)]) -> Self {
        let mut rows: Vec<Vec<(usize, f64)>> = vec![vec![]; n];
        for &(u, v, w) in arcs {
            rows[u].push((v, w));
        }
        let mut indptr = vec![0i64];
        let (mut indices, mut weights) = (vec![], vec![]);
        for r in rows {
            for (v, w) in r {
                indices.push(v as i32);
                weights.push(w);
            }
            indptr.push(indices.len() as i64);
        }
        Owned {
            n,
            indptr,
            indices,
            weights,
        }
    }

    fn undirected(n: usize, edges: &[(usize, usize, f64)]) -> Self {
        let both: Vec<_> = edges
            .iter()
            .flat_map(|&(u, v, w)| [(u, v, w), (v, u, w)])
            .collect();
        Owned::new(n, &both)
    }

    fn graph(&self) -> CsrGraph<'_, i32> {
        CsrGraph::new((self.n, self.n), &self.indptr, &self.indices, &self.weights).unwrap()
    }
}

fn sp(g: &Owned, sources: &[usize], limit: Option<f64>, threads: Option<usize>) -> ShortestPaths {
    shortest_paths(&g.graph(), sources, limit, true, threads, &Monitor::new()).unwrap()
}

/// Bellman-Ford style reference by repeated relaxation until nothing changes.
fn reference(g: &Owned, s: usize) -> Vec<f64> {
    let mut d = vec![INF; g.n];
    d[s] = 0.0;
    loop {
        let mut changed = false;
        for u in 0..g.n {
            for p in g.indptr[u] as usize..g.indptr[u + 1] as usize {
                let v = g.indices[p] as usize;
                if d[u] + g.weights[p] < d[v] {
                    d[v] = d[u] + g.weights[p];
                    changed = true;
                }
            }
        }
        if !changed {
            return d;
        }
    }
}

/// Every predecessor chain ends at the source and its arcs sum to the distance.
fn check_predecessors(g: &Owned, res: &ShortestPaths, sources: &[usize]) {
    let pred = res.predecessors.as_ref().unwrap();
    for (r, &s) in sources.iter().enumerate() {
        for t in 0..g.n {
            let d = res.distances[r * g.n + t];
            let mut v = t;
            let mut total = 0.0;
            let mut hops = Vec::new();
            while pred[r * g.n + v] != NO_PREDECESSOR {
                let u = pred[r * g.n + v] as usize;
                let (lo, hi) = (g.indptr[u] as usize, g.indptr[u + 1] as usize);
                let w = (lo..hi)
                    .filter(|&p| g.indices[p] as usize == v)
                    .map(|p| g.weights[p])
                    .fold(INF, f64::min);
                hops.push(w);
                v = u;
                assert!(hops.len() <= g.n, "predecessor cycle");
            }
            if d.is_finite() {
                assert_eq!(v, s, "chain from {t} does not end at source {s}");
                for w in hops.iter().rev() {
                    total += w;
                }
                assert_eq!(total, d);
            } else {
                assert!(hops.is_empty() && t != s);
            }
        }
    }
}

#[test]
fn line_graph() {
    let edges: Vec<_> = (0..5).map(|i| (i, i + 1, 1.5)).collect();
    let g = Owned::undirected(6, &edges);
    let res = sp(&g, &[0, 3], None, None);
    assert_eq!(&res.distances[..6], &[0.0, 1.5, 3.0, 4.5, 6.0, 7.5]);
    assert_eq!(&res.distances[6..], &[4.5, 3.0, 1.5, 0.0, 1.5, 3.0]);
    let pred = res.predecessors.as_ref().unwrap();
    assert_eq!(&pred[..6], &[NO_PREDECESSOR, 0, 1, 2, 3, 4]);
    check_predecessors(&g, &res, &[0, 3]);
    // Directed line: nothing is reachable backwards.
    let g = Owned::new(6, &edges);
    let res = sp(&g, &[2], None, None);
    assert_eq!(res.distances, vec![INF, INF, 0.0, 1.5, 3.0, 4.5]);
}

#[test]
fn grid_is_manhattan_distance() {
    let (w, h, spacing) = (7usize, 5usize, 0.25);
    let id = |x: usize, y: usize| y * w + x;
    let mut edges = vec![];
    for y in 0..h {
        for x in 0..w {
            if x + 1 < w {
                edges.push((id(x, y), id(x + 1, y), spacing));
            }
            if y + 1 < h {
                edges.push((id(x, y), id(x, y + 1), spacing));
            }
        }
    }
    let g = Owned::undirected(w * h, &edges);
    let sources: Vec<usize> = (0..w * h).collect();
    let res = sp(&g, &sources, None, Some(2));
    for s in 0..w * h {
        for t in 0..w * h {
            let (sx, sy, tx, ty) = (s % w, s / w, t % w, t / w);
            let manhattan = sx.abs_diff(tx) + sy.abs_diff(ty);
            assert_eq!(res.distances[s * w * h + t], spacing * manhattan as f64);
        }
    }
    check_predecessors(&g, &res, &sources);
}

#[test]
fn unreachable_zero_weights_duplicates_and_self_loops() {
    // Component {0, 1, 2} with a zero-weight arc and a duplicate arc; isolated node 3;
    // component {4, 5}; a self-loop on 2.
    let arcs = [
        (0, 1, 0.0),
        (1, 0, 0.0),
        (1, 2, 5.0),
        (1, 2, 2.0),
        (2, 1, 2.0),
        (2, 2, 0.0),
        (4, 5, 1.0),
        (5, 4, 1.0),
    ];
    let g = Owned::new(6, &arcs);
    let res = sp(&g, &[0, 3, 5], None, None);
    assert_eq!(&res.distances[..6], &[0.0, 0.0, 2.0, INF, INF, INF]);
    assert_eq!(&res.distances[6..12], &[INF, INF, INF, 0.0, INF, INF]);
    assert_eq!(&res.distances[12..], &[INF, INF, INF, INF, 1.0, 0.0]);
    let pred = res.predecessors.as_ref().unwrap();
    assert_eq!(&pred[..6], &[NO_PREDECESSOR, 0, 1, -9999, -9999, -9999]);
    assert!(pred[6..12].iter().all(|&p| p == NO_PREDECESSOR));
    check_predecessors(&g, &res, &[0, 3, 5]);
}

#[test]
fn limit_keeps_nodes_at_exactly_the_limit() {
    let edges: Vec<_> = (0..5).map(|i| (i, i + 1, 1.0)).collect();
    let g = Owned::undirected(6, &edges);
    let res = sp(&g, &[0], Some(2.0), None);
    assert_eq!(res.distances, vec![0.0, 1.0, 2.0, INF, INF, INF]);
    assert_eq!(
        res.predecessors.unwrap(),
        vec![-9999, 0, 1, -9999, -9999, -9999]
    );
    let res = sp(&g, &[0], Some(0.0), None);
    assert_eq!(res.distances, vec![0.0, INF, INF, INF, INF, INF]);
}

fn lcg_graph(n: usize, arcs: usize, seed: u64) -> Owned {
    let mut s = seed;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 33
    };
    let list: Vec<_> = (0..arcs)
        .map(|_| {
            let (u, v) = (next() as usize % n, next() as usize % n);
            // Quantised weights (some zero) create many equal-length paths.
            (u, v, (next() % 5) as f64 * 0.1)
        })
        .collect();
    Owned::new(n, &list)
}

#[test]
fn random_graphs_match_reference_and_threads() {
    for seed in 0..4 {
        let g = lcg_graph(200, 700, seed);
        let sources: Vec<usize> = (0..200).step_by(3).chain([5, 5]).collect();
        let a = sp(&g, &sources, None, Some(1));
        let b = sp(&g, &sources, None, Some(2));
        assert_eq!(a, b);
        for (r, &s) in sources.iter().enumerate() {
            assert_eq!(&a.distances[r * 200..(r + 1) * 200], &reference(&g, s)[..]);
        }
        check_predecessors(&g, &a, &sources);
        // Limit: the masked full rows.
        let c = sp(&g, &sources, Some(0.3), None);
        for (x, y) in c.distances.iter().zip(&a.distances) {
            assert_eq!(*x, if *y <= 0.3 { *y } else { INF });
        }
        // f32 output is the rounded f64 result, without predecessors.
        let mut out = vec![0.0f32; sources.len() * 200];
        let mon = Monitor::new();
        shortest_paths_into(&g.graph(), &sources, None, &mut out, None, None, &mon).unwrap();
        assert!(out.iter().zip(&a.distances).all(|(x, y)| *x == *y as f32));
        assert_eq!(mon.progress(), (sources.len(), sources.len()));
    }
}

#[test]
fn errors_and_cancellation() {
    let g = Owned::undirected(3, &[(0, 1, 1.0)]);
    let gr = g.graph();
    let mon = Monitor::new();
    let e = shortest_paths(&gr, &[0, 3], None, false, None, &mon).unwrap_err();
    assert!(e.to_string().contains("source 3 is out of range"));
    for bad in [-1.0, f64::NAN] {
        let e = shortest_paths(&gr, &[0], Some(bad), false, None, &mon).unwrap_err();
        assert!(e.to_string().contains("limit"));
    }
    let mut short = vec![0.0f64; 5];
    assert!(shortest_paths_into(&gr, &[0, 1], None, &mut short, None, None, &mon).is_err());
    let mut out = vec![0.0f64; 6];
    let mut pred = vec![0i64; 5];
    let e = shortest_paths_into(&gr, &[0, 1], None, &mut out, Some(&mut pred), None, &mon);
    assert!(e.is_err());
    assert!(shortest_paths(&gr, &[0], None, false, Some(0), &mon).is_err());
    let none = shortest_paths(&gr, &[], None, true, None, &mon).unwrap();
    assert_eq!((none.rows, none.distances.len()), (0, 0));
    let cancelled = Monitor::new();
    cancelled.cancel();
    assert_eq!(
        shortest_paths(&gr, &[0, 1], None, false, None, &cancelled),
        Err(Error::Cancelled)
    );
}

/// The first `k` entries of the full row sorted by (distance, id), the source left out.
fn neighbors_reference(g: &Owned, sources: &[usize], k: usize) -> (Vec<i64>, Vec<f64>) {
    let full = sp(g, sources, None, Some(1));
    let (mut idx, mut dist) = (vec![], vec![]);
    for (r, &s) in sources.iter().enumerate() {
        let row = &full.distances[r * g.n..(r + 1) * g.n];
        let mut order: Vec<usize> = (0..g.n).filter(|&v| v != s && row[v] < INF).collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]).then(a.cmp(&b)));
        order.resize(k, usize::MAX);
        for v in order {
            idx.push(if v == usize::MAX {
                NO_NEIGHBOR
            } else {
                v as i64
            });
            dist.push(if v == usize::MAX { INF } else { row[v] });
        }
    }
    (idx, dist)
}

fn gn(g: &Owned, sources: &[usize], k: usize, threads: Option<usize>) -> GeodesicNeighbors {
    geodesic_neighbors(&g.graph(), sources, k, threads, &Monitor::new()).unwrap()
}

#[test]
fn neighbors_break_ties_by_id_even_when_settled_later() {
    // 0 -> 5 (1.0), 5 -> 2 (0.0), 0 -> 3 (2.0): node 2 (id < 5) is only reached through 5 at
    // the same distance, so it is settled after 5 but must come first.
    let g = Owned::new(6, &[(0, 5, 1.0), (5, 2, 0.0), (0, 3, 2.0)]);
    let r = gn(&g, &[0], 1, None);
    assert_eq!((r.indices, r.distances), (vec![2], vec![1.0]));
    let r = gn(&g, &[0], 2, None);
    assert_eq!((r.indices, r.distances), (vec![2, 5], vec![1.0, 1.0]));
    let r = gn(&g, &[0, 3], 4, None);
    assert_eq!(r.indices, vec![2, 5, 3, NO_NEIGHBOR, -1, -1, -1, -1]);
    assert_eq!(r.distances, vec![1.0, 1.0, 2.0, INF, INF, INF, INF, INF]);
    assert_eq!((r.rows, r.k), (2, 4));
}

#[test]
fn neighbors_match_sorted_full_rows_and_threads() {
    for seed in 0..6 {
        let n = 150;
        // Sparse enough (seeds 0-2) to leave several components, so rows get padded.
        let g = lcg_graph(n, if seed < 3 { 120 } else { 500 }, seed);
        let sources: Vec<usize> = (0..n).step_by(4).chain([7, 7]).collect();
        for k in [1, 2, 5, 17, n - 1] {
            let a = gn(&g, &sources, k, Some(1));
            let b = gn(&g, &sources, k, Some(2));
            assert_eq!(a, b);
            let (idx, dist) = neighbors_reference(&g, &sources, k);
            assert_eq!(a.indices, idx, "seed {seed} k {k}");
            assert_eq!(a.distances, dist, "seed {seed} k {k}");
            let mut idx2 = vec![0i64; sources.len() * k];
            let mut out = vec![0.0f32; sources.len() * k];
            let mon = Monitor::new();
            geodesic_neighbors_into(&g.graph(), &sources, k, &mut idx2, &mut out, None, &mon)
                .unwrap();
            assert_eq!(idx2, a.indices);
            assert!(out.iter().zip(&dist).all(|(x, y)| *x == *y as f32));
            assert_eq!(mon.progress(), (sources.len(), sources.len()));
        }
    }
}

#[test]
fn scratch_resets_only_touched_nodes_and_is_clean_after_early_stop() {
    let g = lcg_graph(100, 400, 9);
    let gr = g.graph();
    let mut scratch = Scratch::new(100);
    let mut settled = 0;
    scratch.search(&gr, 3, INF, None, |_, _| {
        settled += 1;
        if settled == 4 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let touched = scratch.touched.len();
    assert!((3..100).contains(&touched));
    let finite = scratch.dist.iter().filter(|d| d.is_finite()).count();
    assert_eq!(finite, touched);
    scratch.reset();
    assert!(scratch.dist.iter().all(|&d| d == INF));
    assert!(scratch.touched.is_empty() && scratch.heap.is_empty());
    // A full search on the reused scratch matches the reference.
    scratch.search(&gr, 8, INF, None, |_, _| ControlFlow::Continue(()));
    assert_eq!(scratch.dist, reference(&g, 8));
}

#[test]
fn neighbor_errors_and_cancellation() {
    let g = Owned::undirected(4, &[(0, 1, 1.0), (1, 2, 1.0)]);
    let gr = g.graph();
    let mon = Monitor::new();
    for k in [0, 4, 5] {
        let e = geodesic_neighbors(&gr, &[0], k, None, &mon).unwrap_err();
        assert!(e.to_string().contains("k must satisfy"), "{e}");
    }
    let e = geodesic_neighbors(&gr, &[4], 1, None, &mon).unwrap_err();
    assert!(e.to_string().contains("source 4 is out of range"));
    let (mut idx, mut dist) = (vec![0i64; 3], vec![0.0f64; 4]);
    let e = geodesic_neighbors_into(&gr, &[0, 1], 2, &mut idx, &mut dist, None, &mon);
    assert!(e.unwrap_err().to_string().contains("index buffer"));
    let none = geodesic_neighbors(&gr, &[], 3, None, &mon).unwrap();
    assert_eq!((none.rows, none.indices.len()), (0, 0));
    let cancelled = Monitor::new();
    cancelled.cancel();
    assert_eq!(
        geodesic_neighbors(&gr, &[0, 1], 1, None, &cancelled),
        Err(Error::Cancelled)
    );
}

/// Like [`lcg_graph`] but with weights in `lo..lo + 0.4` (steps of 0.1), so positive when
/// `lo > 0` and the bucket queue serves full rows without predecessors.
fn lcg_positive_graph(n: usize, arcs: usize, seed: u64, lo: f64) -> Owned {
    let mut g = lcg_graph(n, arcs, seed);
    for w in &mut g.weights {
        *w += lo;
    }
    g
}

/// Distance rows alone (the path the bucket queue takes when it can), in `T`.
fn rows<T: Real>(g: &Owned, sources: &[usize], limit: Option<f64>, threads: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; sources.len() * g.n];
    let mon = Monitor::new();
    shortest_paths_into(
        &g.graph(),
        sources,
        limit,
        &mut out,
        None,
        Some(threads),
        &mon,
    )
    .unwrap();
    assert_eq!(mon.progress(), (sources.len(), sources.len()));
    out
}

#[test]
fn bucket_plan_only_for_positive_weights_of_moderate_ratio() {
    let plan = |g: &Owned| BucketPlan::new(&g.graph());
    let p = plan(&lcg_positive_graph(50, 200, 1, 0.1)).unwrap();
    // Weights 0.1..=0.5: the width is just under 0.1 and the ring spans w_max / width + 2.
    assert!(p.inv_width > 10.0 && p.inv_width < 10.0 * (1.0 + 1e-5));
    assert_eq!(p.slots, 8);
    assert_eq!(plan(&lcg_graph(50, 200, 1)), None); // zero-weight arcs
    let wide = Owned::undirected(3, &[(0, 1, 1.0), (1, 2, 1.0 + MAX_SLOTS as f64)]);
    assert_eq!(plan(&wide), None);
    let tiny = Owned::undirected(3, &[(0, 1, 1e-310), (1, 2, 1e-310)]);
    assert_eq!(plan(&tiny), None); // subnormal: 1 / width overflows
    let empty = Owned::new(3, &[]);
    assert_eq!(plan(&empty).unwrap().slots, 1);
}

#[test]
fn bucket_rows_match_the_heap_and_the_reference() {
    for (seed, lo) in [(0, 0.1), (1, 0.05), (2, 1.0), (3, 0.3)] {
        let g = lcg_positive_graph(300, 1200, seed, lo);
        assert!(BucketPlan::new(&g.graph()).is_some());
        // Repeats, unreachable nodes (sparse random digraph) and duplicate arcs included.
        let sources: Vec<usize> = (0..300).step_by(7).chain([5, 5]).collect();
        let heap = sp(&g, &sources, None, Some(1)); // predecessors: always the heap
        for threads in [1, 2] {
            assert_eq!(rows::<f64>(&g, &sources, None, threads), heap.distances);
            let r32 = rows::<f32>(&g, &sources, None, threads);
            assert!(r32
                .iter()
                .zip(&heap.distances)
                .all(|(x, y)| *x == *y as f32));
        }
        for (r, &s) in sources.iter().enumerate() {
            assert_eq!(
                &heap.distances[r * 300..(r + 1) * 300],
                &reference(&g, s)[..]
            );
        }
        // Limit: the masked full rows, nodes at exactly the limit kept.
        let limit = heap.distances[1];
        let c = rows::<f64>(&g, &sources, Some(limit), 2);
        for (x, y) in c.iter().zip(&heap.distances) {
            assert_eq!(*x, if *y <= limit { *y } else { INF });
        }
    }
}

#[test]
fn bucket_rows_on_known_graphs() {
    // Line and grid (many equal-length paths); duplicate arcs, a self-loop, isolated nodes.
    let edges: Vec<_> = (0..5).map(|i| (i, i + 1, 1.5)).collect();
    let g = Owned::undirected(6, &edges);
    assert!(BucketPlan::new(&g.graph()).is_some());
    let r = rows::<f64>(&g, &[0, 3], None, 2);
    assert_eq!(&r[..6], &[0.0, 1.5, 3.0, 4.5, 6.0, 7.5]);
    assert_eq!(&r[6..], &[4.5, 3.0, 1.5, 0.0, 1.5, 3.0]);
    let (w, h) = (9usize, 6usize);
    let mut edges = vec![];
    for y in 0..h {
        for x in 0..w {
            if x + 1 < w {
                edges.push((y * w + x, y * w + x + 1, 0.25));
            }
            if y + 1 < h {
                edges.push((y * w + x, (y + 1) * w + x, 0.25));
            }
        }
    }
    let g = Owned::undirected(w * h, &edges);
    let sources: Vec<usize> = (0..w * h).collect();
    let r = rows::<f32>(&g, &sources, None, 2);
    for s in 0..w * h {
        for t in 0..w * h {
            let m = (s % w).abs_diff(t % w) + (s / w).abs_diff(t / w);
            assert_eq!(r[s * w * h + t], (0.25 * m as f64) as f32);
        }
    }
    let arcs = [
        (0, 1, 3.0),
        (1, 0, 3.0),
        (1, 2, 5.0),
        (1, 2, 2.0),
        (2, 1, 2.0),
        (2, 2, 1.0),
        (4, 5, 1.0),
        (5, 4, 1.0),
    ];
    let g = Owned::new(6, &arcs);
    assert!(BucketPlan::new(&g.graph()).is_some());
    let r = rows::<f64>(&g, &[0, 3, 5], None, 1);
    assert_eq!(&r[..6], &[0.0, 3.0, 5.0, INF, INF, INF]);
    assert_eq!(&r[6..12], &[INF, INF, INF, 0.0, INF, INF]);
    assert_eq!(&r[12..], &[INF, INF, INF, INF, 1.0, 0.0]);
}

#[test]
fn bucket_search_is_exact_whatever_the_plan() {
    // The loop is label-correcting: a plan with buckets far too wide (everything in one
    // bucket, scanned in stack order) or far too narrow (entries clamped to the ring's end)
    // costs rescans, never accuracy; also with zero-weight arcs, which the planner refuses.
    for g in [lcg_graph(200, 900, 5), lcg_positive_graph(200, 900, 6, 0.1)] {
        let gr = g.graph();
        for plan in [
            BucketPlan {
                inv_width: 0.0,
                slots: 1,
            },
            BucketPlan {
                inv_width: 1.0,
                slots: 2,
            },
            BucketPlan {
                inv_width: 1e6,
                slots: 3,
            },
            BucketPlan {
                inv_width: 1e300,
                slots: 70,
            },
        ] {
            let mut b = Buckets::new(200, plan);
            for s in [0, 17, 199, 17] {
                b.search(&gr, s, INF);
                let mut out = vec![0.0f64; 200];
                b.finish(&mut out);
                assert_eq!(out, reference(&g, s), "{plan:?} source {s}");
                assert!(b.dist.iter().all(|&d| d == INF));
            }
        }
    }
}
