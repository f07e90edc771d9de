//! CSV files read as text: the one CSV reader of the data layer (the csv crate, every column as
//! a string, no type inference, so ids like `007` keep their zeros and transcripts stay exactly as
//! written). MELD-style manifests and speech tables both read through it.

use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;

/// A CSV file: its header names and, per column, every cell as written (`None`: empty).
#[derive(Debug, Clone)]
pub struct TextTable {
    names: Vec<String>,
    columns: BTreeMap<String, Vec<Option<String>>>,
    height: usize,
}

impl TextTable {
    /// Reads `path`. `what` names the file's role in errors (e.g. "manifest"), `hint` says how
    /// to fix a file that cannot be opened.
    pub fn read(path: &Path, what: &str, hint: &str) -> Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open {what} {}\n  hint: {hint}", path.display()))?;
        // Every row must have the header's width: a ragged row is an error naming its line,
        // never a silently shifted column.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(file);
        let names: Vec<String> = reader
            .headers()
            .with_context(|| format!("{}: not a readable CSV file", path.display()))?
            .iter()
            .map(str::to_string)
            .collect();
        let mut cells: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
        for record in reader.records() {
            let record =
                record.with_context(|| format!("{}: not a readable CSV file", path.display()))?;
            for (column, cell) in cells.iter_mut().zip(record.iter()) {
                column.push((!cell.is_empty()).then(|| cell.to_string()));
            }
        }
        let height = cells.first().map_or(0, Vec::len);
        let mut columns = BTreeMap::new();
        for (name, column) in names.iter().zip(cells) {
            if columns.insert(name.clone(), column).is_some() {
                bail!(
                    "{}: the header names column `{name}` twice\n  hint: give every column its own name",
                    path.display()
                );
            }
        }
        Ok(Self {
            names,
            columns,
            height,
        })
    }

    /// Header names, in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether the file has a column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.columns.contains_key(name)
    }

    /// Rows below the header.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The cell of column `name` in `row`, exactly as written (`None`: no such column, or an
    /// empty cell).
    pub fn raw(&self, name: &str, row: usize) -> Option<&str> {
        self.columns.get(name).and_then(|c| c[row].as_deref())
    }

    /// The cell trimmed, `None` when missing, empty or blank.
    pub fn trimmed(&self, name: &str, row: usize) -> Option<&str> {
        self.raw(name, row).map(str::trim).filter(|c| !c.is_empty())
    }
}
