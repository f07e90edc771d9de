//! The terminal's view of library events: info lines on stdout, warnings on stderr, tasks as
//! indicatif progress bars (drawn only when stderr is a terminal).

use crate::core::events::{Event, Observer};
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;

/// Renders events for a person at a terminal (and plain lines for logs and pipes).
#[derive(Default)]
pub struct Terminal {
    bar: Mutex<Option<ProgressBar>>,
}

impl Observer for Terminal {
    fn event(&self, event: Event) {
        let mut bar = self.bar.lock().expect("progress bar lock");
        match event {
            // `suspend`, not `ProgressBar::println`: the latter prints nothing when the bar is
            // hidden (output piped to a file), and a log must keep every line.
            Event::Info(line) => match bar.as_ref() {
                Some(b) => b.suspend(|| println!("{line}")),
                None => println!("{line}"),
            },
            Event::Warning(line) => match bar.as_ref() {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            },
            Event::TaskStarted { name, total, unit } => {
                if let Some(old) = bar.take() {
                    old.finish_and_clear();
                }
                let template = format!(
                    "{{prefix}} [{{bar:25}}] {{pos}}/{{len}} {unit} {{msg}} ({{elapsed}}, eta {{eta}})"
                );
                let b = ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(&template)
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                b.set_prefix(name);
                *bar = Some(b);
            }
            Event::TaskProgress { done, status } => {
                if let Some(b) = bar.as_ref() {
                    b.set_position(done);
                    b.set_message(status);
                }
            }
            Event::TaskFinished => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                }
            }
        }
    }
}
