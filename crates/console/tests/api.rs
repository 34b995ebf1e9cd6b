//! The console's REST API, route by route, through the router (no server).

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use segstream_console::store::sqlite::SqliteStore;
use serde_json::json;
use support::{console, console_with, segment, ADMIN, EDITOR, SCHEMA, VIEWER};

#[tokio::test]
async fn writes_need_the_current_etag_428_without_412_when_stale() {
    let c = console();
    let first = c.create("clickers", "count(\"ad_clicked\", \"1h\") >= 1").await;
    let read = c.get("/api/segments/clickers").await;
    assert_eq!((read.status, read.etag()), (StatusCode::OK, first.clone()));
    let edit = |when: &str| json!({"text": segment("clickers", when), "comment": "tune"});
    let missing = c
        .call(Method::PUT, "/api/segments/clickers", Some(EDITOR), None, Some(edit("true")))
        .await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED);
    // Two editors read the same ETag; the first save wins, the second is told.
    let ann = c
        .call(
            Method::PUT,
            "/api/segments/clickers",
            Some(EDITOR),
            Some(&first),
            Some(edit("count(\"ad_clicked\", \"1h\") >= 2")),
        )
        .await;
    assert_eq!(ann.status, StatusCode::OK, "{:?}", ann.body);
    assert_ne!(ann.etag(), first);
    let bob = c
        .call(
            Method::PUT,
            "/api/segments/clickers",
            Some(EDITOR),
            Some(&first),
            Some(edit("count(\"ad_clicked\", \"1h\") >= 3")),
        )
        .await;
    assert_eq!(bob.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(bob.body["current_etag"], json!(ann.etag()));
    assert_eq!(bob.etag(), ann.etag(), "the 412 carries the current ETag");
    let versions = c.get("/api/segments/clickers/versions").await;
    let texts: Vec<&str> = versions.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "the stale write left nothing");
    assert!(texts[1].contains(">= 2"));
}

#[tokio::test]
async fn bad_rule_text_is_422_with_line_and_column_and_validate_locates_it() {
    let c = console();
    let typo = segment("typo", "count(\"ad_clikced\", \"1h\") >= 1");
    let created = c
        .call(Method::POST, "/api/segments", Some(EDITOR), None, Some(json!({"text": typo})))
        .await;
    assert_eq!(created.status, StatusCode::UNPROCESSABLE_ENTITY);
    let problem = &created.body["problems"][0];
    assert_eq!((problem["line"].as_u64(), problem["col"].as_u64()), (Some(5), Some(7)), "{problem}");
    assert!(problem["message"].as_str().unwrap().contains("ad_clikced"));
    let checked = c
        .call(Method::POST, "/api/validate", Some(VIEWER), None, Some(json!({"text": typo})))
        .await;
    assert_eq!((checked.status, checked.body["valid"].clone()), (StatusCode::OK, json!(false)));
    assert_eq!(checked.body["problems"][0]["line"], json!(5));
    let fixed = c
        .call(
            Method::POST,
            "/api/validate",
            Some(VIEWER),
            None,
            Some(json!({"text": segment("typo", "count(\"ad_clicked\", \"1h\") >= 1")})),
        )
        .await;
    assert_eq!(fixed.body["valid"], json!(true), "{:?}", fixed.body);
    assert!(c.get("/api/segments").await.body["segments"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn publishing_several_segments_is_all_or_nothing() {
    let c = console();
    let a = c.create("a", "count(\"ad_shown\", \"1h\") >= 1").await;
    let b = c.create("b", "count(\"ad_clicked\", \"1h\") >= 1").await;
    // b's ETag is stale: nothing is published, a included.
    let stale = c.publish(&[("a", &a), ("b", "\"r999\"")], "both").await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert!(c.get("/api/segments/a").await.body["published"].is_null());
    assert!(c.channel.received.lock().unwrap().is_empty());
    assert_eq!(c.get("/api/status").await.body["ruleset_version"], json!(0));
    let missing_comment = c.publish(&[("a", &a), ("b", &b)], " ").await;
    assert_eq!(missing_comment.status, StatusCode::BAD_REQUEST);
    let both = c.publish(&[("a", &a), ("b", &b)], "launch").await;
    assert_eq!(both.status, StatusCode::OK, "{:?}", both.body);
    assert_eq!(c.channel.received.lock().unwrap().len(), 1, "one delivery for the set");
    assert_eq!(c.delivered_ids(), ["a", "b"]);
    assert_eq!(c.get("/api/status").await.body["ruleset_version"], json!(1));
    assert_eq!(both.body["delivery"]["delivered_version"], json!(1));
}

#[tokio::test]
async fn a_publish_is_checked_as_the_whole_set_it_puts_in_force() {
    let c = console();
    let parent = c.create("parent", "count(\"ad_shown\", \"1h\") >= 1").await;
    let child_text = "[[segment]]\nid = \"child\"\nname = \"C\"\nparent = \"parent\"\nwhen = 'count(\"ad_clicked\", \"1h\") >= 1'\n";
    let child = c
        .call(Method::POST, "/api/segments", Some(EDITOR), None, Some(json!({"text": child_text})))
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "a child may be drafted with its draft parent");
    let alone = c.publish(&[("child", &child.etag())], "child first").await;
    assert_eq!(alone.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", alone.body);
    assert!(alone.body["problems"][0]["message"].as_str().unwrap().contains("parent"));
    let together = c.publish(&[("parent", &parent), ("child", &child.etag())], "together").await;
    assert_eq!(together.status, StatusCode::OK, "{:?}", together.body);
    let again = c.publish(&[("parent", &c.get("/api/segments/parent").await.etag())], "again").await;
    assert_eq!(again.status, StatusCode::CONFLICT, "the version is already in force");
}

#[tokio::test]
async fn a_referenced_segment_cannot_be_deleted_or_renamed_and_its_dependents_are_listed() {
    let c = console();
    c.create("parent", "true").await;
    let child_text = "[[segment]]\nid = \"child\"\nname = \"C\"\nparent = \"parent\"\nwhen = 'true'\n";
    c.call(Method::POST, "/api/segments", Some(EDITOR), None, Some(json!({"text": child_text})))
        .await;
    let etag = c.get("/api/segments/parent").await.etag();
    let delete = c.delete("parent", &etag, "gone").await;
    assert_eq!(delete.status, StatusCode::CONFLICT);
    assert_eq!(delete.body["dependents"], json!(["child"]));
    let rename = c.rename("parent", &etag, "p2", "x").await;
    assert_eq!(
        (rename.status, rename.body["dependents"].clone()),
        (StatusCode::CONFLICT, json!(["child"]))
    );
    assert_eq!(c.get("/api/segments/parent/dependents").await.body["dependents"], json!(["child"]));
    // The child goes first; then the parent can.
    let child_etag = c.get("/api/segments/child").await.etag();
    let child_gone = c.delete("child", &child_etag, "gone").await;
    assert_eq!(child_gone.status, StatusCode::OK);
    let renamed = c.rename("parent", &etag, "p2", "clearer").await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert!(renamed.body["latest_text"].as_str().unwrap().contains("id = \"p2\""));
    assert_eq!(
        c.get("/api/segments/p2/versions").await.body["versions"].as_array().unwrap().len(),
        2,
        "history follows"
    );
    assert_eq!(c.get("/api/segments/parent").await.status, StatusCode::NOT_FOUND);
    let listed: Vec<String> = c.get("/api/segments").await.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ["p2"], "the deleted child is not listed");
}

#[tokio::test]
async fn tokens_and_roles_are_enforced_on_every_kind_of_route() {
    let c = console();
    let etag = c.create("a", "true").await;
    assert_eq!(
        c.call(Method::GET, "/api/segments", None, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let unknown = c
        .call(Method::GET, "/api/segments", Some("not-a-token-at-all-xx"), None, None)
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.headers.contains_key(header::WWW_AUTHENTICATE));
    let as_viewer = c
        .call(
            Method::POST,
            "/api/segments",
            Some(VIEWER),
            None,
            Some(json!({"text": segment("b", "true")})),
        )
        .await;
    assert_eq!(as_viewer.status, StatusCode::FORBIDDEN);
    let viewer_publish = c
        .call(
            Method::POST,
            "/api/publish",
            Some(VIEWER),
            None,
            Some(json!({"segments": [{"segment": "a", "etag": etag}], "comment": "x"})),
        )
        .await;
    assert_eq!(viewer_publish.status, StatusCode::FORBIDDEN);
    let editor_delete = c
        .call(
            Method::DELETE,
            "/api/segments/a",
            Some(EDITOR),
            Some(&etag),
            Some(json!({"comment": "x"})),
        )
        .await;
    assert_eq!(editor_delete.status, StatusCode::FORBIDDEN);
    let editor_import = c
        .call(
            Method::POST,
            "/api/import",
            Some(EDITOR),
            None,
            Some(json!({"files": [], "comment": "x"})),
        )
        .await;
    assert_eq!(editor_import.status, StatusCode::FORBIDDEN);
    let cookie = c
        .app
        .clone()
        .oneshot_cookie("/api/segments", &format!("segstream_token={VIEWER}"))
        .await;
    assert_eq!(cookie, StatusCode::OK, "the browser's cookie is a token too");
    let admin_delete = c.delete("a", &etag, "x").await;
    assert_eq!(admin_delete.status, StatusCode::OK);
    let audit = c.get("/api/audit?segment=a").await;
    let actors: Vec<&str> = audit.body["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ada", "eve"], "newest first: the admin deleted what the editor created");
}

trait CookieCall {
    async fn oneshot_cookie(self, path: &str, cookie: &str) -> StatusCode;
}

impl CookieCall for axum::Router {
    async fn oneshot_cookie(self, path: &str, cookie: &str) -> StatusCode {
        use tower::ServiceExt;
        let request = axum::http::Request::get(path)
            .header(header::COOKIE, cookie)
            .body(axum::body::Body::empty())
            .unwrap();
        self.oneshot(request).await.unwrap().status()
    }
}

#[tokio::test]
async fn rollback_publishes_a_copy_of_an_old_version_as_the_newest() {
    let c = console();
    let v1 = c.create("a", "count(\"ad_shown\", \"1h\") >= 1").await;
    let published = c.publish(&[("a", &v1)], "first").await;
    let etag = published.body["segments"][0]["etag"].as_str().unwrap().to_string();
    let saved = c
        .save("a", &etag, &segment("a", "count(\"ad_shown\", \"1h\") >= 5"), "stricter")
        .await;
    let second = c.publish(&[("a", &saved.etag())], "stricter").await;
    let etag = second.body["segments"][0]["etag"].as_str().unwrap().to_string();
    let no_comment = c
        .call(
            Method::POST,
            "/api/segments/a/rollback",
            Some(EDITOR),
            Some(&etag),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(no_comment.status, StatusCode::BAD_REQUEST);
    let back = c.rollback("a", &etag, 1, "too strict").await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert_eq!(back.body["published"], json!(3));
    let versions = c.get("/api/segments/a/versions").await.body["versions"].clone();
    let states: Vec<&str> = versions.as_array().unwrap().iter().map(|v| v["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["archived", "archived", "published"]);
    assert_eq!(versions[2]["text"], versions[0]["text"]);
    let last = c.channel.received.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.version, 3);
    assert!(last.files[0].text.contains(">= 1"));
    let missing = c.rollback("a", &back.etag(), 9, "x").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

fn example_files() -> Vec<serde_json::Value> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/rules");
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    names
        .iter()
        .map(|p| json!({"name": p.file_name().unwrap().to_str().unwrap(), "text": std::fs::read_to_string(p).unwrap()}))
        .collect()
}

fn example_console() -> support::Console {
    let schema = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/schema.toml")).unwrap();
    console_with(Arc::new(SqliteStore::in_memory().unwrap()), &schema)
}

#[tokio::test]
async fn importing_the_example_rules_and_exporting_them_gives_the_same_bytes() {
    let c = example_console();
    let files = example_files();
    let imported = c
        .call(
            Method::POST,
            "/api/import",
            Some(ADMIN),
            None,
            Some(json!({"files": files, "comment": "from git", "publish": true})),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{:?}", imported.body);
    assert_eq!(imported.body["created"].as_array().unwrap().len(), 43);
    let exported = c.get("/api/export").await.body;
    assert_eq!(exported["files"], json!(files), "byte for byte, comments included");
    let again = c
        .call(
            Method::POST,
            "/api/import",
            Some(ADMIN),
            None,
            Some(json!({"files": exported["files"], "comment": "again", "publish": true})),
        )
        .await;
    assert_eq!(again.body["unchanged"].as_array().unwrap().len(), 43, "{:?}", again.body);
    assert_eq!(again.body["ruleset_version"], json!(1), "nothing to publish");
}

#[tokio::test]
async fn a_hostile_or_broken_import_is_refused_whole_and_writes_nothing() {
    let c = console();
    let good = json!({"name": "good.toml", "text": segment("good", "true")});
    let cases = [
        json!({"name": "bad.toml", "text": "[[segment]]\nid = \"x\"\nname = \"X\"\nwhen = 'true'\nsneaky = [[[[[[1]]]]]]\n"}),
        json!({"name": "bad.toml", "text": "[[segment]]\nid = \"x\"\nname = \"X\"\ndescription = '''\n[[segment]]\n'''\nwhen = 'true'\n"}),
        json!({"name": "../etc/passwd.toml", "text": segment("x", "true")}),
        json!({"name": "dup.toml", "text": format!("{}{}", segment("good", "true"), segment("x", "true"))}),
        json!({"name": "deep.toml", "text": segment("x", &format!("{}true{}", "(".repeat(5000), ")".repeat(5000)))}),
        json!({"name": "big.toml", "text": "#".repeat(9 << 20)}),
    ];
    for bad in cases {
        let answer = c
            .call(
                Method::POST,
                "/api/import",
                Some(ADMIN),
                None,
                Some(json!({"files": [good.clone(), bad.clone()], "comment": "x", "publish": true})),
            )
            .await;
        assert!(
            answer.status == StatusCode::UNPROCESSABLE_ENTITY || answer.status == StatusCode::PAYLOAD_TOO_LARGE,
            "{} → {} {:?}",
            bad["name"],
            answer.status,
            answer.body
        );
        assert!(
            c.get("/api/segments").await.body["segments"].as_array().unwrap().is_empty(),
            "nothing written"
        );
    }
    let huge_rule = c
        .call(
            Method::POST,
            "/api/segments",
            Some(EDITOR),
            None,
            Some(json!({"text": segment("huge", &vec!["count(\"ad_shown\", \"1h\") >= 1"; 20_000].join(" || "))})),
        )
        .await;
    assert_eq!(huge_rule.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", huge_rule.body);
}

#[tokio::test]
async fn the_vocabulary_lists_what_a_rule_may_use() {
    let c = console();
    let vocabulary = c.get("/api/vocabulary").await.body;
    let events: Vec<&str> = vocabulary["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["ad_clicked", "ad_shown", "purchase"]);
    assert_eq!(vocabulary["events"][2]["properties"], json!([{"name": "amount", "type": "double"}]));
    assert_eq!(vocabulary["profile"], json!([{"name": "country", "type": "string"}]));
    assert!(vocabulary["segmentation_functions"]
        .as_array()
        .unwrap()
        .contains(&json!("sequence")));
    let openapi: serde_json::Value = c.get("/api/openapi.json").await.body;
    for path in [
        "/api/segments",
        "/api/publish",
        "/api/import",
        "/api/validate",
        "/api/vocabulary",
        "/api/status",
        "/api/users/{id}",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path} is documented");
    }
}

#[tokio::test]
async fn a_channel_that_fails_is_reported_and_caught_up_by_the_next_delivery() {
    let c = console();
    let etag = c.create("a", "true").await;
    *c.channel.failing.lock().unwrap() = true;
    let published = c.publish(&[("a", &etag)], "go").await;
    assert_eq!(published.status, StatusCode::OK, "the repository has it");
    assert_eq!(published.body["delivery"]["last_error"], json!("the channel is down"));
    let status = c.get("/api/status").await.body;
    assert_eq!(
        (status["ruleset_version"].clone(), status["delivery"]["delivered_version"].clone()),
        (json!(1), json!(null))
    );
    *c.channel.failing.lock().unwrap() = false;
    let b = c.create("b", "false").await;
    c.publish(&[("b", &b)], "more").await;
    assert_eq!(c.delivered_ids(), ["a", "b"], "the next delivery carries everything in force");
}

#[tokio::test]
async fn a_locked_database_is_503_with_retry_after_and_loses_nothing() {
    let path = std::env::temp_dir().join(format!("segstream-console-api-locked-{}.db", std::process::id()));
    let store = Arc::new(SqliteStore::open(&path, Duration::from_millis(100)).unwrap());
    let c = console_with(store, SCHEMA);
    let etag = c.create("a", "true").await;
    let published = c.publish(&[("a", &etag)], "go").await;
    let etag = published.body["segments"][0]["etag"].as_str().unwrap().to_string();
    let other = rusqlite_lock(&path);
    let blocked = c.save("a", &etag, &segment("a", "false"), "x").await;
    assert_eq!(blocked.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", blocked.body);
    assert_eq!(blocked.headers.get(header::RETRY_AFTER).unwrap(), "1");
    drop(other);
    let read = c.get("/api/segments/a").await;
    assert_eq!(
        (read.body["published"].clone(), read.etag()),
        (json!(1), etag),
        "the published rule is intact"
    );
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
    }
}

/// Another connection holding the database's write lock until dropped.
fn rusqlite_lock(path: &std::path::Path) -> rusqlite::Connection {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection
        .execute_batch("BEGIN EXCLUSIVE; UPDATE ruleset SET version = version;")
        .unwrap();
    connection
}

#[tokio::test]
async fn sessions_keep_the_token_in_an_http_only_cookie_and_refuse_unknown_tokens() {
    let c = console();
    let unknown = c
        .call(
            Method::POST,
            "/api/session",
            None,
            None,
            Some(json!({"token": "not-a-token-at-all-xx"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(!unknown.headers.contains_key(header::SET_COOKIE));
    let signed = c
        .call(Method::POST, "/api/session", None, None, Some(json!({"token": EDITOR})))
        .await;
    assert_eq!((signed.status, signed.body["role"].clone()), (StatusCode::OK, json!("editor")));
    let cookie = signed.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_string();
    assert!(
        cookie.starts_with(&format!("segstream_token={EDITOR};")) && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let out = c.call(Method::DELETE, "/api/session", None, None, None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(out.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn without_a_classifier_the_dry_run_says_so_and_audiences_are_empty() {
    let c = console();
    let draft = json!({"text": segment("a", "true")});
    let answer = c.call(Method::POST, "/api/dry-run", Some(VIEWER), None, Some(draft)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.body["error"].as_str().unwrap().contains("no running classifier"));
    let typo = json!({"text": segment("a", "count(\"ad_shwn\", \"1h\") >= 1")});
    let invalid = c.call(Method::POST, "/api/dry-run", Some(VIEWER), None, Some(typo)).await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a draft that does not check is not run"
    );
    let reserved = c
        .call(
            Method::POST,
            "/api/segments",
            Some(EDITOR),
            None,
            Some(json!({"text": segment("__dry_run_1", "true")})),
        )
        .await;
    assert_eq!(reserved.status, StatusCode::UNPROCESSABLE_ENTITY, "the dry runs' ids are reserved");
    assert_eq!(c.get("/api/audiences").await.body, json!({"audiences": []}));
    assert_eq!(c.get("/api/status").await.body["workers"], json!([]));
}

#[tokio::test]
async fn renaming_keeps_what_is_in_force_and_old_versions_come_back_under_the_new_id() {
    let c = console();
    let v1 = c.create("old", "count(\"ad_shown\", \"1h\") >= 1").await;
    let published = c.publish(&[("old", &v1)], "first").await;
    let etag = published.body["segments"][0]["etag"].as_str().unwrap().to_string();
    let draft = json!({"text": segment("old", "count(\"ad_shown\", \"1h\") >= 9"), "comment": "unreviewed"});
    let saved = c
        .call(Method::PUT, "/api/segments/old", Some(EDITOR), Some(&etag), Some(draft))
        .await;
    let renamed = c.rename("old", &saved.etag(), "new", "clearer").await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    // v1 (old id), v2 draft (old id), v3 = v1 renamed and in force, v4 = v2 renamed, a draft.
    assert_eq!(
        (renamed.body["published"].clone(), renamed.body["latest"].clone()),
        (json!(3), json!(4))
    );
    assert!(
        renamed.body["published_text"].as_str().unwrap().contains(">= 1"),
        "the unreviewed draft is not published"
    );
    assert!(
        renamed.body["latest_text"].as_str().unwrap().contains(">= 9") && renamed.body["latest_text"].as_str().unwrap().contains("\"new\"")
    );
    assert_eq!(c.delivered_ids(), ["new"]);
    let stale_id = c
        .call(
            Method::POST,
            "/api/publish",
            Some(EDITOR),
            None,
            Some(json!({"segments": [{"segment": "new", "version": 1, "etag": renamed.etag()}], "comment": "x"})),
        )
        .await;
    assert_eq!(
        stale_id.status,
        StatusCode::CONFLICT,
        "version 1 says id \"old\": {:?}",
        stale_id.body
    );
    let back = c.rollback("new", &renamed.etag(), 1, "back").await;
    assert_eq!(back.status, StatusCode::OK, "{:?}", back.body);
    assert!(back.body["published_text"].as_str().unwrap().contains("id = \"new\""));
    assert_eq!(c.delivered_ids(), ["new"]);
    let audit = c.get("/api/audit?segment=new").await.body["audit"].as_array().unwrap().len();
    assert_eq!(audit, 5, "create, publish, save, rename and rollback all follow the segment");
    let reserved = c.rename("new", &back.etag(), "__dry_run_9", "x").await;
    assert_eq!(reserved.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn deleted_segments_stay_deleted_a_published_child_blocks_its_parent_and_star_is_not_an_etag() {
    let c = console();
    let parent = c.create("parent", "true").await;
    let child_text = "[[segment]]\nid = \"child\"\nname = \"C\"\nparent = \"parent\"\nwhen = 'true'\n";
    let child = c
        .call(Method::POST, "/api/segments", Some(EDITOR), None, Some(json!({"text": child_text})))
        .await;
    let published = c.publish(&[("parent", &parent), ("child", &child.etag())], "both").await;
    let child_etag = published.body["segments"][1]["etag"].as_str().unwrap().to_string();
    // The child's draft drops its parent; the published child still names it.
    let orphan = json!({"text": segment("child", "true"), "comment": "no parent"});
    let saved = c
        .call(Method::PUT, "/api/segments/child", Some(EDITOR), Some(&child_etag), Some(orphan))
        .await;
    assert_eq!(saved.status, StatusCode::OK);
    let etag = c.get("/api/segments/parent").await.etag();
    let star = c.delete("parent", "*", "x").await;
    assert_eq!(
        star.status,
        StatusCode::PRECONDITION_FAILED,
        "a write names the version it was reviewed at"
    );
    let blocked = c.delete("parent", &etag, "x").await;
    assert_eq!(
        (blocked.status, blocked.body["dependents"].clone()),
        (StatusCode::CONFLICT, json!(["child"]))
    );
    let child_etag = c.get("/api/segments/child").await.etag();
    let gone = c.delete("child", &child_etag, "x").await;
    assert_eq!(gone.status, StatusCode::OK);
    let revived = c.save("child", &gone.etag(), &segment("child", "true"), "x").await;
    assert_eq!(
        revived.status,
        StatusCode::CONFLICT,
        "a deleted segment is created again, not edited"
    );
    assert_eq!(c.delivered_ids(), ["parent"]);
}

#[tokio::test]
async fn importing_what_is_there_keeps_every_etag() {
    let c = console();
    let files = json!([{"name": "a.toml", "text": format!("# a\n{}", segment("a", "true"))}]);
    let first = c
        .call(
            Method::POST,
            "/api/import",
            Some(ADMIN),
            None,
            Some(json!({"files": files, "comment": "x", "publish": true})),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let etag = c.get("/api/segments/a").await.etag();
    let again = c
        .call(
            Method::POST,
            "/api/import",
            Some(ADMIN),
            None,
            Some(json!({"files": files, "comment": "x", "publish": true})),
        )
        .await;
    assert_eq!(again.body["unchanged"], json!(["a"]));
    assert_eq!(
        c.get("/api/segments/a").await.etag(),
        etag,
        "an editor with the page open is not disturbed"
    );
    let reserved = json!([{"name": "r.toml", "text": segment("__dry_run_1", "true")}]);
    let refused = c
        .call(
            Method::POST,
            "/api/import",
            Some(ADMIN),
            None,
            Some(json!({"files": reserved, "comment": "x"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_user_lookup_needs_a_token_a_sane_id_and_a_classifier() {
    let c = console();
    let anonymous = c.call(Method::GET, "/api/users/ann", None, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let huge = c.get(&format!("/api/users/{}", "x".repeat(300))).await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST, "{:?}", huge.body);
    let unanswered = c.get("/api/users/ann").await;
    assert_eq!(unanswered.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        unanswered.body["error"],
        json!("this console sees no running classifier to ask about users")
    );
}
