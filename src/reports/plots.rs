//! Figures: confusion matrix heat maps and per-epoch curves.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bundled font is a valid TrueType file; failure here is a build defect.
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("bundled font is invalid"));
    });
}

fn plot_err<E: std::fmt::Debug>(path: &Path) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow!("cannot draw {}: {e:?}", path.display())
}

/// One epoch of training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy, as a fraction.
    pub train_accuracy: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation accuracy, as a fraction.
    pub valid_accuracy: f64,
    /// Validation weighted F1, as a fraction.
    #[serde(default)]
    pub valid_weighted_f1: f64,
    /// Validation macro F1, as a fraction.
    #[serde(default)]
    pub valid_macro_f1: f64,
    /// Learning rate at the end of the epoch.
    #[serde(default)]
    pub learning_rate: f64,
}

/// Blues colour map: white at 0, dark blue at 1.
fn blues(v: f64) -> RGBColor {
    let v = v.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * v).round() as u8;
    RGBColor(lerp(247.0, 8.0), lerp(251.0, 48.0), lerp(255.0, 107.0))
}

fn draw_matrix<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    matrix: &[Vec<usize>],
    names: &[String],
    normalised: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    let k = names.len().max(1);
    let (left, top, right, bottom) = (120i32, 60i32, 20i32, 110i32);
    let cell_w = (w as i32 - left - right) / k as i32;
    let cell_h = (h as i32 - top - bottom) / k as i32;
    let cell = cell_w.min(cell_h).max(1);
    let font = |size: f64| (FAMILY, size).into_font();
    let centred = Pos::new(HPos::Center, VPos::Center);

    area.draw(&Text::new(
        title.to_string(),
        (left + cell * k as i32 / 2, top / 2),
        font(20.0).color(&BLACK).pos(centred),
    ))?;
    for (t, row) in matrix.iter().enumerate() {
        let row_total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = if row_total == 0 {
                0.0
            } else {
                count as f64 / row_total as f64
            };
            let (x0, y0) = (left + p as i32 * cell, top + t as i32 * cell);
            area.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                blues(share).filled(),
            ))?;
            area.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell, y0 + cell)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))?;
            let label = if normalised {
                format!("{:.2}", share)
            } else {
                count.to_string()
            };
            let color = if share > 0.5 { WHITE } else { BLACK };
            area.draw(&Text::new(
                label,
                (x0 + cell / 2, y0 + cell / 2),
                font(14.0).color(&color).pos(centred),
            ))?;
        }
    }
    for (i, name) in names.iter().enumerate() {
        let offset = i as i32 * cell + cell / 2;
        area.draw(&Text::new(
            name.clone(),
            (left - 8, top + offset),
            font(14.0)
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        area.draw(&Text::new(
            name.clone(),
            (left + offset, top + cell * k as i32 + 8),
            font(14.0)
                .color(&BLACK)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    area.draw(&Text::new(
        "predicted",
        (left + cell * k as i32 / 2, h as i32 - 12),
        font(16.0).color(&BLACK).pos(centred),
    ))?;
    area.draw(&Text::new(
        "true",
        (14, top + cell * k as i32 / 2),
        font(16.0)
            .color(&BLACK)
            .transform(FontTransform::Rotate270)
            .pos(centred),
    ))?;
    Ok(())
}

fn draw_confusion<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    matrix: &[Vec<usize>],
    names: &[String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let (header, body) = root.split_vertically(40);
    header.draw(&Text::new(
        title.to_string(),
        (10, 10),
        (FAMILY, 22.0).into_font().color(&BLACK),
    ))?;
    let panels = body.split_evenly((1, 2));
    draw_matrix(&panels[0], "counts", matrix, names, false)?;
    draw_matrix(&panels[1], "row-normalised (recall)", matrix, names, true)?;
    root.present()
}

/// Writes a confusion matrix (counts and row-normalised, side by side) as `<stem>.png` and
/// `<stem>.svg`.
pub fn write_confusion_matrix(
    stem: &Path,
    title: &str,
    matrix: &[Vec<usize>],
    names: &[String],
) -> Result<()> {
    ensure_font();
    let size = (1300, 680);
    let png = stem.with_extension("png");
    draw_confusion(
        BitMapBackend::new(&png, size).into_drawing_area(),
        title,
        matrix,
        names,
    )
    .map_err(plot_err(&png))?;
    let svg = stem.with_extension("svg");
    draw_confusion(
        SVGBackend::new(&svg, size).into_drawing_area(),
        title,
        matrix,
        names,
    )
    .map_err(plot_err(&svg))?;
    Ok(())
}

fn draw_curve<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    y_label: &str,
    train: &[(f64, f64)],
    valid: &[(f64, f64)],
    legend: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let all = train.iter().chain(valid).map(|p| p.1);
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.1).max(1e-3);
    let epochs = train.len().max(valid.len()).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 20.0))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..epochs + 0.5, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .label_style((FAMILY, 14.0))
        .axis_desc_style((FAMILY, 16.0))
        .x_labels(train.len().clamp(2, 12))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    for (points, color, name) in [(train, BLUE, "train"), (valid, RED, "valid")] {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font((FAMILY, 14.0))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Writes `curves.png`: loss and accuracy per epoch, train and validation.
pub fn write_curves(path: &Path, history: &[EpochRecord]) -> Result<()> {
    ensure_font();
    let root = BitMapBackend::new(path, (1200, 450)).into_drawing_area();
    let result = (|| {
        root.fill(&WHITE)?;
        let panels = root.split_evenly((1, 2));
        let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            history.iter().map(|r| (r.epoch as f64, f(r))).collect()
        };
        draw_curve(
            &panels[0],
            "loss",
            "weighted cross-entropy",
            &series(|r| r.train_loss),
            &series(|r| r.valid_loss),
            // Losses fall: the top right corner is usually empty.
            SeriesLabelPosition::UpperRight,
        )?;
        draw_curve(
            &panels[1],
            "accuracy",
            "accuracy",
            &series(|r| r.train_accuracy),
            &series(|r| r.valid_accuracy),
            SeriesLabelPosition::LowerRight,
        )?;
        root.present()
    })();
    result.map_err(plot_err(path))
}
