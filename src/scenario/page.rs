//! The semantic pass for a page step (`page:`): its document's request line and what it
//! fetches after the document (`assets`, `other_hosts`, `cache`).

use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{Method, OtherHosts, PageAssets, PagePlan};
use super::raw::{RawAssets, RawOtherHosts, RawStep};
use super::suggest;

/// Keys that describe another request, which a page step cannot have.
const REQUEST_KEYS: [&str; 9] = [
    "get", "post", "put", "patch", "delete", "head", "options", "method", "path",
];
/// Keys that only a page step may have.
const PAGE_KEYS: [&str; 3] = ["assets", "other_hosts", "cache"];

impl Compiler<'_> {
    /// A page step's request line: `GET` the document at `page`.
    pub(super) fn page_line(
        &mut self,
        s: &RawStep,
        page: &str,
        path: &KeyPath,
    ) -> Option<(Method, String, KeyPath)> {
        let given = [
            s.get.is_some(),
            s.post.is_some(),
            s.put.is_some(),
            s.patch.is_some(),
            s.delete.is_some(),
            s.head.is_some(),
            s.options.is_some(),
            s.method.is_some(),
            s.path.is_some(),
        ];
        if let Some(k) = REQUEST_KEYS
            .iter()
            .zip(given)
            .find_map(|(k, g)| g.then_some(*k))
        {
            self.err(
                &path.key(k),
                format!("both `page` and `{k}`"),
                "`page: PATH` alone: a page step GETs its document",
                Some("split them into two steps".into()),
            );
            return None;
        }
        Some((Method::Get, page.to_string(), path.key("page")))
    }

    /// What a page step fetches after its document; `None` for other steps (and a problem
    /// recorded when they carry page keys).
    pub(super) fn page_plan(&mut self, s: &RawStep, path: &KeyPath) -> Option<PagePlan> {
        if s.page.is_none() {
            let given = [
                s.assets.is_some(),
                s.other_hosts.is_some(),
                s.cache.is_some(),
            ];
            for (k, _) in PAGE_KEYS.iter().zip(given).filter(|(_, g)| *g) {
                self.err(
                    &path.key(k),
                    format!("`{k}` in a step without `page`"),
                    "`page: PATH` beside it",
                    Some(format!(
                        "`{k}` belongs to page steps, e.g. `- page: /` with `{k}:`"
                    )),
                );
            }
            return None;
        }
        for (k, given) in [
            ("json", s.json.is_some()),
            ("form", s.form.is_some()),
            ("body", s.body.is_some()),
        ] {
            if given {
                self.err(
                    &path.key(k),
                    format!("`{k}` in a page step"),
                    "no body: a page step GETs its document",
                    None,
                );
            }
        }
        let assets = match &s.assets {
            None => PageAssets::None,
            Some(RawAssets::Keyword(k)) if k == "auto" => PageAssets::Auto,
            Some(RawAssets::Keyword(_)) => {
                let k = path.key("assets");
                let found = self.root.locate(&k).found();
                let word = found.trim_matches('"').to_string();
                let hint = suggest::closest(&word, &["auto"])
                    .map(|s| format!("did you mean \"{s}\"?"))
                    .or_else(|| Some("e.g. `assets: [/static/app.css]`".into()));
                self.err(&k, found, "`auto`, or a list of paths or URLs", hint);
                PageAssets::None
            }
            Some(RawAssets::List(list)) => {
                let ap = path.key("assets");
                let mut out = Vec::with_capacity(list.len());
                for (i, a) in list.iter().enumerate() {
                    let p = ap.idx(i);
                    if a.trim().is_empty() || a.chars().any(char::is_whitespace) {
                        self.bad(
                            &p,
                            "a path or URL without spaces, e.g. /static/app.css",
                            None,
                        );
                        continue;
                    }
                    if let Some(t) = self.template(&p, a) {
                        out.push(t);
                    }
                }
                PageAssets::List(out)
            }
        };
        let other_hosts = match &s.other_hosts {
            None | Some(RawOtherHosts::All(false)) => OtherHosts::None,
            Some(RawOtherHosts::All(true)) => OtherHosts::Any,
            Some(RawOtherHosts::List(hosts)) => {
                let hp = path.key("other_hosts");
                let mut out = Vec::with_capacity(hosts.len());
                for (i, h) in hosts.iter().enumerate() {
                    let h = h.trim().to_ascii_lowercase();
                    if h.is_empty() || h.contains(['/', ' ', '@', '?', '#']) {
                        let hint = h
                            .split_once("://")
                            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
                            .map(|host| format!("write the host alone: {host}"));
                        self.bad(
                            &hp.idx(i),
                            "a host such as cdn.example.com or host:8080",
                            hint,
                        );
                        continue;
                    }
                    out.push(h);
                }
                OtherHosts::Only(out)
            }
        };
        if other_hosts != OtherHosts::None && assets != PageAssets::Auto {
            self.err(
                &path.key("other_hosts"),
                "`other_hosts` without `assets: auto`",
                "`assets: auto` beside it (listed assets are fetched wherever they are)",
                None,
            );
        }
        Some(PagePlan {
            assets,
            other_hosts,
            cache: s.cache.unwrap_or(false),
        })
    }
}
