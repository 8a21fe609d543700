//! Redis itself crashes (`kill -9`) and restarts with its AOF
//! (`appendfsync always`) while a worker process performs: the worker
//! reconnects by itself, and nothing is lost. A job whose acknowledgement
//! was lost with the crash runs again once its lease runs out, counting an
//! attempt.

use crate::support::{block_on, LedgerJob, TempRedis, WorkerProcess};
use jobwire::backend::sidekiq::Sidekiq;
use jobwire::backend::{Backend, Enqueue};
use jobwire::Producer;
use redis::AsyncCommands;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn performed(url: &str) -> Option<BTreeMap<i64, Vec<u32>>> {
    let queue = Sidekiq::connect(url).await.ok()?;
    let lines: Vec<String> = queue
        .connection()
        .lrange("ledger:performed", 0, -1)
        .await
        .ok()?;
    let mut out: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for line in lines {
        let mut parts = line.split(':');
        let id = parts.next()?.parse().ok()?;
        let attempt = parts.nth(1)?.parse().ok()?;
        out.entry(id).or_default().push(attempt);
    }
    Some(out)
}

pub fn a_crashed_redis_with_its_aof_loses_nothing() {
    let mut server = TempRedis::start();
    let url = server.url();
    block_on(async {
        let queue = Sidekiq::connect(&url).await.expect("connects");
        let producer = Producer::default();
        for id in 1..=60 {
            let payload = producer.seal(&LedgerJob { id, ms: 50 }).expect("seals");
            queue
                .enqueue(Enqueue::new(&payload))
                .await
                .expect("enqueues");
        }
    });
    let worker = WorkerProcess::start_at("survivor", Duration::from_secs(2), &url);
    block_on(async {
        let until = Instant::now() + Duration::from_secs(30);
        while performed(&url).await.map_or(0, |p| p.len()) < 10 {
            assert!(Instant::now() < until, "the worker performed ten");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    server.crash();
    std::thread::sleep(Duration::from_millis(700));
    server.up();
    let done = block_on(async {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let done = performed(&url).await.unwrap_or_default();
            if done.len() == 60 || Instant::now() > until {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let report = worker.term(Duration::from_secs(20));
    assert_eq!(
        done.len(),
        60,
        "every job performed, none lost: {done:?} ({report})"
    );
    for (id, attempts) in &done {
        if attempts.len() > 1 {
            assert!(
                attempts[1..].iter().all(|a| *a >= 1),
                "job {id} ran again only as a counted attempt: {attempts:?}"
            );
        }
    }
}
