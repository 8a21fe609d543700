//! The kit's exactly-once property for iterable jobs: it passes for the
//! backfill example's job, on one release and across the release that
//! changes the batch size and versions the cursor, and it fails, with a
//! shrunk counterexample, for jobs that get their cursor wrong.

#[path = "support/rows.rs"]
mod rows;

use jobwire::iteration::{iterate, Iterate};
use jobwire::testing::{assert_cursor_round_trip, IterationKit};
use jobwire::{Context, HandlerError, Job, NoPrevious};
use proptest::prelude::*;
use rows::releases::{release_1, release_2, release_3, release_4, Position};
use rows::Rows;
use semver::Version;
use serde::{Deserialize, Serialize};

#[test]
fn the_backfill_is_exactly_once_on_one_release() {
    IterationKit::new(|_: &[u64]| release_1::Backfill::<Rows>::new("accounts"))
        .cases(64)
        .check();
}

#[test]
fn the_backfill_is_exactly_once_when_the_next_release_changes_batch_and_cursor() {
    IterationKit::new(|_: &[u64]| release_1::Backfill::<Rows>::new("accounts"))
        .next_release::<release_2::Backfill<Rows>>()
        .max_items(5_000)
        .cases(64)
        .check();
}

#[test]
fn the_backfill_is_exactly_once_across_the_later_releases() {
    IterationKit::new(|_: &[u64]| release_3::Backfill::<Rows>::new("accounts"))
        .next_release::<release_4::Backfill<Rows>>()
        .max_items(5_000)
        .cases(32)
        .check();
}

#[test]
fn the_backfill_cursors_survive_the_round_trip() {
    assert_cursor_round_trip::<release_1::Backfill<Rows>>(any::<u64>(), 256);
    let positions =
        (any::<u64>(), any::<u64>()).prop_map(|(after_id, batches)| Position { after_id, batches });
    assert_cursor_round_trip::<release_2::Backfill<Rows>>(positions, 256);
}

/// Saves its cursor before the item has run: each item's cursor already
/// points past the *next* one, as if the cursor were written first.
#[derive(Debug, Serialize, Deserialize)]
struct EarlyCursor {}

impl Job for EarlyCursor {
    const NAME: &'static str = "broken.early_cursor";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Rows;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Rows>) -> Result<(), HandlerError> {
        iterate(self, ctx).await
    }
}

impl Iterate for EarlyCursor {
    type Cursor = u64;
    type Item = u64;
    async fn next_items(
        &self,
        after: Option<&u64>,
        ctx: &mut Context<'_, Rows>,
    ) -> Result<Vec<(u64, u64)>, HandlerError> {
        let ids: Vec<u64> = ctx
            .state()
            .ids
            .iter()
            .copied()
            .filter(|id| after.is_none_or(|after| id > after))
            .take(10)
            .collect();
        Ok(ids
            .iter()
            .enumerate()
            .map(|(at, id)| (*id, ids.get(at + 1).copied().unwrap_or(*id)))
            .collect())
    }
    async fn each(&self, id: u64, ctx: &mut Context<'_, Rows>) -> Result<(), HandlerError> {
        ctx.state()
            .written
            .lock()
            .map_err(|_| HandlerError::permanent("poisoned"))?
            .push(id);
        Ok(())
    }
}

#[test]
fn a_cursor_saved_before_its_item_ran_fails_with_a_shrunk_counterexample() {
    let failures = IterationKit::new(|_: &[u64]| EarlyCursor {})
        .cases(256)
        .persist_to("proptest-regressions/kit_iteration_early_cursor.txt")
        .try_check()
        .expect_err("the kit catches a cursor saved too early");
    let failure = &failures[0];
    assert!(failure.reason.contains("skipped ["), "{failure}");
    // Shrunk: one interruption after the first of two items shows it.
    assert!(
        failure
            .input
            .starts_with("resumptions [Resumption { items: 1, next_release: false }], items ["),
        "shrunk to one interruption after one item: {failure}"
    );
    let items = failure
        .input
        .rsplit(", items [")
        .next()
        .map(|tail| tail.matches(',').count() + 1)
        .unwrap_or(0);
    assert_eq!(items, 2, "shrunk to two items: {failure}");
}

/// A page-numbered cursor: which rows page `n` holds depends on the page
/// size.
macro_rules! paged {
    ($name:ident, $size:expr) => {
        #[derive(Debug, Serialize, Deserialize)]
        struct $name {}

        impl Job for $name {
            const NAME: &'static str = "broken.paged";
            // The page size changes below, and the version does not.
            const VERSION: Version = Version::new(1, 0, 0);
            type Previous = NoPrevious;
            type State = Rows;
            type Data = ();
            async fn perform(self, ctx: &mut Context<'_, Rows>) -> Result<(), HandlerError> {
                iterate(self, ctx).await
            }
        }

        impl Iterate for $name {
            type Cursor = usize;
            type Item = Vec<u64>;
            async fn next_items(
                &self,
                after: Option<&usize>,
                ctx: &mut Context<'_, Rows>,
            ) -> Result<Vec<(Vec<u64>, usize)>, HandlerError> {
                let page = after.map_or(0, |done| *done);
                let ids: Vec<u64> = ctx
                    .state()
                    .ids
                    .iter()
                    .copied()
                    .skip(page * $size)
                    .take($size)
                    .collect();
                Ok(if ids.is_empty() {
                    vec![]
                } else {
                    vec![(ids, page + 1)]
                })
            }
            async fn each(
                &self,
                ids: Vec<u64>,
                ctx: &mut Context<'_, Rows>,
            ) -> Result<(), HandlerError> {
                ctx.state()
                    .written
                    .lock()
                    .map_err(|_| HandlerError::permanent("poisoned"))?
                    .extend(ids);
                Ok(())
            }
        }
    };
}

paged!(PagesOfThree, 3);
paged!(PagesOfFive, 5);

#[test]
fn a_batch_size_change_that_shifts_the_cursor_fails() {
    assert!(IterationKit::new(|_: &[u64]| PagesOfThree {})
        .cases(64)
        .try_check()
        .is_ok());
    let failures = IterationKit::new(|_: &[u64]| PagesOfThree {})
        .next_release::<PagesOfFive>()
        .cases(256)
        .persist_to("proptest-regressions/kit_iteration_pages.txt")
        .try_check()
        .expect_err("a page size change on the same version skips rows");
    assert!(failures[0].reason.contains("skipped"), "{}", failures[0]);
}
