//! Flow control and groups in a user's step lists (`steps`, `on_start`, `on_stop`):
//! `if` + `then` (+ `else`), `repeat` + `steps`, `while` + `max` + `steps`, `choose` (weighted
//! branches, one picked at random each time) and `group` + `steps` (a named block timed as a
//! whole). They nest.
//!
//! The plan keeps each list's *leaf* steps (the requests) flat, depth first in file order,
//! in [`ScenarioPlan::on_start`](super::ScenarioPlan), `steps` and `on_stop`, so everything
//! that lists steps (the cells, the reports, the data-flow check) keeps working; the
//! control structure is a tree of [`Block`]s beside it ([`Flow`]) whose leaves are indices
//! into those lists. A scenario without any control key has no `Flow` and runs its lists
//! in order, as before.
//!
//! Conditions are declarative, one test each: `{status: 200}` (the user's last response's
//! status, a list or a class as in `check.status`), or `{var: NAME, OP: VALUE}` with one of
//! `exists`, `equals`, `not_equals`, `contains`, `matches`, `gt`, `lt`.

use regex::Regex;

use super::check::CheckKind;
use super::compile::Compiler;
use super::node::KeyPath;
use super::plan::StepPlan;
use super::raw::{RawCondition, RawScenario, RawStep, Text};
use super::suggest;
use super::template::{Template, Vars};

/// The most times a `repeat` or `while` may run its steps in one pass: more is surely a
/// typo (and would hold a user in one iteration for hours).
pub const MAX_LOOP: u32 = 1_000_000;

/// The control structure of a scenario's three step lists, and its groups.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    pub on_start: Vec<Block>,
    pub steps: Vec<Block>,
    pub on_stop: Vec<Block>,
    /// The names of the scenario's groups, each once, in file order; [`Block::Group`]
    /// refers to one by its index here. Each has a GROUP cell.
    pub groups: Vec<String>,
}

impl Flow {
    /// The blocks of list `phase` (0 `on_start`, 1 `steps`, 2 `on_stop`).
    pub fn phase(&self, phase: usize) -> &[Block] {
        match phase {
            0 => &self.on_start,
            1 => &self.steps,
            _ => &self.on_stop,
        }
    }
}

/// One element of a step list.
#[derive(Debug, Clone)]
pub enum Block {
    /// Leaf step `k` of the list (`ScenarioPlan::steps[k]` for `steps`, and so on).
    Step(usize),
    /// `if`: `then` when the condition holds, else `otherwise`.
    If {
        cond: Condition,
        then: Vec<Block>,
        otherwise: Vec<Block>,
    },
    /// `repeat: N`: the body `times` times.
    Repeat { times: u32, body: Vec<Block> },
    /// `while`: the body again while the condition holds (tested before each pass), at
    /// most `max` passes.
    While {
        cond: Condition,
        max: u32,
        body: Vec<Block>,
    },
    /// `choose`: one branch, picked at random by weight.
    Choose { branches: Vec<Branch> },
    /// `group`: the body, timed as a whole into the cell of group `group` of
    /// [`Flow::groups`].
    Group { group: usize, body: Vec<Block> },
}

/// A branch of `choose`.
#[derive(Debug, Clone)]
pub struct Branch {
    /// Relative chance (>= 1).
    pub weight: u32,
    pub body: Vec<Block>,
}

/// Pick a branch for `draw`, a number drawn uniformly from `0..total weight`.
pub fn branch_for(branches: &[Branch], mut draw: u64) -> usize {
    for (i, b) in branches.iter().enumerate() {
        if draw < u64::from(b.weight) {
            return i;
        }
        draw -= u64::from(b.weight);
    }
    branches.len().saturating_sub(1)
}

/// The sum of the branches' weights.
pub fn total_weight(branches: &[Branch]) -> u64 {
    branches.iter().map(|b| u64::from(b.weight)).sum()
}

/// A condition of `if` or `while`.
#[derive(Debug, Clone)]
pub enum Condition {
    /// The user's last response's status is in one of these inclusive ranges.
    Status(Vec<(u16, u16)>),
    /// A test on the variable in slot `slot`.
    Var { slot: usize, op: VarOp },
}

/// A test on a variable's value.
#[derive(Debug, Clone)]
pub enum VarOp {
    Exists(bool),
    Equals(Template),
    NotEquals(Template),
    Contains(Template),
    Matches(Regex),
    Gt(f64),
    Lt(f64),
}

impl Condition {
    /// Does the condition hold, given the user's last status and variables? A variable
    /// without a value equals nothing (only `exists: false` and `not_equals` hold); a
    /// template that cannot be rendered (it reads a variable without a value) makes the
    /// test false.
    pub fn holds(&self, status: Option<u16>, vars: &Vars, rng: &mut dyn rand::RngCore) -> bool {
        let (slot, op) = match self {
            Condition::Status(ranges) => {
                return status.is_some_and(|s| ranges.iter().any(|(a, b)| (*a..=*b).contains(&s)));
            }
            Condition::Var { slot, op } => (*slot, op),
        };
        let value = vars.get(slot);
        let mut render = |t: &Template| t.render(vars, rng).ok();
        match (op, value) {
            (VarOp::Exists(want), v) => v.is_some() == *want,
            (VarOp::NotEquals(t), None) => render(t).is_some(),
            (_, None) => false,
            (VarOp::Equals(t), Some(v)) => render(t).is_some_and(|x| x == v),
            (VarOp::NotEquals(t), Some(v)) => render(t).is_some_and(|x| x != v),
            (VarOp::Contains(t), Some(v)) => render(t).is_some_and(|x| v.contains(&x)),
            (VarOp::Matches(re), Some(v)) => re.is_match(v),
            (VarOp::Gt(x), Some(v)) => v.trim().parse::<f64>().is_ok_and(|n| n > *x),
            (VarOp::Lt(x), Some(v)) => v.trim().parse::<f64>().is_ok_and(|n| n < *x),
        }
    }
}

/// The expected value of a per-iteration quantity over `blocks`, given each leaf's
/// (`leaf(k)`): branches of `choose` weighted by their chance, `repeat` multiplied.
/// `None` when it cannot be known in advance: an `if` or a `while` (how often they run
/// depends on responses), or a leaf whose own value is not known.
pub fn expected(blocks: &[Block], leaf: &mut dyn FnMut(usize) -> Option<f64>) -> Option<f64> {
    let mut sum = 0.0;
    for b in blocks {
        sum += match b {
            Block::Step(k) => leaf(*k)?,
            Block::If { .. } | Block::While { .. } => return None,
            Block::Repeat { times, body } => f64::from(*times) * expected(body, leaf)?,
            Block::Group { body, .. } => expected(body, leaf)?,
            Block::Choose { branches } => {
                let total = total_weight(branches).max(1) as f64;
                let mut e = 0.0;
                for br in branches {
                    e += br.weight as f64 / total * expected(&br.body, leaf)?;
                }
                e
            }
        };
    }
    Some(sum)
}

/// Which control key a raw step has, if any (the first of them, in [`CONTROL_KEYS`] order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Leaf,
    If,
    Repeat,
    While,
    Choose,
    Group,
}

/// The keys that make a step a flow-control block.
const CONTROL_KEYS: [&str; 5] = ["if", "repeat", "while", "choose", "group"];
const CONTROL_EXPECTED: &str = "one of if, repeat, while, choose, group in a step";

fn control_given(s: &RawStep) -> Vec<(&'static str, Kind)> {
    [
        ("if", s.if_.is_some(), Kind::If),
        ("repeat", s.repeat.is_some(), Kind::Repeat),
        ("while", s.while_.is_some(), Kind::While),
        ("choose", s.choose.is_some(), Kind::Choose),
        ("group", s.group.is_some(), Kind::Group),
    ]
    .into_iter()
    .filter_map(|(k, set, kind)| set.then_some((k, kind)))
    .collect()
}

pub(super) fn kind(s: &RawStep) -> Kind {
    control_given(s).first().map_or(Kind::Leaf, |(_, k)| *k)
}

/// The step lists nested in a raw step, with where each is written, in the order a user
/// meets them (`then` before `else`, branches in order).
pub(super) fn children<'a>(s: &'a RawStep, at: &KeyPath) -> Vec<(KeyPath, &'a [RawStep])> {
    match kind(s) {
        Kind::Leaf => Vec::new(),
        Kind::If => {
            let mut v = Vec::new();
            if let Some(t) = &s.then {
                v.push((at.key("then"), t.as_slice()));
            }
            if let Some(e) = &s.else_ {
                v.push((at.key("else"), e.as_slice()));
            }
            v
        }
        Kind::Repeat | Kind::While | Kind::Group => s
            .steps
            .as_deref()
            .map(|l| vec![(at.key("steps"), l)])
            .unwrap_or_default(),
        Kind::Choose => s
            .choose
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, b)| (at.key("choose").idx(i).key("steps"), b.steps.as_slice()))
            .collect(),
    }
}

/// The leaf steps (requests) of a list, depth first in file order, with where each is
/// written: the order of the plan's flat lists.
pub(super) fn leaves<'a>(list: &'a [RawStep], at: &KeyPath) -> Vec<(KeyPath, &'a RawStep)> {
    let mut out = Vec::new();
    push_leaves(list, at, &mut out);
    out
}

fn push_leaves<'a>(list: &'a [RawStep], at: &KeyPath, out: &mut Vec<(KeyPath, &'a RawStep)>) {
    for (i, s) in list.iter().enumerate() {
        let p = at.idx(i);
        if kind(s) == Kind::Leaf {
            out.push((p, s));
        } else {
            for (cp, l) in children(s, &p) {
                push_leaves(l, &cp, out);
            }
        }
    }
}

/// A scenario's three lists of leaf steps, by list name, with where each is written.
pub(super) fn leaf_lists<'a>(
    sc: &'a RawScenario,
    sc_at: &KeyPath,
) -> [(&'static str, Vec<(KeyPath, &'a RawStep)>); 3] {
    super::compile::step_lists(sc).map(|(name, list)| (name, leaves(list, &sc_at.key(name))))
}

/// Whether any step of the scenario is a flow-control block.
pub(super) fn has_control(sc: &RawScenario) -> bool {
    super::compile::step_lists(sc)
        .iter()
        .any(|(_, l)| l.iter().any(|s| kind(s) != Kind::Leaf))
}

/// The keys a control block of `kind` may have.
fn allowed(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::If => &["if", "then", "else"],
        Kind::Repeat => &["repeat", "steps"],
        Kind::While => &["while", "max", "steps"],
        Kind::Choose => &["choose"],
        Kind::Group => &["group", "steps"],
        Kind::Leaf => &[],
    }
}

impl Compiler<'_> {
    /// A scenario's three step lists: the flat leaf steps of each and, when any step is a
    /// flow-control block, the [`Flow`] beside them.
    pub(super) fn flow_steps(
        &mut self,
        sc: &RawScenario,
        at: &KeyPath,
    ) -> ([Vec<StepPlan>; 3], Option<Flow>) {
        let mut flow = Flow::default();
        let mut lists: [Vec<StepPlan>; 3] = Default::default();
        let mut blocks: [Vec<Block>; 3] = Default::default();
        let mut group_at: Vec<KeyPath> = Vec::new();
        for (p, (name, list)) in super::compile::step_lists(sc).into_iter().enumerate() {
            blocks[p] = self.blocks(
                list,
                &at.key(name),
                &mut lists[p],
                &mut flow.groups,
                &mut group_at,
            );
        }
        if !has_control(sc) {
            return (lists, None);
        }
        // A group's row is found by its name, as a step's is: they must differ.
        for (g, name) in flow.groups.iter().enumerate() {
            if lists.iter().flatten().any(|s| &s.name == name) {
                self.err(
                    &group_at[g],
                    format!("group {name:?}, named like a step of this scenario"),
                    "a group name no step of the scenario has",
                    Some("a group and a step would share a row: rename the group".into()),
                );
            }
        }
        let [on_start, steps, on_stop] = blocks;
        flow.on_start = on_start;
        flow.steps = steps;
        flow.on_stop = on_stop;
        (lists, Some(flow))
    }

    /// A list of steps at `path`: leaf steps go to `leaves` (depth first), blocks nest.
    fn blocks(
        &mut self,
        list: &[RawStep],
        path: &KeyPath,
        leaves: &mut Vec<StepPlan>,
        groups: &mut Vec<String>,
        group_at: &mut Vec<KeyPath>,
    ) -> Vec<Block> {
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let at = path.idx(i);
            if let Some(b) = self.block(s, &at, leaves, groups, group_at) {
                out.push(b);
            }
        }
        out
    }

    /// A non-empty nested list at `at` (reported when empty).
    fn nested(
        &mut self,
        list: &[RawStep],
        at: &KeyPath,
        leaves: &mut Vec<StepPlan>,
        groups: &mut Vec<String>,
        group_at: &mut Vec<KeyPath>,
    ) -> Vec<Block> {
        if list.is_empty() {
            self.bad(at, "at least one step", None);
        }
        self.blocks(list, at, leaves, groups, group_at)
    }

    fn block(
        &mut self,
        s: &RawStep,
        at: &KeyPath,
        leaves: &mut Vec<StepPlan>,
        groups: &mut Vec<String>,
        group_at: &mut Vec<KeyPath>,
    ) -> Option<Block> {
        let given = control_given(s);
        let kind = match given.as_slice() {
            [] => return self.leaf(s, at, leaves),
            [(_, k)] => *k,
            [(a, _), (b, _), ..] => {
                self.err(
                    &at.key(b),
                    format!("both `{a}` and `{b}`"),
                    CONTROL_EXPECTED,
                    Some(format!(
                        "nest one inside the other: `{a}`'s steps may hold a `{b}`"
                    )),
                );
                return None;
            }
        };
        let key = CONTROL_KEYS[kind as usize - 1];
        // Any key besides the block's own (a request, a check...) is a mistake: a block
        // holds no request of its own.
        let json = serde_json::to_value(s).unwrap_or_default();
        for k in json.as_object().into_iter().flat_map(|o| o.keys()) {
            if !allowed(kind).contains(&k.as_str()) {
                let inner = match kind {
                    Kind::If => "`then`",
                    Kind::Choose => "a branch's `steps`",
                    _ => "its `steps`",
                };
                let a = article(key);
                let hint = match (k.as_str(), kind) {
                    ("steps", Kind::If) => {
                        "an `if` runs `then:` (and `else:`), not `steps:`".to_string()
                    }
                    ("steps", Kind::Choose) => {
                        "each branch of `choose` has its own `steps:`".to_string()
                    }
                    ("then" | "else", _) => format!("`{k}` belongs to an `if` step"),
                    ("max", _) => "`max` belongs to a `while` step".to_string(),
                    _ => format!(
                        "{a} `{key}` step sends no request itself: put `{k}` on a step inside {inner}"
                    ),
                };
                self.err(
                    &at.key(k),
                    format!("`{k}` in {a} `{key}` step"),
                    format!("only {} in {a} `{key}` step", list_keys(allowed(kind))),
                    Some(hint),
                );
            }
        }
        let missing = |c: &mut Self, what: &str, expected: &str, hint: Option<String>| {
            c.err(
                &at.key(key),
                format!("`{key}` without `{what}`"),
                expected,
                hint,
            );
        };
        match kind {
            Kind::Leaf => None,
            Kind::If => {
                let cond = self.condition(s.if_.as_ref()?, &at.key("if"));
                let Some(then) = &s.then else {
                    missing(
                        self,
                        "then",
                        "`then:` with the steps to run when the condition holds",
                        Some("and optionally `else:` with those to run otherwise".into()),
                    );
                    return None;
                };
                let then = self.nested(then, &at.key("then"), leaves, groups, group_at);
                let otherwise = match &s.else_ {
                    Some(e) => self.blocks(e, &at.key("else"), leaves, groups, group_at),
                    None => Vec::new(),
                };
                Some(Block::If {
                    cond: cond?,
                    then,
                    otherwise,
                })
            }
            Kind::Repeat => {
                let times = s.repeat?;
                if times == 0 || times > MAX_LOOP {
                    self.bad(
                        &at.key("repeat"),
                        format!("a number of times from 1 to {MAX_LOOP}"),
                        None,
                    );
                }
                let Some(steps) = &s.steps else {
                    missing(self, "steps", "`steps:` with the steps to repeat", None);
                    return None;
                };
                let body = self.nested(steps, &at.key("steps"), leaves, groups, group_at);
                Some(Block::Repeat { times, body })
            }
            Kind::While => {
                let cond = self.condition(s.while_.as_ref()?, &at.key("while"));
                let max = match s.max {
                    None => {
                        missing(
                            self,
                            "max",
                            "`max: N`, the most passes, so that the loop always ends",
                            Some("e.g. `max: 10`".into()),
                        );
                        None
                    }
                    Some(m) if m == 0 || m > MAX_LOOP => {
                        self.bad(
                            &at.key("max"),
                            format!("a number of passes from 1 to {MAX_LOOP}"),
                            None,
                        );
                        None
                    }
                    Some(m) => Some(m),
                };
                let Some(steps) = &s.steps else {
                    missing(self, "steps", "`steps:` with the steps to loop over", None);
                    return None;
                };
                let body = self.nested(steps, &at.key("steps"), leaves, groups, group_at);
                Some(Block::While {
                    cond: cond?,
                    max: max?,
                    body,
                })
            }
            Kind::Choose => {
                let list = s.choose.as_deref().unwrap_or_default();
                if list.is_empty() {
                    self.bad(
                        &at.key("choose"),
                        "at least one branch, e.g. `- {weight: 3, steps: [...]}`",
                        None,
                    );
                }
                let mut branches = Vec::with_capacity(list.len());
                for (i, b) in list.iter().enumerate() {
                    let bp = at.key("choose").idx(i);
                    let weight = b.weight.unwrap_or(1);
                    if weight == 0 {
                        self.bad(
                            &bp.key("weight"),
                            "a weight of 1 or more",
                            Some("drop the branch to never run it".into()),
                        );
                    }
                    let body = self.blocks(&b.steps, &bp.key("steps"), leaves, groups, group_at);
                    branches.push(Branch { weight, body });
                }
                Some(Block::Choose { branches })
            }
            Kind::Group => {
                let name = s.group.as_deref().unwrap_or_default();
                if name.trim().is_empty() {
                    self.bad(&at.key("group"), "a group name, e.g. checkout", None);
                }
                let Some(steps) = &s.steps else {
                    missing(self, "steps", "`steps:` with the steps of the group", None);
                    return None;
                };
                let group = match groups.iter().position(|g| g == name) {
                    Some(g) => g,
                    None => {
                        groups.push(name.to_string());
                        group_at.push(at.key("group"));
                        groups.len() - 1
                    }
                };
                let body = self.nested(steps, &at.key("steps"), leaves, groups, group_at);
                Some(Block::Group { group, body })
            }
        }
    }

    /// A leaf step: a request. Keys that belong to a block are reported.
    fn leaf(&mut self, s: &RawStep, at: &KeyPath, leaves: &mut Vec<StepPlan>) -> Option<Block> {
        let stray = [
            ("then", s.then.is_some(), "if"),
            ("else", s.else_.is_some(), "if"),
            ("max", s.max.is_some(), "while"),
            ("steps", s.steps.is_some(), "repeat`, `while` or `group"),
        ];
        for (k, set, owner) in stray {
            if set {
                self.err(
                    &at.key(k),
                    format!("`{k}` without `{owner}`"),
                    format!("`{k}` only in {} `{owner}` step", article(owner)),
                    Some(match k {
                        "then" | "else" => "e.g. `- if: {status: 200}` with `then: [...]`".into(),
                        "max" => {
                            "e.g. `- while: {status: 202}` with `max: 10` and `steps: [...]`".into()
                        }
                        _ => {
                            "e.g. `- repeat: 3` or `- group: checkout` above `steps: [...]`".into()
                        }
                    }),
                );
            }
        }
        let step = self.step(s, at)?;
        leaves.push(step);
        Some(Block::Step(leaves.len() - 1))
    }

    /// The condition of an `if` or a `while` at `path`.
    fn condition(&mut self, c: &RawCondition, path: &KeyPath) -> Option<Condition> {
        const EXPECTED: &str = "`{status: CODE}`, or `{var: NAME}` with one of exists, equals, not_equals, contains, matches, gt, lt";
        let ops = [
            ("exists", c.exists.is_some()),
            ("equals", c.equals.is_some()),
            ("not_equals", c.not_equals.is_some()),
            ("contains", c.contains.is_some()),
            ("matches", c.matches.is_some()),
            ("gt", c.gt.is_some()),
            ("lt", c.lt.is_some()),
        ];
        match (&c.status, &c.var) {
            (Some(_), Some(_)) => {
                self.err(
                    &path.key("var"),
                    "both `status` and `var`",
                    "one test per condition",
                    Some("nest two `if` steps to test both".into()),
                );
                None
            }
            (None, None) => {
                self.err(
                    path,
                    "a condition without `status` or `var`",
                    EXPECTED,
                    Some("e.g. `if: {status: 200}` or `if: {var: cart_id, exists: true}`".into()),
                );
                None
            }
            (Some(s), None) => {
                if let Some((k, _)) = ops.iter().find(|(_, set)| *set) {
                    self.err(
                        &path.key(k),
                        format!("`{k}` with `status`"),
                        "`status:` alone: a code, a list or a class such as 2xx",
                        Some(format!(
                            "`{k}` tests a variable: write `{{var: NAME, {k}: ...}}`"
                        )),
                    );
                    return None;
                }
                let check = self.status(s, &path.key("status"))?;
                match check.kind {
                    CheckKind::Status(ranges) => Some(Condition::Status(ranges)),
                    _ => None,
                }
            }
            (None, Some(name)) => {
                let slot = match self.slots.position(name) {
                    Some(slot) if name.contains('.') => {
                        // A feeder field: read through a template, so that the scenario
                        // takes the feeder's rows (and the feeder counts as used).
                        let _ = self.template(&path.key("var"), &format!("${{{name}}}"));
                        Some(slot)
                    }
                    Some(slot) => Some(slot),
                    None => {
                        let names: Vec<&str> = self.slots.iter().map(String::as_str).collect();
                        let hint = suggest::closest(name, &names)
                            .map(|s| format!("did you mean {s:?}?"))
                            .or_else(|| {
                                Some(format!(
                                    "declare `{name}` under `variables:` or set it with an `extract`"
                                ))
                            });
                        self.bad(
                            &path.key("var"),
                            "a variable declared under `variables:`, set by an `extract`, or a feeder field (`feeder.field`)",
                            hint,
                        );
                        None
                    }
                };
                if !self.exactly_one(
                    &ops,
                    path,
                    "with `var`, exactly one of exists, equals, not_equals, contains, matches, gt, lt",
                ) {
                    return None;
                }
                let text =
                    |c: &mut Self, k: &str, t: &Text| c.check_template(&path.key(k), &t.0, false);
                let op = if let Some(e) = c.exists {
                    VarOp::Exists(e)
                } else if let Some(t) = &c.equals {
                    VarOp::Equals(text(self, "equals", t)?)
                } else if let Some(t) = &c.not_equals {
                    VarOp::NotEquals(text(self, "not_equals", t)?)
                } else if let Some(t) = &c.contains {
                    VarOp::Contains(text(self, "contains", t)?)
                } else if let Some(re) = &c.matches {
                    VarOp::Matches(self.regex(re, &path.key("matches"))?)
                } else if let Some(x) = c.gt {
                    VarOp::Gt(x)
                } else {
                    VarOp::Lt(c.lt?)
                };
                Some(Condition::Var { slot: slot?, op })
            }
        }
    }
}

/// `a` or `an` before a key.
fn article(key: &str) -> &'static str {
    if key.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn list_keys(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(body: &str) -> Result<super::super::Plan, Vec<String>> {
        let text = format!(
            "target: embedded:phase9\nscenarios:\n  - name: s\n{body}load: {{users: 1, duration: 1s}}\n"
        );
        match super::super::parse_str(&text, std::path::Path::new("t.yaml")) {
            Ok(p) => Ok(p),
            Err(super::super::ScenarioError::Invalid { diagnostics }) => {
                Err(diagnostics.iter().map(|d| d.to_string()).collect())
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn warnings(p: &super::super::Plan) -> Vec<String> {
        p.warnings.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn leaf_steps_stay_flat_depth_first_beside_the_blocks() {
        let p = load(
            "    steps:
      - get: /a
      - if: {status: 200}
        then: [{get: /b}]
        else: [{get: /c}]
      - group: g
        steps:
          - repeat: 2
            steps: [{get: /d}]
          - choose:
              - {weight: 3, steps: [{get: /e}]}
              - {steps: []}
      - while: {status: 404}
        max: 3
        steps: [{get: /f}]
",
        )
        .unwrap();
        let sc = &p.scenarios[0];
        let names: Vec<&str> = sc.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["GET /a", "GET /b", "GET /c", "GET /d", "GET /e", "GET /f"]
        );
        let flow = sc.flow.as_ref().unwrap();
        assert_eq!(flow.groups, ["g"]);
        assert_eq!(flow.steps.len(), 4);
        assert!(matches!(flow.steps[0], Block::Step(0)));
        let Block::Group { group: 0, body } = &flow.steps[2] else {
            panic!("{:?}", flow.steps[2]);
        };
        assert!(
            matches!(&body[0], Block::Repeat { times: 2, body } if matches!(body[..], [Block::Step(3)]))
        );
        let Block::Choose { branches } = &body[1] else {
            panic!("{:?}", body[1]);
        };
        assert_eq!((branches[0].weight, branches[1].weight), (3, 1));
        assert!(matches!(flow.steps[3], Block::While { max: 3, .. }));
        // Without a control key, no flow: the lists run in order as before.
        let plain = load("    steps: [{get: /a}]\n").unwrap();
        assert!(plain.scenarios[0].flow.is_none());
    }

    #[test]
    fn a_variable_set_in_one_branch_is_a_warning_after_it_and_fine_under_a_guard() {
        let p = load(
            "    steps:
      - get: /a
      - if: {status: 200}
        then:
          - get: /b
            extract: {cart: {json: $.id}}
      - get: /cart/${cart}
      - if: {var: cart, exists: true}
        then: [{get: \"/again/${cart}\"}]
",
        )
        .unwrap();
        let w = warnings(&p);
        assert_eq!(w.len(), 1, "{w:#?}");
        assert!(
            w[0].contains("t.yaml:10:20: `scenarios[0].steps[2].get`: found `${cart}`, which may have no value"),
            "{}",
            w[0]
        );
        // Set on every way (both branches, every branch of a choose, a repeat): sure.
        let p = load(
            "    steps:
      - get: /a
      - if: {status: 200}
        then: [{get: /b, extract: {x: {json: $.id}}}]
        else: [{get: /c, extract: {x: {json: $.id}}}]
      - choose:
          - steps: [{get: /d, extract: {y: {json: $.id}}}]
          - steps: [{get: /e, extract: {y: {json: $.id}}}]
      - repeat: 2
        steps: [{get: /f, extract: {z: {json: $.id}}}]
      - get: /use/${x}/${y}/${z}
",
        )
        .unwrap();
        assert!(warnings(&p).is_empty(), "{:#?}", warnings(&p));
        // In a `while` (which may not run): a warning after it.
        let p = load(
            "    steps:
      - get: /a
      - while: {status: 404}
        max: 2
        steps: [{get: /b, extract: {w: {json: $.id}}}]
      - get: /use/${w}
",
        )
        .unwrap();
        assert_eq!(warnings(&p).len(), 1, "{:#?}", warnings(&p));
        // Set nowhere before, on any way: still an error.
        let e = load(
            "    steps:
      - if: {status: 200}
        then: [{get: \"/use/${v}\"}]
      - get: /b
        extract: {v: {json: $.id}}
",
        )
        .unwrap_err();
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(
            e[0].contains(
                "`scenarios[0].steps[0].then[0].get`: found `${v}`, which has no value yet"
            ),
            "{}",
            e[0]
        );
        assert!(
            e[0].contains("`scenarios[0].steps[1].extract.v` (line"),
            "{}",
            e[0]
        );
    }

    fn branches(w: &[u32]) -> Vec<Branch> {
        w.iter()
            .map(|&weight| Branch {
                weight,
                body: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn branches_are_picked_by_weight() {
        let b = branches(&[3, 1]);
        assert_eq!(total_weight(&b), 4);
        let picks: Vec<usize> = (0..4).map(|d| branch_for(&b, d)).collect();
        assert_eq!(picks, [0, 0, 0, 1]);
    }

    #[test]
    fn expected_values_weigh_branches_and_multiply_repeats() {
        let blocks = vec![
            Block::Step(0),
            Block::Repeat {
                times: 3,
                body: vec![Block::Step(1)],
            },
            Block::Choose {
                branches: vec![
                    Branch {
                        weight: 3,
                        body: vec![Block::Step(2)],
                    },
                    Branch {
                        weight: 1,
                        body: vec![],
                    },
                ],
            },
        ];
        let e = expected(&blocks, &mut |k| Some([1.0, 10.0, 100.0][k])).unwrap();
        assert!((e - (1.0 + 30.0 + 75.0)).abs() < 1e-9, "{e}");
        let with_if = vec![Block::If {
            cond: Condition::Status(vec![(200, 200)]),
            then: vec![Block::Step(0)],
            otherwise: vec![],
        }];
        assert!(expected(&with_if, &mut |_| Some(1.0)).is_none());
    }
}
