//! Merging tiles into the published stats, and finding what changed.
//!
//! Contract: [`merged_sql`] merges the tiles of the users in `candidates` into one row
//! of stats per user as of a day `A` (tiles of days after `A` are not yet counted):
//! 7-day values merge the tiles of `A-6..=A`, 30-day values those of `A-29..=A`, and
//! lifetime values every tile up to `A` (its months and years). Each column is named
//! and typed as the `[stats]` field it fills ([`FIELDS`]). The choices the schema leaves
//! open are:
//! - `activeHoursUtc`: the hours (UTC) the user was active in on at least a quarter of
//!   their active days in the last 30, ascending;
//! - `watchedAds`/`skippedAds`: the distinct ad ids of the last 30 days, sorted;
//! - `lastPurchaseAmounts`: the last ten purchase amounts ever, most recent first;
//! - `isRegularPlayer`: active on at least [`REGULAR_DAYS_30D`] of the last 30 days
//!   with at least [`REGULAR_SESSIONS_7D`] sessions in the last 7;
//! - `avgSessionLength7d`: the 7 days' session time over their sessions (absent with
//!   no session).
//!
//! [`changed_sql`] keeps the rows of `stats_now` that are new or differ in any field
//! from `stats_then`: the users to publish.

use segstream_time::{civil_from_days, CivilDate};

use crate::LakeError;

/// How a field is published (its `[stats]` type in the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// `int`.
    Int,
    /// `double`.
    Double,
    /// `bool`.
    Bool,
    /// `timestamp` (the column holds epoch ms).
    Timestamp,
    /// `duration` (the column holds ms).
    Duration,
    /// `list<int>`.
    Ints,
    /// `list<double>`.
    Doubles,
    /// `list<string>`.
    Strings,
}

impl FieldKind {
    /// The type's name in the schema file.
    pub fn schema_type(self) -> &'static str {
        match self {
            FieldKind::Int => "int",
            FieldKind::Double => "double",
            FieldKind::Bool => "bool",
            FieldKind::Timestamp => "timestamp",
            FieldKind::Duration => "duration",
            FieldKind::Ints => "list<int>",
            FieldKind::Doubles => "list<double>",
            FieldKind::Strings => "list<string>",
        }
    }
}

/// The `[stats]` fields the job computes from events, in output order. (`churnScore`
/// and `predictedLtv90d` are model outputs, not derived from events.)
pub const FIELDS: [(&str, FieldKind); 19] = [
    ("sessionsLast7d", FieldKind::Int),
    ("sessionsLast30d", FieldKind::Int),
    ("daysActiveLast30d", FieldKind::Int),
    ("avgSessionLength7d", FieldKind::Duration),
    ("cardsPlayedLast7d", FieldKind::Int),
    ("adsWatchedLast30d", FieldKind::Int),
    ("adsSkippedLast30d", FieldKind::Int),
    ("adClicksLast30d", FieldKind::Int),
    ("purchasesLast30d", FieldKind::Int),
    ("revenueLast30d", FieldKind::Double),
    ("lifetimePurchases", FieldKind::Int),
    ("lifetimeRevenue", FieldKind::Double),
    ("lastPurchaseAmounts", FieldKind::Doubles),
    ("playerLevel", FieldKind::Int),
    ("lastEngagement", FieldKind::Timestamp),
    ("activeHoursUtc", FieldKind::Ints),
    ("watchedAds", FieldKind::Strings),
    ("skippedAds", FieldKind::Strings),
    ("isRegularPlayer", FieldKind::Bool),
];

/// `isRegularPlayer` needs at least this many active days in the last 30...
pub const REGULAR_DAYS_30D: i64 = 10;
/// ...and at least this many sessions in the last 7.
pub const REGULAR_SESSIONS_7D: i64 = 3;

/// The day `days` after (or before, if negative) `day` (`YYYY-MM-DD`).
pub fn shift_day(day: &str, days: i64) -> Result<String, LakeError> {
    let ms = segstream_time::parse_date(day).map_err(|e| LakeError::Batch(format!("day {day:?}: {e}")))?;
    let CivilDate { year, month, day } = civil_from_days(ms.div_euclid(86_400_000) + days);
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// The stats as of `as_of` of the candidates, from the tile relation `tiles`.
pub fn merged_sql(tiles: &str, as_of: &str) -> Result<String, LakeError> {
    let d7 = shift_day(as_of, -6)?;
    let d30 = shift_day(as_of, -29)?;
    Ok(format!(
        r#"
WITH t AS (
  SELECT tl.* FROM {tiles} tl JOIN candidates c ON tl."user" = c."user" WHERE tl.day <= '{as_of}'
),
w AS (
  SELECT "user",
    SUM(CASE WHEN day >= '{d7}' THEN sessions ELSE 0 END) AS sessions_7d,
    SUM(CASE WHEN day >= '{d30}' THEN sessions ELSE 0 END) AS sessions_30d,
    SUM(CASE WHEN day >= '{d30}' THEN 1 ELSE 0 END) AS days_30d,
    SUM(CASE WHEN day >= '{d7}' THEN session_ms ELSE 0 END) AS session_ms_7d,
    SUM(CASE WHEN day >= '{d7}' THEN cards_played ELSE 0 END) AS cards_7d,
    SUM(CASE WHEN day >= '{d30}' THEN ads_watched ELSE 0 END) AS ads_watched_30d,
    SUM(CASE WHEN day >= '{d30}' THEN ads_skipped ELSE 0 END) AS ads_skipped_30d,
    SUM(CASE WHEN day >= '{d30}' THEN ad_clicks ELSE 0 END) AS ad_clicks_30d,
    SUM(CASE WHEN day >= '{d30}' THEN purchases ELSE 0 END) AS purchases_30d,
    SUM(CASE WHEN day >= '{d30}' THEN revenue_micros ELSE 0 END) AS revenue_micros_30d,
    SUM(purchases) AS purchases_all,
    SUM(revenue_micros) AS revenue_micros_all,
    MAX(max_level) AS player_level,
    MAX(last_engagement_ms) AS last_engagement_ms,
    array_slice(flatten(array_agg(last_purchases ORDER BY day DESC) FILTER (WHERE last_purchases IS NOT NULL)), 1, {kept}) AS last_purchases,
    array_sort(array_distinct(flatten(array_agg(watched_ads) FILTER (WHERE day >= '{d30}' AND watched_ads IS NOT NULL)))) AS watched_ads,
    array_sort(array_distinct(flatten(array_agg(skipped_ads) FILTER (WHERE day >= '{d30}' AND skipped_ads IS NOT NULL)))) AS skipped_ads
  FROM t GROUP BY "user"
),
hours AS (
  SELECT "user", h, COUNT(*) AS days
  FROM (SELECT "user", unnest(active_hours) AS h FROM t WHERE day >= '{d30}' AND active_hours IS NOT NULL)
  GROUP BY "user", h
),
usual AS (
  SELECT hours."user" AS "user", array_agg(hours.h ORDER BY hours.h) AS active_hours
  FROM hours JOIN w ON hours."user" = w."user"
  WHERE hours.days * 4 >= w.days_30d
  GROUP BY hours."user"
)
SELECT w."user" AS "user",
  CAST(w.sessions_7d AS BIGINT) AS "sessionsLast7d",
  CAST(w.sessions_30d AS BIGINT) AS "sessionsLast30d",
  CAST(w.days_30d AS BIGINT) AS "daysActiveLast30d",
  CASE WHEN w.sessions_7d > 0 THEN CAST(w.session_ms_7d / w.sessions_7d AS BIGINT) END AS "avgSessionLength7d",
  CAST(w.cards_7d AS BIGINT) AS "cardsPlayedLast7d",
  CAST(w.ads_watched_30d AS BIGINT) AS "adsWatchedLast30d",
  CAST(w.ads_skipped_30d AS BIGINT) AS "adsSkippedLast30d",
  CAST(w.ad_clicks_30d AS BIGINT) AS "adClicksLast30d",
  CAST(w.purchases_30d AS BIGINT) AS "purchasesLast30d",
  CAST(w.revenue_micros_30d AS DOUBLE) / 1000000.0 AS "revenueLast30d",
  CAST(w.purchases_all AS BIGINT) AS "lifetimePurchases",
  CAST(w.revenue_micros_all AS DOUBLE) / 1000000.0 AS "lifetimeRevenue",
  w.last_purchases AS "lastPurchaseAmounts",
  w.player_level AS "playerLevel",
  w.last_engagement_ms AS "lastEngagement",
  usual.active_hours AS "activeHoursUtc",
  w.watched_ads AS "watchedAds",
  w.skipped_ads AS "skippedAds",
  (w.days_30d >= {regular_days} AND w.sessions_7d >= {regular_sessions}) AS "isRegularPlayer"
FROM w LEFT JOIN usual ON w."user" = usual."user"
"#,
        kept = super::tiles::LAST_PURCHASES_KEPT,
        regular_days = REGULAR_DAYS_30D,
        regular_sessions = REGULAR_SESSIONS_7D,
    ))
}

/// The rows of `stats_now` that `stats_then` lacks or holds otherwise.
pub fn changed_sql() -> String {
    let differs: Vec<String> = FIELDS
        .iter()
        .map(|(name, _)| format!(r#"(n."{name}" IS DISTINCT FROM o."{name}")"#))
        .collect();
    format!(
        r#"SELECT n.* FROM stats_now n LEFT JOIN stats_then o ON n."user" = o."user" WHERE o."user" IS NULL OR {}"#,
        differs.join(" OR ")
    )
}
