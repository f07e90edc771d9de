//! Training progress for people and for logs.
//!
//! In a terminal: one progress bar per split with the running loss and accuracy. Elsewhere (CI,
//! `| tee`, files): plain lines at every quarter of a split, so logs stay short and readable.
//! Both print one summary line per epoch.

use burn::train::LearnerSummary;
use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

/// Running mean of a metric over the current split.
#[derive(Default, Clone, Copy)]
struct Running {
    sum: f64,
    weight: f64,
    last_final: Option<f64>,
}

impl Running {
    fn push(&mut self, entry: &NumericEntry) {
        match entry {
            NumericEntry::Value(v) => {
                self.sum += v;
                self.weight += 1.0;
            }
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => {
                self.sum += aggregated_value * *count as f64;
                self.weight += *count as f64;
            }
            NumericEntry::Final(v) => self.last_final = Some(*v),
        }
    }

    fn value(&self) -> Option<f64> {
        self.last_final
            .or_else(|| (self.weight > 0.0).then(|| self.sum / self.weight))
    }
}

/// A [`MetricsRenderer`] with an indicatif bar on terminals and plain lines elsewhere.
pub struct ProgressRenderer {
    interactive: bool,
    names: HashMap<MetricId, String>,
    split: String,
    split_total: usize,
    split_done: usize,
    next_quarter: usize,
    epoch: usize,
    epochs: usize,
    metrics: HashMap<String, Running>,
    train_summary: String,
    bar: Option<ProgressBar>,
    epoch_start: Instant,
}

impl ProgressRenderer {
    /// A renderer that draws bars only when stdout is a terminal.
    pub fn new() -> Self {
        Self::with_interactive(std::io::stdout().is_terminal())
    }

    /// A renderer with an explicit choice of bars (`true`) or plain lines (`false`).
    pub fn with_interactive(interactive: bool) -> Self {
        Self {
            interactive,
            names: HashMap::new(),
            split: String::new(),
            split_total: 0,
            split_done: 0,
            next_quarter: 1,
            epoch: 1,
            epochs: 0,
            metrics: HashMap::new(),
            train_summary: String::new(),
            bar: None,
            epoch_start: Instant::now(),
        }
    }

    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(entry, Some(value)) = state
            && let Some(name) = self.names.get(&entry.metric_id)
        {
            self.metrics.entry(name.clone()).or_default().push(&value);
        }
    }

    fn metrics_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some(loss) = self.metrics.get("Loss").and_then(Running::value) {
            parts.push(format!("loss {loss:.4}"));
        }
        if let Some(acc) = self.metrics.get("Accuracy").and_then(Running::value) {
            parts.push(format!("acc {acc:.1}%"));
        }
        parts.join("  ")
    }
}

impl Default for ProgressRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsRendererTraining for ProgressRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl TrainingProgressLogger for ProgressRenderer {
    fn start(
        &mut self,
        total_epochs: usize,
        starting_epoch: usize,
        _total_items: Option<usize>,
        _label: Option<&str>,
    ) {
        self.epochs = total_epochs;
        self.epoch = starting_epoch.max(1);
        self.epoch_start = Instant::now();
    }

    fn update_epoch(&mut self, epoch: usize) {
        let elapsed = self.epoch_start.elapsed().as_secs_f64();
        println!(
            "epoch {}/{}  train {}  |  valid {}  ({elapsed:.1} s)",
            epoch.max(self.epoch),
            self.epochs,
            self.train_summary,
            self.metrics_text()
        );
        self.epoch = epoch.max(self.epoch) + 1;
        self.epoch_start = Instant::now();
    }

    fn start_split(&mut self, split: &str, total_items: usize) {
        self.split = split.to_lowercase();
        self.split_total = total_items;
        self.split_done = 0;
        self.next_quarter = 1;
        self.metrics.clear();
        if self.interactive {
            let bar = ProgressBar::new(total_items as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} [{bar:30}] {pos:>6}/{len:6} {elapsed_precise} eta {eta}  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!(
                "epoch {}/{} {}",
                self.epoch, self.epochs, self.split
            ));
            self.bar = Some(bar);
        }
    }

    fn update_split(&mut self, items_processed: usize) {
        self.split_done = items_processed;
        let text = self.metrics_text();
        if let Some(bar) = &self.bar {
            bar.set_position(items_processed as u64);
            bar.set_message(text);
        } else if self.split_total > 0
            && self.next_quarter < 4
            && items_processed * 4 >= self.next_quarter * self.split_total
        {
            println!(
                "epoch {}/{} {:<5} {:>6}/{:<6} {text}",
                self.epoch, self.epochs, self.split, items_processed, self.split_total
            );
            while self.next_quarter < 4
                && items_processed * 4 >= self.next_quarter * self.split_total
            {
                self.next_quarter += 1;
            }
        }
    }

    fn end_split(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.split == "train" {
            self.train_summary = self.metrics_text();
        }
    }

    fn end(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for ProgressRenderer {
    fn start_global_progress(&mut self, _total_tests: usize) {}

    fn start_test(&mut self, _name: &str, _total_items: usize) {}

    fn update_test_progress(&mut self, _items_processed: usize) {}

    fn end_test(&mut self) {}

    fn end_global_progress(&mut self) {}

    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for ProgressRenderer {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}

    fn on_test_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRenderer for ProgressRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names
            .insert(definition.metric_id.clone(), definition.name.to_string());
    }
}
