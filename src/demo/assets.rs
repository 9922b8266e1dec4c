//! The home page and the static files it links, with caching headers and `304 Not Modified`.

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The home page: a shop front that links every static asset and calls the API.
pub(crate) const HOME_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Skein Demo Shop</title>
  <link rel="icon" href="/favicon.ico">
  <link rel="stylesheet" href="/static/app.css">
  <script src="/static/app.js" defer></script>
</head>
<body>
  <header>
    <img src="/static/logo.svg" alt="Skein Demo Shop" width="160" height="40">
    <form action="/api/search" method="get" role="search">
      <input name="q" placeholder="Search 500 products" aria-label="Search">
    </form>
    <a href="/api/cart" id="cart-link">Cart</a>
  </header>
  <main>
    <h1>Featured products</h1>
    <ul id="products" data-src="/api/products?page=1&amp;per_page=12"></ul>
  </main>
  <footer>Phase 9 demo target &middot; <a href="/health">status</a></footer>
</body>
</html>
"#;

const APP_CSS: &str = "\
:root { --ink: #1f2933; --accent: #2f6fdf; --paper: #f7f9fb; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: var(--ink); background: var(--paper); }
header { display: flex; gap: 1rem; align-items: center; padding: 1rem 2rem; background: #fff; }
header form { flex: 1; }
header input { width: 100%; padding: .5rem; border: 1px solid #cbd2d9; border-radius: 4px; }
main { max-width: 960px; margin: 0 auto; padding: 2rem; }
#products { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 1rem; padding: 0; }
#products li { list-style: none; background: #fff; padding: 1rem; border-radius: 6px; }
.price { color: var(--accent); font-weight: 600; }
footer { text-align: center; padding: 2rem; color: #7b8794; }
";

const APP_JS: &str = r#""use strict";
async function loadProducts() {
  const list = document.getElementById("products");
  const response = await fetch(list.dataset.src);
  if (!response.ok) { list.textContent = "Products are unavailable."; return; }
  const page = await response.json();
  for (const p of page.items) {
    const item = document.createElement("li");
    item.innerHTML = `<a href="/api/products/${p.id}">${p.name}</a> <span class="price">$${p.price.toFixed(2)}</span>`;
    list.appendChild(item);
  }
}
document.addEventListener("DOMContentLoaded", loadProducts);
"#;

const LOGO_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">
  <rect x="2" y="6" width="28" height="28" rx="6" fill="#2f6fdf"/>
  <path d="M9 20c4-8 10-8 14 0s-10 8-14 0z" fill="none" stroke="#fff" stroke-width="2.5"/>
  <text x="40" y="27" font-family="system-ui, sans-serif" font-size="18" fill="#1f2933">Demo Shop</text>
</svg>
"##;

/// One static file with its caching validator.
pub(crate) struct Asset {
    pub(crate) path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    etag: HeaderValue,
}

/// Every static file, built once.
pub(crate) static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    vec![
        Asset::new(
            "/static/app.css",
            "text/css; charset=utf-8",
            APP_CSS.as_bytes().to_vec(),
        ),
        Asset::new(
            "/static/app.js",
            "text/javascript; charset=utf-8",
            APP_JS.as_bytes().to_vec(),
        ),
        Asset::new(
            "/static/logo.svg",
            "image/svg+xml",
            LOGO_SVG.as_bytes().to_vec(),
        ),
        Asset::new("/favicon.ico", "image/x-icon", favicon()),
    ]
});

impl Asset {
    fn new(path: &'static str, content_type: &'static str, body: Vec<u8>) -> Asset {
        let etag = HeaderValue::from_str(&format!("\"{:016x}\"", fnv1a(&body)))
            .unwrap_or(HeaderValue::from_static("\"0\""));
        Asset {
            path,
            content_type,
            body,
            etag,
        }
    }

    /// `200` with the file, or `304` when `If-None-Match` names its current ETag.
    pub(crate) fn respond(&self, request: &HeaderMap) -> Response {
        let cache = [
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
            (header::ETAG, self.etag.clone()),
        ];
        if self.matches(request) {
            return (StatusCode::NOT_MODIFIED, cache).into_response();
        }
        let content_type = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        )];
        (cache, content_type, self.body.clone()).into_response()
    }

    fn matches(&self, request: &HeaderMap) -> bool {
        let Some(etag) = self.etag.to_str().ok() else {
            return false;
        };
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|tag| tag.trim())
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
    }
}

/// A 16x16 icon: a blue rounded square, as a 32-bit BMP inside an ICO container.
fn favicon() -> Vec<u8> {
    const SIZE: u32 = 16;
    let pixels = SIZE * SIZE * 4;
    let mask = SIZE * 4; // 1 bit per pixel, rows padded to 4 bytes
    let image_len = 40 + pixels + mask;
    let mut ico = Vec::with_capacity(6 + 16 + image_len as usize);
    ico.extend_from_slice(&[0, 0, 1, 0, 1, 0]); // reserved, type icon, one image
    ico.extend_from_slice(&[SIZE as u8, SIZE as u8, 0, 0, 1, 0, 32, 0]);
    ico.extend_from_slice(&image_len.to_le_bytes());
    ico.extend_from_slice(&22u32.to_le_bytes()); // offset of the image
    ico.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    ico.extend_from_slice(&SIZE.to_le_bytes());
    ico.extend_from_slice(&(SIZE * 2).to_le_bytes()); // height counts the mask too
    ico.extend_from_slice(&[1, 0, 32, 0]); // planes, bits per pixel
    ico.extend_from_slice(&[0; 4]); // no compression
    ico.extend_from_slice(&pixels.to_le_bytes());
    ico.extend_from_slice(&[0; 16]); // resolution and palette
    for y in 0..SIZE {
        for x in 0..SIZE {
            let corner = (x == 0 || x == SIZE - 1) && (y == 0 || y == SIZE - 1);
            let alpha = if corner { 0 } else { 255 };
            ico.extend_from_slice(&[0xdf, 0x6f, 0x2f, alpha]); // BGRA
        }
    }
    ico.extend_from_slice(&vec![0; mask as usize]);
    ico
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_page_links_every_asset() {
        for asset in ASSETS.iter() {
            assert!(
                HOME_HTML.contains(&format!("\"{}\"", asset.path)),
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn favicon_has_the_size_its_header_claims() {
        let ico = favicon();
        let len = u32::from_le_bytes([ico[14], ico[15], ico[16], ico[17]]) as usize;
        assert_eq!(ico.len(), 22 + len);
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let asset = &ASSETS[0];
        let etag = asset.etag.to_str().unwrap().to_owned();
        for value in [etag.clone(), format!("\"x\", W/{etag}"), "*".to_owned()] {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, value.parse().unwrap());
            assert_eq!(
                asset.respond(&headers).status(),
                StatusCode::NOT_MODIFIED,
                "{value}"
            );
        }
        let mut stale = HeaderMap::new();
        stale.insert(header::IF_NONE_MATCH, "\"stale\"".parse().unwrap());
        assert_eq!(asset.respond(&stale).status(), StatusCode::OK);
    }
}
