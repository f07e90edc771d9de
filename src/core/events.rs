//! What long-running library code reports while it works, instead of printing: the command
//! line renders the events (lines, progress bars), a server logs them, tests record them.

use std::sync::Mutex;

/// One thing worth telling the user.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A line of information: data counts, class weights, an epoch's summary, where outputs went.
    Info(String),
    /// Something the user should act on or know about: unused or newly initialised checkpoint
    /// tensors, skipped files, a stopped run.
    Warning(String),
    /// A task of `total` steps began (an epoch's batches, a cache build's utterances).
    TaskStarted {
        /// What the task is, e.g. `epoch 3/20` or `text cache (train)`.
        name: String,
        /// Steps it will take.
        total: u64,
        /// Unit of a step, e.g. `batches` or `utterances`.
        unit: &'static str,
    },
    /// Steps of the current task finished so far, with a short status (a running loss).
    TaskProgress {
        /// Steps done, out of the task's total.
        done: u64,
        /// Status shown beside the count (may be empty).
        status: String,
    },
    /// The current task ended; its progress display goes away.
    TaskFinished,
}

/// Receives events. Implementations must be cheap: progress events come once per batch.
pub trait Observer: Send + Sync {
    /// Handles one event.
    fn event(&self, event: Event);

    /// Reports a line of information.
    fn info(&self, line: String) {
        self.event(Event::Info(line));
    }

    /// Reports a warning.
    fn warn(&self, line: String) {
        self.event(Event::Warning(line));
    }
}

/// Drops every event (library callers that want no output).
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event) {}
}

/// Keeps every event, in order (tests assert on what a run reported).
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("recorder lock").clone()
    }

    /// The text of the info and warning lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Info(l) | Event::Warning(l) => Some(l),
                _ => None,
            })
            .collect()
    }
}

impl Observer for Recorder {
    fn event(&self, event: Event) {
        self.events.lock().expect("recorder lock").push(event);
    }
}
