//! A closed queueing model of a multi-server station: `c` identical servers (the worker
//! pool, the connection pool, the cores) with mean service time `S`, `N` users who each
//! think for `Z` between requests. Solved by **exact Mean Value Analysis for a multi-server
//! station with marginal probabilities** (Reiser and Lavenberg 1980; the load-dependent
//! form in Menascé, Almeida and Dowdy, *Performance by Design*, ch. 14), not by Seidmann's
//! approximation: with a few servers and few users, where step tests live, Seidmann's
//! split of the station into a `c`-times faster server plus a delay of `S(c-1)/c` is off
//! by up to about 10 % near the knee, and the exact recursion costs `O(N * c)`, nothing at
//! these sizes.
//!
//! For `n = 1..N`, with `p(j | n)` the probability that `j` requests are at the station
//! when `n` users are in the system:
//!
//! ```text
//! R(n)   = S/c * (1 + Q(n-1) + sum_{j=0}^{c-2} (c-1-j) * p(j | n-1))
//! X(n)   = n / (R(n) + Z)
//! Q(n)   = X(n) * R(n)
//! p(j|n) = X(n) * S / min(j, c) * p(j-1 | n-1)      for j = 1..n
//! p(0|n) = 1 - sum_{j>=1} p(j | n)
//! ```
//!
//! `c = 1` is the classic single-server MVA; `N <= c` gives `X = N / (S + Z)` (no one
//! waits); without think time (`Z = 0`) the station always holds all `N` users and
//! `X = min(N, c) / S`. Throughput never falls with load: the model has no retrograde
//! region. A fractional `N` (the mean requests in flight a step test measures) is
//! interpolated linearly between the integers around it.
//!
//! Fitting: `c` by an integer search, `S` by least squares for each `c` (in closed form when
//! `Z = 0`, where `X = g_c(N) / S`; by a golden-section search on `log S` otherwise), the
//! pair with the smallest squared throughput error kept.

/// The largest number of servers searched.
pub const MAX_SERVERS: u32 = 4096;
/// With think time each candidate `c` costs a recursion per trial `S`: the search stops here.
pub const MAX_SEARCHED_WITH_THINK: u32 = 256;
/// The largest population solved (the recursion runs up to it).
pub const MAX_USERS: f64 = 100_000.0;

/// The exact MVA solution at every population up to `n_max`: throughput and response time.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// `x[n]`, `r[n]` for `n = 0..=n_max` (index 0: no users).
    pub x: Vec<f64>,
    pub r: Vec<f64>,
}

/// Solve the station for populations `0..=n_max` (capped at [`MAX_USERS`]).
pub fn solve(servers: u32, service: f64, think: f64, n_max: usize) -> Solution {
    // Clamped: a `capacity.json` read back may say anything.
    let c = servers.clamp(1, MAX_SERVERS) as usize;
    let think = if think.is_finite() {
        think.max(0.0)
    } else {
        0.0
    };
    let n_max = n_max.min(MAX_USERS as usize);
    let mut x = vec![0.0; n_max + 1];
    let mut r = vec![0.0; n_max + 1];
    // Marginal probabilities p(j | n-1) for j = 0..c-1 (only those below c are needed,
    // and p(j) for j >= c only through Q).
    let mut p = vec![0.0; c];
    p[0] = 1.0;
    let mut q = 0.0;
    for n in 1..=n_max {
        let waiting: f64 = (0..c.saturating_sub(1))
            .map(|j| (c - 1 - j) as f64 * p[j])
            .sum();
        let rn = service / c as f64 * (1.0 + q + waiting);
        let xn = if rn + think > 0.0 {
            n as f64 / (rn + think)
        } else {
            0.0
        };
        // New marginals: p(j | n) = X S / min(j, c) p(j-1 | n-1) for 1 <= j < c; p(0) the rest.
        let mut next = vec![0.0; c];
        let mut below_c = 0.0;
        for j in 1..c {
            next[j] = xn * service / j as f64 * p[j - 1];
            below_c += next[j];
        }
        // p(j >= c | n): the rest, from the busy servers: X S = sum_j min(j, c) p(j).
        let busy_below: f64 = (1..c).map(|j| j as f64 * next[j]).sum();
        let at_least_c = ((xn * service - busy_below) / c as f64).max(0.0);
        next[0] = (1.0 - below_c - at_least_c).max(0.0);
        p = next;
        q = xn * rn;
        x[n] = xn;
        r[n] = rn;
    }
    Solution { x, r }
}

/// Throughput of the station at a (possibly fractional) population `n`.
pub fn throughput(servers: u32, service: f64, think: f64, n: f64) -> f64 {
    if !(n.is_finite() && n > 0.0 && service > 0.0) {
        return 0.0;
    }
    if think == 0.0 {
        // The recursion's result in closed form (see the tests), at any size.
        return n.min(servers.max(1) as f64) / service;
    }
    let n = n.min(MAX_USERS);
    let hi = n.ceil() as usize;
    let s = solve(servers, service, think, hi);
    interpolate(&s.x, n)
}

/// Response time at the station (queueing plus service) at population `n`.
pub fn response_time(servers: u32, service: f64, think: f64, n: f64) -> f64 {
    if !(n.is_finite() && n > 0.0) {
        return service;
    }
    if think == 0.0 {
        return service * (n / servers.max(1) as f64).max(1.0);
    }
    let n = n.min(MAX_USERS);
    let s = solve(servers, service, think, n.ceil() as usize);
    if n < 1.0 {
        return s.r[1];
    }
    interpolate(&s.r, n)
}

/// `v` at fractional index `n` (linear between the integers; below 1, from `v[0]` = 0
/// for throughput).
fn interpolate(v: &[f64], n: f64) -> f64 {
    let lo = n.floor() as usize;
    let f = n - lo as f64;
    let a = v[lo.min(v.len() - 1)];
    let b = v[(lo + 1).min(v.len() - 1)];
    a + f * (b - a)
}

/// A fitted station.
#[derive(Debug, Clone, PartialEq)]
pub struct MvaParams {
    pub servers: u32,
    pub service: f64,
    pub think: f64,
    pub sse: f64,
}

/// Fit `c` (unless given) and `S` to `(load, throughput)` points with think time `think`.
/// `None` with fewer than two usable points.
pub fn fit(points: &[(f64, f64)], think: f64, servers: Option<u32>) -> Option<MvaParams> {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(n, x)| n.is_finite() && x.is_finite() && *n > 0.0 && *x > 0.0)
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let n_max = pts.iter().map(|p| p.0).fold(0.0, f64::max).min(MAX_USERS);
    let candidates: Vec<u32> = match servers {
        Some(c) => vec![c.max(1)],
        // Past the largest load, more servers change nothing: the curve is N / (S + Z).
        None => (1..=((n_max.ceil() as u32) + 1).min(if think == 0.0 {
            MAX_SERVERS
        } else {
            MAX_SEARCHED_WITH_THINK
        }))
            .collect(),
    };
    let mut best: Option<MvaParams> = None;
    for c in candidates {
        let Some(fit) = fit_service(&pts, c, think, n_max) else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|b| fit.sse < b.sse * (1.0 - 1e-12))
        {
            best = Some(fit);
        }
    }
    best
}

/// Least-squares `S` for `c` servers.
fn fit_service(pts: &[(f64, f64)], c: u32, think: f64, n_max: f64) -> Option<MvaParams> {
    let hi = n_max.ceil() as usize;
    if think == 0.0 {
        // X = g(N) / S with g(N) = min(N, c), the throughput at S = 1 (the recursion's
        // result in closed form): u = 1/S = sum x g / sum g^2.
        let (mut sxg, mut sgg) = (0.0, 0.0);
        for &(n, x) in pts {
            let gn = n.min(c as f64);
            sxg += x * gn;
            sgg += gn * gn;
        }
        if !(sgg > 0.0 && sxg > 0.0) {
            return None;
        }
        let service = sgg / sxg;
        let sse = sse(pts, c, service, 0.0, hi);
        return Some(MvaParams {
            servers: c,
            service,
            think,
            sse,
        });
    }
    // Golden-section search on log S over a bracket around the one-user estimate.
    let (n0, x0) = pts
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((1.0, 1.0));
    let guess = (n0 / x0 - think).max(1e-9);
    let (mut a, mut b) = ((guess * 1e-3).ln(), (guess * 1e3).ln());
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let f = |ls: f64| sse(pts, c, ls.exp(), think, hi);
    let mut x1 = b - phi * (b - a);
    let mut x2 = a + phi * (b - a);
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..120 {
        if f1 <= f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - phi * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + phi * (b - a);
            f2 = f(x2);
        }
    }
    let service = ((a + b) / 2.0).exp();
    let sse = sse(pts, c, service, think, hi);
    sse.is_finite().then_some(MvaParams {
        servers: c,
        service,
        think,
        sse,
    })
}

fn sse(pts: &[(f64, f64)], c: u32, service: f64, think: f64, hi: usize) -> f64 {
    if think == 0.0 {
        return pts
            .iter()
            .map(|&(n, x)| (x - throughput(c, service, 0.0, n)).powi(2))
            .sum();
    }
    let s = solve(c, service, think, hi);
    pts.iter()
        .map(|&(n, x)| (x - interpolate(&s.x, n)).powi(2))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    /// The classic single-server MVA, by hand: S = 1, Z = 1. n = 1: R = 1, X = 1/2, Q = 1/2.
    /// n = 2: R = 1 + 1/2 = 1.5, X = 2/2.5 = 0.8, Q = 1.2. n = 3: R = 2.2, X = 3/3.2.
    #[test]
    fn one_server_is_the_classic_mva() {
        let s = solve(1, 1.0, 1.0, 3);
        assert!(close(s.r[1], 1.0) && close(s.x[1], 0.5));
        assert!(close(s.r[2], 1.5) && close(s.x[2], 0.8));
        assert!(close(s.r[3], 2.2) && close(s.x[3], 3.0 / 3.2));
    }

    /// N <= c: nobody waits, X = N / (S + Z).
    #[test]
    fn up_to_c_users_no_one_waits() {
        for (c, s, z) in [(4, 0.05, 0.0), (4, 0.05, 0.2), (8, 0.02, 1.0)] {
            let sol = solve(c, s, z, c as usize);
            for n in 1..=c as usize {
                assert!(
                    close(sol.x[n], n as f64 / (s + z)),
                    "c {c} n {n}: {}",
                    sol.x[n]
                );
                assert!(close(sol.r[n], s), "c {c} n {n}: R {}", sol.r[n]);
            }
        }
    }

    /// Without think time the station holds every user: X = min(N, c) / S.
    #[test]
    fn without_think_time_throughput_is_min_n_c_over_s() {
        let sol = solve(4, 0.05, 0.0, 12);
        for n in 1..=12 {
            assert!(
                close(sol.x[n], (n.min(4)) as f64 / 0.05),
                "n {n}: {}",
                sol.x[n]
            );
        }
        assert!(close(sol.r[8], 8.0 / 80.0));
    }

    /// c = 2, S = 1, Z = 1, N = 3, by hand from the product form of the machine-repairman
    /// model: p(k) ∝ N!/(N-k)! (S/Z)^k / β(k), β = 1, 1, 2, 4: weights 1, 3, 3, 1.5 (sum
    /// 8.5); busy servers (0*1 + 1*3 + 2*3 + 2*1.5)/8.5 = 12/8.5, so X = 12/8.5 = 1.41176.
    #[test]
    fn two_servers_with_think_time_match_the_product_form() {
        let s = solve(2, 1.0, 1.0, 3);
        assert!(close(s.x[3], 12.0 / 8.5), "{}", s.x[3]);
        // N = 2 <= c: X = 2 / (1 + 1) = 1.
        assert!(close(s.x[2], 1.0));
    }

    #[test]
    fn the_fit_finds_c_and_s_of_a_pool() {
        let pts: Vec<(f64, f64)> = (1..=10)
            .map(|n| (n as f64, (n.min(4)) as f64 / 0.051))
            .collect();
        let f = fit(&pts, 0.0, None).unwrap();
        assert_eq!(f.servers, 4);
        assert!((f.service - 0.051).abs() < 1e-9, "{f:?}");
        let f = fit(&pts, 0.0, Some(3)).unwrap();
        assert_eq!(f.servers, 3);
        // With think time: generated from the model itself.
        let pts: Vec<(f64, f64)> = (1..=12)
            .map(|n| (n as f64, throughput(3, 0.1, 0.2, n as f64)))
            .collect();
        let f = fit(&pts, 0.2, None).unwrap();
        assert_eq!(f.servers, 3);
        assert!((f.service - 0.1).abs() < 1e-6, "{f:?}");
    }

    #[test]
    fn fractional_loads_interpolate() {
        let x = throughput(4, 0.05, 0.0, 2.5);
        assert!(close(x, 50.0));
        assert!(close(throughput(4, 0.05, 0.0, 0.5), 10.0));
        assert_eq!(throughput(4, 0.05, 0.0, 0.0), 0.0);
    }
}
