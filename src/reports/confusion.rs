//! Confusion matrix figures: counts, and row-normalised shares (each row divided by its
//! support, so the diagonal is the per-class recall).

use crate::reports::plots::{FAMILY, Figure, write_png_and_svg};
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// What the cells of a confusion matrix figure show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellValues {
    /// The number of utterances.
    Counts,
    /// The share of the row (true class), as a percentage; "-" for a class with no support.
    RowPercent,
}

/// Each row divided by its sum (the class's support): `m[t][p]` becomes the fraction of class
/// `t` predicted as `p`, so the diagonal holds the per-class recall. A row with no support has
/// no shares (`None` in every cell) rather than a misleading 0.
pub fn normalize_rows(matrix: &[Vec<usize>]) -> Vec<Vec<Option<f64>>> {
    matrix
        .iter()
        .map(|row| {
            let support: usize = row.iter().sum();
            row.iter()
                .map(|&c| (support > 0).then(|| c as f64 / support as f64))
                .collect()
        })
        .collect()
}

/// How a row-normalised cell is printed: a percentage with one decimal (`"66.7%"`), or `"-"`
/// for a class with no support.
pub fn percent_label(share: Option<f64>) -> String {
    match share {
        Some(s) => format!("{:.1}%", 100.0 * s),
        None => "-".into(),
    }
}

/// Blues colour map: white at 0, dark blue at 1.
fn blues(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

/// One heat map with class names on both axes.
struct Matrix<'a> {
    title: &'a str,
    counts: &'a [Vec<usize>],
    names: &'a [String],
    values: CellValues,
}

impl Figure for Matrix<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let (w, h) = root.dim_in_pixel();
        let k = self.names.len().max(1) as i32;
        let (left, top, right, bottom) = (120i32, 70i32, 20i32, 110i32);
        let cell_w = (w as i32 - left - right) / k;
        let cell_h = (h as i32 - top - bottom) / k;
        let cell = cell_w.min(cell_h).max(1);
        let font = |size: f64| (FAMILY, size).into_font();
        let centred = Pos::new(HPos::Center, VPos::Center);

        root.draw(&Text::new(
            self.title.to_string(),
            (10, 12),
            font(20.0).color(&BLACK),
        ))?;
        let caption = match self.values {
            CellValues::Counts => "counts (colour: share of the row)",
            CellValues::RowPercent => "% of the true class (diagonal: recall)",
        };
        root.draw(&Text::new(
            caption,
            (left + cell * k / 2, top - 18),
            font(15.0).color(&BLACK).pos(centred),
        ))?;
        let shares = normalize_rows(self.counts);
        for (t, (row, share_row)) in self.counts.iter().zip(&shares).enumerate() {
            for (p, (&count, &share)) in row.iter().zip(share_row).enumerate() {
                let (x0, y0) = (left + p as i32 * cell, top + t as i32 * cell);
                let fill = share.unwrap_or(0.0);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    blues(fill).filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))?;
                let label = match self.values {
                    CellValues::Counts => count.to_string(),
                    CellValues::RowPercent => percent_label(share),
                };
                let color = if fill > 0.5 { WHITE } else { BLACK };
                root.draw(&Text::new(
                    label,
                    (x0 + cell / 2, y0 + cell / 2),
                    font(14.0).color(&color).pos(centred),
                ))?;
            }
        }
        for (i, name) in self.names.iter().enumerate() {
            let offset = i as i32 * cell + cell / 2;
            root.draw(&Text::new(
                name.clone(),
                (left - 8, top + offset),
                font(14.0)
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            root.draw(&Text::new(
                name.clone(),
                (left + offset, top + cell * k + 8),
                font(14.0)
                    .color(&BLACK)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
        }
        root.draw(&Text::new(
            "predicted",
            (left + cell * k / 2, h as i32 - 12),
            font(16.0).color(&BLACK).pos(centred),
        ))?;
        root.draw(&Text::new(
            "true",
            (14, top + cell * k / 2),
            font(16.0)
                .color(&BLACK)
                .transform(FontTransform::Rotate270)
                .pos(centred),
        ))?;
        root.present()
    }
}

/// Writes one confusion matrix (`matrix[true][predicted]`, class names in index order) as
/// `<stem>.png` and `<stem>.svg`; returns both paths.
pub fn write_confusion_matrix(
    stem: &Path,
    title: &str,
    matrix: &[Vec<usize>],
    names: &[String],
    values: CellValues,
) -> Result<Vec<PathBuf>> {
    let figure = Matrix {
        title,
        counts: matrix,
        names,
        values,
    };
    write_png_and_svg(stem, (760, 760), &figure)
}

/// Writes both matrices of a split into `dir`: `confusion_matrix_<split>.{png,svg}` (counts)
/// and `confusion_matrix_<split>_normalized.{png,svg}` (row percentages). Returns the paths.
pub fn write_split_matrices(
    dir: &Path,
    run_name: &str,
    split: &str,
    matrix: &[Vec<usize>],
    names: &[String],
) -> Result<Vec<PathBuf>> {
    let mut written = write_confusion_matrix(
        &dir.join(format!("confusion_matrix_{split}")),
        &format!("{run_name} - {split} split"),
        matrix,
        names,
        CellValues::Counts,
    )?;
    written.extend(write_confusion_matrix(
        &dir.join(format!("confusion_matrix_{split}_normalized")),
        &format!("{run_name} - {split} split, row-normalised"),
        matrix,
        names,
        CellValues::RowPercent,
    )?);
    Ok(written)
}
