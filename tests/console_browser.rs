//! The web console in headless Chromium (Debian's `chromium` and `chromium-driver`; no
//! browser is downloaded): sign in, create a segment with a typo and see the inline
//! error, fix it, dry-run it, publish it, see its size grow as the demo's traffic flows,
//! publish an edit, roll back to the first version, publish two drafts together, and
//! look up a member. It fails, never skips, when Chromium or its driver is missing
//! (`scripts/test` installs them).
//!
//! With `SEGSTREAM_SCREENSHOTS=DIR` it saves the main pages as PNG files there
//! (`docs/console/` holds the ones `docs/console.md` shows).

mod support;

use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use support::process::Running;
use support::scratch_path;

const WAIT: Duration = Duration::from_secs(45);

/// Polls `check` until it gives a value or `WAIT` passes.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text(client: &Client, css: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

async fn attribute(client: &Client, css: &str, name: &str) -> Option<String> {
    client.find(Locator::Css(css)).await.ok()?.attr(name).await.ok()?
}

/// Clicks `css` once it is there and clickable (the segment list re-renders every 2 s,
/// so an element found a moment ago may be gone: find and click are tried together).
async fn click(client: &Client, css: &str) {
    eventually(css, || async { client.find(Locator::Css(css)).await.ok()?.click().await.ok() }).await;
}

async fn type_into(client: &Client, css: &str, keys: &str) {
    let element = eventually(css, || async { client.find(Locator::Css(css)).await.ok() }).await;
    element.send_keys(keys).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

/// Replaces the editor's text as typing would (an `input` event follows).
async fn set_editor(client: &Client, value: &str) {
    eventually("the editor", || async { client.find(Locator::Css("#editor")).await.ok() }).await;
    client
        .execute(
            "const e = document.querySelector('#editor'); e.value = arguments[0]; e.dispatchEvent(new Event('input'));",
            vec![json!(value)],
        )
        .await
        .unwrap_or_else(|e| panic!("setting the editor: {e}"));
}

async fn wait_for_hash(client: &Client, ending: &str) {
    eventually(ending, || async {
        let url = client.current_url().await.ok()?;
        url.as_str().ends_with(ending).then_some(())
    })
    .await;
}

async fn size_of(client: &Client, segment: &str) -> Option<u64> {
    text(client, &format!("tr[data-segment=\"{segment}\"] .size"))
        .await?
        .trim()
        .parse()
        .ok()
}

async fn screenshot(client: &Client, name: &str) {
    if let Ok(dir) = std::env::var("SEGSTREAM_SCREENSHOTS") {
        let _ = client.execute("window.scrollTo(0, 0)", Vec::new()).await;
        let png = client.screenshot().await.unwrap_or_else(|e| panic!("screenshot: {e}"));
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn segment(when: &str) -> String {
    format!("[[segment]]\nid = \"browser_openers\"\nname = \"Opened the app in the last hour\"\nwhen = '''\n{when}\n'''\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketer_creates_checks_dry_runs_publishes_watches_rolls_back_and_looks_up_a_user() {
    let db = scratch_path("console_browser", "console.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let changes = scratch_path("console_browser", "changes.ndjson");
    let demo = Running::start(
        env!("CARGO_BIN_EXE_segstream"),
        &[
            "demo",
            "--checkpoints",
            "off",
            "--lake",
            "off",
            "--partners",
            "off",
            "--collector",
            "off",
            "--workers",
            "2",
            "--users",
            "3000",
            "--rate",
            "1500",
            "--duration",
            "240s",
            "--console",
            "127.0.0.1:0",
            "--console-db",
            &db.display().to_string(),
            "--out",
            &changes.display().to_string(),
        ],
    );
    let line = demo.wait_for_line("console: http://", Duration::from_secs(120));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let token = line
        .split("token ")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let driver = Running::start("chromedriver", &["--port=0"]);
    let started = driver.wait_for_line("started successfully on port", Duration::from_secs(30));
    let port = started
        .trim_end_matches('.')
        .rsplit(' ')
        .next()
        .unwrap_or_else(|| panic!("{started}"))
        .to_string();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("WebDriver session: {e}"));

    // 1. Sign in.
    client.goto(&url).await.unwrap_or_else(|e| panic!("{e}"));
    eventually("the sign-in form", || async {
        attribute(&client, "#login", "hidden").await.is_none().then_some(())
    })
    .await;
    screenshot(&client, "sign-in").await;
    type_into(&client, "#token", &token).await;
    click(&client, "#login-submit").await;
    eventually("signed in", || async {
        text(&client, "#who").await.filter(|t| t.contains("demo-admin"))
    })
    .await;
    let status = eventually("the live status", || async {
        text(&client, "#status").await.filter(|t| t.contains("live on 2 of 2"))
    })
    .await;
    assert!(status.contains("Rule set v1"), "{status}");

    // 2. A new segment with a typo: the error is shown inline, at its line.
    client.goto(&format!("{url}#/new")).await.unwrap_or_else(|e| panic!("{e}"));
    set_editor(&client, &segment("count(\"app_opend\", \"1h\") >= 1")).await;
    eventually("the inline error", || async {
        let invalid = attribute(&client, "#editor", "aria-invalid").await? == "true";
        let problem = text(&client, "#problems li").await?;
        (invalid && problem.contains("app_opend") && problem.contains("line 5")).then_some(())
    })
    .await;
    screenshot(&client, "editor-error").await;

    // 3. Fixed, it checks and is created as a draft.
    set_editor(&client, &segment("count(\"app_opened\", \"1h\") >= 1")).await;
    eventually("the fix accepted", || async {
        (attribute(&client, "#editor", "aria-invalid").await? == "false").then_some(())
    })
    .await;
    click(&client, "#create").await;
    wait_for_hash(&client, "#/segment/browser_openers").await;

    // 4. Dry run: exact counts at a stated event time.
    click(&client, "#dry-run").await;
    let matched: u64 = eventually("the dry run", || async { text(&client, "#dry-matched").await?.parse().ok() }).await;
    let panel = text(&client, "#dry-run-panel").await.unwrap_or_default();
    assert!(panel.contains("As of event time"), "{panel}");
    assert_eq!(
        text(&client, "#dry-entering").await,
        Some(matched.to_string()),
        "a new segment: everyone matched enters"
    );
    screenshot(&client, "dry-run").await;

    // 5. Publish, with the diff and a required comment.
    click(&client, "#review").await;
    eventually("the review", || async {
        text(&client, "#review-panel .diff").await.filter(|d| d.contains("app_opened"))
    })
    .await;
    click(&client, "#publish").await;
    eventually("the comment is required", || async {
        (attribute(&client, "#publish-comment", "aria-invalid").await? == "true").then_some(())
    })
    .await;
    type_into(&client, "#publish-comment", "launch: recent openers").await;
    screenshot(&client, "review").await;
    click(&client, "#publish").await;
    wait_for_hash(&client, "#/").await;

    // 6. Its size grows in the list as the traffic flows.
    let first = eventually("a size", || async { size_of(&client, "browser_openers").await.filter(|n| *n > 0) }).await;
    eventually("the size to grow", || async {
        size_of(&client, "browser_openers").await.filter(|n| *n > first)
    })
    .await;
    eventually("v2 live on every worker", || async {
        text(&client, "#status")
            .await
            .filter(|t| t.contains("live on 2 of 2 workers at v2"))
    })
    .await;
    screenshot(&client, "segments").await;

    // 7. Publish a stricter version, then roll back to the first.
    client
        .goto(&format!("{url}#/segment/browser_openers"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    set_editor(&client, &segment("count(\"app_opened\", \"1h\") >= 3")).await;
    eventually("the edit accepted", || async {
        (attribute(&client, "#editor", "aria-invalid").await? == "false").then_some(())
    })
    .await;
    click(&client, "#review").await;
    type_into(&client, "#publish-comment", "only frequent openers").await;
    click(&client, "#publish").await;
    wait_for_hash(&client, "#/").await;
    client
        .goto(&format!("{url}#/segment/browser_openers"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    eventually("version 2 in force", || async {
        text(&client, "main").await.filter(|t| t.contains("Version 2 is in force"))
    })
    .await;
    click(&client, "details[data-version=\"1\"] summary").await;
    type_into(&client, "#rollback-comment-1", "too strict").await;
    screenshot(&client, "history").await;
    click(&client, "details[data-version=\"1\"] .rollback").await;
    eventually("the rollback", || async {
        text(&client, "#status").await.filter(|t| t.contains("Rolled back"))
    })
    .await;
    eventually("version 3 in force", || async {
        text(&client, "main").await.filter(|t| t.contains("Version 3 is in force"))
    })
    .await;
    let history = text(&client, "#history").await.unwrap_or_default();
    assert!(history.contains("too strict"), "{history}");
    // 8. Two drafts ticked in the list and published together: one rule-set version.
    client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const text = (id) => '[[segment]]\\nid = \"' + id + '\"\\nname = \"' + id + '\"\\nwhen = \\'count(\"ad_shown\", \"1h\") >= 1\\'\\n';
             Promise.all(['pair_a', 'pair_b'].map((id) => api('POST', '/api/segments', { text: text(id) }))).then(() => done(true), (e) => done(String(e)));",
            Vec::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("creating two drafts: {e}"));
    client.goto(&format!("{url}#/")).await.unwrap_or_else(|e| panic!("{e}"));
    client.refresh().await.unwrap_or_else(|e| panic!("{e}"));
    for id in ["pair_a", "pair_b"] {
        click(&client, &format!("tr[data-segment=\"{id}\"] input.pick")).await;
    }
    type_into(&client, "#drafts-comment", "launch the pair").await;
    click(&client, "#publish-drafts").await;
    eventually("both published under one version", || async {
        let status = text(&client, "#status").await?;
        let ticks = client.find_all(Locator::Css("tr[data-segment^=\"pair_\"] input.pick")).await.ok()?;
        (status.contains("Rule set v5") && ticks.is_empty()).then_some(())
    })
    .await;
    // 9. User lookup: a member of browser_openers, with the value its condition reads.
    let member = std::fs::read_to_string(&changes)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| segstream_model::change::decode_change(l.as_bytes()).ok())
        .rfind(|(_, segment, _, entered)| segment == "browser_openers" && *entered)
        .map(|(user, ..)| user)
        .unwrap_or_else(|| panic!("nobody entered browser_openers"));
    client.goto(&format!("{url}#/users")).await.unwrap_or_else(|e| panic!("{e}"));
    type_into(&client, "#lookup-user", &member).await;
    click(&client, "#lookup").await;
    let row = eventually("the lookup", || async {
        text(&client, "tr[data-segment=\"browser_openers\"]").await
    })
    .await;
    assert!(row.contains("member") && row.contains("count(\"app_opened\", \"1h\")"), "{row}");
    screenshot(&client, "user-lookup").await;
    client.close().await.unwrap_or_else(|e| panic!("{e}"));
    let printed = demo.lines().join("\n");
    assert!(
        printed.contains("rule-set v4 from the console in force"),
        "the demo applied the rollback:\n{printed}"
    );
    assert!(
        printed.contains("rule-set v5 from the console in force (46 segments)"),
        "and the pair, in one version:\n{printed}"
    );
}
