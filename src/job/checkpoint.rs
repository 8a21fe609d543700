//! Where an iterable job saves its progress while it runs: the queue, for
//! the claim being performed.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

/// Saves an iterable job's progress in the queue while the job runs, in
/// place of the claim's payload. jobwire's worker gives one to every
/// dispatch (through [`Delivery::with_checkpoint`](crate::Delivery::with_checkpoint));
/// a queue of your own can too. Without one, progress travels only in the
/// outcome: an interruption's or a failure's payload.
///
/// `data` is what the worker lent the handler, as the job sees it: the
/// worker's own type (a transaction, which the save commits with the work
/// done so far), or `()` for a job that borrows nothing.
///
/// ```
/// use jobwire::context::{Checkpoint, CheckpointError};
/// use std::any::Any;
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::Mutex;
///
/// /// Keeps the last checkpoint in memory.
/// #[derive(Default)]
/// struct InMemory(Mutex<Vec<u8>>);
///
/// impl Checkpoint for InMemory {
///     fn save<'a>(
///         &'a self,
///         payload: &'a [u8],
///         _data: &'a mut (dyn Any + Send),
///     ) -> Pin<Box<dyn Future<Output = Result<(), CheckpointError>> + Send + 'a>> {
///         Box::pin(async move {
///             *self.0.lock().map_err(|_| CheckpointError::Failed("poisoned".into()))? = payload.to_vec();
///             Ok(())
///         })
///     }
/// }
/// ```
pub trait Checkpoint: Send + Sync {
    /// Saves `payload`, the envelope with its new `progress`.
    fn save<'a>(
        &'a self,
        payload: &'a [u8],
        data: &'a mut (dyn Any + Send),
    ) -> Pin<Box<dyn Future<Output = Result<(), CheckpointError>> + Send + 'a>>;
}

/// A checkpoint that was not saved.
///
/// ```
/// let error = jobwire::context::CheckpointError::Lost;
/// assert!(error.to_string().contains("claimed again"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The claim is no longer this worker's: the job was claimed again.
    #[error("the claim was lost (the job was claimed again); the job stops")]
    Lost,
    /// The queue failed to save it.
    #[error("the checkpoint could not be saved: {0}")]
    Failed(String),
}
