//! Structure-blind mutations of a valid input: the moves that found the decoder bugs by hand
//! (bit flips, truncations, duplicated chunks, header fields set to 0 or to their maximum).
//!
//! Offsets favour the first bytes, where containers keep their headers and tables, so that most
//! cases reach the parsers' length and count fields rather than the sample data.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes at the start of a file that get half of the mutations.
const HEADER_BYTES: usize = 512;

/// Largest input a mutation may grow to, so that duplicating chunks cannot run away.
const MAX_LEN: usize = 4 << 20;

/// One change to an input, as written in a finding's description.
#[derive(Debug, Clone, PartialEq)]
pub enum Mutation {
    /// One bit inverted.
    FlipBit {
        /// Byte offset.
        offset: usize,
        /// Bit (0 = least significant).
        bit: u8,
    },
    /// An integer field overwritten (little- or big-endian, 1, 2, 4 or 8 bytes).
    Field {
        /// Byte offset of the field.
        offset: usize,
        /// Width in bytes.
        width: usize,
        /// Big-endian (MP4, Ogg lengths are little-endian, WAV little-endian).
        big_endian: bool,
        /// The value written (0, the maximum, one more than a small count, or random).
        value: u64,
    },
    /// The input cut to `len` bytes.
    Truncate {
        /// Bytes kept.
        len: usize,
    },
    /// `len` bytes from `from` copied in again at `to`.
    Duplicate {
        /// Start of the copied chunk.
        from: usize,
        /// Its length.
        len: usize,
        /// Where the copy goes.
        to: usize,
    },
    /// `len` bytes removed at `at`.
    Delete {
        /// Start of the removed range.
        at: usize,
        /// Its length.
        len: usize,
    },
    /// Random bytes overwrite `len` bytes at `at`.
    Scramble {
        /// Start of the overwritten range.
        at: usize,
        /// Its length.
        len: usize,
        /// Seed of the random bytes (so that applying a mutation is deterministic).
        seed: u64,
    },
}

impl std::fmt::Display for Mutation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mutation::FlipBit { offset, bit } => write!(f, "flip bit {bit} of byte {offset}"),
            Mutation::Field {
                offset,
                width,
                big_endian,
                value,
            } => {
                let order = if *big_endian { "be" } else { "le" };
                write!(f, "u{}{order} at {offset} = {value:#x}", width * 8)
            }
            Mutation::Truncate { len } => write!(f, "truncate to {len} bytes"),
            Mutation::Duplicate { from, len, to } => {
                write!(f, "duplicate {len} bytes from {from} at {to}")
            }
            Mutation::Delete { at, len } => write!(f, "delete {len} bytes at {at}"),
            Mutation::Scramble { at, len, .. } => write!(f, "scramble {len} bytes at {at}"),
        }
    }
}

/// A seeded source of mutations: the same seed gives the same cases.
#[derive(Debug, Clone)]
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator drawing from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The random source, for targets that draw their own choices (which seed, which client).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// `input` with one to four stacked mutations, and the mutations applied in order.
    pub fn mutate(&mut self, input: &[u8]) -> (Vec<u8>, Vec<Mutation>) {
        let mut data = input.to_vec();
        let count = self.rng.random_range(1..=4);
        let mut applied = Vec::with_capacity(count);
        for _ in 0..count {
            if let Some(mutation) = self.pick(&data) {
                apply(&mut data, &mutation);
                applied.push(mutation);
            }
        }
        (data, applied)
    }

    /// Draws a mutation that fits `data` (`None` only for an empty input that cannot shrink).
    pub fn pick(&mut self, data: &[u8]) -> Option<Mutation> {
        let len = data.len();
        if len == 0 {
            return None;
        }
        let mutation = match self.rng.random_range(0..100) {
            0..=24 => Mutation::FlipBit {
                offset: self.offset(len),
                bit: self.rng.random_range(0..8),
            },
            25..=59 => {
                let width = [1, 2, 4, 8][self.rng.random_range(0..4)];
                let width = width.min(len);
                let offset = self.offset(len).min(len - width);
                let max = if width == 8 {
                    u64::MAX
                } else {
                    (1u64 << (width * 8)) - 1
                };
                let value = match self.rng.random_range(0..4) {
                    0 => 0,
                    1 => max,
                    2 => self.rng.random_range(1..=16u64).min(max),
                    _ => self.rng.random::<u64>() & max,
                };
                Mutation::Field {
                    offset,
                    width,
                    big_endian: self.rng.random_bool(0.5),
                    value,
                }
            }
            60..=71 => Mutation::Truncate {
                len: self.rng.random_range(0..len),
            },
            72..=81 => {
                let from = self.offset(len);
                let chunk = self.chunk(len - from);
                Mutation::Duplicate {
                    from,
                    len: chunk.min(MAX_LEN.saturating_sub(len)),
                    to: self.offset(len),
                }
            }
            82..=91 => {
                let at = self.offset(len);
                Mutation::Delete {
                    at,
                    len: self.chunk(len - at),
                }
            }
            _ => {
                let at = self.offset(len);
                Mutation::Scramble {
                    at,
                    len: self.chunk(len - at).min(64),
                    seed: self.rng.random(),
                }
            }
        };
        Some(mutation)
    }

    /// An offset in `0..len`, in the header half of the time.
    fn offset(&mut self, len: usize) -> usize {
        if self.rng.random_bool(0.5) {
            self.rng.random_range(0..len.min(HEADER_BYTES))
        } else {
            self.rng.random_range(0..len)
        }
    }

    /// A chunk length in `1..=room` (`room` >= 1), mostly short.
    fn chunk(&mut self, room: usize) -> usize {
        let room = room.max(1);
        let short = 1 + self.rng.random_range(0..16usize);
        if self.rng.random_bool(0.8) {
            short.min(room)
        } else {
            self.rng.random_range(1..=room)
        }
    }
}

/// Applies `mutation` to `data` (offsets past the end are clamped).
pub fn apply(data: &mut Vec<u8>, mutation: &Mutation) {
    let len = data.len();
    match *mutation {
        Mutation::FlipBit { offset, bit } => {
            if let Some(byte) = data.get_mut(offset) {
                *byte ^= 1 << bit;
            }
        }
        Mutation::Field {
            offset,
            width,
            big_endian,
            value,
        } => {
            let bytes = if big_endian {
                value.to_be_bytes()[8 - width..].to_vec()
            } else {
                value.to_le_bytes()[..width].to_vec()
            };
            if offset + width <= len {
                data[offset..offset + width].copy_from_slice(&bytes);
            }
        }
        Mutation::Truncate { len: keep } => data.truncate(keep),
        Mutation::Duplicate { from, len: n, to } => {
            let from = from.min(len);
            let chunk = data[from..(from + n).min(len)].to_vec();
            let to = to.min(data.len());
            data.splice(to..to, chunk);
        }
        Mutation::Delete { at, len: n } => {
            let at = at.min(len);
            data.drain(at..(at + n).min(len));
        }
        Mutation::Scramble { at, len: n, seed } => {
            let end = (at + n).min(len);
            ChaCha8Rng::seed_from_u64(seed).fill_bytes(&mut data[at.min(len)..end]);
        }
    }
}
