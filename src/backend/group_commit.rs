//! Group commit for acknowledgements: jobs that finish together are
//! acknowledged together, since a commit (and, on PostgreSQL, a round trip)
//! costs far more than deleting a row. Each acknowledgement keeps its own
//! fence and its own answer: a fenced job never fails its batch-mates, and
//! a group that fails as a whole sends everyone to acknowledge alone.
//!
//! Whoever arrives while no one is committing commits for everyone waiting,
//! so one job alone waits for nobody, and a burst costs one commit.

use super::RowKey;
use std::future::Future;
use tokio::sync::oneshot;

/// The acknowledgements waiting for the next commit, and the turn to make
/// it.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    waiting: std::sync::Mutex<Vec<(RowKey, oneshot::Sender<u64>)>>,
    committer: tokio::sync::Mutex<()>,
}

impl GroupCommit {
    /// Acknowledges `key` in the next group: the rows its own fenced
    /// statement changed (0 when fenced), or `None` when the group failed
    /// and the caller should acknowledge alone, for an error of its own.
    ///
    /// `commit` acknowledges a whole group and answers, in the group's
    /// order, how many rows each key changed.
    pub(crate) async fn ack<F, Fut, E>(&self, key: RowKey, commit: F) -> Option<u64>
    where
        F: FnOnce(Vec<RowKey>) -> Fut,
        Fut: Future<Output = Result<Vec<u64>, E>>,
    {
        let (answer, answered) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push((key, answer));
        }
        {
            let _turn = self.committer.lock().await;
            let batch = self
                .waiting
                .lock()
                .map(|mut waiting| std::mem::take(&mut *waiting))
                .unwrap_or_default();
            if !batch.is_empty() {
                let (keys, answers): (Vec<RowKey>, Vec<_>) = batch.into_iter().unzip();
                let count = keys.len();
                // On an error, or an answer of the wrong length, every
                // answer is dropped: each key is acknowledged alone.
                if let Ok(rows) = commit(keys).await {
                    if rows.len() == count {
                        for (answer, rows) in answers.into_iter().zip(rows) {
                            let _ = answer.send(rows);
                        }
                    }
                }
            }
        }
        answered.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn key(id: i64) -> RowKey {
        RowKey { id, epoch: 1 }
    }

    #[tokio::test]
    async fn a_burst_is_one_commit_and_each_keeps_its_answer() {
        let group = Arc::new(GroupCommit::default());
        let commits = Arc::new(AtomicUsize::new(0));
        // Hold the turn, so that a burst gathers behind it.
        let turn = group.committer.lock().await;
        let mut acks = Vec::new();
        for id in 1..=5 {
            let (group, commits) = (Arc::clone(&group), Arc::clone(&commits));
            acks.push(tokio::spawn(async move {
                group
                    .ack(key(id), |keys| async move {
                        commits.fetch_add(1, Ordering::SeqCst);
                        // Odd ids were fenced.
                        Ok::<_, ()>(keys.iter().map(|k| u64::from(k.id % 2 == 0)).collect())
                    })
                    .await
            }));
        }
        tokio::task::yield_now().await;
        while group.waiting.lock().map(|w| w.len()).unwrap_or(0) < 5 {
            tokio::task::yield_now().await;
        }
        drop(turn);
        let mut answers = Vec::new();
        for ack in acks {
            answers.push(ack.await.ok().flatten());
        }
        assert_eq!(
            answers,
            vec![Some(0), Some(1), Some(0), Some(1), Some(0)],
            "a fenced job does not fail its batch-mates"
        );
        assert_eq!(
            commits.load(Ordering::SeqCst),
            1,
            "one commit for the burst"
        );
    }

    #[tokio::test]
    async fn a_failed_group_sends_everyone_to_acknowledge_alone() {
        let group = GroupCommit::default();
        let failed = group
            .ack(key(1), |_| async { Err::<Vec<u64>, _>("down") })
            .await;
        assert_eq!(failed, None);
        let short = group
            .ack(key(2), |_| async { Ok::<_, ()>(Vec::new()) })
            .await;
        assert_eq!(short, None, "an answer of the wrong length is no answer");
        let alone = group.ack(key(3), |_| async { Ok::<_, ()>(vec![1]) }).await;
        assert_eq!(alone, Some(1));
    }
}
