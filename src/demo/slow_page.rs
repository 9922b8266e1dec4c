//! `/slow-page`: a deliberately slow variant of the home page, so that page-quality audits
//! (Lighthouse) have something to tell apart. Its stylesheet and a synchronous script in the
//! `<head>` block rendering and arrive late (each held back by [`ASSET_DELAY`]); the script
//! keeps the main thread busy for [`BUSY_MS`] before the first paint, and another task for
//! [`LATE_BUSY_MS`] after it (Total Blocking Time, Time to Interactive); and a banner inserted above the content once the page has painted pushes everything down
//! (Cumulative Layout Shift). The home page (`/`) has none of these.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

/// How long the server holds back the page's blocking stylesheet and script.
pub(crate) const ASSET_DELAY: Duration = Duration::from_millis(1200);
/// How long the blocking script keeps the main thread busy, ms.
pub(crate) const BUSY_MS: u32 = 1500;
/// How long a task 300 ms after parsing keeps it busy again (after the first paint), ms.
pub(crate) const LATE_BUSY_MS: u32 = 800;

const SLOW_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Skein Demo Shop (slow variant)</title>
  <link rel="stylesheet" href="/slow-page/blocking.css">
  <script src="/slow-page/blocking.js"></script>
</head>
<body>
  <main>
    <h1>Featured products</h1>
    <p id="lead">The same shop front as the home page, served the slow way: a stylesheet and
    a script that block rendering and arrive late, a long task on the main thread, and a
    banner that shifts the content down after the first paint.</p>
    <ul id="products"><li>Desk lamp</li><li>Office chair</li><li>Standing desk</li><li>Mug</li></ul>
  </main>
  <script>
    // A second long task once the page has painted: the main thread blocked again.
    setTimeout(function () {
      var end = Date.now() + LATE_BUSY_MS; var x = 0;
      while (Date.now() < end) { x += Math.sqrt(x + 1); }
      window.__late = x;
    }, 300);
    setTimeout(function () {
      var b = document.createElement("div");
      b.className = "late-banner";
      b.textContent = "Sale! Everything must go.";
      document.body.insertBefore(b, document.body.firstChild);
    }, 600);
  </script>
</body>
</html>
"#;

const BLOCKING_CSS: &str = "\
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1f2933; background: #f7f9fb; }
main { max-width: 960px; margin: 0 auto; padding: 2rem; }
h1 { font-size: 2.5rem; }
.late-banner { height: 420px; background: #2f6fdf; color: #fff; font-size: 2rem; padding: 2rem; }
";

fn blocking_js() -> String {
    format!(
        "\"use strict\";\n// A long task: the main thread is busy for {BUSY_MS} ms before the page can render.\n\
         (function () {{ var end = Date.now() + {BUSY_MS}; var x = 0; while (Date.now() < end) {{ x += Math.sqrt(x + 1); }} window.__busy = x; }})();\n"
    )
}

/// The slow page's routes.
pub(super) fn add<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/slow-page", get(page))
        .route("/slow-page/blocking.css", get(css))
        .route("/slow-page/blocking.js", get(js))
}

async fn page() -> Response {
    Html(SLOW_HTML.replace("LATE_BUSY_MS", &LATE_BUSY_MS.to_string())).into_response()
}

fn no_store(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    tokio::time::sleep(ASSET_DELAY).await;
    no_store("text/css; charset=utf-8", BLOCKING_CSS.to_string())
}

async fn js() -> Response {
    tokio::time::sleep(ASSET_DELAY).await;
    no_store("text/javascript; charset=utf-8", blocking_js())
}
