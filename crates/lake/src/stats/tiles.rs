//! The daily tiles: one row per (user, UTC day) of mergeable counts, sums and lists.
//!
//! Contract: a tile holds what one user did on one day of event time, in a form that
//! merges by addition, maximum or concatenation (sums and counts, never averages), so
//! every window, month or lifetime value is a merge of tiles ([`super::merge`]). The
//! tiles live in a Delta table partitioned by `day`. [`TILE_SQL`] computes the tiles of
//! the (user, day) pairs in `touched` from the curated table: a late event touches only
//! its own pair, so only that tile's values change. Sessions are counted from
//! `session_started`; a session's length runs from its start to the user's last event
//! before the next start on the same day (a session that crosses midnight counts on each
//! day for the part it spent there). Revenue is kept in whole micro-dollars so that sums
//! are exact and independent of the order rows are added in. "Engagement" is any event
//! but `app_closed` and `ad_shown` (the app leaving the screen and an ad merely shown
//! are not actions of the user).

use deltalake::kernel::{ArrayType, DataType, StructField};

/// The tile table's partition column.
pub const TILE_PARTITIONS: [&str; 1] = ["day"];

/// The tile table's columns (all nullable: a tile is rewritten whole, never patched).
pub fn columns() -> Vec<StructField> {
    let list = |element: DataType| DataType::Array(Box::new(ArrayType::new(element, true)));
    [
        ("user", DataType::STRING),
        ("events", DataType::LONG),
        ("sessions", DataType::LONG),
        ("session_ms", DataType::LONG),
        ("cards_played", DataType::LONG),
        ("ads_watched", DataType::LONG),
        ("ads_skipped", DataType::LONG),
        ("ad_clicks", DataType::LONG),
        ("purchases", DataType::LONG),
        ("revenue_micros", DataType::LONG),
        ("last_purchases", list(DataType::DOUBLE)),
        ("max_level", DataType::LONG),
        ("last_engagement_ms", DataType::LONG),
        ("active_hours", list(DataType::LONG)),
        ("watched_ads", list(DataType::STRING)),
        ("skipped_ads", list(DataType::STRING)),
        ("day", DataType::STRING),
    ]
    .into_iter()
    .map(|(name, data_type)| StructField::new(name, data_type, true))
    .collect()
}

/// The most purchase amounts a tile (and the merged stat) keeps, most recent first.
pub const LAST_PURCHASES_KEPT: usize = 10;

/// The tiles of every (user, day) in the relation `touched("user", day)`, from the
/// relation `curated` (the curated table), read only on the dates `{days}` (a SQL list
/// of date literals). Columns in the tile table's order.
pub const TILE_SQL: &str = r#"
WITH ev AS (
  SELECT c."user" AS "user", c.event_date AS day, c.event_type AS event_type,
         c.event_time_ms AS t, c.event_id AS event_id, CAST(c.payload AS VARCHAR) AS body
  FROM curated c JOIN touched k ON c."user" = k."user" AND c.event_date = k.day
  WHERE c.event_date IN ({days})
),
props AS (
  SELECT "user", day, event_type, t, event_id,
         CASE WHEN event_type = 'purchase' THEN json_get_float(body, 'properties', 'amount') END AS amount,
         CASE WHEN event_type = 'level_up' THEN json_get_int(body, 'properties', 'level') END AS level,
         CASE WHEN event_type IN ('ad_watched', 'ad_skipped') THEN json_get_str(body, 'properties', 'ad_id') END AS ad_id
  FROM ev
),
numbered AS (
  SELECT "user", day, t,
         SUM(CASE WHEN event_type = 'session_started' THEN 1 ELSE 0 END)
           OVER (PARTITION BY "user", day ORDER BY t, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_no
  FROM ev
),
lengths AS (
  SELECT "user", day, SUM(length_ms) AS session_ms
  FROM (SELECT "user", day, session_no, MAX(t) - MIN(t) AS length_ms FROM numbered WHERE session_no > 0 GROUP BY "user", day, session_no)
  GROUP BY "user", day
),
daily AS (
  SELECT "user", day,
    CAST(COUNT(*) AS BIGINT) AS events,
    CAST(COUNT(*) FILTER (WHERE event_type = 'session_started') AS BIGINT) AS sessions,
    CAST(COUNT(*) FILTER (WHERE event_type = 'card_played') AS BIGINT) AS cards_played,
    CAST(COUNT(*) FILTER (WHERE event_type = 'ad_watched') AS BIGINT) AS ads_watched,
    CAST(COUNT(*) FILTER (WHERE event_type = 'ad_skipped') AS BIGINT) AS ads_skipped,
    CAST(COUNT(*) FILTER (WHERE event_type = 'ad_clicked') AS BIGINT) AS ad_clicks,
    CAST(COUNT(*) FILTER (WHERE event_type = 'purchase') AS BIGINT) AS purchases,
    CAST(COALESCE(SUM(CAST(ROUND(amount * 1000000.0) AS BIGINT)), 0) AS BIGINT) AS revenue_micros,
    array_slice(array_agg(amount ORDER BY t DESC, event_id DESC) FILTER (WHERE amount IS NOT NULL), 1, {kept}) AS last_purchases,
    CAST(MAX(level) AS BIGINT) AS max_level,
    MAX(t) FILTER (WHERE event_type IS NULL OR event_type NOT IN ('app_closed', 'ad_shown')) AS last_engagement_ms,
    array_sort(array_agg(DISTINCT CAST((t / 3600000) % 24 AS BIGINT))) AS active_hours,
    array_sort(array_agg(DISTINCT ad_id) FILTER (WHERE event_type = 'ad_watched' AND ad_id IS NOT NULL)) AS watched_ads,
    array_sort(array_agg(DISTINCT ad_id) FILTER (WHERE event_type = 'ad_skipped' AND ad_id IS NOT NULL)) AS skipped_ads
  FROM props GROUP BY "user", day
)
SELECT d."user", d.events, d.sessions, CAST(COALESCE(l.session_ms, 0) AS BIGINT) AS session_ms, d.cards_played,
       d.ads_watched, d.ads_skipped, d.ad_clicks, d.purchases, d.revenue_micros, d.last_purchases,
       d.max_level, d.last_engagement_ms, d.active_hours, d.watched_ads, d.skipped_ads, d.day
FROM daily d LEFT JOIN lengths l ON d."user" = l."user" AND d.day = l.day
"#;

/// The tiles of `{days}` (a SQL list of date literals) that `touched` does not name:
/// those a rebuild keeps as they are.
pub const KEPT_TILES_SQL: &str = r#"
SELECT t.* FROM tiles t LEFT JOIN touched k ON t."user" = k."user" AND t.day = k.day
WHERE t.day IN ({days}) AND k."user" IS NULL
"#;

/// The (user, day) pairs of the relation `curated_new` (the curated files added since
/// the tiles were last built).
pub const TOUCHED_SQL: &str = r#"SELECT DISTINCT "user", event_date AS day FROM curated_new"#;

/// A SQL list of string literals (dates never hold a quote; one would be doubled).
pub fn sql_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let quoted: Vec<String> = items.into_iter().map(|d| format!("'{}'", d.replace('\'', "''"))).collect();
    if quoted.is_empty() {
        "NULL".into()
    } else {
        quoted.join(", ")
    }
}
