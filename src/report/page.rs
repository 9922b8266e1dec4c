//! The one page shell of every Skein HTML page (`report.html`, `compare.html`,
//! `capacity.html`): the head with the shared stylesheet, the title as the page's header,
//! and the footer. Each page writes only its sections between [`open`] and [`close`], so
//! the pages look alike and a change of style is made once.
//!
//! Self-contained by design: inline CSS, no script, no CDN, so a page opens offline, from a
//! CI artifact, or attached to a ticket.

use std::fmt::Write as _;

use super::escape_xml as esc;

/// The stylesheet of every Skein HTML page.
pub(crate) const CSS: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa;
  --pass: #1a7f37; --pass-bg: #dafbe1; --fail: #cf222e; --fail-bg: #ffebe9;
  --warn: #9a6700; --warn-bg: #fff8c5; --none: #444c56; --none-bg: #eaeef2; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 18px; }
.banner { border-radius: 8px; padding: 16px 20px; margin: 16px 0; font-size: 20px; font-weight: 600;
  border: 2px solid; }
.banner small { display: block; font-size: 14px; font-weight: 400; margin-top: 4px; }
.banner.pass { color: var(--pass); background: var(--pass-bg); border-color: var(--pass); }
.banner.fail { color: var(--fail); background: var(--fail-bg); border-color: var(--fail); }
.banner.none { color: var(--none); background: var(--none-bg); border-color: var(--none); }
.callout { border-left: 4px solid var(--warn); background: var(--warn-bg); padding: 10px 14px;
  margin: 12px 0; border-radius: 4px; }
.callout.severe { border-left-color: var(--fail); background: var(--fail-bg); font-size: 16px; }
.callout.severe strong { color: var(--fail); }
th.group { text-align: center; font-weight: 600; border-bottom: 1px solid var(--line); }
td.svc, th.svc { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid var(--line); }
table.facts th { width: 220px; background: none; color: var(--muted); font-weight: 500; }
.pass { color: var(--pass); } .fail { color: var(--fail); } .unmeasured { color: var(--warn); }
td.status { font-weight: 700; white-space: nowrap; }
tr.failed td { background: #fff5f5; }
.detail { color: var(--muted); font-size: 13px; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, "DejaVu Sans Mono", monospace; font-size: 13px; }
td code { word-break: break-word; }
pre { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 6px; padding: 12px;
  overflow: auto; max-height: 40em; white-space: pre; }
figure { margin: 0 0 28px; }
figure svg { display: block; width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; }
"#;

/// Open a page titled `title`: the head with the shared stylesheet (and `extra_css` after
/// it, for the rules one page alone needs), then the `<h1>` header.
pub(crate) fn open(s: &mut String, title: &str, extra_css: &str) {
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}{extra_css}</style>\n</head>\n<body>\n<main>\n",
        esc(title)
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(title));
}

/// Close a page with its footer (`footer` is HTML, escaped by the caller).
pub(crate) fn close(s: &mut String, footer: &str) {
    let _ = writeln!(s, "<footer>{footer}</footer>");
    s.push_str("</main>\n</body>\n</html>\n");
}
