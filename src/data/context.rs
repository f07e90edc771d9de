//! Dialogue context for pretrained text encoders: each utterance encoded together with its
//! neighbours in the same dialogue, as EmoBERTa (Kim & Vossen 2021) does for MELD.
//!
//! The sequence is three segments joined by the tokenizer's own separators (those of its pair
//! template: `<s> A </s></s> B </s>` for RoBERTa, `[CLS] A [SEP] B [SEP]` for BERT): the past
//! utterances (oldest first), the current one, the future ones; a segment is there when its side
//! is configured (`past`, `future` not 0), empty when the utterance has no neighbour on that side,
//! so the current utterance is always the same segment. Each utterance reads `SPEAKER: text` with
//! `speaker_names`. Neighbours are added nearest first, alternating past and future, while they
//! fit the token budget; a side stops at its first neighbour that does not fit (its segment stays
//! contiguous). The current utterance is kept whole unless it alone exceeds the budget (then it is
//! cut and has no context; counted). The utterance vector stays the first token's.
//!
//! Utterances of a segment are tokenized one by one and their ids joined, which equals
//! tokenizing the segment's text (`A: x B: y`, one space between utterances): the
//! byte-level BPE of RoBERTa starts a pre-token at each space, so the pieces after the first are
//! tokenized with their leading space; BERT's WordPiece splits on spaces anyway.

use crate::data::Utterance;
use crate::data::tokenizer::HfTokenizer;
use anyhow::{Result, bail};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

/// How many neighbours one side of the context may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Neighbours {
    /// At most this many (0: the side is off).
    Count(usize),
    /// As many as the token budget allows.
    All,
}

impl Neighbours {
    /// Whether the side is configured (a segment in the layout).
    pub fn on(self) -> bool {
        self != Neighbours::Count(0)
    }

    fn limit(self) -> usize {
        match self {
            Neighbours::Count(n) => n,
            Neighbours::All => usize::MAX,
        }
    }
}

impl Serialize for Neighbours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Neighbours::Count(n) => serializer.serialize_u64(*n as u64),
            Neighbours::All => serializer.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for Neighbours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NeighboursVisitor;
        impl Visitor<'_> for NeighboursVisitor {
            type Value = Neighbours;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number of utterances (0 = none) or \"all\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Neighbours, E> {
                usize::try_from(v).map(Neighbours::Count).map_err(|_| {
                    E::custom(format!("{v}: expected 0 or more utterances, or \"all\""))
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Neighbours, E> {
                Ok(Neighbours::Count(v as usize))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Neighbours, E> {
                match v {
                    "all" => Ok(Neighbours::All),
                    other => Err(E::custom(format!(
                        "`{other}`: expected a number of utterances or \"all\""
                    ))),
                }
            }
        }
        deserializer.deserialize_any(NeighboursVisitor)
    }
}

/// `[data.context]`: the dialogue context of each utterance (off by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// Past utterances of the same dialogue: a count or `"all"` (within the budget).
    pub past: Neighbours,
    /// Future utterances of the same dialogue: a count or `"all"` (within the budget).
    pub future: Neighbours,
    /// Write each utterance as `SPEAKER: text` (the current one too).
    pub speaker_names: bool,
    /// Token budget of the whole sequence, special tokens included (default: `data.max_tokens`).
    pub max_tokens: Option<usize>,
}

impl Default for ContextConfig {
    fn default() -> Self {
        Self {
            past: Neighbours::Count(0),
            future: Neighbours::Count(0),
            speaker_names: false,
            max_tokens: None,
        }
    }
}

impl ContextConfig {
    /// Whether anything changes the plain encoding of an utterance.
    pub fn enabled(&self) -> bool {
        self.past.on() || self.future.on() || self.speaker_names
    }

    /// Whether utterances need their dialogue (a context side is on).
    pub fn needs_dialogues(&self) -> bool {
        self.past.on() || self.future.on()
    }
}

/// What building the context did, over a split.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContextStats {
    /// Utterances encoded.
    pub utterances: usize,
    /// Past neighbours taken, summed over utterances.
    pub past: usize,
    /// Future neighbours taken, summed over utterances.
    pub future: usize,
    /// Utterances where a neighbour within the configured counts was left out for the budget.
    pub budget_reached: usize,
    /// Current utterances longer than the budget on their own: cut, without context.
    pub cut: usize,
    /// Tokens per sequence, summed.
    pub tokens: usize,
}

impl ContextStats {
    /// One line for the log.
    pub fn summary(&self) -> String {
        let n = self.utterances.max(1) as f64;
        format!(
            "{} utterances, {:.1} past + {:.1} future neighbours and {:.1} tokens on average, budget reached by {} ({:.1}%), {} cut on their own",
            self.utterances,
            self.past as f64 / n,
            self.future as f64 / n,
            self.tokens as f64 / n,
            self.budget_reached,
            100.0 * self.budget_reached as f64 / n,
            self.cut
        )
    }
}

/// One utterance's ids without special tokens, as the first piece of a segment and as a later
/// one (with the separating space).
struct Piece {
    first: Vec<u32>,
    later: Vec<u32>,
}

/// The ids of every utterance of `utterances` (one split, or a dialogue given at prediction
/// time) with their context, in order. Neighbours come from `utterances` only. Without
/// [`ContextConfig::enabled`], each utterance is encoded alone (cut to `max_tokens`), as
/// [`HfTokenizer::encode`] does.
pub fn encode_with_context(
    tokenizer: &HfTokenizer,
    utterances: &[Utterance],
    config: &ContextConfig,
    max_tokens: usize,
) -> Result<(Vec<Vec<u32>>, ContextStats)> {
    let mut stats = ContextStats {
        utterances: utterances.len(),
        ..ContextStats::default()
    };
    if !config.enabled() {
        let ids = utterances
            .iter()
            .map(|u| tokenizer.encode(&u.text, max_tokens))
            .collect::<Result<Vec<_>>>()?;
        stats.tokens = ids.iter().map(Vec::len).sum();
        return Ok((ids, stats));
    }
    let dialogues = if config.needs_dialogues() {
        dialogue_order(utterances)?
    } else {
        Vec::new()
    };
    let pieces = utterances
        .iter()
        .map(|u| {
            let text = written(u, config.speaker_names);
            Ok(Piece {
                first: tokenizer.tokens(&text)?,
                later: tokenizer.tokens(&format!(" {text}"))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let layout = tokenizer.layout()?;
    let segments = 1 + usize::from(config.past.on()) + usize::from(config.future.on());
    let specials = layout.open.len() + layout.close.len() + (segments - 1) * layout.between.len();
    if max_tokens <= specials {
        bail!(
            "a context budget of {max_tokens} tokens leaves no room for text after the {specials} special tokens of {segments} segments; use at least {}",
            specials + 1
        );
    }
    let budget = max_tokens - specials;
    let mut all = Vec::with_capacity(utterances.len());
    for (i, piece) in pieces.iter().enumerate() {
        let mut current = piece.first.clone();
        let (mut past, mut future): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        if current.len() > budget {
            current.truncate(budget);
            stats.cut += 1;
        } else if config.needs_dialogues() {
            let (order, position) = &dialogues[i];
            let before: Vec<usize> = order[..*position].iter().rev().copied().collect();
            let after: Vec<usize> = order[position + 1..].to_vec();
            let mut left = budget - current.len();
            let (mut past_open, mut future_open) = (config.past.on(), config.future.on());
            let mut reached = false;
            // Nearest first, alternating; each side stops at its first neighbour that does not
            // fit, or at its count.
            while past_open || future_open {
                if past_open {
                    match before.get(past.len()) {
                        Some(&j) if past.len() < config.past.limit() => {
                            // The new oldest piece starts the segment; the former first one
                            // then takes its separating space.
                            let cost = match past.last() {
                                None => pieces[j].first.len() as isize,
                                Some(&oldest) => {
                                    (pieces[j].first.len() + pieces[oldest].later.len()) as isize
                                        - pieces[oldest].first.len() as isize
                                }
                            };
                            if cost <= left as isize {
                                left = (left as isize - cost) as usize;
                                past.push(j);
                            } else {
                                reached = true;
                                past_open = false;
                            }
                        }
                        _ => past_open = false,
                    }
                }
                if future_open {
                    match after.get(future.len()) {
                        Some(&j) if future.len() < config.future.limit() => {
                            let cost = if future.is_empty() {
                                pieces[j].first.len()
                            } else {
                                pieces[j].later.len()
                            };
                            if cost <= left {
                                left -= cost;
                                future.push(j);
                            } else {
                                reached = true;
                                future_open = false;
                            }
                        }
                        _ => future_open = false,
                    }
                }
            }
            stats.budget_reached += usize::from(reached);
        }
        past.reverse();
        let segment = |members: &[usize]| -> Vec<u32> {
            members
                .iter()
                .enumerate()
                .flat_map(|(k, &j)| {
                    if k == 0 {
                        pieces[j].first.iter().copied()
                    } else {
                        pieces[j].later.iter().copied()
                    }
                })
                .collect()
        };
        let mut ids = layout.open.clone();
        if config.past.on() {
            ids.extend(segment(&past));
            ids.extend(&layout.between);
        }
        ids.extend(current);
        if config.future.on() {
            ids.extend(&layout.between);
            ids.extend(segment(&future));
        }
        ids.extend(&layout.close);
        stats.past += past.len();
        stats.future += future.len();
        stats.tokens += ids.len();
        all.push(ids);
    }
    Ok((all, stats))
}

/// The text of an utterance as context writes it.
fn written(u: &Utterance, speaker_names: bool) -> String {
    let text = u.text.trim();
    match (&u.turn, speaker_names) {
        (Some(turn), true) if !turn.speaker.is_empty() => format!("{}: {text}", turn.speaker),
        _ => text.to_string(),
    }
}

/// Per utterance: its dialogue's members in turn order (indices into `utterances`) and its
/// position among them. Errors name utterances without a dialogue and repeated turns.
fn dialogue_order(utterances: &[Utterance]) -> Result<Vec<(std::sync::Arc<Vec<usize>>, usize)>> {
    let mut members: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, u) in utterances.iter().enumerate() {
        let Some(turn) = &u.turn else {
            bail!(
                "utterance `{}` has no dialogue: [data.context] past / future need each utterance's dialogue_id and utterance_id (manifest columns, as `data-prep meld` writes them); set past = 0 and future = 0 for tables without them",
                u.id
            );
        };
        members.entry(turn.dialogue.as_str()).or_default().push(i);
    }
    let turn = |i: usize| utterances[i].turn.as_ref().expect("checked above");
    let mut out = vec![None; utterances.len()];
    for (dialogue, mut order) in members {
        order.sort_by_key(|&i| turn(i).index);
        if let Some(w) = order
            .windows(2)
            .find(|w| turn(w[0]).index == turn(w[1]).index)
        {
            bail!(
                "dialogue `{dialogue}` has utterance {} twice (`{}` and `{}`): dialogue context needs one row per turn",
                turn(w[0]).index,
                utterances[w[0]].id,
                utterances[w[1]].id
            );
        }
        let order = std::sync::Arc::new(order);
        for (position, &i) in order.iter().enumerate() {
            out[i] = Some((order.clone(), position));
        }
    }
    Ok(out
        .into_iter()
        .map(|o| o.expect("every utterance is in a dialogue"))
        .collect())
}
