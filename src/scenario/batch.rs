//! `batch:` steps: several requests sent at once (k6's `http.batch`), each a request as a
//! step writes it, with its own name (cell), checks and extracts. The batch step itself
//! has a name, think time and tags, and no request of its own.

use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::{BatchPlan, Body, Method, StepPlan};
use super::raw::RawStep;
use super::template::Template;

/// Longest default name of a batch step (its requests' names joined).
const MAX_DEFAULT_NAME: usize = 80;

impl Compiler<'_> {
    /// A batch step: its requests compiled like steps.
    pub(super) fn batch_step(
        &mut self,
        s: &RawStep,
        list: &[RawStep],
        path: &KeyPath,
    ) -> Option<StepPlan> {
        // What belongs on the requests inside, not on the batch.
        let misplaced = [
            ("get", s.get.is_some()),
            ("post", s.post.is_some()),
            ("put", s.put.is_some()),
            ("patch", s.patch.is_some()),
            ("delete", s.delete.is_some()),
            ("head", s.head.is_some()),
            ("options", s.options.is_some()),
            ("page", s.page.is_some()),
            ("method", s.method.is_some()),
            ("path", s.path.is_some()),
            ("query", s.query.is_some()),
            ("headers", s.headers.is_some()),
            ("json", s.json.is_some()),
            ("form", s.form.is_some()),
            ("body", s.body.is_some()),
            ("body_file", s.body_file.is_some()),
            ("multipart", s.multipart.is_some()),
            ("auth", s.auth.is_some()),
            ("follow_redirects", s.follow_redirects.is_some()),
            ("timeout", s.timeout.is_some()),
            ("check", s.check.is_some()),
            ("extract", s.extract.is_some()),
            ("record", s.record.is_some()),
            ("assets", s.assets.is_some()),
            ("other_hosts", s.other_hosts.is_some()),
            ("cache", s.cache.is_some()),
        ];
        let mut ok = true;
        for (key, set) in misplaced {
            if set {
                self.err(
                    &path.key(key),
                    format!("`{key}` on a batch step"),
                    "a batch step with `batch:`, and `name`, `think_time`, `tags` only",
                    Some(format!(
                        "put `{key}` on the requests inside `batch:`, or make this a step of its own"
                    )),
                );
                ok = false;
            }
        }
        let at = path.key("batch");
        if list.is_empty() {
            self.bad(
                &at,
                "a list of at least one request, e.g. `[{get: /a}, {get: /b}]`",
                None,
            );
            return None;
        }
        let mut requests = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let p = at.idx(i);
            if item.batch.is_some() {
                self.err(
                    &p.key("batch"),
                    "a batch inside a batch",
                    "a request: get/post/put/patch/delete/head/options: PATH",
                    Some("list the inner requests in the outer batch".into()),
                );
                ok = false;
                continue;
            }
            if item.page.is_some() {
                self.err(
                    &p.key("page"),
                    "a page inside a batch",
                    "a request: get/post/put/patch/delete/head/options: PATH",
                    Some("list the page's assets as requests of the batch, or make the page a step of its own".into()),
                );
                ok = false;
                continue;
            }
            if item.think_time.is_some() {
                self.err(
                    &p.key("think_time"),
                    "`think_time` on a request of a batch",
                    "no pause between the requests of a batch: they go out at once",
                    Some("put `think_time` on the batch step".into()),
                );
                ok = false;
                continue;
            }
            match self.step(item, &p) {
                Some(r) => requests.push(r),
                None => ok = false,
            }
        }
        let think_time = s
            .think_time
            .as_ref()
            .and_then(|t| self.think(t, &path.key("think_time")));
        let tags = s
            .tags
            .as_ref()
            .map(|t| self.step_tags(t, &path.key("tags")))
            .unwrap_or_default();
        if !ok {
            return None;
        }
        let name = s.name.clone().unwrap_or_else(|| {
            let mut n = format!(
                "batch: {}",
                requests
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if n.len() > MAX_DEFAULT_NAME {
                let mut end = MAX_DEFAULT_NAME;
                while !n.is_char_boundary(end) {
                    end -= 1;
                }
                n.truncate(end);
                n.push_str("...");
            }
            n
        });
        Some(StepPlan {
            name,
            method: Method::Get,
            path: Template::literal(""),
            query: Vec::new(),
            headers: Vec::new(),
            body: Body::None,
            timeout: None,
            checks: Vec::new(),
            extracts: Vec::new(),
            think_time,
            tags,
            page: None,
            auth: None,
            follow_redirects: None,
            records: Vec::new(),
            batch: Some(BatchPlan {
                no_auth: list
                    .iter()
                    .map(|r| matches!(r.auth, Some(super::raw::RawAuthOrNone::None(_))))
                    .collect(),
                requests,
            }),
            ws: None,
        })
    }
}
