//! The DataFusion session the stats job runs its SQL in.
//!
//! Contract: [`context`] builds a session whose operators share a memory pool of at
//! most `memory_limit` bytes, fairly among those that can spill; sorts, aggregations
//! and joins that would go over it spill to files in `spill_dir` (the system's
//! temporary directory by default) instead of failing. The JSON functions
//! (`json_get_str`, `json_get_int`, `json_get_float`, ...) read event properties from
//! payloads. Plans are Delta-aware (deltalake's session defaults).

use std::path::PathBuf;
use std::sync::Arc;

use deltalake::datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::delta_datafusion::DeltaSessionContext;

use crate::LakeError;

/// The job's memory limit and where it spills.
#[derive(Clone, Debug)]
pub struct SessionLimits {
    /// The most bytes the query operators hold at once.
    pub memory_limit: usize,
    /// Where they spill (the system's temporary directory if none).
    pub spill_dir: Option<PathBuf>,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            memory_limit: 1 << 30,
            spill_dir: None,
        }
    }
}

/// A session with `limits` (see the module contract).
pub fn context(limits: &SessionLimits) -> Result<SessionContext, LakeError> {
    let mode = match &limits.spill_dir {
        Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
        None => DiskManagerMode::OsTmpDirectory,
    };
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(limits.memory_limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
        .build_arc()
        .map_err(|e| LakeError::Query {
            what: "starting the query engine".into(),
            reason: e.to_string(),
        })?;
    let mut context = DeltaSessionContext::with_runtime_env(runtime).into_inner();
    // A sort sets memory aside to merge its spilled runs; the default (10 MiB per sort)
    // would not fit a small limit, so it is a sixteenth of the limit.
    let reserve = (limits.memory_limit / 16).max(64 << 10);
    let options = context.state_ref();
    options.write().config_mut().options_mut().execution.sort_spill_reservation_bytes = reserve;
    datafusion_functions_json::register_all(&mut context).map_err(|e| LakeError::Query {
        what: "registering the JSON functions".into(),
        reason: e.to_string(),
    })?;
    Ok(context)
}
