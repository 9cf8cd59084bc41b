//! The tidy test: the architecture's rules that a machine can check, in the spirit of
//! rust-analyzer's `tidy.rs`. Each test reads the sources as text; none builds or runs
//! anything.
//!
//! - No import cycle between the top-level modules of `src/`, and none between the
//!   files of any one folder (a file names a sibling as `super::sibling` or
//!   `crate::folder::sibling`). Test code does not count: files named `tests.rs` or
//!   under a `tests/` folder, and everything from a file's first `#[cfg(test)]` on.
//! - `src/domain/` depends on nothing else in the crate.
//! - Nothing outside `src/store/` names rusqlite or writes SQL.
//! - No source file is longer than [`MAX_LINES`] lines of non-test code.
//! - Every source file opens with a `//!` paragraph saying what it owns.
//! - Only `main.rs` ends the process, and only `secret.rs` reads the environment.
//! - ARCHITECTURE.md names every top-level module of `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of non-test code a source file may have.
const MAX_LINES: usize = 600;

/// One source file of `src/`.
struct Source {
    /// Relative to `src/`, for messages.
    path: PathBuf,
    /// The module path: `["store", "runs"]` for `src/store/runs.rs` and
    /// `["store"]` for `src/store/mod.rs`.
    module: Vec<String>,
    /// The text up to the first `#[cfg(test)]`.
    code: String,
    /// The whole text.
    text: String,
    /// Whether the file is test code as a whole (`tests.rs`, under `tests/`).
    is_test: bool,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn sources() -> Vec<Source> {
    let root = src_dir();
    let mut out = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("below src").to_path_buf();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().map(String::as_str) == Some("mod") {
                module.pop();
            }
            let is_test = relative.file_name().and_then(|n| n.to_str()) == Some("tests.rs")
                || module[..module.len().saturating_sub(1)]
                    .iter()
                    .any(|part| part == "tests");
            let code = match text.find("#[cfg(test)]") {
                Some(at) => text[..at].to_string(),
                None => text.clone(),
            };
            out.push(Source {
                path: relative,
                module,
                code,
                text,
                is_test,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Every path the code names below `crate::`, as its first two segments, with `use`
/// groups (`crate::{a, b::{c, d}}`) expanded.
fn crate_paths(code: &str) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let start = from + found;
        from = start + "crate::".len();
        // `$crate::` and `my_crate::` are other things.
        if start > 0 && is_ident_byte(bytes[start - 1]) {
            continue;
        }
        let (paths, _) = parse_tree(code, from, Vec::new());
        out.extend(paths);
    }
    out
}

/// Parses a use tree at `at`, under `prefix`; returns the paths (first two segments)
/// and where it ended.
fn parse_tree(code: &str, mut at: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let skip_space = |mut at: usize| {
        while at < bytes.len() && bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    at = skip_space(at);
    if at < bytes.len() && bytes[at] == b'{' {
        let mut out = Vec::new();
        at += 1;
        loop {
            at = skip_space(at);
            if at >= bytes.len() {
                return (out, at);
            }
            if bytes[at] == b'}' {
                return (out, at + 1);
            }
            if bytes[at] == b',' {
                at += 1;
                continue;
            }
            let (paths, end) = parse_tree(code, at, prefix.clone());
            out.extend(paths);
            if end == at {
                // Not a path (a comment, `*`): step over it.
                at += 1;
            } else {
                at = end;
            }
        }
    }
    let begin = at;
    while at < bytes.len() && is_ident_byte(bytes[at]) {
        at += 1;
    }
    if at == begin {
        return (leaf(prefix), at);
    }
    let mut path = prefix;
    path.push(code[begin..at].to_string());
    if code[at..].starts_with("::") {
        parse_tree(code, at + 2, path)
    } else {
        (leaf(path), at)
    }
}

fn leaf(path: Vec<String>) -> Vec<Vec<String>> {
    if path.is_empty() || path[0] == "self" {
        return Vec::new();
    }
    vec![path.into_iter().take(2).collect()]
}

fn is_ident_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$'
}

/// The names `super::name` refers to.
fn super_names(code: &str) -> BTreeSet<String> {
    let bytes = code.as_bytes();
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("super::") {
        let start = from + found;
        from = start + "super::".len();
        if start > 0 && is_ident_byte(bytes[start - 1]) {
            continue;
        }
        let end = code[from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(code.len(), |n| from + n);
        if end > from {
            out.insert(code[from..end].to_string());
        }
    }
    out
}

/// The strongly connected components of more than one node (Tarjan).
fn cycles<N: Ord + Clone>(edges: &BTreeMap<N, BTreeSet<N>>) -> Vec<Vec<N>> {
    struct Walk<'a, N: Ord + Clone> {
        edges: &'a BTreeMap<N, BTreeSet<N>>,
        index: BTreeMap<N, usize>,
        low: BTreeMap<N, usize>,
        stack: Vec<N>,
        on_stack: BTreeSet<N>,
        next: usize,
        found: Vec<Vec<N>>,
    }
    impl<N: Ord + Clone> Walk<'_, N> {
        fn visit(&mut self, node: &N) {
            self.index.insert(node.clone(), self.next);
            self.low.insert(node.clone(), self.next);
            self.next += 1;
            self.stack.push(node.clone());
            self.on_stack.insert(node.clone());
            let targets: Vec<N> = self
                .edges
                .get(node)
                .map(|t| t.iter().cloned().collect())
                .unwrap_or_default();
            for target in targets {
                if !self.index.contains_key(&target) {
                    self.visit(&target);
                    let low = self.low[node].min(self.low[&target]);
                    self.low.insert(node.clone(), low);
                } else if self.on_stack.contains(&target) {
                    let low = self.low[node].min(self.index[&target]);
                    self.low.insert(node.clone(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                loop {
                    let member = self.stack.pop().expect("the node is on the stack");
                    self.on_stack.remove(&member);
                    let done = &member == node;
                    component.push(member);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    let nodes: BTreeSet<N> = edges
        .iter()
        .flat_map(|(from, to)| std::iter::once(from.clone()).chain(to.iter().cloned()))
        .collect();
    for node in &nodes {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

fn code_files() -> Vec<Source> {
    sources()
        .into_iter()
        .filter(|s| !s.is_test && !s.module.is_empty())
        .filter(|s| !matches!(s.module.as_slice(), [only] if only == "lib" || only == "main"))
        .collect()
}

#[test]
fn no_cycle_between_top_level_modules() {
    let files = code_files();
    let tops: BTreeSet<String> = files.iter().map(|s| s.module[0].clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for source in &files {
        let me = &source.module[0];
        for path in crate_paths(&source.code) {
            if &path[0] != me && tops.contains(&path[0]) {
                edges.entry(me.clone()).or_default().insert(path[0].clone());
            }
        }
    }
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "top-level modules that depend on each other in a cycle: {found:?}"
    );
}

#[test]
fn no_cycle_between_the_files_of_a_folder() {
    let files = code_files();
    let mut folders: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for source in files.iter().filter(|s| s.module.len() >= 2) {
        let (name, folder) = source.module.split_last().expect("two parts");
        folders
            .entry(folder.to_vec())
            .or_default()
            .insert(name.clone());
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for source in files.iter().filter(|s| s.module.len() >= 2) {
        let (me, folder) = source.module.split_last().expect("two parts");
        let siblings = &folders[folder];
        let mut named: BTreeSet<String> = super_names(&source.code);
        if folder.len() == 1 {
            named.extend(
                crate_paths(&source.code)
                    .into_iter()
                    .filter(|path| path.len() == 2 && path[0] == folder[0])
                    .map(|path| path[1].clone()),
            );
        }
        for name in named {
            if &name != me && siblings.contains(&name) {
                let mut from = folder.to_vec();
                from.push(me.clone());
                let mut to = folder.to_vec();
                to.push(name);
                edges.entry(from).or_default().insert(to);
            }
        }
    }
    let found: Vec<String> = cycles(&edges)
        .into_iter()
        .map(|component| {
            component
                .iter()
                .map(|module| module.join("/"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        found.is_empty(),
        "files of one folder that depend on each other in a cycle: {found:#?}"
    );
}

#[test]
fn the_domain_module_depends_on_nothing_else_in_the_crate() {
    let leaks: Vec<String> = code_files()
        .iter()
        .filter(|s| s.module[0] == "domain")
        .flat_map(|s| {
            crate_paths(&s.code)
                .into_iter()
                .filter(|path| path[0] != "domain")
                .map(move |path| format!("{}: crate::{}", s.path.display(), path.join("::")))
        })
        .collect();
    assert!(
        sources()
            .iter()
            .any(|s| s.module.first().map(String::as_str) == Some("domain")),
        "src/domain/ is missing"
    );
    assert!(leaks.is_empty(), "src/domain/ depends on: {leaks:#?}");
}

#[test]
fn nothing_outside_the_store_names_rusqlite_or_writes_sql() {
    const SQL: [&str; 6] = [
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "CREATE TABLE",
        "BEGIN IMMEDIATE",
    ];
    let mut found = Vec::new();
    for source in sources()
        .iter()
        .filter(|s| s.module.first().map(String::as_str) != Some("store"))
    {
        if source.text.contains("rusqlite") {
            found.push(format!("{}: names rusqlite", source.path.display()));
        }
        for (number, line) in source.code.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                continue;
            }
            if let Some(keyword) = SQL.iter().find(|k| {
                line.contains(&format!("\"{k}"))
                    || line.contains(&format!("\"{}", k.to_lowercase()))
            }) {
                found.push(format!(
                    "{}:{}: SQL ({keyword:?})",
                    source.path.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(found.is_empty(), "outside src/store: {found:#?}");
}

#[test]
fn no_source_file_is_longer_than_the_limit() {
    let long: Vec<String> = code_files()
        .iter()
        .map(|s| (s.code.matches('\n').count() + 1, &s.path))
        .filter(|(lines, _)| *lines > MAX_LINES)
        .map(|(lines, path)| format!("{}: {lines} lines", path.display()))
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines of non-test code (split them): {long:#?}"
    );
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let undocumented: Vec<String> = sources()
        .iter()
        .filter(|s| !s.text.trim_start().starts_with("//!"))
        .map(|s| s.path.display().to_string())
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` paragraph first: {undocumented:#?}"
    );
}

#[test]
fn only_main_ends_the_process_and_only_secret_reads_the_environment() {
    let mut found = Vec::new();
    for source in code_files() {
        let name = source.path.display().to_string();
        for (number, line) in source.code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains("process::exit") && name != "main.rs" {
                found.push(format!("{name}:{}: process::exit", number + 1));
            }
            if (line.contains("env::var") || line.contains("env::set_var")) && name != "secret.rs" {
                found.push(format!("{name}:{}: reads the environment", number + 1));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_architecture_names_every_top_level_module() {
    let architecture =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("ARCHITECTURE.md");
    let tops: BTreeSet<String> = sources()
        .iter()
        .filter(|s| !s.module.is_empty())
        .map(|s| s.module[0].clone())
        .filter(|top| top != "lib" && top != "main")
        .collect();
    let missing: Vec<&String> = tops
        .iter()
        .filter(|top| {
            !architecture.contains(&format!("`src/{top}/`"))
                && !architecture.contains(&format!("`src/{top}.rs`"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md has no code-map entry for: {missing:?}"
    );
}

#[test]
fn the_use_tree_reader_expands_groups() {
    let paths = crate_paths(
        "use crate::{a::{b, c::D}, e::F};\nfn f() { crate::g::h(); $crate::x::y; my_crate::z::w; }",
    );
    let expected: BTreeSet<Vec<String>> = [["a", "b"], ["a", "c"], ["e", "F"], ["g", "h"]]
        .iter()
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(paths, expected);
    let mut edges = BTreeMap::new();
    edges.insert(1, BTreeSet::from([2]));
    edges.insert(2, BTreeSet::from([3]));
    assert!(cycles(&edges).is_empty());
    edges.insert(3, BTreeSet::from([1]));
    assert_eq!(cycles(&edges), vec![vec![1, 2, 3]]);
}
