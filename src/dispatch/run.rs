//! Decoding and performing one job, monomorphised for its type: the code
//! behind [`Run`].
//!
//! Decoding is synchronous and the same for both ways of dispatching. A
//! blocking dispatch then polls the handler's future in place, with no
//! executor and no allocation; an async dispatch boxes it once. Every step
//! that runs the job's own code (its `Deserialize` impls, each upcaster, the
//! handler) runs under `catch_unwind` unless the router was built with
//! `catch_panics(false)`.

use crate::dispatch::entry::{Dispatch, Entry, Lent, Performing, Route, Run};
use crate::dispatch::outcome::{Failed, Interrupted, Outcome, Performed, Rejected, Snoozed};
use crate::job::error::{guarded, panic_message, Step, Verdict};
use crate::job::history::{decode_typed, ChainError, History};
use crate::wire::scan::{Head, Scan};
use crate::wire::{
    bounded, json_error_at, locate, skip_value, Line, Meta, Progress, RejectError, Relation,
};
use crate::{Context, HandlerError, Job, Lifecycle};
use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};

/// The [`Run`] of job `J` in lifecycle `L`.
pub(crate) struct JobRun<J, L>(PhantomData<fn() -> (J, L)>);

impl<J, L> JobRun<J, L> {
    pub(crate) fn new() -> Self {
        JobRun(PhantomData)
    }
}

/// A job's arguments, decoded, with the rest of what the envelope held.
struct Decoded<'p, J> {
    job: J,
    meta: Meta<'p>,
    progress: Option<Progress<'p>>,
}

impl<J: Job<L>, L: Lifecycle> Run for JobRun<J, L> {
    fn blocking<'p>(
        &self,
        lent: Lent<'_>,
        route: Route,
        dispatch: Dispatch<'_, 'p>,
    ) -> Outcome<'p> {
        let payload = dispatch.payload;
        let Lent {
            entry,
            info,
            data,
            catch,
        } = lent;
        // One guard around decoding and performing; `stage` says which was
        // running if it catches a panic.
        let mut meta = None;
        let mut stage = Stage::Decode;
        let result = guarded(catch, || {
            let decoded = decode::<J, L>(entry, &route, dispatch, catch)?;
            warn_deprecated::<J, L>();
            let meta = &*meta.insert(decoded.meta);
            let progress = decoded.progress;
            let Some(state) = state_of::<J::State>(entry) else {
                return Err(missing::<J, L>("state"));
            };
            let mut unit = ();
            let Some(data) = data_of::<J::Data>(data, &mut unit) else {
                return Err(missing::<J, L>("data"));
            };
            let mut ctx = Context {
                job: J::NAME,
                wire_version: &route.wire,
                relation: route.relation,
                meta,
                state,
                data,
                info,
                payload,
                progress: progress.as_ref(),
            };
            stage = Stage::Perform;
            let future = pin!(decoded.job.perform(&mut ctx));
            Ok(poll_to_end(future))
        });
        let meta = meta.unwrap_or_default();
        match result {
            Ok(Ok(result)) => finish::<J, L>(route, result, payload, meta),
            Ok(Err(outcome)) => with_payload(*outcome, payload, meta),
            Err(panic) => panicked::<J, L>(route, stage, panic, payload, meta),
        }
    }

    fn future<'f, 'p: 'f>(
        &'f self,
        lent: Lent<'f>,
        route: Route,
        dispatch: Dispatch<'_, 'p>,
    ) -> Result<Performing<'f, 'p>, Outcome<'p>> {
        let payload = dispatch.payload;
        let Lent {
            entry,
            info,
            data,
            catch,
        } = lent;
        let decoded = match guarded(catch, || decode::<J, L>(entry, &route, dispatch, catch)) {
            Ok(Ok(decoded)) => decoded,
            Ok(Err(outcome)) => return Err(*outcome),
            Err(panic) => {
                return Err(panicked::<J, L>(
                    route,
                    Stage::Decode,
                    panic,
                    payload,
                    Meta::default(),
                ))
            }
        };
        warn_deprecated::<J, L>();
        let Decoded {
            job,
            meta,
            progress,
        } = decoded;
        let Some(state) = state_of::<J::State>(entry) else {
            return Err(with_payload(*missing::<J, L>("state"), payload, meta));
        };
        Ok(Box::pin(async move {
            let mut unit = ();
            let Some(data) = data_of::<J::Data>(data, &mut unit) else {
                return with_payload(*missing::<J, L>("data"), payload, meta);
            };
            let result = {
                let mut ctx = Context {
                    job: J::NAME,
                    wire_version: &route.wire,
                    relation: route.relation,
                    meta: &meta,
                    state,
                    data,
                    info,
                    payload,
                    progress: progress.as_ref(),
                };
                let mut future = pin!(job.perform(&mut ctx));
                std::future::poll_fn(|cx| guarded_poll(future.as_mut(), cx, catch)).await
            };
            match result {
                Ok(result) => finish::<J, L>(route, result, payload, meta),
                Err(panic) => panicked::<J, L>(route, Stage::Perform, panic, payload, meta),
            }
        }))
    }

    #[cfg(feature = "testing")]
    fn read<'p>(
        &self,
        entry: &Entry,
        route: &Route,
        dispatch: Dispatch<'_, 'p>,
    ) -> Result<Box<dyn Any>, Outcome<'p>> {
        let payload = dispatch.payload;
        match guarded(true, || decode::<J, L>(entry, route, dispatch, true)) {
            Ok(Ok(decoded)) => Ok(Box::new(decoded.job) as Box<dyn Any>),
            Ok(Err(outcome)) => Err(*outcome),
            Err(panic) => Err(panicked::<J, L>(
                Route {
                    relation: route.relation,
                    wire: route.wire.clone(),
                    via_alias: route.via_alias,
                },
                Stage::Decode,
                panic,
                payload,
                Meta::default(),
            )),
        }
    }
}

fn warn_deprecated<J: Job<L>, L: Lifecycle>() {
    if L::DEPRECATED {
        tracing::warn!(
            job.name = J::NAME,
            "performing a deprecated job: it drains, but nothing should enqueue it any more"
        );
    }
}

/// The job's state, resolved when the router was built.
#[inline]
fn state_of<S: Any>(entry: &Entry) -> Option<&S> {
    static UNIT: () = ();
    match &entry.state_value {
        Some(value) => value.downcast_ref::<S>(),
        None => (&UNIT as &dyn Any).downcast_ref::<S>(),
    }
}

/// The data lent to this dispatch, as the job's declared type: the worker's,
/// or a unit for a job that borrows nothing.
#[inline]
fn data_of<'a, D: Any>(lent: &'a mut (dyn Any + Send), unit: &'a mut ()) -> Option<&'a mut D> {
    if lent.is::<D>() {
        lent.downcast_mut::<D>()
    } else {
        (unit as &mut dyn Any).downcast_mut::<D>()
    }
}

/// Which part of a blocking dispatch was running.
#[derive(Clone, Copy)]
enum Stage {
    Decode,
    Perform,
}

/// The router was built to lend the job what it needs, so this cannot
/// happen; if it somehow did, the payload goes back, never a panic.
#[cold]
fn missing<'p, J: Job<L>, L: Lifecycle>(what: &str) -> Box<Outcome<'p>> {
    Box::new(Outcome::Failed(Box::new(Failed {
        job: J::NAME,
        wire_version: J::VERSION,
        error: HandlerError::internal(format!(
            "job `{}`: its {what} is missing from the router",
            J::NAME
        )),
        step: Step::Perform,
        panicked: false,
        meta: Meta::default(),
        payload: Cow::Borrowed(&[]),
    })))
}

/// An outcome made without the payload, given it.
fn with_payload<'p>(outcome: Outcome<'p>, payload: &'p [u8], meta: Meta<'p>) -> Outcome<'p> {
    match outcome {
        Outcome::Failed(mut failed) if failed.payload.is_empty() => {
            failed.payload = Cow::Borrowed(payload);
            failed.meta = meta;
            Outcome::Failed(failed)
        }
        other => other,
    }
}

/// The outcome of a panic caught in `stage`.
#[cold]
fn panicked<'p, J: Job<L>, L: Lifecycle>(
    route: Route,
    stage: Stage,
    panic: String,
    payload: &'p [u8],
    meta: Meta<'p>,
) -> Outcome<'p> {
    let (step, message) = match stage {
        Stage::Decode => (
            Step::Decode {
                version: route.wire.clone(),
            },
            format!("decode at {} panicked: {panic}", route.wire),
        ),
        Stage::Perform => (
            Step::Perform,
            diagnose(format!("handler panicked: {panic}")),
        ),
    };
    Outcome::Failed(Box::new(Failed {
        job: J::NAME,
        wire_version: route.wire,
        error: HandlerError::internal(message),
        step,
        panicked: true,
        meta,
        payload: Cow::Borrowed(payload),
    }))
}

/// Polls once, catching a panic when asked to.
fn guarded_poll<F: Future>(
    future: Pin<&mut F>,
    cx: &mut TaskContext<'_>,
    catch: bool,
) -> Poll<Result<F::Output, String>> {
    if !catch {
        return future.poll(cx).map(Ok);
    }
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(poll) => poll.map(Ok),
        Err(panic) => Poll::Ready(Err(panic_message(&*panic))),
    }
}

/// Wakes a thread parked in [`poll_to_end`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a handler's future to its end on this thread. A handler that does
/// not await finishes at the first poll, with a no-op waker: no executor,
/// no allocation. One that does await parks the thread until it is woken.
fn poll_to_end<F: Future>(mut future: Pin<&mut F>) -> F::Output {
    let mut cx = TaskContext::from_waker(Waker::noop());
    if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
        return output;
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

/// What the handler's result becomes.
fn finish<'p, J: Job<L>, L: Lifecycle>(
    route: Route,
    result: Result<(), HandlerError>,
    payload: &'p [u8],
    meta: Meta<'p>,
) -> Outcome<'p> {
    let error = match result {
        Ok(()) => return Outcome::Performed(performed::<J, L>(route)),
        Err(error) => error,
    };
    let mut error = error;
    // An iterable job hands back its envelope with the new progress.
    let payload = match error.take_payload() {
        Some(bytes) => Cow::Owned(bytes),
        None => Cow::Borrowed(payload),
    };
    match error.verdict() {
        Verdict::Snoozed(delay) => Outcome::Snoozed(Snoozed {
            job: J::NAME,
            wire_version: route.wire,
            delay,
            meta,
            payload,
        }),
        Verdict::Interrupted(reason) => Outcome::Interrupted(Interrupted {
            job: J::NAME,
            wire_version: route.wire,
            reason,
            meta,
            payload,
        }),
        Verdict::Rejected => {
            let error = match error.into_std().downcast::<RejectError>() {
                Ok(error) => *error,
                Err(other) => RejectError::Progress {
                    job: J::NAME.to_owned(),
                    version: route.wire,
                    field: "cursor",
                    message: bounded(other.to_string()),
                },
            };
            Outcome::Rejected(Box::new(Rejected {
                error,
                meta,
                payload,
            }))
        }
        Verdict::Failed => Outcome::Failed(Box::new(Failed {
            job: J::NAME,
            wire_version: route.wire,
            error,
            step: Step::Perform,
            panicked: false,
            meta,
            payload,
        })),
    }
}

/// A panic's message, with the fix for the one mistake every new user of an
/// async runtime makes.
fn diagnose(mut message: String) -> String {
    if message.contains("runtime from within a runtime")
        || message.contains("block the current thread from within a runtime")
    {
        message.push_str(
            " (a handler blocked on a runtime inside another: make `perform` await instead, and call `Router::dispatch(..).await` from an async worker; use `dispatch_blocking` only outside any runtime)",
        );
    }
    message
}

/// The report of a job performed through `route`.
pub(crate) fn performed<J: Job<L>, L: Lifecycle>(route: Route) -> Performed {
    Performed {
        job: J::NAME,
        wire_version: route.wire,
        handler_version: J::VERSION,
        relation: route.relation,
        via_alias: route.via_alias,
    }
}

/// Decodes a job's arguments, through the upcast chain when the route says
/// so, and finishes reading the envelope.
#[inline(always)]
fn decode<'p, J: Job<L>, L: Lifecycle>(
    entry: &Entry,
    route: &Route,
    dispatch: Dispatch<'_, 'p>,
    catch: bool,
) -> Result<Decoded<'p, J>, Box<Outcome<'p>>> {
    let Dispatch {
        scan,
        head,
        payload,
        inline,
        tail,
    } = dispatch;
    let reject = |error: RejectError, head: &mut Head<'p>| {
        Box::new(Outcome::Rejected(Box::new(Rejected {
            error,
            meta: head.meta.take().unwrap_or_default(),
            payload: Cow::Borrowed(payload),
        })))
    };
    let (start, end) = match (inline, head.args) {
        (true, _) => {
            if let Err(error) = scan.expect_args_object() {
                return Err(reject(*error, head));
            }
            (scan.pos, scan.text.len())
        }
        (false, Some(span)) => span,
        (false, None) => return Err(reject(RejectError::MissingField { field: "args" }, head)),
    };
    let text = scan.text.get(start..end).unwrap_or_default();
    let decoded = match route.relation {
        Relation::OlderLine => {
            match <J::Previous as History<J>>::decode(
                Line::of(&route.wire),
                text,
                &J::VERSION,
                catch,
            ) {
                Some(decoded) => decoded,
                None => {
                    let error = RejectError::NoUpcaster {
                        job: entry.name.to_owned(),
                        version: route.wire.clone(),
                        reads: entry.describe_reads(),
                    };
                    return Err(reject(error, head));
                }
            }
        }
        _ => decode_typed::<J>(text),
    };
    let job = match decoded {
        Ok((job, used)) => {
            if inline {
                scan.pos = start + used;
                if let Err(error) = scan.rest(head) {
                    return Err(reject(*error, head));
                }
                if let Err(error) = confirm(tail, head) {
                    return Err(reject(error, head));
                }
            }
            job
        }
        Err(error) => {
            // A syntax error anywhere in the envelope, or a problem the rest
            // of it holds, wins over arguments that do not fit: the outcome
            // is then the same whatever the key order.
            if inline {
                if let Err(error) = finish_reading(scan, head, start) {
                    return Err(reject(*error, head));
                }
                if let Err(error) = confirm(tail, head) {
                    return Err(reject(error, head));
                }
            }
            return Err(chain_failure(
                entry, route, scan.text, start, error, head, payload,
            ));
        }
    };
    // A progress block that does not parse is rejected here, for every job,
    // so that no job is ever resumed from zero by mistake.
    let mut progress = None;
    if let Some((from, to)) = head.progress {
        let raw = scan.text.get(from..to).unwrap_or_default();
        match Progress::parse(raw) {
            Ok(read) => progress = Some(read),
            Err((field, message)) => {
                let error = RejectError::Progress {
                    job: entry.name.to_owned(),
                    version: route.wire.clone(),
                    field,
                    message,
                };
                return Err(reject(error, head));
            }
        }
    }
    Ok(Decoded {
        job,
        meta: head.meta.take().unwrap_or_default(),
        progress,
    })
}

/// The full read must find the header that was read from the tail. A tail
/// string pair right before the closing brace is the last top-level pair, so
/// this always holds; were it ever not to, the job decoded as the wrong type
/// must not run, and the payload is rejected instead.
fn confirm(tail: Option<(&str, &str)>, head: &Head<'_>) -> Result<(), RejectError> {
    let Some((job, version)) = tail else {
        return Ok(());
    };
    if head.job.as_deref() == Some(job) && head.version.as_deref() == Some(version) {
        Ok(())
    } else {
        Err(RejectError::Malformed {
            message: "the envelope's header reads differently from its end than from its start"
                .to_owned(),
            line: 1,
            column: 1,
        })
    }
}

/// After arguments that failed to decode where they stood: skips them (a
/// syntax error there is `Malformed`) and reads the rest of the envelope, as
/// a reader that met the arguments last would have.
fn finish_reading<'p>(
    scan: &mut Scan<'p>,
    head: &mut Head<'p>,
    start: usize,
) -> Result<(), Box<RejectError>> {
    match skip_value(scan.text.as_bytes(), start) {
        Ok(end) => scan.pos = end,
        Err(error) => {
            let (line, column) = locate(scan.text, error.at);
            return Err(Box::new(RejectError::Malformed {
                message: error.message.to_owned(),
                line,
                column,
            }));
        }
    }
    scan.rest(head)
}

/// The outcome of a chain that could not produce the job.
fn chain_failure<'p>(
    entry: &Entry,
    route: &Route,
    text: &str,
    start: usize,
    error: ChainError,
    head: &mut Head<'p>,
    payload: &'p [u8],
) -> Box<Outcome<'p>> {
    let meta = head.meta.take().unwrap_or_default();
    let rejected = |error| {
        Box::new(Outcome::Rejected(Box::new(Rejected {
            error,
            meta: meta.clone(),
            payload: Cow::Borrowed(payload),
        })))
    };
    match error {
        // The skipper has already found the text to be JSON, in either key
        // order, so what serde refuses here (a wrong type, a number out of
        // range, a lone surrogate) is arguments that do not fit.
        ChainError::Decode(error) => {
            let (message, line, column) = json_error_at(text, start, &error);
            rejected(RejectError::Arguments {
                job: entry.name.to_owned(),
                version: route.wire.clone(),
                message,
                line,
                column,
            })
        }
        ChainError::Json {
            message,
            at,
            syntax,
        } => {
            let (line, column) = locate(text, start + at);
            let message = bounded(message);
            if syntax {
                rejected(RejectError::Malformed {
                    message,
                    line,
                    column,
                })
            } else {
                rejected(RejectError::Arguments {
                    job: entry.name.to_owned(),
                    version: route.wire.clone(),
                    message,
                    line,
                    column,
                })
            }
        }
        ChainError::Upcast { from, to, error } => rejected(RejectError::Upcast {
            job: entry.name.to_owned(),
            from,
            to,
            message: bounded(error.to_string()),
        }),
        ChainError::Panic { step, message } => Box::new(Outcome::Failed(Box::new(Failed {
            job: entry.name,
            wire_version: route.wire.clone(),
            error: HandlerError::internal(format!("{step} panicked: {message}")),
            step,
            panicked: true,
            meta,
            payload: Cow::Borrowed(payload),
        }))),
    }
}
