//! The rules repository in SQLite.
//!
//! Contract: one database file in WAL mode with `synchronous = FULL`, so a committed
//! publish survives a crash. Opening checks the file (`PRAGMA quick_check`) and creates
//! the tables if they are missing; a damaged file is refused with
//! [`StoreError::Corrupt`], never overwritten. A commit runs under `BEGIN IMMEDIATE` (the
//! write lock is taken before anything is read, so two writers cannot both pass the
//! revision check) and waits up to `busy_wait` for another writer before answering
//! [`StoreError::Busy`]. `:memory:` opens a private in-memory database (tests).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use super::{AuditRow, ChangeSet, FileRow, RuleStore, SegmentRow, StoreError, VersionRow, VersionState, Write};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS segments (
    id TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    position INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    published INTEGER,
    latest INTEGER NOT NULL,
    archived INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    segment TEXT NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('draft', 'published', 'archived')),
    author TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    comment TEXT NOT NULL,
    PRIMARY KEY (segment, version)
);
CREATE TABLE IF NOT EXISTS files (name TEXT PRIMARY KEY, preamble TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    segment TEXT NOT NULL,
    from_version INTEGER,
    to_version INTEGER,
    before TEXT,
    after TEXT,
    comment TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_segment ON audit (segment, id);
CREATE TABLE IF NOT EXISTS ruleset (one INTEGER PRIMARY KEY CHECK (one = 1), version INTEGER NOT NULL);
INSERT OR IGNORE INTO ruleset (one, version) VALUES (1, 0);
";

/// The SQLite store (see the module contract).
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

fn classify(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy(error.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt(error.to_string()),
        _ => StoreError::Failed(error.to_string()),
    }
}

fn state_of(text: &str) -> Result<VersionState, rusqlite::Error> {
    VersionState::parse(text).ok_or_else(|| rusqlite::Error::InvalidColumnType(3, format!("state {text:?}"), rusqlite::types::Type::Text))
}

fn version_row(row: &rusqlite::Row<'_>) -> Result<VersionRow, rusqlite::Error> {
    Ok(VersionRow {
        segment: row.get(0)?,
        version: row.get(1)?,
        text: row.get(2)?,
        state: state_of(&row.get::<_, String>(3)?)?,
        author: row.get(4)?,
        created_at: row.get::<_, i64>(5)?.max(0) as u64,
        comment: row.get(6)?,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path, busy_wait: Duration) -> Result<SqliteStore, StoreError> {
        let connection = Connection::open(path).map_err(classify)?;
        connection.busy_timeout(busy_wait).map_err(classify)?;
        let check: String = connection.query_row("PRAGMA quick_check", [], |row| row.get(0)).map_err(classify)?;
        if check != "ok" {
            return Err(StoreError::Corrupt(format!("{}: {check}", path.display())));
        }
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(classify)?;
        connection.execute_batch(SCHEMA).map_err(classify)?;
        Ok(SqliteStore {
            connection: Mutex::new(connection),
        })
    }

    /// A private in-memory database.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::open(Path::new(":memory:"), Duration::from_secs(1))
    }

    fn with<T>(&self, read: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error>) -> Result<T, StoreError> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Failed("a previous request panicked while holding the database".into()))?;
        read(&mut connection).map_err(classify)
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, write: &Write) -> Result<(), rusqlite::Error> {
    match write {
        Write::Segment {
            id,
            file,
            position,
            published,
            latest,
            archived,
        } => {
            tx.execute(
                "INSERT INTO segments (id, file, position, revision, published, latest, archived)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                 ON CONFLICT (id) DO UPDATE SET file = ?2, position = ?3, revision = revision + 1,
                     published = ?4, latest = ?5, archived = ?6",
                params![id, file, position, published, latest, archived],
            )?;
        }
        Write::Version(v) => {
            tx.execute(
                "INSERT INTO versions (segment, version, text, state, author, created_at, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    v.segment,
                    v.version,
                    v.text,
                    v.state.as_str(),
                    v.author,
                    v.created_at as i64,
                    v.comment
                ],
            )?;
        }
        Write::VersionState { segment, version, state } => {
            tx.execute(
                "UPDATE versions SET state = ?3 WHERE segment = ?1 AND version = ?2",
                params![segment, version, state.as_str()],
            )?;
        }
        Write::File(file) => {
            tx.execute(
                "INSERT INTO files (name, preamble) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET preamble = ?2",
                params![file.name, file.preamble],
            )?;
        }
        Write::Rename { from, to } => {
            tx.execute("UPDATE segments SET id = ?2 WHERE id = ?1", params![from, to])?;
            tx.execute("UPDATE versions SET segment = ?2 WHERE segment = ?1", params![from, to])?;
            tx.execute("UPDATE audit SET segment = ?2 WHERE segment = ?1", params![from, to])?;
        }
    }
    Ok(())
}

impl RuleStore for SqliteStore {
    fn segments(&self) -> Result<Vec<SegmentRow>, StoreError> {
        self.with(|c| {
            let mut statement =
                c.prepare("SELECT id, file, position, revision, published, latest, archived FROM segments ORDER BY file, position, id")?;
            let rows = statement.query_map([], |row| {
                Ok(SegmentRow {
                    id: row.get(0)?,
                    file: row.get(1)?,
                    position: row.get(2)?,
                    revision: row.get::<_, i64>(3)?.max(0) as u64,
                    published: row.get(4)?,
                    latest: row.get(5)?,
                    archived: row.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    fn versions(&self, segment: &str) -> Result<Vec<VersionRow>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT segment, version, text, state, author, created_at, comment FROM versions
                 WHERE segment = ?1 ORDER BY version",
            )?;
            let rows = statement.query_map([segment], version_row)?;
            rows.collect()
        })
    }

    fn version(&self, segment: &str, version: u32) -> Result<Option<VersionRow>, StoreError> {
        self.with(|c| {
            c.query_row(
                "SELECT segment, version, text, state, author, created_at, comment FROM versions
                 WHERE segment = ?1 AND version = ?2",
                params![segment, version],
                version_row,
            )
            .optional()
        })
    }

    fn files(&self) -> Result<Vec<FileRow>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare("SELECT name, preamble FROM files ORDER BY name")?;
            let rows = statement.query_map([], |row| {
                Ok(FileRow {
                    name: row.get(0)?,
                    preamble: row.get(1)?,
                })
            })?;
            rows.collect()
        })
    }

    fn audit(&self, segment: Option<&str>, limit: usize) -> Result<Vec<AuditRow>, StoreError> {
        self.with(|c| {
            let mut statement = c.prepare(
                "SELECT id, at, actor, action, segment, from_version, to_version, before, after, comment FROM audit
                 WHERE ?1 IS NULL OR segment = ?1 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![segment, limit as i64], |row| {
                Ok(AuditRow {
                    id: row.get::<_, i64>(0)?.max(0) as u64,
                    at: row.get::<_, i64>(1)?.max(0) as u64,
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    segment: row.get(4)?,
                    from_version: row.get(5)?,
                    to_version: row.get(6)?,
                    before: row.get(7)?,
                    after: row.get(8)?,
                    comment: row.get(9)?,
                })
            })?;
            rows.collect()
        })
    }

    fn ruleset_version(&self) -> Result<u64, StoreError> {
        self.with(|c| c.query_row("SELECT version FROM ruleset", [], |row| row.get::<_, i64>(0)))
            .map(|v| v.max(0) as u64)
    }

    fn commit(&self, change: &ChangeSet) -> Result<u64, StoreError> {
        let mut connection = self
            .connection
            .lock()
            .map_err(|_| StoreError::Failed("a previous request panicked while holding the database".into()))?;
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(classify)?;
        for (id, expected) in &change.expect {
            let current: Option<i64> = tx
                .query_row("SELECT revision FROM segments WHERE id = ?1", [id], |row| row.get(0))
                .optional()
                .map_err(classify)?;
            if current.map(|r| r.max(0) as u64) != *expected {
                return Err(StoreError::Conflict(format!("segment {id:?}")));
            }
        }
        let ruleset: i64 = tx
            .query_row("SELECT version FROM ruleset", [], |row| row.get(0))
            .map_err(classify)?;
        if change.expect_ruleset.is_some_and(|v| v != ruleset.max(0) as u64) {
            return Err(StoreError::Conflict("the published rule set".into()));
        }
        for write in &change.writes {
            apply(&tx, write).map_err(classify)?;
        }
        for row in &change.audit {
            tx.execute(
                "INSERT INTO audit (at, actor, action, segment, from_version, to_version, before, after, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    row.at as i64,
                    row.actor,
                    row.action,
                    row.segment,
                    row.from_version,
                    row.to_version,
                    row.before,
                    row.after,
                    row.comment
                ],
            )
            .map_err(classify)?;
        }
        let after = ruleset + i64::from(change.bumps_ruleset);
        if change.bumps_ruleset {
            tx.execute("UPDATE ruleset SET version = ?1", [after]).map_err(classify)?;
        }
        tx.commit().map_err(classify)?;
        Ok(after.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(id: &str, latest: u32) -> Write {
        Write::Segment {
            id: id.into(),
            file: "f.toml".into(),
            position: 0,
            published: None,
            latest,
            archived: false,
        }
    }

    fn version(id: &str, n: u32) -> Write {
        Write::Version(VersionRow {
            segment: id.into(),
            version: n,
            text: format!("text {n}"),
            state: VersionState::Draft,
            author: "ann".into(),
            created_at: 5,
            comment: String::new(),
        })
    }

    #[test]
    fn a_commit_is_all_or_nothing_and_checks_revisions() {
        let store = SqliteStore::in_memory().unwrap();
        let create = ChangeSet {
            expect: vec![("a".into(), None)],
            writes: vec![segment("a", 1), version("a", 1)],
            ..ChangeSet::default()
        };
        store.commit(&create).unwrap();
        assert_eq!(store.segments().unwrap()[0].revision, 1);
        assert!(matches!(store.commit(&create), Err(StoreError::Conflict(_))), "a exists now");
        // A failing write (a duplicate version) leaves nothing behind.
        let broken = ChangeSet {
            expect: vec![("a".into(), Some(1))],
            writes: vec![segment("a", 2), version("a", 1)],
            ..ChangeSet::default()
        };
        assert!(store.commit(&broken).is_err());
        assert_eq!(store.segments().unwrap()[0].revision, 1);
        assert_eq!(store.versions("a").unwrap().len(), 1);
    }

    #[test]
    fn the_ruleset_version_moves_only_when_asked_and_can_be_expected() {
        let store = SqliteStore::in_memory().unwrap();
        let bump = ChangeSet {
            expect_ruleset: Some(0),
            bumps_ruleset: true,
            ..ChangeSet::default()
        };
        assert_eq!(store.commit(&bump).unwrap(), 1);
        assert!(matches!(store.commit(&bump), Err(StoreError::Conflict(_))));
        assert_eq!(store.ruleset_version().unwrap(), 1);
    }

    #[test]
    fn a_rename_carries_the_history() {
        let store = SqliteStore::in_memory().unwrap();
        let writes = vec![
            segment("a", 1),
            version("a", 1),
            Write::Rename {
                from: "a".into(),
                to: "b".into(),
            },
        ];
        store
            .commit(&ChangeSet {
                writes,
                ..ChangeSet::default()
            })
            .unwrap();
        assert!(store.versions("a").unwrap().is_empty());
        assert_eq!(store.versions("b").unwrap()[0].text, "text 1");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused_untouched() {
        let path = std::env::temp_dir().join(format!("segstream-console-corrupt-{}.db", std::process::id()));
        let garbage = vec![0x5au8; 8192];
        std::fs::write(&path, &garbage).unwrap();
        let error = SqliteStore::open(&path, Duration::from_millis(100)).err();
        assert!(matches!(error, Some(StoreError::Corrupt(_))), "{error:?}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "the damaged file is left as it was");
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn a_writer_locked_out_gets_busy_not_a_hang() {
        let path = std::env::temp_dir().join(format!("segstream-console-locked-{}.db", std::process::id()));
        let store = SqliteStore::open(&path, Duration::from_millis(100)).unwrap();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE; UPDATE ruleset SET version = 7;").unwrap();
        let error = store.commit(&ChangeSet {
            bumps_ruleset: true,
            ..ChangeSet::default()
        });
        assert!(matches!(error, Err(StoreError::Busy(_))), "{error:?}");
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            store
                .commit(&ChangeSet {
                    bumps_ruleset: true,
                    ..ChangeSet::default()
                })
                .unwrap(),
            1
        );
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
        }
    }
}
