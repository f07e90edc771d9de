//! Figures: the shared PNG + SVG plumbing, the per-epoch history and its curves (one run, or
//! several runs overlaid).

use crate::io::atomic;
use crate::training::history::EpochRecord;
use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// Font family every figure uses (the bundled DejaVu Sans).
pub(crate) const FAMILY: &str = "sans-serif";

fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bundled font is a valid TrueType file; failure here is a build defect.
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("bundled font is invalid"));
    });
}

/// A figure that can be drawn on any plotters backend, so one description gives both the PNG
/// and the SVG.
pub(crate) trait Figure {
    /// Draws the whole figure on `root` (which it fills and presents).
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Writes `figure` as `<stem>.png` and `<stem>.svg`; returns both paths.
pub(crate) fn write_png_and_svg(
    stem: &Path,
    size: (u32, u32),
    figure: &impl Figure,
) -> Result<Vec<PathBuf>> {
    ensure_font();
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder {}", dir.display()))?;
    }
    // Append rather than `with_extension`: a run name may contain a dot.
    let with_ext = |ext: &str| {
        let mut name = stem.as_os_str().to_owned();
        name.push(format!(".{ext}"));
        PathBuf::from(name)
    };
    // Both through a temporary file: a full disk leaves the old chart, not a truncated one.
    let png = with_ext("png");
    let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
    figure
        .draw(BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area())
        .map_err(|e| anyhow!("cannot draw {}: {e}", png.display()))?;
    let mut encoded = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut encoded, size.0, size.1);
    encoder.set_color(::png::ColorType::Rgb);
    encoder.set_depth(::png::BitDepth::Eight);
    // Per-row filter choice: about half the file size for flat-coloured charts.
    encoder.set_adaptive_filter(::png::AdaptiveFilterType::Adaptive);
    encoder
        .write_header()
        .and_then(|mut writer| {
            writer.write_image_data(&pixels)?;
            writer.finish()
        })
        .map_err(|e| anyhow!("cannot encode {}: {e}", png.display()))?;
    atomic::write(&png, &encoded)?;
    let svg = with_ext("svg");
    let mut text = String::new();
    figure
        .draw(SVGBackend::with_string(&mut text, size).into_drawing_area())
        .map_err(|e| anyhow!("cannot draw {}: {e}", svg.display()))?;
    atomic::write(&svg, text.as_bytes())?;
    Ok(vec![png, svg])
}

/// Reads one number of an epoch (a curve's y value).
pub type EpochField = fn(&EpochRecord) -> f64;

/// Whether `history` holds a value of `field` other than 0 (older runs did not record every
/// field, and 0 then stands for "absent").
pub fn has_series(history: &[EpochRecord], field: EpochField) -> bool {
    history.iter().any(|r| field(r) != 0.0)
}

/// Distinguishable line colours (Tableau 10), cycled when there are more series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// One line of a curve panel.
struct Series {
    name: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

impl Series {
    fn new(
        name: impl Into<String>,
        color: RGBColor,
        history: &[EpochRecord],
        field: EpochField,
    ) -> Self {
        Self {
            name: name.into(),
            color,
            points: history.iter().map(|r| (r.epoch as f64, field(r))).collect(),
        }
    }
}

/// One panel: a title, a y-axis label and its lines.
struct Panel {
    title: String,
    y_label: String,
    series: Vec<Series>,
    legend: SeriesLabelPosition,
}

impl Panel {
    fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let points = || self.series.iter().flat_map(|s| s.points.iter());
        let (lo, hi) = points()
            .map(|p| p.1)
            .filter(|y| y.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
                (a.min(y), b.max(y))
            });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.1).max(1e-3);
        let last_epoch = points().map(|p| p.0).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FAMILY, 20.0))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5..last_epoch + 0.5, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(&self.y_label)
            .label_style((FAMILY, 14.0))
            .axis_desc_style((FAMILY, 16.0))
            .x_labels((last_epoch as usize).clamp(2, 12))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for s in &self.series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        if !self.series.is_empty() {
            chart
                .configure_series_labels()
                .position(self.legend.clone())
                .label_font((FAMILY, 14.0))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    }
}

/// Panels side by side.
struct Panels(Vec<Panel>);

impl Figure for Panels {
    fn draw<DB: DrawingBackend>(
        &self,
        root: DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let areas = root.split_evenly((1, self.0.len().max(1)));
        for (panel, area) in self.0.iter().zip(&areas) {
            panel.draw(area)?;
        }
        root.present()
    }
}

/// Writes `<stem>.png` and `<stem>.svg`: loss per epoch (train and validation), and train
/// accuracy, validation accuracy and validation weighted F1 per epoch (a series that was not
/// recorded, i.e. is 0 throughout, is left out). Returns the paths written.
pub fn write_curves(stem: &Path, history: &[EpochRecord]) -> Result<Vec<PathBuf>> {
    let [blue, red, green] = [PALETTE[0], PALETTE[1], PALETTE[2]];
    let loss = Panel {
        title: "loss".into(),
        y_label: "weighted cross-entropy".into(),
        series: vec![
            Series::new("train", blue, history, |r| r.train_loss),
            Series::new("valid", red, history, |r| r.valid_loss),
        ],
        // Losses fall: the top right corner is usually empty.
        legend: SeriesLabelPosition::UpperRight,
    };
    let metrics: [(&str, RGBColor, EpochField); 3] = [
        ("train accuracy", blue, |r| r.train_accuracy),
        ("valid accuracy", red, |r| r.valid_accuracy),
        ("valid weighted F1", green, |r| r.valid_weighted_f1),
    ];
    let metric = Panel {
        title: "accuracy and F1".into(),
        y_label: "fraction".into(),
        series: metrics
            .into_iter()
            .filter(|(_, _, field)| has_series(history, *field))
            .map(|(name, color, field)| Series::new(name, color, history, field))
            .collect(),
        legend: SeriesLabelPosition::LowerRight,
    };
    write_png_and_svg(stem, (1200, 450), &Panels(vec![loss, metric]))
}

/// Writes `<stem>.png` and `<stem>.svg` comparing runs: validation loss per epoch, and
/// validation weighted F1 per epoch (validation accuracy for a run that did not record F1, marked
/// in its legend entry). `runs` pairs a legend name with a history. Returns the paths written.
pub fn write_comparison_curves(
    stem: &Path,
    runs: &[(&str, &[EpochRecord])],
) -> Result<Vec<PathBuf>> {
    let color = |i: usize| PALETTE[i % PALETTE.len()];
    let loss = Panel {
        title: "validation loss".into(),
        y_label: "weighted cross-entropy".into(),
        series: runs
            .iter()
            .enumerate()
            .map(|(i, (name, history))| Series::new(*name, color(i), history, |r| r.valid_loss))
            .collect(),
        legend: SeriesLabelPosition::UpperRight,
    };
    let mut fallback = false;
    let metric_series = runs
        .iter()
        .enumerate()
        .map(|(i, (name, history))| {
            if has_series(history, |r| r.valid_weighted_f1) {
                Series::new(*name, color(i), history, |r| r.valid_weighted_f1)
            } else {
                fallback = true;
                let label = format!("{name} (accuracy)");
                Series::new(label, color(i), history, |r| r.valid_accuracy)
            }
        })
        .collect();
    let metric = Panel {
        title: if fallback {
            "validation weighted F1 (or accuracy)".into()
        } else {
            "validation weighted F1".into()
        },
        y_label: "fraction".into(),
        series: metric_series,
        legend: SeriesLabelPosition::LowerRight,
    };
    write_png_and_svg(stem, (1200, 450), &Panels(vec![loss, metric]))
}
