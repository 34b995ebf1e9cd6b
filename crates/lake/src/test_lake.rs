//! A raw and a curated table in a scratch directory, for the lake's tests.
//!
//! Contract: [`Lake`] commits payloads to a raw table (one partition, dense offsets),
//! compacts them into its curated table and remembers what was sent, in order.

use std::collections::BTreeMap;

use crate::curated::{CompactReport, CuratedTable, Quiet};
use crate::location::TableLocation;
use crate::raw_table::RawTable;
use crate::records::SourceRecord;

pub fn runtime() -> tokio::runtime::Runtime {
    crate::runtime().unwrap_or_else(|e| panic!("{e}"))
}

pub fn scratch(name: &str) -> TableLocation {
    let dir = std::env::temp_dir().join(format!("segstream-lake-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TableLocation::parse(&dir.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// A raw table and a curated table, and what was sent to the raw one, in order.
pub struct Lake {
    pub runtime: tokio::runtime::Runtime,
    pub raw_at: TableLocation,
    pub curated: CuratedTable,
    pub sent: Vec<Vec<u8>>,
    pub next_offset: i64,
}

impl Lake {
    pub fn new(name: &str) -> Lake {
        let runtime = runtime();
        let (raw_at, curated_at) = (scratch(&format!("{name}-raw")), scratch(&format!("{name}-curated")));
        let curated = runtime
            .block_on(CuratedTable::open_or_create(&curated_at, "events"))
            .unwrap_or_else(|e| panic!("{e}"));
        Lake {
            runtime,
            raw_at,
            curated,
            sent: Vec::new(),
            next_offset: 0,
        }
    }

    pub fn raw(&self) -> RawTable {
        self.runtime
            .block_on(RawTable::open_or_create(&self.raw_at, "events"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Commits `payloads` to the raw table, ingested at `at`.
    pub fn send(&mut self, payloads: &[Vec<u8>], at: i64) {
        let mut raw = self.raw();
        let records: Vec<SourceRecord> = payloads
            .iter()
            .map(|payload| {
                self.next_offset += 1;
                SourceRecord {
                    partition: 0,
                    offset: self.next_offset - 1,
                    key: None,
                    payload: Some(payload.clone()),
                    timestamp_ms: None,
                }
            })
            .collect();
        let next = BTreeMap::from([(0, self.next_offset)]);
        self.runtime
            .block_on(raw.commit(&records, &next, at))
            .unwrap_or_else(|e| panic!("{e}"));
        self.sent.extend(payloads.iter().cloned());
    }

    pub fn compact(&mut self) -> CompactReport {
        let raw = self.raw();
        self.runtime
            .block_on(self.curated.compact(&raw, &Quiet))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}
