//! Building a router checks the set of jobs as a whole and reports every
//! problem together.

#[macro_use]
mod support;

use jobwire::{
    Context, Delivery, HandlerError, Job, NoPrevious, Problem, Router, Tombstone, Upcast,
    UpcastError,
};
use semver::Version;
use serde::{Deserialize, Serialize};

job!(Alpha, "alpha", Version::new(1, 0, 0), NoPrevious);
job!(AlphaAgain, "alpha", Version::new(1, 0, 0), NoPrevious);
job!(AlphaTwo, "alpha", Version::new(2, 0, 0), NoPrevious);
job!(
    Beta,
    "beta",
    Version::new(1, 0, 0),
    NoPrevious,
    aliases = &["alpha"]
);
job!(
    Gamma,
    "gamma",
    Version::new(1, 0, 0),
    NoPrevious,
    aliases = &["old.name"]
);
job!(
    Delta,
    "delta",
    Version::new(1, 0, 0),
    NoPrevious,
    aliases = &["old.name"]
);
job!(Bad, "has space", Version::new(1, 0, 0), NoPrevious);
job!(Gapped, "gapped", Version::new(3, 0, 0), GappedV1);
job!(Ordered, "ordered", Version::new(2, 0, 0), OrderedV2);

#[derive(Serialize, Deserialize)]
struct GappedV1 {}
impl Upcast for GappedV1 {
    const VERSION: Version = Version::new(1, 5, 0);
    type Next = Gapped;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Gapped, UpcastError> {
        Ok(Gapped {})
    }
}

#[derive(Serialize, Deserialize)]
struct OrderedV2 {}
impl Upcast for OrderedV2 {
    const VERSION: Version = Version::new(2, 5, 0);
    type Next = Ordered;
    type Previous = NoPrevious;
    fn upcast(self) -> Result<Ordered, UpcastError> {
        Ok(Ordered {})
    }
}

fn problems(builder: jobwire::RouterBuilder) -> Vec<Problem> {
    match builder.build() {
        Ok(_) => Vec::new(),
        Err(error) => error.problems().to_vec(),
    }
}

#[test]
fn an_empty_registry_is_an_error_that_suspects_the_linker() {
    let error = Router::builder().build().expect_err("empty");
    assert_eq!(error.problems(), &[Problem::Empty]);
    assert!(
        error
            .to_string()
            .contains("the linker may have dropped them"),
        "{error}"
    );
    assert!(
        error.to_string().contains("Router::builder().job::<J>()"),
        "{error}"
    );
}

#[test]
fn the_same_name_and_version_twice_is_a_duplicate() {
    let found = problems(Router::builder().job::<Alpha>().job::<AlphaAgain>());
    assert_eq!(
        found,
        [Problem::Duplicate {
            name: "alpha".into(),
            version: Version::new(1, 0, 0)
        }]
    );
    let found = problems(Router::builder().job::<Alpha>().job::<Alpha>());
    assert_eq!(
        found.len(),
        1,
        "registering one type twice is never silently merged"
    );
}

#[test]
fn two_jobs_claiming_one_name_collide() {
    let found = problems(Router::builder().job::<Alpha>().job::<AlphaTwo>());
    assert!(
        matches!(&found[..], [Problem::NameCollision { name, .. }] if name == "alpha"),
        "{found:?}"
    );
}

#[test]
fn an_alias_colliding_with_a_name_or_an_alias_is_an_error() {
    let found = problems(Router::builder().job::<Alpha>().job::<Beta>());
    assert!(
        matches!(&found[..], [Problem::NameCollision { name, .. }] if name == "alpha"),
        "{found:?}"
    );
    let found = problems(Router::builder().job::<Gamma>().job::<Delta>());
    assert!(
        matches!(&found[..], [Problem::NameCollision { name, .. }] if name == "old.name"),
        "{found:?}"
    );
}

#[test]
fn a_gap_in_the_upcast_chain_is_an_error() {
    let found = problems(Router::builder().job::<Gapped>());
    assert_eq!(
        found,
        [Problem::ChainGap {
            job: "gapped".into(),
            from: Version::new(1, 5, 0),
            to: Version::new(3, 0, 0)
        }]
    );
}

#[test]
fn an_upcaster_on_the_current_line_is_an_error() {
    let found = problems(Router::builder().job::<Ordered>());
    assert!(
        matches!(&found[..], [Problem::ChainOrder { .. }]),
        "{found:?}"
    );
}

#[test]
fn invalid_names_are_errors() {
    let found = problems(Router::builder().job::<Bad>());
    assert!(
        matches!(&found[..], [Problem::InvalidName { name, .. }] if name == "has space"),
        "{found:?}"
    );
}

#[test]
fn a_retired_name_stays_reserved() {
    let found = problems(
        Router::builder()
            .job::<Alpha>()
            .retired(Tombstone::new("alpha")),
    );
    assert!(
        matches!(&found[..], [Problem::RetiredNameReused { name, .. }] if name == "alpha"),
        "{found:?}"
    );
    let found = problems(
        Router::builder()
            .job::<Gamma>()
            .retired(Tombstone::new("zeta").with_aliases(&["old.name"])),
    );
    assert!(
        matches!(&found[..], [Problem::RetiredNameReused { name, .. }] if name == "old.name"),
        "{found:?}"
    );
}

#[test]
fn every_problem_is_reported_together_in_a_stable_order() {
    let build = || {
        Router::builder()
            .job::<Gapped>()
            .job::<Alpha>()
            .job::<AlphaAgain>()
            .job::<Bad>()
            .job::<Gamma>()
            .job::<Delta>()
            .build()
            .expect_err("four problems")
    };
    let error = build();
    assert_eq!(error.problems().len(), 4, "{error}");
    assert!(
        error
            .to_string()
            .starts_with("jobwire registry is invalid (4 problems)"),
        "{error}"
    );
    assert_eq!(error, build(), "the same input gives the same report");
}

/// Shared state a job declares.
struct Mailer;

/// Per-dispatch data a job borrows.
struct Transaction;

#[derive(Serialize, Deserialize)]
struct NeedsMailer {}

impl Job for NeedsMailer {
    const NAME: &'static str = "needs.mailer";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = Mailer;
    type Data = ();
    async fn perform(self, ctx: &mut Context<'_, Mailer>) -> Result<(), HandlerError> {
        let Mailer = ctx.state();
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct NeedsTransaction {}

impl Job for NeedsTransaction {
    const NAME: &'static str = "needs.transaction";
    const VERSION: Version = Version::new(1, 0, 0);
    type Previous = NoPrevious;
    type State = ();
    type Data = Transaction;
    async fn perform(self, ctx: &mut Context<'_, (), Transaction>) -> Result<(), HandlerError> {
        let Transaction = ctx.data();
        Ok(())
    }
}

#[test]
fn a_router_without_a_jobs_declared_state_does_not_build() {
    let error = Router::builder()
        .job::<NeedsMailer>()
        .job::<Gapped>()
        .build()
        .expect_err("the mailer is missing");
    assert!(
        error.problems().iter().any(|p| matches!(p,
            Problem::MissingState { job, type_name }
                if job == "needs.mailer" && type_name.ends_with("registry_validation::Mailer"))),
        "{error}"
    );
    assert_eq!(
        error.problems().len(),
        2,
        "reported with the others: {error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("needs.mailer") && message.contains("Mailer"),
        "{message}"
    );
    assert!(message.contains(".state("), "{message}");

    let router = Router::builder()
        .job::<NeedsMailer>()
        .state(Mailer)
        .build()
        .expect("builds with it");
    let payload = br#"{"job":"needs.mailer","version":"1.0.0","args":{}}"#;
    assert!(router
        .dispatch_blocking(payload, &mut Delivery::new())
        .is_performed());
}

#[test]
fn a_router_whose_worker_does_not_lend_a_jobs_data_does_not_build() {
    let error = Router::builder()
        .job::<NeedsTransaction>()
        .build()
        .expect_err("nothing is lent");
    match error.problems() {
        [Problem::DataNotLent { job, needs, lends }] => {
            assert_eq!(job, "needs.transaction");
            assert!(needs.ends_with("Transaction") && lends == "()", "{error}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains(".lending::<"), "{error}");

    let router = Router::builder()
        .lending::<Transaction>()
        .job::<NeedsTransaction>()
        .job::<Alpha>()
        .build()
        .expect("builds when the worker lends it");
    let mut delivery = Delivery::new().with_data(Transaction);
    for payload in [
        &br#"{"job":"needs.transaction","version":"1.0.0","args":{}}"#[..],
        br#"{"job":"alpha","version":"1.0.0","args":{}}"#,
    ] {
        assert!(router
            .dispatch_blocking(payload, &mut delivery)
            .is_performed());
    }
}

#[test]
fn the_debug_form_of_a_registry_error_carries_the_advice() {
    let error = Router::builder().build().expect_err("empty");
    let debug = format!("{error:?}");
    assert_eq!(debug, error.to_string());
    assert!(
        debug.contains("linker") && debug.contains("use my_jobs as _;"),
        "{debug}"
    );
}
