//! TensorBoard event files: TFRecord framing around protobuf `Event` messages, written and read
//! by hand (the format is small and documented; no crate for it is both small and well kept).
//!
//! A record is `u64 LE length`, `masked CRC-32C of the length bytes`, the data, and the masked
//! CRC-32C of the data; mask = `((crc >> 15) | (crc << 17)) + 0xa282ead8`. The messages follow
//! tensorboard's `event.proto`, `summary.proto`, `tensor.proto`: `Event { wall_time = 1 double,
//! step = 2 int64, file_version = 3 string, summary = 5 }`, `Summary { value = 1 repeated }`,
//! `Summary.Value { tag = 1, simple_value = 2 float, metadata = 9, tensor = 8 }`,
//! `SummaryMetadata { plugin_data = 1 { plugin_name = 1 } }`, `TensorProto { dtype = 1,
//! tensor_shape = 2 { dim = 2 { size = 1 } }, string_val = 8 }`.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The first record of every event file.
pub const FILE_VERSION: &str = "brain.Event:2";

const fn crc32c_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut k = 0;
        while k < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
            k += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
}

static CRC32C: [u32; 256] = crc32c_table();

/// CRC-32C (Castagnoli) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc = CRC32C[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// TFRecord's masked CRC.
pub fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// One TFRecord frame around `data`.
pub fn frame(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// What one event carries besides its time and step.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The file-version record (`brain.Event:2`).
    FileVersion(String),
    /// A scalar summary.
    Scalar {
        /// Its tag (`train/loss`, ...).
        tag: String,
        /// Its value.
        value: f32,
    },
    /// A text summary (TensorBoard's text plugin).
    Text {
        /// Its tag.
        tag: String,
        /// The text (Markdown).
        text: String,
    },
}

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
    /// The global step.
    pub step: i64,
    /// Its content.
    pub payload: Payload,
}

/// The protobuf encoding of `record` as an `Event`.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, 1, 1);
    out.extend_from_slice(&record.wall_time.to_le_bytes());
    if record.step != 0 {
        key(&mut out, 2, 0);
        varint(&mut out, record.step as u64);
    }
    match &record.payload {
        Payload::FileVersion(v) => bytes_field(&mut out, 3, v.as_bytes()),
        Payload::Scalar { tag, value: v } => {
            let mut value = Vec::new();
            bytes_field(&mut value, 1, tag.as_bytes());
            key(&mut value, 2, 5);
            value.extend_from_slice(&v.to_le_bytes());
            let mut summary = Vec::new();
            bytes_field(&mut summary, 1, &value);
            bytes_field(&mut out, 5, &summary);
        }
        Payload::Text { tag, text } => {
            let mut plugin = Vec::new();
            bytes_field(&mut plugin, 1, b"text");
            let mut metadata = Vec::new();
            bytes_field(&mut metadata, 1, &plugin);
            let mut dim = Vec::new();
            key(&mut dim, 1, 0);
            varint(&mut dim, 1);
            let mut shape = Vec::new();
            bytes_field(&mut shape, 2, &dim);
            let mut tensor = Vec::new();
            key(&mut tensor, 1, 0);
            varint(&mut tensor, 7); // DT_STRING
            bytes_field(&mut tensor, 2, &shape);
            bytes_field(&mut tensor, 8, text.as_bytes());
            let mut value = Vec::new();
            bytes_field(&mut value, 1, tag.as_bytes());
            bytes_field(&mut value, 8, &tensor);
            bytes_field(&mut value, 9, &metadata);
            let mut summary = Vec::new();
            bytes_field(&mut summary, 1, &value);
            bytes_field(&mut out, 5, &summary);
        }
    }
    out
}

/// The fields of one protobuf message.
struct Fields<'a> {
    data: &'a [u8],
}

enum Field<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Fixed32([u8; 4]),
    Bytes(&'a [u8]),
}

fn read_varint(data: &[u8], at: &mut usize) -> Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = data.get(*at) else {
            bail!("truncated varint")
        };
        *at += 1;
        v |= u64::from(b & 0x7F) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    bail!("varint longer than 10 bytes")
}

impl<'a> Fields<'a> {
    fn all(self) -> Result<Vec<(u32, Field<'a>)>> {
        let data = self.data;
        let mut at = 0;
        let mut out = Vec::new();
        while at < data.len() {
            let k = read_varint(data, &mut at)?;
            let (field, wire) = ((k >> 3) as u32, k & 7);
            let take = |at: &mut usize, n: usize| -> Result<&'a [u8]> {
                let s = data.get(*at..*at + n).context("truncated field")?;
                *at += n;
                Ok(s)
            };
            let value = match wire {
                0 => Field::Varint(read_varint(data, &mut at)?),
                1 => Field::Fixed64(take(&mut at, 8)?.try_into()?),
                5 => Field::Fixed32(take(&mut at, 4)?.try_into()?),
                2 => {
                    let n = read_varint(data, &mut at)? as usize;
                    Field::Bytes(take(&mut at, n)?)
                }
                w => bail!("unsupported protobuf wire type {w}"),
            };
            out.push((field, value));
        }
        Ok(out)
    }
}

fn fields(data: &[u8]) -> Result<Vec<(u32, Field<'_>)>> {
    Fields { data }.all()
}

fn text_of(value: &[u8]) -> Result<Option<String>> {
    for (f, v) in fields(value)? {
        if let (8, Field::Bytes(tensor)) = (f, v) {
            for (f, v) in fields(tensor)? {
                if let (8, Field::Bytes(s)) = (f, v) {
                    return Ok(Some(String::from_utf8_lossy(s).into_owned()));
                }
            }
        }
    }
    Ok(None)
}

/// Decodes an `Event`; summaries yield one record per value (scalars and text only).
pub fn decode(data: &[u8]) -> Result<Vec<Record>> {
    let (mut wall_time, mut step) = (0.0, 0i64);
    let mut payloads = Vec::new();
    for (f, v) in fields(data)? {
        match (f, v) {
            (1, Field::Fixed64(b)) => wall_time = f64::from_le_bytes(b),
            (2, Field::Varint(s)) => step = s as i64,
            (3, Field::Bytes(s)) => payloads.push(Payload::FileVersion(
                String::from_utf8_lossy(s).into_owned(),
            )),
            (5, Field::Bytes(summary)) => {
                for (f, v) in fields(summary)? {
                    let (1, Field::Bytes(value)) = (f, v) else {
                        continue;
                    };
                    let mut tag = String::new();
                    let mut scalar = None;
                    for (f, v) in fields(value)? {
                        match (f, v) {
                            (1, Field::Bytes(t)) => tag = String::from_utf8_lossy(t).into_owned(),
                            (2, Field::Fixed32(b)) => scalar = Some(f32::from_le_bytes(b)),
                            _ => {}
                        }
                    }
                    if let Some(value) = scalar {
                        payloads.push(Payload::Scalar { tag, value });
                    } else if let Some(text) = text_of(value)? {
                        payloads.push(Payload::Text { tag, text });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(payloads
        .into_iter()
        .map(|payload| Record {
            wall_time,
            step,
            payload,
        })
        .collect())
}

/// The raw frames of an event file's bytes, each CRC checked; a truncated last record (a run
/// killed mid-write) ends the list without an error, as TensorBoard's reader does.
pub fn frames(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into()?) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into()?);
        if len_crc != masked_crc(len_bytes) {
            bail!("record at byte {at}: the length's CRC does not match");
        }
        let Some(end) = (at + 12).checked_add(len).filter(|e| e + 4 <= bytes.len()) else {
            break;
        };
        let data = &bytes[at + 12..end];
        let crc = u32::from_le_bytes(bytes[end..end + 4].try_into()?);
        if crc != masked_crc(data) {
            bail!("record at byte {at}: the data's CRC does not match");
        }
        out.push(data);
        at = end + 4;
    }
    Ok(out)
}

/// Every record of the event file at `path`.
pub fn read(path: &Path) -> Result<Vec<Record>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for data in frames(&bytes).with_context(|| format!("{} is damaged", path.display()))? {
        out.extend(decode(data).with_context(|| format!("{} is damaged", path.display()))?);
    }
    Ok(out)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An event file open for appending; keeps the time spent writing (its overhead).
pub struct EventWriter {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    spent: Duration,
    records: usize,
}

impl EventWriter {
    /// A new file at `path` (replacing one there) starting with the file-version record.
    pub fn create(path: &Path) -> Result<Self> {
        Self::create_with(path, &[])
    }

    /// A new file at `path` holding the file-version record and then `keep` (already-encoded
    /// `Event`s, e.g. those of a resumed run up to its checkpoint), written atomically.
    pub fn create_with(path: &Path, keep: &[&[u8]]) -> Result<Self> {
        let started = Instant::now();
        let mut bytes = frame(&encode(&Record {
            wall_time: now(),
            step: 0,
            payload: Payload::FileVersion(FILE_VERSION.into()),
        }));
        for data in keep {
            bytes.extend(frame(data));
        }
        crate::io::atomic::write(path, &bytes)?;
        let mut writer = Self::append(path)?;
        writer.spent += started.elapsed();
        Ok(writer)
    }

    /// Opens `path` to append to it.
    pub fn append(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {} to append events", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
            spent: Duration::ZERO,
            records: 0,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write(&mut self, step: i64, payload: Payload) -> Result<()> {
        let started = Instant::now();
        let data = encode(&Record {
            wall_time: now(),
            step,
            payload,
        });
        self.file
            .write_all(&frame(&data))
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.records += 1;
        self.spent += started.elapsed();
        Ok(())
    }

    /// Appends a scalar.
    pub fn scalar(&mut self, tag: &str, step: i64, value: f64) -> Result<()> {
        self.write(
            step,
            Payload::Scalar {
                tag: tag.into(),
                value: value as f32,
            },
        )
    }

    /// Appends a text summary.
    pub fn text(&mut self, tag: &str, step: i64, text: &str) -> Result<()> {
        self.write(
            step,
            Payload::Text {
                tag: tag.into(),
                text: text.into(),
            },
        )
    }

    /// Writes buffered records to the file (TensorBoard sees them from then on).
    pub fn flush(&mut self) -> Result<()> {
        let started = Instant::now();
        self.file
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.spent += started.elapsed();
        Ok(())
    }

    /// Time spent encoding and writing so far, and records written (since opening).
    pub fn overhead(&self) -> (Duration, usize) {
        (self.spent, self.records)
    }
}

/// Reopens the event file at `path` for a resumed run: rewrites it keeping only the events up
/// to `last_step` (those of finished epochs; a killed epoch's steps would otherwise appear
/// twice), then appends. A missing or damaged file starts afresh.
pub fn resume(path: &Path, last_step: i64) -> Result<EventWriter> {
    let Ok(bytes) = std::fs::read(path) else {
        return EventWriter::create(path);
    };
    let Ok(all) = frames(&bytes) else {
        return EventWriter::create(path);
    };
    let mut keep = Vec::new();
    for data in all {
        let records = decode(data)?;
        let Some(first) = records.first() else {
            continue;
        };
        if matches!(first.payload, Payload::FileVersion(_)) || first.step > last_step {
            continue;
        }
        keep.push(data);
    }
    EventWriter::create_with(path, &keep)
}
