//! The iteration kit plays the mixed fleet of a deploy, on dense ids as well
//! as sparse ones, and delivers the finished payload again: each planted bug
//! below passes the kit as it stood in 0.2, and fails it now.
//! - a checkpoint the next release writes and this release misreads (N+1's
//!   cursor renamed a field, reading the old name through an alias): only a
//!   resumption on N after one on N+1 shows it;
//! - an `upcast_cursor` that lands one id too far: only consecutive ids
//!   show it every time;
//! - a `completed` that sends its notice again when a finished payload is
//!   delivered again (a lost acknowledgement).

use jobwire::iteration::{iterate, Iterate};
use jobwire::testing::{IterationKit, World};
use jobwire::{Context, HandlerError, Job, NoPrevious, UpcastError};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Ids, what was performed, and how many notices `completed` sent.
#[derive(Clone, Default)]
struct Ids {
    ids: Arc<Vec<u64>>,
    performed: Arc<Mutex<Vec<u64>>>,
    notices: Arc<AtomicU64>,
}

impl World for Ids {
    fn with_items(items: &[u64]) -> Self {
        Ids {
            ids: Arc::new(items.to_vec()),
            ..Ids::default()
        }
    }
    fn performed(&self) -> Vec<u64> {
        self.performed.lock().map(|p| p.clone()).unwrap_or_default()
    }
    fn completions(&self) -> Option<u64> {
        Some(self.notices.load(Ordering::SeqCst))
    }
}

impl Ids {
    fn after(&self, after: Option<u64>) -> impl Iterator<Item = u64> + '_ {
        self.ids
            .iter()
            .copied()
            .filter(move |id| after.is_none_or(|a| *id > a))
            .take(4)
    }
    fn perform(&self, id: u64) -> Result<(), HandlerError> {
        self.performed
            .lock()
            .map_err(|_| HandlerError::permanent("poisoned"))?
            .push(id);
        Ok(())
    }
}

/// A backfill at `$version` whose cursor is `$cursor`, made from the last
/// id done by `$make` and read back by `$read`.
macro_rules! backfill {
    ($ty:ident, $version:expr, $cursor:ty, make = $make:expr, read = $read:expr
     $(, link = $link:ident, upcast = $upcast:expr)? $(, completed = $completed:expr)? $(, idempotent = $idempotent:expr)?) => {
        #[derive(Debug, Serialize, Deserialize)]
        struct $ty {}
        impl Job for $ty {
            const NAME: &'static str = "backfill";
            const VERSION: Version = $version;
            type Previous = backfill!(@previous $($link)?);
            type State = Ids;
            type Data = ();
            async fn perform(self, ctx: &mut Context<'_, Ids>) -> Result<(), HandlerError> {
                iterate(self, ctx).await
            }
        }
        impl Iterate for $ty {
            type Cursor = $cursor;
            type Item = u64;
            $(const COMPLETED_IS_IDEMPOTENT: bool = $idempotent;)?
            async fn next_items(
                &self,
                after: Option<&$cursor>,
                ctx: &mut Context<'_, Ids>,
            ) -> Result<Vec<(u64, $cursor)>, HandlerError> {
                let read: fn(&$cursor) -> u64 = $read;
                let make: fn(u64) -> $cursor = $make;
                Ok(ctx.state().after(after.map(read)).map(|id| (id, make(id))).collect())
            }
            async fn each(&self, id: u64, ctx: &mut Context<'_, Ids>) -> Result<(), HandlerError> {
                ctx.state().perform(id)
            }
            $(async fn completed(&self, ctx: &mut Context<'_, Ids>) -> Result<(), HandlerError> {
                let completed: fn(&Ids) = $completed;
                completed(ctx.state());
                Ok(())
            })?
            $(fn upcast_cursor(_: &Version, cursor: &str) -> Result<$cursor, UpcastError> {
                let upcast: fn(u64) -> $cursor = $upcast;
                let old: IdCursor =
                    serde_json::from_str(cursor).map_err(|e| UpcastError::new(e.to_string()))?;
                Ok(upcast(old.id))
            })?
        }
    };
    (@previous) => { NoPrevious };
    (@previous $link:ident) => { $link };
    (@link $link:ident, $ty:ident) => {
        /// The 1.x arguments, upcast to 2.0.
        #[derive(Debug, Serialize, Deserialize)]
        struct $link {}
        impl jobwire::Upcast for $link {
            const VERSION: Version = Version::new(1, 0, 0);
            type Next = $ty;
            type Previous = NoPrevious;
            fn upcast(self) -> Result<$ty, UpcastError> {
                Ok($ty {})
            }
        }
    };
}

// Release N: the cursor is `{"id": last id done}`.
#[derive(Debug, Serialize, Deserialize)]
struct IdCursor {
    id: u64,
}
backfill!(
    N,
    Version::new(1, 0, 0),
    IdCursor,
    make = |id| IdCursor { id },
    read = |c| c.id
);

// Release N+1, a minor: the field is renamed to `last`, and the old name is
// still read through an alias. N+1 reads N's checkpoints; N cannot read N+1's.
#[derive(Debug, Serialize, Deserialize)]
struct LastCursor {
    #[serde(alias = "id")]
    last: u64,
}
backfill!(
    RenamedCursor,
    Version::new(1, 1, 0),
    LastCursor,
    make = |last| LastCursor { last },
    read = |c| c.last
);

#[test]
fn a_checkpoint_the_next_release_writes_and_this_one_misreads_is_caught() {
    let failures = IterationKit::new(|_: &[u64]| N {})
        .next_release::<RenamedCursor>()
        .cases(128)
        .persist_to("proptest-regressions/kit_mixed_fleet_renamed.txt")
        .try_check()
        .expect_err("release N resumes N+1's checkpoints during the deploy");
    let failure = &failures[0];
    assert!(failure.reason.contains("N+1: interrupted"), "{failure}");
    assert!(
        failure.reason.contains("release N gave rejected"),
        "{failure}"
    );
    assert!(failure.reason.contains("missing field `id`"), "{failure}");
}

// Release 2.0: the cursor is the next id to do, upcast from 1.x's last id
// done. `OneTooFar` adds 2 where 1 is right: it skips an id only when the id
// after the last one done exists, which consecutive ids always have.
#[derive(Debug, Serialize, Deserialize)]
struct Next {
    next: u64,
}
backfill!(
    NextCursor,
    Version::new(2, 0, 0),
    Next,
    make = |id| Next { next: id + 1 },
    read = |c| c.next.saturating_sub(1),
    link = NextLink,
    upcast = |last| Next { next: last + 1 }
);
backfill!(@link NextLink, NextCursor);
backfill!(
    OneTooFar,
    Version::new(2, 0, 0),
    Next,
    make = |id| Next { next: id + 1 },
    read = |c| c.next.saturating_sub(1),
    link = TooFarLink,
    upcast = |last| Next { next: last + 2 }
);
backfill!(@link TooFarLink, OneTooFar);

#[test]
fn an_upcast_cursor_one_id_too_far_is_caught_on_dense_ids() {
    assert!(IterationKit::new(|_: &[u64]| N {})
        .next_release::<NextCursor>()
        .cases(64)
        .try_check()
        .is_ok());
    let failures = IterationKit::new(|_: &[u64]| N {})
        .next_release::<OneTooFar>()
        .cases(64)
        .persist_to("proptest-regressions/kit_mixed_fleet_upcast.txt")
        .try_check()
        .expect_err("an upcast one id too far skips an id");
    assert!(failures[0].reason.contains("skipped ["), "{}", failures[0]);
}

// `completed` sends a notice: every time, or once per job (it checks first,
// as a real job checks a "notified" column), or every time while declaring
// that it is not idempotent.
backfill!(
    NoticeEveryTime,
    Version::new(1, 0, 0),
    IdCursor,
    make = |id| IdCursor { id },
    read = |c| c.id,
    completed = |ids| {
        ids.notices.fetch_add(1, Ordering::SeqCst);
    }
);
backfill!(
    NoticeOnce,
    Version::new(1, 0, 0),
    IdCursor,
    make = |id| IdCursor { id },
    read = |c| c.id,
    completed = |ids| {
        let _ = ids
            .notices
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
    }
);
backfill!(
    NoticeDeclared,
    Version::new(1, 0, 0),
    IdCursor,
    make = |id| IdCursor { id },
    read = |c| c.id,
    completed = |ids| {
        ids.notices.fetch_add(1, Ordering::SeqCst);
    },
    idempotent = false
);

#[test]
fn a_completed_that_takes_effect_again_on_redelivery_is_caught() {
    let failures = IterationKit::new(|_: &[u64]| NoticeEveryTime {})
        .cases(16)
        .persist_to("proptest-regressions/kit_mixed_fleet_completed.txt")
        .try_check()
        .expect_err("the notice is sent twice");
    let failure = &failures[0];
    assert!(
        failure.reason.contains("`completed` took effect 1 time(s) at the end and 2 after the finished payload was delivered again"),
        "{failure}"
    );
    IterationKit::new(|_: &[u64]| NoticeOnce {})
        .cases(16)
        .check();
    IterationKit::new(|_: &[u64]| NoticeDeclared {})
        .cases(16)
        .check();
}
