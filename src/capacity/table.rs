//! The table `skein capacity fit` reads: one row per load level, measured elsewhere
//! (production monitoring, another tool).
//!
//! Comma-separated with a header row. Columns, in any order, names case-insensitive:
//!
//! | column | also named | meaning |
//! |---|---|---|
//! | `load` | `users`, `n`, `concurrency` | the load level: concurrent users (or requests in flight), > 0 |
//! | `throughput` | `rps`, `x` | completed requests per second at that load, >= 0 |
//! | `p95_ms` | `p95` | optional: 95th-percentile response time in milliseconds |
//! | `p95_us` | | optional: the same in microseconds |
//!
//! Blank lines and lines starting with `#` are skipped; a cell may be wrapped in double
//! quotes. Any other column is an error, so that a misspelt `p95` is not silently dropped.
//! Rows of the same load are one [`Level`] ([`levels`]); more than [`MAX_LEVELS`] levels
//! are taken in bands of neighbouring loads ([`bands`]).

/// One data row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Line in the file, from 1.
    pub line: usize,
    pub load: f64,
    pub throughput: f64,
    pub p95_us: Option<u64>,
}

/// The rows measured at one load level, taken together.
#[derive(Debug, Clone, PartialEq)]
pub struct Level {
    pub load: f64,
    /// The mean throughput of the level's rows.
    pub throughput: f64,
    /// The rows' p95, each weighted by its throughput (the plain mean when no row has
    /// any throughput): a request-weighted mean of percentiles, an approximation.
    pub p95_us: Option<u64>,
    /// How many rows the level has.
    pub rows: usize,
    /// The line of its first row.
    pub line: usize,
}

/// The rows by load level, in the order each level first appears; one pass, so a table
/// of a million rows takes no longer than the reading.
pub fn levels(rows: &[Row]) -> Vec<Level> {
    #[derive(Default)]
    struct Sum {
        throughput: f64,
        p95_weighted: f64,
        p95_plain: f64,
        p95_rows: usize,
        p95_weight: f64,
    }
    let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut out: Vec<(Level, Sum)> = Vec::new();
    for r in rows {
        let i = *index.entry(r.load.to_bits()).or_insert_with(|| {
            out.push((
                Level {
                    load: r.load,
                    throughput: 0.0,
                    p95_us: None,
                    rows: 0,
                    line: r.line,
                },
                Sum::default(),
            ));
            out.len() - 1
        });
        let (level, sum) = &mut out[i];
        level.rows += 1;
        sum.throughput += r.throughput;
        if let Some(p) = r.p95_us {
            sum.p95_rows += 1;
            sum.p95_plain += p as f64;
            sum.p95_weighted += p as f64 * r.throughput;
            sum.p95_weight += r.throughput;
        }
    }
    out.into_iter()
        .map(|(mut level, sum)| {
            level.throughput = sum.throughput / level.rows as f64;
            level.p95_us = (sum.p95_rows > 0).then(|| {
                let p = if sum.p95_weight > 0.0 {
                    sum.p95_weighted / sum.p95_weight
                } else {
                    sum.p95_plain / sum.p95_rows as f64
                };
                p.round() as u64
            });
            level
        })
        .collect()
}

/// The most steps a table is analysed as: a table with more load levels is taken in this
/// many bands of neighbouring loads ([`bands`]), so its reports stay readable and small.
pub const MAX_LEVELS: usize = 1_000;

/// `levels` (any order) in at most `max` bands of neighbouring loads, lowest first, each
/// with about as many levels: the rows' mean load and mean throughput, and the p95
/// weighted by throughput. Levels already at most `max` are returned as they are.
pub fn bands(mut levels: Vec<Level>, max: usize) -> Vec<Level> {
    if levels.len() <= max || max == 0 {
        return levels;
    }
    levels.sort_by(|a, b| a.load.total_cmp(&b.load));
    let n = levels.len();
    (0..max)
        .map(|k| {
            let group = &levels[k * n / max..(k + 1) * n / max];
            let rows: usize = group.iter().map(|l| l.rows).sum();
            let w = |l: &Level| l.rows as f64;
            let sum = |f: &dyn Fn(&Level) -> f64| group.iter().map(f).sum::<f64>();
            let throughput = sum(&|l| l.throughput * w(l));
            let with_p95: Vec<&Level> = group.iter().filter(|l| l.p95_us.is_some()).collect();
            let p95 = |l: &Level| l.p95_us.unwrap_or(0) as f64;
            let weight: f64 = with_p95.iter().map(|l| l.throughput * w(l)).sum();
            let p95_us = (!with_p95.is_empty()).then(|| {
                let v = if weight > 0.0 {
                    with_p95
                        .iter()
                        .map(|l| p95(l) * l.throughput * w(l))
                        .sum::<f64>()
                        / weight
                } else {
                    with_p95.iter().map(|l| p95(l) * w(l)).sum::<f64>()
                        / with_p95.iter().map(|l| w(l)).sum::<f64>()
                };
                v.round() as u64
            });
            Level {
                load: sum(&|l| l.load * w(l)) / rows as f64,
                throughput: throughput / rows as f64,
                p95_us,
                rows,
                line: group.iter().map(|l| l.line).min().unwrap_or(0),
            }
        })
        .collect()
}

/// What is wrong with the table, with the line (from 1) and column (from 1) where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    #[error("no header row: expected a first line such as `load,throughput,p95_ms`")]
    NoHeader,
    #[error(
        "{line}: column {column} is named {found:?}: expected one of load (users, n), \
         throughput (rps, x), p95_ms (p95) or p95_us"
    )]
    UnknownColumn {
        line: usize,
        column: usize,
        found: String,
    },
    #[error("{line}: column {column} ({name}) appears twice in the header")]
    DuplicateColumn {
        line: usize,
        column: usize,
        name: &'static str,
    },
    #[error(
        "{line}: the header has no `{name}` column: expected `load,throughput` and optionally `p95_ms`"
    )]
    MissingColumn { line: usize, name: &'static str },
    #[error("{line}: {found} cell(s): expected {expected}, one per header column")]
    Width {
        line: usize,
        found: usize,
        expected: usize,
    },
    #[error("{line}: column {column} ({name}) = {found:?}: expected {expected}")]
    Cell {
        line: usize,
        column: usize,
        name: &'static str,
        found: String,
        expected: &'static str,
    },
    #[error("{line}: no data rows under the header")]
    NoRows { line: usize },
}

impl TableError {
    /// The line the problem is on (the last line for a table without rows).
    pub fn line(&self) -> Option<usize> {
        match self {
            TableError::NoHeader => None,
            TableError::UnknownColumn { line, .. }
            | TableError::DuplicateColumn { line, .. }
            | TableError::MissingColumn { line, .. }
            | TableError::Width { line, .. }
            | TableError::Cell { line, .. }
            | TableError::NoRows { line } => Some(*line),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Col {
    Load,
    Throughput,
    P95Ms,
    P95Us,
}

impl Col {
    fn parse(name: &str) -> Option<Col> {
        match name.to_ascii_lowercase().as_str() {
            "load" | "users" | "n" | "concurrency" => Some(Col::Load),
            "throughput" | "rps" | "x" => Some(Col::Throughput),
            "p95_ms" | "p95" => Some(Col::P95Ms),
            "p95_us" => Some(Col::P95Us),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Col::Load => "load",
            Col::Throughput => "throughput",
            Col::P95Ms => "p95_ms",
            Col::P95Us => "p95_us",
        }
    }
}

/// Parse the table (see the module docs for its layout).
pub fn parse(text: &str) -> Result<Vec<Row>, TableError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (head_line, head) = lines.next().ok_or(TableError::NoHeader)?;
    let cols = header(head_line, head)?;
    let mut rows = Vec::new();
    for (line, l) in lines {
        let cells = split(l);
        if cells.len() != cols.len() {
            return Err(TableError::Width {
                line,
                found: cells.len(),
                expected: cols.len(),
            });
        }
        let mut row = Row {
            line,
            load: 0.0,
            throughput: 0.0,
            p95_us: None,
        };
        for (i, (col, cell)) in cols.iter().zip(&cells).enumerate() {
            let bad = |expected| TableError::Cell {
                line,
                column: i + 1,
                name: col.name(),
                found: cell.to_string(),
                expected,
            };
            let v: f64 = cell
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    bad(match col {
                        Col::Load => "a number above 0 (users)",
                        Col::Throughput => "a number of requests per second, 0 or more",
                        Col::P95Ms => "a response time in milliseconds, 0 or more",
                        Col::P95Us => "a response time in microseconds, 0 or more",
                    })
                })?;
            match col {
                Col::Load if v > 0.0 => row.load = v,
                Col::Load => return Err(bad("a number above 0 (users)")),
                Col::Throughput if v >= 0.0 => row.throughput = v,
                Col::Throughput => return Err(bad("a number of requests per second, 0 or more")),
                Col::P95Ms if v >= 0.0 => row.p95_us = Some((v * 1000.0).round() as u64),
                Col::P95Ms => return Err(bad("a response time in milliseconds, 0 or more")),
                Col::P95Us if v >= 0.0 => row.p95_us = Some(v.round() as u64),
                Col::P95Us => return Err(bad("a response time in microseconds, 0 or more")),
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(TableError::NoRows { line: head_line });
    }
    Ok(rows)
}

fn header(line: usize, head: &str) -> Result<Vec<Col>, TableError> {
    let mut cols: Vec<Col> = Vec::new();
    for (i, name) in split(head).iter().enumerate() {
        let col = Col::parse(name).ok_or_else(|| TableError::UnknownColumn {
            line,
            column: i + 1,
            found: name.to_string(),
        })?;
        let p95 = |c: &Col| matches!(c, Col::P95Ms | Col::P95Us);
        if cols.iter().any(|c| *c == col || (p95(c) && p95(&col))) {
            return Err(TableError::DuplicateColumn {
                line,
                column: i + 1,
                name: col.name(),
            });
        }
        cols.push(col);
    }
    for need in [Col::Load, Col::Throughput] {
        if !cols.contains(&need) {
            return Err(TableError::MissingColumn {
                line,
                name: need.name(),
            });
        }
    }
    Ok(cols)
}

/// Split on commas, trimming each cell and one pair of surrounding double quotes.
fn split(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|c| {
            let c = c.trim();
            c.strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .unwrap_or(c)
                .trim()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_comments_quotes_and_p95_in_ms() {
        let rows = parse(
            "\u{feff}# measured in production\nLoad, \"Throughput\", p95_ms\n\n1,955.16,12.5\n2, 1878.91 ,\"13\"\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            Row {
                line: 4,
                load: 1.0,
                throughput: 955.16,
                p95_us: Some(12_500)
            }
        );
        assert_eq!(rows[1].p95_us, Some(13_000));
    }

    #[test]
    fn columns_in_any_order_and_p95_in_microseconds() {
        let rows = parse("p95_us,rps,users\n800,100,4\n").unwrap();
        assert_eq!(
            (rows[0].load, rows[0].throughput, rows[0].p95_us),
            (4.0, 100.0, Some(800))
        );
        assert_eq!(parse("n,x\n3,30\n").unwrap()[0].p95_us, None);
    }

    #[test]
    fn bad_input_names_line_column_value_and_expectation() {
        let e = parse("load,throughput\n1,100\n2,abc\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "3: column 2 (throughput) = \"abc\": expected a number of requests per second, 0 or more"
        );
        assert_eq!(e.line(), Some(3));
        let e = parse("load,throughput\n0,100\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("column 1 (load) = \"0\": expected a number above 0")
        );
        let e = parse("load,thruput\n1,2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("1: column 2 is named \"thruput\""),
            "{e}"
        );
        assert!(matches!(
            parse("load\n1\n"),
            Err(TableError::MissingColumn {
                name: "throughput",
                ..
            })
        ));
        assert!(matches!(
            parse("load,throughput\n1,2,3\n"),
            Err(TableError::Width {
                line: 2,
                found: 3,
                ..
            })
        ));
        assert!(matches!(
            parse("load,p95,throughput,p95_us\n"),
            Err(TableError::DuplicateColumn { column: 4, .. })
        ));
        assert_eq!(
            parse("load,throughput\n"),
            Err(TableError::NoRows { line: 1 })
        );
        assert_eq!(parse("# nothing\n\n"), Err(TableError::NoHeader));
        assert!(parse("load,throughput\n1,inf\n").is_err());
        assert!(parse("load,throughput,p95\n1,2,-3\n").is_err());
    }

    /// Issue 13, D7: rows of the same load are one level, in the order first seen, with
    /// the mean throughput and the throughput-weighted p95.
    #[test]
    fn issue13_rows_of_one_load_are_one_level() {
        let rows =
            parse("load,throughput,p95_ms\n2,100,10\n1,50,5\n2,300,20\n2.0,200,15\n").unwrap();
        let l = levels(&rows);
        assert_eq!(l.len(), 2);
        assert_eq!((l[0].load, l[0].rows, l[0].line), (2.0, 3, 2));
        assert_eq!(l[0].throughput, 200.0);
        // (10*100 + 20*300 + 15*200) / 600 ms = 16.667 ms.
        assert_eq!(l[0].p95_us, Some(16_667));
        assert_eq!((l[1].load, l[1].rows, l[1].p95_us), (1.0, 1, Some(5_000)));
        // No throughput at all: the plain mean.
        let l = levels(&parse("n,x,p95_us\n1,0,100\n1,0,300\n").unwrap());
        assert_eq!(l[0].p95_us, Some(200));
        assert_eq!(levels(&parse("n,x\n1,3\n").unwrap())[0].p95_us, None);
    }

    /// Issue 13, D7: more levels than the reports can show are taken in bands of
    /// neighbouring loads, lowest first, every row counted once.
    #[test]
    fn issue13_too_many_levels_are_taken_in_bands() {
        let rows: Vec<Row> = (0..10)
            .rev()
            .map(|i| Row {
                line: 10 - i,
                load: 1.0 + i as f64,
                throughput: 100.0,
                p95_us: Some(1_000 * (1 + i as u64)),
            })
            .collect();
        let b = bands(levels(&rows), 3);
        assert_eq!(b.len(), 3);
        assert_eq!(b.iter().map(|l| l.rows).sum::<usize>(), 10);
        // Loads 1-3, 4-6, 7-10.
        assert_eq!((b[0].load, b[0].rows, b[0].p95_us), (2.0, 3, Some(2_000)));
        assert_eq!((b[2].load, b[2].rows, b[2].line), (8.5, 4, 1));
        assert_eq!(b[1].throughput, 100.0);
        assert_eq!(bands(levels(&rows), 10).len(), 10);
    }
}
