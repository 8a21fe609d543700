//! Dispatch: bytes in, exactly one outcome out.
//!
//! - the registry (`registry`): [`register!`](crate::register),
//!   [`retire!`](crate::retire), the [`RouterBuilder`](crate::RouterBuilder)
//!   and its whole-set validation;
//! - the [`Router`](crate::Router) (`router`): reads an envelope in one pass
//!   and resolves its job;
//! - a job's monomorphised decode-and-perform (`run`), behind the erased
//!   interface the other two share (`entry`);
//! - the [`Outcome`](crate::Outcome) and its [`Action`](crate::Action)
//!   (`outcome`).

pub(crate) mod counts;
pub(crate) mod entry;
pub(crate) mod outcome;
pub(crate) mod registry;
pub(crate) mod router;
pub(crate) mod run;
pub(crate) mod states;
pub(crate) mod tombstone;
