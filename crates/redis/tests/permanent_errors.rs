//! Against the real Redis (scripts/test starts it; the test fails without it): a command
//! Redis refuses for good is logged and counted, not retried forever, and the rest of
//! its pipeline still lands.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use segstream_redis::profile_store::{segments_key, write_changes};
use segstream_redis::Retrying;

const REDIS_URL: &str = "redis://127.0.0.1:6379/";

fn connection() -> redis::Connection {
    let client = redis::Client::open(REDIS_URL).unwrap();
    match client.get_connection_with_timeout(Duration::from_secs(5)) {
        Ok(connection) => connection,
        Err(e) => panic!("no Redis at {REDIS_URL} ({e}): run scripts/services start (scripts/test does)"),
    }
}

#[test]
fn a_wrongtype_key_is_refused_for_good_and_the_other_users_are_written() {
    let mut direct = connection();
    let run = std::process::id();
    let (broken, fine) = (format!("permanent-{run}-broken"), format!("permanent-{run}-fine"));
    // Someone else's string where the user's segments hash belongs: HSET gets WRONGTYPE.
    redis::cmd("SET")
        .arg(segments_key(&broken))
        .arg("not a hash")
        .exec(&mut direct)
        .unwrap();
    redis::cmd("DEL").arg(segments_key(&fine)).exec(&mut direct).unwrap();

    let mut store = Retrying::new(REDIS_URL).unwrap();
    let refused = store.permanent_errors();
    let changes = vec![
        (broken.clone(), "s1".to_string(), 100, true),
        (fine.clone(), "s1".to_string(), 200, true),
    ];
    // Before, the writer retried this pipeline forever: the write must return.
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        write_changes(&mut store, &changes, 10);
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("write_changes returns on a permanent error instead of retrying it");
    assert_eq!(refused.load(Ordering::Relaxed), 1, "the refused command is counted");
    let entered: Option<u64> = redis::cmd("HGET").arg(segments_key(&fine)).arg("s1").query(&mut direct).unwrap();
    assert_eq!(entered, Some(200), "the rest of the pipeline landed");
    redis::cmd("DEL")
        .arg(segments_key(&broken))
        .arg(segments_key(&fine))
        .exec(&mut direct)
        .unwrap();
}

#[test]
fn transient_and_permanent_errors_are_told_apart() {
    use redis::{ErrorKind, RedisError};
    let refused: RedisError = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
    assert!(segstream_redis::is_transient(&refused), "Redis down: retry");
    let wrong_password = RedisError::from((ErrorKind::AuthenticationFailed, "WRONGPASS"));
    assert!(
        !segstream_redis::is_transient(&wrong_password),
        "a wrong password never fixes itself"
    );
}
