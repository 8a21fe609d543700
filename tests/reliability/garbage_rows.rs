//! Queue rows are input: any producer, in any language, may write them. A
//! row a claim cannot read is dead-lettered by itself, as stored, with the
//! reason, and its batch-mates are performed once each; a reason holding a
//! NUL is stored (escaped) with its own words; and on SQLite, a job name
//! that is not UTF-8 hides neither the dead letters nor the drain table.
//! Rows written with raw SQL, as another language would, and read by real
//! worker processes.

use crate::harness::{block_on, sleepy, Db, Queue, Settings, WorkerProcess};
use std::time::Duration;

/// Three good jobs claimed in the same batches as the bad rows: each is
/// performed once, on its first attempt, and each bad row is dead-lettered
/// with the reason and its bytes.
async fn the_batch_goes_on(db: &Db, queue: &Queue, bad: usize) {
    for id in 1..=3 {
        queue.enqueue(&sleepy(id, 5)).await;
    }
    let worker = WorkerProcess::start(db, &Settings::new("worker").concurrency(8));
    assert!(
        queue
            .until(Duration::from_secs(30), |q| async move {
                q.waiting().await == 0
            })
            .await,
        "nothing stalls: every row is performed or dead-lettered"
    );
    let report = worker.stop(Duration::from_secs(30)).await;
    let performed = queue.performed().await;
    let mut ids: Vec<i64> = performed.iter().map(|job| job.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2, 3], "each good job once");
    assert!(
        performed.iter().all(|job| job.attempt == 0),
        "{performed:?}"
    );
    let dead = queue.dead_letters().await;
    assert_eq!(dead.len(), bad, "{dead:?}");
    for letter in &dead {
        assert!(
            letter.reason.contains("unreadable queue row"),
            "{}",
            letter.reason
        );
        assert_eq!(letter.attempt, 0, "dead-lettered on its first claim");
    }
    assert_eq!(report.fenced, 0, "{report}");
}

pub fn unreadable_rows_sqlite() {
    let db = Db::sqlite("garbage");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let sqlite = queue.sqlite().expect("an SQLite queue");
        let pool = sqlite.pool();
        // A payload stored as a number, as a real, and a first_seen that is
        // not a time: what a careless producer writes.
        for insert in [
            "INSERT INTO jobwire_jobs (queue, payload) VALUES ('default', 42)",
            "INSERT INTO jobwire_jobs (queue, payload) VALUES ('default', 4.5)",
        ] {
            sqlx::query(insert).execute(pool).await.expect("inserts");
        }
        let late = sleepy(9, 5);
        sqlx::query(
            "INSERT INTO jobwire_jobs (queue, payload, first_seen) VALUES ('default', ?1, 'soon')",
        )
        .bind(&late)
        .execute(pool)
        .await
        .expect("inserts");
        the_batch_goes_on(&db, &queue, 3).await;
        let dead = queue.dead_letters().await;
        let stored: Vec<&[u8]> = dead.iter().map(|d| d.payload.as_slice()).collect();
        assert!(
            stored.contains(&b"42".as_slice()),
            "the bytes as stored: {stored:?}"
        );
        assert!(stored.contains(&b"4.5".as_slice()), "{stored:?}");
        assert!(stored.contains(&late.as_slice()), "{stored:?}");
        assert!(
            dead.iter().any(|d| d.reason.contains("first_seen")),
            "the reason names the column: {dead:?}"
        );
    });
}

#[cfg(feature = "postgres")]
pub fn unreadable_rows_postgres() {
    let db = Db::postgres("garbage");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let Queue::Postgres(postgres) = &queue else {
            unreachable!("a PostgreSQL queue")
        };
        let infinite = sleepy(9, 5);
        sqlx::query("INSERT INTO jobwire_jobs (queue, payload, first_seen) VALUES ('default', $1, 'infinity')")
            .bind(&infinite)
            .execute(postgres.pool())
            .await
            .expect("inserts");
        the_batch_goes_on(&db, &queue, 1).await;
        let dead = queue.dead_letters().await;
        assert_eq!(dead[0].payload, infinite, "the bytes as stored");
        assert!(dead[0].reason.contains("infinity"), "{}", dead[0].reason);
    });
}

pub fn a_nul_in_a_reason_is_stored_sqlite() {
    a_nul_in_a_reason_is_stored(&Db::sqlite("nul"));
}

#[cfg(feature = "postgres")]
pub fn a_nul_in_a_reason_is_stored_postgres() {
    a_nul_in_a_reason_is_stored(&Db::postgres("nul"));
}

/// A unit holding a NUL: arguments that do not fit, and serde's "unknown
/// variant" message quotes the unit, NUL and all, which PostgreSQL's `TEXT`
/// refuses unless it is escaped.
fn a_nul_in_a_reason_is_stored(db: &Db) {
    block_on(async {
        let queue = db.open().await.expect("opens");
        let payload: &[u8] = br#"{"job":"reliability.sleepy","version":"1.0.0","args":{"id":1,"ms":1,"unit":"m\u0000s"}}"#;
        let id = queue.enqueue(payload).await;
        let worker = WorkerProcess::start(db, &Settings::new("worker"));
        assert!(
            queue
                .until(Duration::from_secs(30), |q| async move {
                    q.waiting().await == 0
                })
                .await,
            "dead-lettered"
        );
        let report = worker.stop(Duration::from_secs(30)).await;
        assert_eq!(report.dead_lettered, 1, "{report}");
        let dead = queue.dead_letters().await;
        let letter = dead
            .iter()
            .find(|d| d.job_id == id)
            .expect("its dead letter");
        assert_eq!(letter.payload, payload, "the bytes as they were");
        assert!(
            letter.reason.contains("unknown variant"),
            "its own reason: {}",
            letter.reason
        );
        assert!(
            letter.reason.contains("\\u0000"),
            "the NUL, escaped: {}",
            letter.reason
        );
        assert!(
            !letter.reason.contains("lease ran out"),
            "{}",
            letter.reason
        );
    });
}

pub fn a_name_that_is_not_utf8_hides_nothing_sqlite() {
    let db = Db::sqlite("utf8");
    block_on(async {
        let queue = db.open().await.expect("opens");
        let sqlite = queue.sqlite().expect("an SQLite queue");
        queue.enqueue(&sleepy(1, 5)).await;
        let pool = sqlite.pool();
        sqlx::query(
            "INSERT INTO jobwire_jobs (queue, job, version, payload) VALUES ('default', CAST(x'ff6a6f62' AS TEXT), '1.0.0', x'00')",
        )
        .execute(pool)
        .await
        .expect("inserts");
        sqlx::query(
            "INSERT INTO jobwire_dead (job_id, queue, job, version, payload, reason, attempt, defers, first_seen, enqueued_at, died_at)
             VALUES (7, 'default', CAST(x'fe' AS TEXT), '1.0.0', x'01', CAST(x'ff' AS TEXT), 0, 0, 0, 0, 0),
                    (8, 'default', 'reliability.sleepy', '1.0.0', x'02', 'fine', 0, 0, 0, 0, 0)",
        )
        .execute(pool)
        .await
        .expect("inserts");
        let dead = sqlite
            .dead_letters()
            .await
            .expect("the dead letters are listed");
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert_eq!(dead[0].job, None, "unreadable, and said so");
        assert_eq!(dead[1].job.as_deref(), Some("reliability.sleepy"));
        let waiting = sqlite.waiting().await.expect("the drain table is listed");
        let sleepy_rows: u64 = waiting
            .iter()
            .filter(|w| w.job.as_deref() == Some("reliability.sleepy"))
            .map(|w| w.count)
            .sum();
        assert_eq!(
            sleepy_rows, 2,
            "the readable rows are all there: {waiting:?}"
        );
        assert_eq!(
            waiting
                .iter()
                .filter(|w| w.job.is_none())
                .map(|w| w.count)
                .sum::<u64>(),
            2,
            "the unreadable ones are counted as such: {waiting:?}"
        );
    });
}
