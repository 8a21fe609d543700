//! Reading the cursor a payload carries, by the rules arguments are read by.

use crate::iteration::Iterate;
use crate::wire::{bounded, Relation};
use crate::{Context, HandlerError, Lifecycle, RejectError};

/// The cursor to resume from: `None` for a job that has not started.
pub(crate) fn read<J: Iterate<L>, L: Lifecycle>(
    ctx: &Context<'_, J::State, J::Data>,
) -> Result<Option<J::Cursor>, HandlerError> {
    let Some(progress) = ctx.progress() else {
        return Ok(None);
    };
    if !progress.has_cursor() {
        return Ok(None);
    }
    let text = progress.cursor_json();
    let reject = |message: String| {
        HandlerError::reject(RejectError::Progress {
            job: J::NAME.to_owned(),
            version: ctx.wire_version().clone(),
            field: "cursor",
            message: bounded(message),
        })
    };
    match ctx.relation() {
        Relation::OlderLine => J::upcast_cursor(ctx.wire_version(), text)
            .map(Some)
            .map_err(|error| reject(error.to_string())),
        // A newer line is deferred before the handler runs; were one to get
        // here, it is read as the same line would be, never guessed at.
        _ => serde_json::from_str::<J::Cursor>(text)
            .map(Some)
            .map_err(|error| {
                reject(format!(
                    "{error} (a {} expected)",
                    std::any::type_name::<J::Cursor>()
                ))
            }),
    }
}
