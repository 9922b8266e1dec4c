//! `--memory USERS`: the generator's peak memory with USERS users that each keep their own
//! connection open, over plain HTTP and (with `--tls`) HTTPS side by side, so the memory a
//! TLS connection adds is measured in one run against the same nginx.
//!
//! Each row is `skein run` of a one-step scenario written here: USERS users ramped at 5,000
//! a second, think time 1 s (so every user holds an idle kept-alive connection most of the
//! time, as real users do), 10 s in all; HTTPS with `defaults: {insecure: true}` and
//! `http_version: "1.1"`. Peak RSS is the process's (`wait4`'s rusage), start-up and reports
//! included; KB per user divides it by USERS.

use crate::procs::Nginx;
use crate::{Ctx, Figures, skein_bin, skein_exec};

pub fn compare(ctx: &Ctx, nginx: &mut Nginx, users: usize) -> Result<(), String> {
    println!(
        "\nmemory: {users} users, ramp 5000/s, think time 1 s, 10 s; skein run, peak RSS of \
         the process"
    );
    println!(
        "  {:<10} {:>9} {:>7} {:>9} {:>10} {:>8}",
        "row", "requests", "errors", "peak MB", "KB/user", "CPU s"
    );
    let mut rows: Vec<(&str, Figures)> = Vec::new();
    let mut urls = vec![("http/1.1", ctx.url.clone())];
    if let Some(tls) = &ctx.tls_url {
        urls.push(("https/1.1", tls.clone()));
    }
    for (row, url) in urls {
        nginx.check_alive()?;
        match run(ctx, row, &url, users) {
            Ok(f) => {
                println!(
                    "  {row:<10} {:>9.0} {:>7.0} {:>9.1} {:>10.1} {:>8.2}",
                    f.requests,
                    f.errors,
                    f.rss_kb as f64 / 1000.0,
                    f.rss_kb as f64 / users as f64,
                    f.cpu_s
                );
                rows.push((row, f));
            }
            Err(e) => println!("  {row:<10} failed: {}", e.trim_end()),
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    if let [(_, plain), (_, tls)] = rows.as_slice() {
        println!(
            "  HTTPS adds {:.1} KB per user ({:.1} MB in all); HTTPS/plain peak RSS {:.2}",
            (tls.rss_kb as f64 - plain.rss_kb as f64) / users as f64,
            (tls.rss_kb as f64 - plain.rss_kb as f64) / 1000.0,
            tls.rss_kb as f64 / (plain.rss_kb as f64).max(1.0)
        );
    }
    Ok(())
}

fn run(ctx: &Ctx, row: &str, url: &str, users: usize) -> Result<Figures, String> {
    let name = format!("memory-{}", row.replace('/', "-"));
    let file = ctx.tmp.join(format!("{name}.yaml"));
    std::fs::write(
        &file,
        format!(
            "name: {name}\ntarget: {}\ndefaults: {{insecure: true, http_version: \"1.1\"}}\n\
             scenarios:\n  - name: get\n    think_time: 1s\n    steps:\n      - get: /\n\
             load: {{users: {users}, ramp: 5000/s, duration: 10s, graceful_stop: 2s}}\n",
            url.trim_end_matches('/')
        ),
    )
    .map_err(|e| format!("writing {}: {e}", file.display()))?;
    let dir = ctx.tmp.join(format!("skein-{name}"));
    let args = [
        "run".to_string(),
        file.display().to_string(),
        "-q".into(),
        "-o".into(),
        dir.display().to_string(),
    ];
    let f = skein_exec(ctx, &skein_bin(), &args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    f
}
