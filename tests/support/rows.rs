//! An in-memory table for the iterable-job tests: the backfill example's
//! releases run on it, and it is a `World` for the kit.
#![allow(dead_code)]

#[path = "../../examples/backfill/releases.rs"]
pub mod releases;

use jobwire::testing::World;
use jobwire::HandlerError;
use releases::Table;
use std::sync::{Arc, Mutex};

/// Rows by id, sorted, and every write, in order.
#[derive(Clone, Default)]
pub struct Rows {
    pub ids: Arc<Vec<u64>>,
    pub written: Arc<Mutex<Vec<u64>>>,
}

impl Rows {
    pub fn ids(n: u64) -> Rows {
        Rows::with_items(&(1..=n).collect::<Vec<_>>())
    }
}

impl World for Rows {
    fn with_items(items: &[u64]) -> Self {
        let mut ids = items.to_vec();
        ids.sort_unstable();
        Rows {
            ids: Arc::new(ids),
            written: Arc::default(),
        }
    }

    fn performed(&self) -> Vec<u64> {
        self.written.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

impl Table for Rows {
    async fn ids_after(&self, after: Option<u64>, limit: usize) -> Result<Vec<u64>, HandlerError> {
        let from = after.map_or(0, |after| self.ids.partition_point(|id| *id <= after));
        Ok(self.ids.iter().skip(from).take(limit).copied().collect())
    }

    async fn write(&self, ids: &[u64]) -> Result<(), HandlerError> {
        self.written
            .lock()
            .map_err(|_| HandlerError::permanent("poisoned"))?
            .extend_from_slice(ids);
        Ok(())
    }
}
