//! The cells a page step records into: the page view itself, `NAME (document)` (the
//! document's request, with the step's checks) and `NAME (assets)` (one sample per asset
//! request), laid out together when the run starts and found again by cell id.

use crate::engine::RunCtx;
use crate::metrics::{CellInfo, PAGE_METHOD, store};
use crate::scenario::StepPlan;

/// The cells of a page step besides its page-load cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::engine) struct PageCells {
    pub document: usize,
    pub assets: usize,
}

fn document_name(step: &str) -> String {
    format!("{step} (document)")
}

fn assets_name(step: &str) -> String {
    format!("{step} (assets)")
}

/// The cell named `name` in `scenario`, or a new one.
pub(in crate::engine) fn cell_for(
    cells: &mut Vec<CellInfo>,
    scenario: &str,
    name: String,
    method: &str,
    checks: Vec<String>,
    tags: &[String],
) -> usize {
    if let Some(c) = cells
        .iter_mut()
        .find(|c| c.scenario == scenario && c.step == name)
    {
        for t in tags {
            if !c.tags.contains(t) {
                c.tags.push(t.clone());
            }
        }
        return c.id;
    }
    let id = cells.len();
    let mut tag = store::sanitize(&format!("{scenario}/{name}"));
    if cells.iter().any(|c| c.tag == tag) {
        tag = format!("{tag}.{id}");
    }
    cells.push(CellInfo {
        id,
        scenario: scenario.to_string(),
        step: name,
        method: method.to_string(),
        tag,
        checks,
        tags: tags.to_vec(),
    });
    id
}

/// Lay out a page step's cells (page, document, assets, in that order); returns the page
/// cell's id. Steps of the same name in one scenario share them.
pub(in crate::engine) fn add_cells(
    cells: &mut Vec<CellInfo>,
    scenario: &str,
    step: &StepPlan,
) -> usize {
    let page = cell_for(
        cells,
        scenario,
        step.name.clone(),
        PAGE_METHOD,
        Vec::new(),
        &step.tags,
    );
    let mut checks: Vec<String> = step.checks.iter().map(|c| c.label.clone()).collect();
    checks.extend(step.extracts.iter().map(|x| format!("extract {}", x.name)));
    let method = step.method.as_str();
    cell_for(
        cells,
        scenario,
        document_name(&step.name),
        method,
        checks,
        &[],
    );
    cell_for(
        cells,
        scenario,
        assets_name(&step.name),
        method,
        Vec::new(),
        &[],
    );
    page
}

/// The document and assets cells of every page cell, by cell id.
pub(in crate::engine) fn sub_cells(cells: &[CellInfo]) -> Vec<Option<PageCells>> {
    cell_pairs(cells, CellInfo::is_page, |step| {
        [document_name(step), assets_name(step)]
    })
    .into_iter()
    .map(|p| p.map(|[document, assets]| PageCells { document, assets }))
    .collect()
}

/// For every cell that `is_parent` (a page, a WebSocket session), by cell id: the ids of
/// the two cells of its scenario that `names` gives for its step's name (`None` for other
/// cells, or when one is missing).
pub(in crate::engine) fn cell_pairs(
    cells: &[CellInfo],
    is_parent: impl Fn(&CellInfo) -> bool,
    names: impl Fn(&str) -> [String; 2],
) -> Vec<Option<[usize; 2]>> {
    let find = |scenario: &str, name: &str| {
        cells
            .iter()
            .find(|c| c.scenario == scenario && c.step == name)
            .map(|c| c.id)
    };
    cells
        .iter()
        .map(|c| {
            if !is_parent(c) {
                return None;
            }
            let [a, b] = names(&c.step);
            Some([find(&c.scenario, &a)?, find(&c.scenario, &b)?])
        })
        .collect()
}

/// The cell a step's request counts in: a page step's document cell (a page view is not a
/// request), else `cell` itself.
pub(in crate::engine) fn request_cell(ctx: &RunCtx, cell: usize) -> usize {
    ctx.page_cells
        .get(cell)
        .copied()
        .flatten()
        .map_or(cell, |p| p.document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_cells_are_laid_out_together_and_found_again() {
        let plan = crate::scenario::parse_str(
            "target: http://h\nscenarios:\n  - name: s\n    steps:\n      - get: /a\n      - name: home\n        page: /\n        tags: [page]\n        check: {status: 200}\n        assets: auto\n      - page: /\nload: {users: 1, duration: 1s}\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let mut cells = Vec::new();
        let steps = &plan.scenarios[0].steps;
        let home = add_cells(&mut cells, "s", &steps[1]);
        let again = add_cells(&mut cells, "s", &steps[1]);
        let other = add_cells(&mut cells, "s", &steps[2]);
        assert_eq!((home, again, other), (0, 0, 3));
        let names: Vec<&str> = cells.iter().map(|c| c.step.as_str()).collect();
        assert_eq!(
            names,
            [
                "home",
                "home (document)",
                "home (assets)",
                "page /",
                "page / (document)",
                "page / (assets)"
            ]
        );
        assert!(cells[0].is_page() && !cells[1].is_page());
        assert_eq!(cells[0].tags, ["page"]);
        assert!(cells[1].tags.is_empty());
        assert_eq!(cells[1].checks, ["status 200"]);
        let sub = sub_cells(&cells);
        assert_eq!(
            sub[0],
            Some(PageCells {
                document: 1,
                assets: 2
            })
        );
        assert_eq!(
            sub[3],
            Some(PageCells {
                document: 4,
                assets: 5
            })
        );
        assert_eq!(sub[1], None);
    }
}
