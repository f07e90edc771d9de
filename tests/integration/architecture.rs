//! The layering of `src/` stays as `docs/architecture.md` draws it: every top-level module
//! names only modules of lower layers (`crate::<module>`), and no two files of one folder name
//! each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The layer order, bottom first, from the numbered list under `## Layers` in
/// docs/architecture.md (each item starts with the module name in backticks).
fn layers() -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/architecture.md")).unwrap();
    let section = doc
        .split("\n## Layers")
        .nth(1)
        .expect("docs/architecture.md has a `## Layers` section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = Vec::new();
    for line in section.lines() {
        let line = line.trim_start();
        let Some((number, rest)) = line.split_once(". `") else {
            continue;
        };
        if number.chars().all(|c| c.is_ascii_digit()) && !number.is_empty() {
            out.extend(rest.split('`').next().map(str::to_string));
        }
    }
    assert!(
        out.len() > 5,
        "too few layers parsed from docs/architecture.md: {out:?}"
    );
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Source text without `//` comments (doc comments included).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            // Keep `//` inside string literals such as URLs.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segment after each `prefix` (`crate::` or `super::`), and the names listed in
/// `use crate::{a, b::c}` groups.
fn segments(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name = ident(part.trim());
                if !name.is_empty() {
                    out.insert(name);
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                out.insert(name);
            }
        }
    }
    out
}

fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    let name = first.trim_end_matches(".rs").to_string();
    (name != "lib" && name != "main").then_some(name)
}

#[test]
fn modules_import_only_lower_layers() {
    let order = layers();
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut tops = BTreeSet::new();
    let mut violations = Vec::new();
    for file in &files {
        let Some(top) = top_module(&src, file) else {
            continue;
        };
        tops.insert(top.clone());
        let Some(&own) = rank.get(top.as_str()) else {
            violations.push(format!(
                "src/{top} is not in the `## Layers` list of docs/architecture.md"
            ));
            continue;
        };
        for used in segments(&code(file), "crate::") {
            if let Some(&other) = rank.get(used.as_str())
                && other > own
            {
                violations.push(format!(
                    "{} (layer `{top}`) imports `crate::{used}`, a higher layer",
                    file.strip_prefix(ROOT).unwrap().display()
                ));
            }
        }
    }
    for layer in &order {
        if !tops.contains(layer) {
            violations.push(format!(
                "docs/architecture.md lists `{layer}`, which src/ does not have"
            ));
        }
    }
    violations.sort();
    violations.dedup();
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn files_of_one_folder_do_not_import_each_other_in_a_cycle() {
    let src = Path::new(ROOT).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    // Per folder: sibling module -> siblings it names (through `super::x` or its full path).
    let mut folders: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().to_string();
        if ["mod", "lib", "main"].contains(&stem.as_str()) {
            continue;
        }
        let dir = file.parent().unwrap().to_path_buf();
        let module_path: Vec<String> = dir
            .strip_prefix(&src)
            .unwrap()
            .components()
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect();
        let text = code(file);
        let mut named = segments(&text, "super::");
        if !module_path.is_empty() {
            named.extend(segments(
                &text,
                &format!("crate::{}::", module_path.join("::")),
            ));
        }
        folders.entry(dir).or_default().insert(stem, named);
    }
    let mut cycles = Vec::new();
    for (dir, graph) in &folders {
        let siblings: BTreeSet<&String> = graph.keys().collect();
        // Depth-first search for a back edge.
        fn visit<'a>(
            node: &'a String,
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            siblings: &BTreeSet<&String>,
            stack: &mut Vec<&'a String>,
            done: &mut BTreeSet<&'a String>,
            found: &mut Option<Vec<String>>,
        ) {
            if found.is_some() || done.contains(node) {
                return;
            }
            if let Some(i) = stack.iter().position(|n| *n == node) {
                let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.clone());
                *found = Some(cycle);
                return;
            }
            stack.push(node);
            for next in &graph[node] {
                if next != node && siblings.contains(next) {
                    visit(next, graph, siblings, stack, done, found);
                }
            }
            stack.pop();
            done.insert(node);
        }
        let mut done = BTreeSet::new();
        for node in graph.keys() {
            let mut found = None;
            visit(
                node,
                graph,
                &siblings,
                &mut Vec::new(),
                &mut done,
                &mut found,
            );
            if let Some(cycle) = found {
                cycles.push(format!(
                    "{}: {}",
                    dir.strip_prefix(ROOT).unwrap().display(),
                    cycle.join(" -> ")
                ));
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "files import each other in a cycle:\n{}",
        cycles.join("\n")
    );
}
