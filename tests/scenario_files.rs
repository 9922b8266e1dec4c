//! Scenario files: every example loads, every bad fixture fails where it says, and the
//! committed JSON Schema matches the one generated from the raw types.

use std::path::{Path, PathBuf};

use skein::scenario::{self, ScenarioError};

fn files_in(dir: &str, ext: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_scenario_loads() {
    let files = files_in("scenarios", "yaml");
    assert!(
        files.len() >= 3,
        "expected the example scenarios, found {files:?}"
    );
    for f in files {
        if let Err(e) = scenario::load(&f) {
            panic!("{}: {e}", f.display());
        }
    }
}

/// `# expect: LINE:COL substring` lines at the top of a fixture.
fn expectations(text: &str) -> Vec<(usize, usize, String)> {
    text.lines()
        .map_while(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let (pos, msg) = l.split_once(' ').expect("`# expect: LINE:COL message`");
            let (line, col) = pos.split_once(':').expect("LINE:COL");
            (
                line.parse().unwrap(),
                col.parse().unwrap(),
                msg.trim().to_string(),
            )
        })
        .collect()
}

#[test]
fn every_bad_fixture_fails_where_it_says() {
    let files = files_in("tests/fixtures/bad", "yaml");
    assert!(
        files.len() >= 12,
        "expected the bad fixtures, found {files:?}"
    );
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let want = expectations(&text);
        assert!(!want.is_empty(), "{}: no `# expect:` line", f.display());
        let diagnostics = match scenario::load(&f) {
            Err(ScenarioError::Invalid { diagnostics }) => diagnostics,
            Err(e) => panic!("{}: wrong error: {e}", f.display()),
            Ok(_) => panic!("{}: loaded, but should have failed", f.display()),
        };
        for (line, col, msg) in &want {
            let hit = diagnostics.iter().any(|d| {
                d.line == *line && d.column == *col && d.to_string().contains(msg.as_str())
            });
            assert!(
                hit,
                "{}: no diagnostic at {line}:{col} containing {msg:?}; got:\n{}",
                f.display(),
                diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert_eq!(
            diagnostics.len(),
            want.len(),
            "{}: unexpected extra diagnostics:\n{}",
            f.display(),
            diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn committed_schema_matches_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/scenario.schema.json");
    let generated = serde_json::to_string_pretty(&scenario::json_schema()).unwrap() + "\n";
    if std::env::var_os("SKEIN_UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date with the scenario types; regenerate it with\n  \
         SKEIN_UPDATE_SCHEMA=1 cargo test --test scenario_files",
        path.display()
    );
}
