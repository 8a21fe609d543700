//! A row put in its place the way a worker would: enqueued, claimed and
//! settled. For tests that need payloads waiting in every place.
#![allow(dead_code)]

use jobwire::backend::{Backend, ClaimRequest, Enqueue, Settlement};
use std::time::Duration;

/// Enqueues `payload` on `default`, claims it (the oldest ready row, so
/// call this before enqueueing rows that stay ready) and settles it as
/// `settlement`.
pub async fn settled<B: Backend>(queue: &B, payload: &[u8], settlement: Settlement<'_>) {
    queue
        .enqueue(Enqueue::new(payload))
        .await
        .expect("enqueues");
    let claims = queue
        .claim(&ClaimRequest::new(
            &["default"],
            1,
            Duration::from_secs(30),
            "test",
        ))
        .await
        .expect("claims");
    assert_eq!(claims.len(), 1, "the row just enqueued is claimed");
    let key = &claims[0].key;
    queue
        .settle(key, queue.lend(key), settlement)
        .await
        .expect("settles");
}
