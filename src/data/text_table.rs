//! CSV files read as text: the one CSV reader of the data layer (polars, every column as a
//! string, no type inference, so ids like `007` keep their zeros and transcripts stay exactly as
//! written). MELD-style manifests and speech tables both read through it.

use anyhow::{Context, Result};
use polars::prelude::{CsvReadOptions, DataFrame, SerReader};
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
        let frame: DataFrame = CsvReadOptions::default()
            .with_has_header(true)
            // Schema inference over zero rows makes every column a string column.
            .with_infer_schema_length(Some(0))
            .into_reader_with_file_handle(file)
            .finish()
            .with_context(|| format!("{}: not a readable CSV file", path.display()))?;
        let names: Vec<String> = frame
            .columns()
            .iter()
            .map(|c| c.name().to_string())
            .collect();
        let mut columns = BTreeMap::new();
        for column in frame.columns() {
            let cells = column
                .str()
                .with_context(|| {
                    format!("{}: column `{}` is not text", path.display(), column.name())
                })?
                .iter()
                .map(|cell| cell.map(str::to_string))
                .collect();
            columns.insert(column.name().to_string(), cells);
        }
        Ok(Self {
            names,
            columns,
            height: frame.height(),
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
