//! Loading scenario files: parse, check against the schema, compile into a plan. Issue 13
//! (D6) found this quadratic in the length of a line: a one-line YAML sequence of 1 MB
//! took 11 s and one of 2 MB 47 s, minified JSON 15 times as long as the same file pretty-
//! printed. Loading must be linear in the file's size: the 2 MB files may take at most 2.5
//! times as long as the 1 MB ones.
//!
//! Criterion measures each file in this process; then the ratio of the 2 MB file to the
//! 1 MB one is printed for each shape, with the acceptance bound, and the bench fails above
//! it. For the ratio each load runs in a fresh process (this binary re-executed with
//! `--skein-parse-child`), as `skein validate` does: in one process the allocator keeps the
//! memory of earlier loads, which spares a 1 MB load the page faults a 2 MB one still
//! pays, and skews the ratio. Each figure is the fastest of seven loads, the one least
//! disturbed by other work on the machine.
//!
//! Run: `cargo bench --bench parse`, or `cargo bench --bench parse -- ratio` for the ratios
//! alone (the filter matches no criterion benchmark).
//! Needs `[[bench]] name = "parse" harness = false` in Cargo.toml.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

const MB: usize = 1 << 20;

/// The acceptance bound on load(2 MB) / load(1 MB).
const MAX_RATIO: f64 = 2.5;

/// A one-line YAML flow mapping whose one scenario has as many steps as fit in `bytes`.
fn one_line_yaml(bytes: usize) -> String {
    let mut steps = String::with_capacity(bytes + 64);
    let mut i = 0;
    while steps.len() < bytes {
        if i > 0 {
            steps.push_str(", ");
        }
        steps.push_str(&format!("{{get: /p{i}, name: s{i}}}"));
        i += 1;
    }
    format!(
        "{{name: big, target: 'http://127.0.0.1:9', scenarios: [{{name: s, steps: [{steps}]}}], load: {{users: 1, duration: 1s}}}}"
    )
}

/// The same as minified JSON, with non-ASCII text (so positions are counted in characters).
fn minified_json(bytes: usize) -> String {
    let mut steps = String::with_capacity(bytes + 64);
    let mut i = 0;
    while steps.len() < bytes {
        if i > 0 {
            steps.push(',');
        }
        steps.push_str(&format!(r#"{{"get":"/p{i}","name":"schritt-{i}-ü"}}"#));
        i += 1;
    }
    format!(
        r#"{{"name":"big","target":"http://127.0.0.1:9","scenarios":[{{"name":"s","steps":[{steps}]}}],"load":{{"users":1,"duration":"1s"}}}}"#
    )
}

/// A YAML file of many variables, each reading the one above it.
fn many_variables(bytes: usize) -> String {
    let mut vars = String::with_capacity(bytes + 64);
    let mut i = 0;
    while vars.len() < bytes {
        if i == 0 {
            vars.push_str("  v0: x\n");
        } else {
            vars.push_str(&format!("  v{i}: \"${{v{}}}-\"\n", i - 1));
        }
        i += 1;
    }
    format!(
        "target: http://127.0.0.1:9\nvariables:\n{vars}scenarios: [{{name: s, steps: [{{get: /}}]}}]\nload: {{users: 1, duration: 1s}}\n"
    )
}

type Shape = (&'static str, fn(usize) -> String);

const SHAPES: [Shape; 3] = [
    ("one-line YAML", one_line_yaml),
    ("minified JSON", minified_json),
    ("variables", many_variables),
];

fn load(text: &str) {
    let plan = skein::scenario::parse_str(text, Path::new("big.yaml")).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.to_string().lines().take(3).collect::<Vec<_>>().join("\n")
        )
    });
    black_box(plan.scenarios.len());
}

fn bench(c: &mut Criterion) {
    for (name, make) in SHAPES {
        let mut g = c.benchmark_group(format!("parse/{name}"));
        g.sample_size(10).measurement_time(Duration::from_secs(8));
        for size in [MB, 2 * MB] {
            let text = make(size);
            g.throughput(Throughput::Bytes(text.len() as u64));
            g.bench_function(format!("{} MB", size / MB), |b| b.iter(|| load(&text)));
        }
        g.finish();
    }
}

const CHILD: &str = "--skein-parse-child";

/// In a child: make the file of shape `shape` (an index into [`SHAPES`]) and `bytes`, load
/// it, print the seconds the load took.
fn child(shape: &str, bytes: &str) {
    let (_, make) = SHAPES[shape.parse::<usize>().expect("shape")];
    let text = make(bytes.parse().expect("bytes"));
    let t0 = Instant::now();
    load(&text);
    println!("{}", t0.elapsed().as_secs_f64());
}

/// The fewest seconds one of `n` loads took, each in a fresh process.
fn best_secs(shape: usize, bytes: usize, n: usize) -> f64 {
    let exe = std::env::current_exe().expect("this bench's path");
    (0..n)
        .map(|_| {
            let o = std::process::Command::new(&exe)
                .args([CHILD, &shape.to_string(), &bytes.to_string()])
                .output()
                .expect("a child load");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let out = String::from_utf8_lossy(&o.stdout);
            out.trim().parse::<f64>().expect("seconds")
        })
        .fold(f64::INFINITY, f64::min)
}

/// load(2 MB) / load(1 MB) for each shape, against [`MAX_RATIO`].
fn ratios(runs: usize) -> bool {
    let mut ok = true;
    for (i, (name, _)) in SHAPES.iter().enumerate() {
        let (a, b) = (best_secs(i, MB, runs), best_secs(i, 2 * MB, runs));
        let r = b / a;
        ok &= r <= MAX_RATIO;
        println!(
            "parse ratio {name:>13}: 1 MB {:>7.1} ms, 2 MB {:>7.1} ms, ratio {r:.2} (acceptance <= {MAX_RATIO}): {}",
            a * 1e3,
            b * 1e3,
            if r <= MAX_RATIO { "ok" } else { "FAIL" }
        );
    }
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, shape, bytes, ..] = args.as_slice()
        && flag == CHILD
    {
        return child(shape, bytes);
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`): one quick pass
    // of each shape, no measurement.
    if !std::env::args().any(|a| a == "--bench") {
        for (_, make) in SHAPES {
            load(&make(64 * 1024));
        }
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
    if !ratios(7) {
        std::process::exit(1);
    }
}
