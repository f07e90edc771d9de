//! `--set section.key=value` overrides, applied to the parsed TOML before it is typed, so an
//! override goes through exactly the same checks as the file.

use anyhow::{Result, bail};

/// Applies one `dotted.key=value` override to a TOML table.
///
/// The value is read as a TOML value (`2`, `1e-3`, `true`, `["text"]`, `"cpu"`); anything that is
/// not valid TOML is taken as a plain string, so `--set run.backend=cpu` works unquoted.
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<()> {
    let Some((key, raw)) = item.split_once('=') else {
        bail!("expected `section.key=value`, e.g. `--set training.epochs=2`");
    };
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("`{key}` is not a valid key; use `section.key`, e.g. `training.epochs`");
    }
    let value = parse_value(raw.trim());
    let (last, sections) = parts.split_last().expect("split yields at least one part");
    let mut current = table;
    for section in sections {
        let entry = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("`{section}` is a value, not a section, so `{key}` cannot be set"),
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// A `--set` value as the override reads it: a TOML value, or the plain string when the text
/// is not valid TOML (so `cpu` and `"cpu"` are the same value).
pub fn parse_value(raw: &str) -> toml::Value {
    // Parse as the right-hand side of a one-line document.
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v").expect("the key was just written"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}
