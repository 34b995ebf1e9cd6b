//! The stats job: each user's historical `[stats]` fields, computed in DataFusion SQL
//! from the curated table through per-user daily tiles, and published when they change.
//!
//! Contract: [`run`] brings the tile table ([`tiles`]) up to the curated table's current
//! version, then publishes the users whose stats as of a day differ from what the last
//! run published:
//! 1. **Tiles.** The curated files added since the version the tiles cover (a Delta
//!    transaction on the tile table, `segstream-stats`) name the (user, day) pairs they
//!    touch. Only those tiles are recomputed, from all of that user's events of that day,
//!    and written with the untouched tiles of those days in one commit that replaces the
//!    days' partitions and records the curated version covered. A late event therefore
//!    changes its own (user, day) tile and no other; a crash before the commit leaves the
//!    old tiles and the old covered version, so the next run redoes the work.
//! 2. **Publish.** The stats of a user ([`merge`]) can change only if one of their tiles
//!    changed or a window slid over one. The candidates are the users with a tile on a
//!    day rewritten since the last publish, or on a day inside either run's 30-day
//!    window. Their stats are merged twice, from the tiles as last published (Delta time
//!    travel) as of the day then, and from the tiles now as of `as_of`, and only the
//!    rows that differ are handed to `publish`, in batches. Once `publish` has taken
//!    them all, a marker in the tile table's directory (`_segstream_published.json`:
//!    the tile version and the day) records what was published. A crash before the
//!    marker publishes the same rows again: upserts are idempotent.
//!
//! The first run publishes every user, and so does a run whose consumer holds nothing
//! ([`Baseline::Nothing`]: a new classifier or stats store). One job runs per tile table (two at once
//! conflict on the tile commit and one fails). Memory is bounded by [`SessionLimits`];
//! operators spill beyond it.

pub mod merge;
mod published;
pub mod rows_json;
pub mod session;
pub mod tiles;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::sync::Arc;

use deltalake::datafusion::prelude::{DataFrame, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::Transaction;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use futures::StreamExt;

use crate::added_files;
use crate::curated::CuratedTable;
use crate::location::TableLocation;
use crate::table_shape::{self, TableShape};
use crate::LakeError;
pub use published::Published;
pub use rows_json::StatsRow;
pub use session::SessionLimits;

/// The application id of the tile table's transaction: the curated version covered.
const APP_ID: &str = "segstream-stats";

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsReport {
    /// The curated table's version the tiles now cover.
    pub curated_version: u64,
    /// The version they covered before (none before the first run).
    pub covered_before: Option<u64>,
    /// The (user, day) tiles recomputed.
    pub tiles_rebuilt: u64,
    /// The days whose partitions were rewritten.
    pub days_rebuilt: usize,
    /// The users whose stats were compared.
    pub candidates: u64,
    /// The users published (their stats changed).
    pub published: u64,
    /// The day the stats are as of.
    pub as_of: String,
}

/// What the consumer of the published stats already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// What this tile table last published (its marker): only users whose stats changed
    /// since are published.
    LastPublished,
    /// Nothing (a new classifier, an empty stats store): every user is published.
    Nothing,
}

/// Runs the job once (see the module contract): tiles from `curated` into the tile
/// table at `tiles_location` (created if missing), stats as of the day `as_of`
/// (`YYYY-MM-DD`, UTC), the rows that differ from `baseline` handed to `publish`.
pub async fn run(
    curated: &CuratedTable,
    tiles_location: &TableLocation,
    as_of: &str,
    baseline: Baseline,
    limits: &SessionLimits,
    publish: &mut dyn FnMut(Vec<StatsRow>) -> Result<(), String>,
) -> Result<StatsReport, LakeError> {
    merge::shift_day(as_of, 0)?;
    let context = session::context(limits)?;
    let url = tiles_location.url.to_string();
    let mut tiles = table_shape::open_or_create(tiles_location, &tile_shape()).await?;
    let mut report = StatsReport {
        curated_version: curated.version().unwrap_or(0),
        as_of: as_of.to_string(),
        ..StatsReport::default()
    };
    report.covered_before = covered_version(&tiles, &url).await?;
    if report.covered_before != Some(report.curated_version) {
        tiles = rebuild_tiles(&context, curated, tiles, &url, &mut report).await?;
    }
    let now_version = tiles.version().unwrap_or(0);
    let last = match baseline {
        Baseline::LastPublished => published::read(&tiles, &url).await?,
        Baseline::Nothing => None,
    };
    if last.as_ref().is_some_and(|p| p.tiles_version == now_version && p.as_of == as_of) {
        return Ok(report);
    }
    publish_changes(&context, &tiles, &url, last.as_ref(), as_of, &mut report, publish).await?;
    published::write(
        &tiles,
        &url,
        &Published {
            tiles_version: now_version,
            as_of: as_of.to_string(),
        },
    )
    .await?;
    Ok(report)
}

fn tile_shape() -> TableShape<'static> {
    TableShape {
        kind: "stats tiles",
        name: "user_day_tiles".into(),
        columns: tiles::columns(),
        partitions: &tiles::TILE_PARTITIONS,
    }
}

fn query_error(what: &str) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> LakeError + '_ {
    move |e| LakeError::Query {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

async fn covered_version(tiles: &DeltaTable, url: &str) -> Result<Option<u64>, LakeError> {
    let snapshot = tiles.snapshot().map_err(|e| LakeError::table(url, e))?;
    let version = snapshot
        .transaction_version(tiles.log_store().as_ref(), APP_ID)
        .await
        .map_err(|e| LakeError::table(url, e))?;
    Ok(version.and_then(|v| u64::try_from(v).ok()))
}

/// The files of `table` not in its version `since` (all of them if none), with the
/// value of the partition column `partition` of each.
async fn files_added_since(table: &DeltaTable, url: &str, since: Option<u64>, partition: &str) -> Result<Vec<(String, String)>, LakeError> {
    added_files::added_since(table, url, since, |f| {
        let value = f.partition_values_map().remove(partition).flatten().unwrap_or_default();
        (f.object_store_path().to_string(), value)
    })
    .await
}

async fn register_table(
    context: &SessionContext,
    name: &str,
    table: &DeltaTable,
    url: &str,
    paths: Option<Vec<String>>,
) -> Result<(), LakeError> {
    table
        .update_datafusion_session(&context.state())
        .map_err(|e| LakeError::table(url, e))?;
    let mut builder = table.table_provider();
    if let Some(paths) = paths {
        builder = builder.with_file_paths(paths);
    }
    let provider = builder.build().await.map_err(query_error(name))?;
    context.deregister_table(name).map_err(query_error(name))?;
    context.register_table(name, Arc::new(provider)).map_err(query_error(name))?;
    Ok(())
}

async fn sql(context: &SessionContext, what: &str, text: &str) -> Result<DataFrame, LakeError> {
    context.sql(text).await.map_err(query_error(what))
}

async fn rebuild_tiles(
    context: &SessionContext,
    curated: &CuratedTable,
    tiles: DeltaTable,
    url: &str,
    report: &mut StatsReport,
) -> Result<DeltaTable, LakeError> {
    let curated_url = curated.location().to_string();
    let added = files_added_since(curated.delta(), &curated_url, report.covered_before, "event_date").await?;
    let days: BTreeSet<String> = added.iter().map(|(_, day)| day.clone()).collect();
    register_table(context, "curated", curated.delta(), &curated_url, None).await?;
    register_table(
        context,
        "curated_new",
        curated.delta(),
        &curated_url,
        Some(added.into_iter().map(|(path, _)| path).collect()),
    )
    .await?;
    register_table(context, "tiles", &tiles, url, None).await?;
    let touched = sql(context, "finding the touched tiles", tiles::TOUCHED_SQL).await?;
    context.deregister_table("touched").map_err(query_error("touched"))?;
    let touched = touched.cache().await.map_err(query_error("finding the touched tiles"))?;
    report.tiles_rebuilt = touched.clone().count().await.map_err(query_error("counting the touched tiles"))? as u64;
    context
        .register_table("touched", touched.into_view())
        .map_err(query_error("touched"))?;
    report.days_rebuilt = days.len();
    let list = tiles::sql_list(&days);
    let fresh = sql(
        context,
        "computing the tiles",
        &tiles::TILE_SQL
            .replace("{days}", &list)
            .replace("{kept}", &tiles::LAST_PURCHASES_KEPT.to_string()),
    )
    .await?;
    let kept = sql(
        context,
        "keeping the untouched tiles",
        &tiles::KEPT_TILES_SQL.replace("{days}", &list),
    )
    .await?;
    let plan = fresh
        .union(kept)
        .map_err(query_error("computing the tiles"))?
        .into_unoptimized_plan();
    let transaction =
        Transaction::new_with_last_update(APP_ID, report.curated_version as i64, Some(segstream_time::wall_clock_ms() as i64));
    let mut write = tiles
        .write(Vec::new())
        .with_input_plan(plan)
        .with_session_state(Arc::new(context.state()))
        .with_commit_properties(CommitProperties::default().with_application_transaction(transaction));
    if !days.is_empty() {
        write = write
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(format!("day IN ({list})"));
    }
    write.await.map_err(|e| LakeError::table(url, e))
}

async fn publish_changes(
    context: &SessionContext,
    tiles: &DeltaTable,
    url: &str,
    last: Option<&Published>,
    as_of: &str,
    report: &mut StatsReport,
    publish: &mut dyn FnMut(Vec<StatsRow>) -> Result<(), String>,
) -> Result<(), LakeError> {
    register_table(context, "tiles_now", tiles, url, None).await?;
    let candidates = match last {
        None => r#"SELECT DISTINCT "user" FROM tiles_now"#.to_string(),
        Some(last) => {
            let changed: BTreeSet<String> = files_added_since(tiles, url, Some(last.tiles_version), "day")
                .await?
                .into_iter()
                .map(|(_, day)| day)
                .collect();
            let (low, high) = if last.as_of.as_str() < as_of {
                (last.as_of.as_str(), as_of)
            } else {
                (as_of, last.as_of.as_str())
            };
            let mut then = tiles.clone();
            then.load_version(last.tiles_version).await.map_err(|e| LakeError::table(url, e))?;
            register_table(context, "tiles_then", &then, url, None).await?;
            format!(
                r#"SELECT DISTINCT "user" FROM tiles_now WHERE (day >= '{}' AND day <= '{high}') OR day IN ({})"#,
                merge::shift_day(low, -30)?,
                tiles::sql_list(&changed)
            )
        }
    };
    let candidates = sql(context, "choosing the users to compare", &candidates).await?;
    let candidates = candidates.cache().await.map_err(query_error("choosing the users to compare"))?;
    report.candidates = candidates.clone().count().await.map_err(query_error("counting candidates"))? as u64;
    context.deregister_table("candidates").map_err(query_error("candidates"))?;
    context
        .register_table("candidates", candidates.into_view())
        .map_err(query_error("candidates"))?;
    let now = sql(context, "merging the tiles", &merge::merged_sql("tiles_now", as_of)?).await?;
    let changed = match last {
        None => now,
        Some(last) => {
            let then = sql(
                context,
                "merging the published tiles",
                &merge::merged_sql("tiles_then", &last.as_of)?,
            )
            .await?;
            for (name, frame) in [("stats_now", now), ("stats_then", then)] {
                context.deregister_table(name).map_err(query_error(name))?;
                context.register_table(name, frame.into_view()).map_err(query_error(name))?;
            }
            sql(context, "comparing with the published stats", &merge::changed_sql()).await?
        }
    };
    let mut stream = changed.execute_stream().await.map_err(query_error("merging the tiles"))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(query_error("merging the tiles"))?;
        let rows = rows_json::to_json_rows(&batch)?;
        report.published += rows.len() as u64;
        if !rows.is_empty() {
            publish(rows).map_err(LakeError::Publish)?;
        }
    }
    Ok(())
}
