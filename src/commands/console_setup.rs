//! Setting up the rules console, for `segstream console` and `segstream demo`.
//!
//! Contract: [`open_repository`] opens (creating) the SQLite repository; a new one (no
//! rule set ever published) is filled from the rule files and published as rule-set
//! version 1, so the console starts from what the files hold. [`tokens`] reads the token
//! file, or, when there is none and `make_admin` is set (the demo), makes one random
//! admin token to print. [`serve`] binds the address (port 0: any free one), serves the
//! console and retries failed deliveries on a thread of its own until `stop` is raised,
//! and returns the bound address.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use segstream_console::api::ApiState;
use segstream_console::auth::{Role, Tokens};
use segstream_console::repository::{Actor, ImportedFile, Repository, RuleChannel};
use segstream_console::store::sqlite::SqliteStore;
use segstream_console::store::RuleStore;
use segstream_rules::files::read_toml_sources;
use segstream_rules::Schema;

use crate::cli::ConsoleFlags;
use crate::error::CommandError;

/// How long a write waits for another writer of the database.
const BUSY_WAIT: Duration = Duration::from_secs(5);
/// How often a failed delivery is retried.
const REDELIVERY: Duration = Duration::from_secs(1);

fn invalid(context: &str) -> impl Fn(String) -> CommandError + '_ {
    move |e| CommandError::Invalid(format!("{context}: {e}"))
}

/// Opens the repository, filling a new one from `rules` (see the module contract).
pub fn open_repository(
    db: &Path,
    schema: Arc<Schema>,
    channel: Arc<dyn RuleChannel>,
    rules: &[PathBuf],
) -> Result<Arc<Repository>, CommandError> {
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| invalid("creating the console's directory")(e.to_string()))?;
    }
    let context = format!("the rules repository {}", db.display());
    let store = SqliteStore::open(db, BUSY_WAIT).map_err(|e| invalid(&context)(e.to_string()))?;
    let fresh = store.ruleset_version().map_err(|e| invalid(&context)(e.to_string()))? == 0;
    let repository = Arc::new(Repository::new(Arc::new(store), schema, channel));
    if fresh {
        let mut files = Vec::new();
        for source in read_toml_sources(rules)? {
            let name = Path::new(&source.name)
                .file_name()
                .map_or(source.name.clone(), |n| n.to_string_lossy().into_owned());
            files.push(ImportedFile { name, text: source.text });
        }
        let actor = Actor { name: "segstream".into() };
        let comment = format!(
            "filled from {}",
            rules.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
        let report = repository
            .import(&actor, &files, &comment, true)
            .map_err(|e| invalid(&context)(e.to_string()))?;
        tracing::info!(
            "console: new rules repository {} filled with {} segments from the rule files",
            db.display(),
            report.created.len()
        );
    }
    Ok(repository)
}

/// The console's tokens, and the admin token made for this run, if any.
pub fn tokens(flags: &ConsoleFlags, make_admin: bool) -> Result<(Tokens, Option<String>), CommandError> {
    if let Some(path) = &flags.tokens {
        let text = std::fs::read_to_string(path).map_err(|source| CommandError::Read {
            path: path.clone(),
            source,
        })?;
        let tokens = Tokens::from_toml(&text, flags.insecure).map_err(|e| invalid(&path.display().to_string())(e.to_string()))?;
        return Ok((tokens, None));
    }
    if flags.insecure || !make_admin {
        let tokens = Tokens::new(Vec::new(), flags.insecure).map_err(|e| CommandError::Invalid(e.to_string()))?;
        return Ok((tokens, None));
    }
    let token = random_token().map_err(|e| CommandError::Invalid(format!("making a console token: {e}")))?;
    let tokens =
        Tokens::new(vec![("demo-admin".into(), Role::Admin, token.clone())], false).map_err(|e| CommandError::Invalid(e.to_string()))?;
    Ok((tokens, Some(token)))
}

/// 144 random bits from the operating system, in hex: a console token or a write key.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Serves the console on `listen` until `stop` (see the module contract).
pub fn serve(state: ApiState, listen: SocketAddr, stop: Arc<AtomicBool>) -> Result<SocketAddr, CommandError> {
    let listener = std::net::TcpListener::bind(listen).map_err(|e| invalid(&format!("--console {listen}"))(e.to_string()))?;
    let bound = listener.local_addr().map_err(|e| invalid("--console")(e.to_string()))?;
    listener.set_nonblocking(true).map_err(|e| invalid("--console")(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| invalid("tokio runtime")(e.to_string()))?;
    std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => return tracing::error!("the console cannot listen: {e}"),
                };
                tokio::spawn(segstream_console::server::redeliver(state.clone(), REDELIVERY));
                let stopped = async move {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                };
                if let Err(e) = segstream_console::server::serve(listener, segstream_console::server::app(state), stopped).await {
                    tracing::error!("the console stopped: {e}");
                }
            })
        })
        .map_err(|e| invalid("starting the console")(e.to_string()))?;
    Ok(bound)
}
