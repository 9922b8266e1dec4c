//! The per-request path of a step: render its templates, evaluate its checks, run its
//! extracts. Each of these runs once per request per user, so they must stay in the
//! nanoseconds-to-low-microseconds range.
//!
//! Needs `[[bench]] name = "template_check" harness = false` in Cargo.toml.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use skein::scenario::check::{
    Check, CmpOp, Extract, ExtractSource, JsonOp, JsonPath, Response, StrOp,
};
use skein::scenario::template::{Template, Vars};

fn resolve(name: &str) -> Option<usize> {
    (name == "userId").then_some(0)
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A JSON body of about 2 KB: a page of 26 orders and a total.
fn json_body() -> String {
    let items: Vec<String> = (0..26)
        .map(|i| {
            format!(
                r#"{{"id":"ord-{i:04}","sku":"SKU-{i:05}","qty":{},"price":{}.99,"status":"shipped"}}"#,
                i % 5 + 1,
                i * 3 + 10
            )
        })
        .collect();
    let body = format!(
        r#"{{"page":1,"per_page":26,"items":[{}],"total":240}}"#,
        items.join(",")
    );
    assert!((1900..2200).contains(&body.len()), "{}", body.len());
    body
}

fn templates(c: &mut Criterion) {
    let mut vars = Vars::new(1);
    vars.set(0, "12345".to_string());
    let mut rng = StdRng::seed_from_u64(1);
    let mut out = String::with_capacity(256);

    let three_parts = Template::parse("/users/${userId}/orders", &mut resolve, &no_env).unwrap();
    c.bench_function("template/render 3 parts (literal, var, literal)", |b| {
        b.iter(|| {
            out.clear();
            three_parts
                .render_into(black_box(&vars), &mut rng, &mut out)
                .unwrap();
            black_box(out.len())
        })
    });

    let functions = Template::parse(
        "/items/${randomInt(1, 1000)}?req=${uuid()}&t=${timestampMs()}&s=${randomString(8)}",
        &mut resolve,
        &no_env,
    )
    .unwrap();
    c.bench_function("template/render 4 functions", |b| {
        b.iter(|| {
            out.clear();
            functions
                .render_into(black_box(&vars), &mut rng, &mut out)
                .unwrap();
            black_box(out.len())
        })
    });
}

fn checks(c: &mut Criterion) {
    let body = json_body();
    let no_vars = Vars::default();
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());

    let status = Check::status(vec![(200, 299)]);
    c.bench_function("check/status 2xx", |b| {
        b.iter(|| {
            let r = Response::new(black_box(200), &headers, body.as_bytes());
            status.passes(&r, &no_vars)
        })
    });

    let header = Check::header("Content-Type", StrOp::Contains("json".into()));
    c.bench_function("check/header contains", |b| {
        b.iter(|| {
            let r = Response::new(200, black_box(&headers), body.as_bytes());
            header.passes(&r, &no_vars)
        })
    });

    let total = Check::json(
        JsonPath::parse("$.total").unwrap(),
        JsonOp::Compare(CmpOp::Gt, 0.0),
    );
    c.bench_function("check/json $.total > 0 on 2 KB (parse included)", |b| {
        b.iter(|| {
            let r = Response::new(200, &headers, black_box(body.as_bytes()));
            total.passes(&r, &no_vars)
        })
    });

    let parsed = Response::new(200, &headers, body.as_bytes());
    parsed.json().unwrap();
    c.bench_function("check/json $.total > 0 on 2 KB (already parsed)", |b| {
        b.iter(|| total.passes(black_box(&parsed), &no_vars))
    });

    let contains = Check::body_contains("ord-0025");
    c.bench_function("check/body contains on 2 KB", |b| {
        b.iter(|| {
            let r = Response::new(200, &headers, black_box(body.as_bytes()));
            contains.passes(&r, &no_vars)
        })
    });
}

fn extracts(c: &mut Criterion) {
    let body = json_body();
    let headers = http::HeaderMap::new();
    let re = regex::Regex::new(r#""id":"(ord-\d+)""#).unwrap();
    let regex = Extract::new(0, "orderId", ExtractSource::regex(re, None).unwrap());
    c.bench_function("extract/regex group 1 on 2 KB", |b| {
        b.iter(|| {
            let r = Response::new(200, &headers, black_box(body.as_bytes()));
            regex.extract(&r)
        })
    });

    let json = Extract::new(
        0,
        "orderId",
        ExtractSource::Json(JsonPath::parse("$.items[0].id").unwrap()),
    );
    c.bench_function("extract/json $.items[0].id on 2 KB (parse included)", |b| {
        b.iter(|| {
            let r = Response::new(200, &headers, black_box(body.as_bytes()));
            json.extract(&r)
        })
    });
}

criterion_group!(benches, templates, checks, extracts);
criterion_main!(benches);
