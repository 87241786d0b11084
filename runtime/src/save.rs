//! Carrying out a response's save [`plan`](crate::plan): the store call, the cookie
//! set or deleted, and, when the changes cannot be saved, the catcher's response in
//! place of the handler's.

use std::sync::Mutex;

use rocket::catcher::Catcher;
use rocket::futures::future::BoxFuture;
use rocket::http::{Header, Status};
use rocket::{Request, Response};

use crate::error::report;
use crate::plan::{plan, Plan, Rules, Target, Write};
use crate::record::Record;
use crate::request::lock;
use crate::state::Shared;
use crate::store::{SessionId, SessionStore, StoreError, StoreErrorKind};

/// Carries out the record's save plan: the store call, then the cookie set or deleted.
pub(crate) async fn save<'r>(
    shared: &Shared,
    req: &'r Request<'_>,
    record: &Mutex<Box<Record>>,
    res: &mut Response<'r>,
) {
    res.adjoin_raw_header("Vary", "Cookie");
    let plan = {
        let rules = Rules {
            config: &shared.config,
            format: &shared.format,
            store: shared.backend.store(),
        };
        // Asked only by a plan that needs them: a request that changed nothing reads
        // neither the cookie jar nor the clock.
        let had_cookie = || req.cookies().get(&shared.config.cookie_name).is_some();
        plan(&mut lock(record), &rules, &had_cookie, &|| shared.now())
    };
    match plan {
        Plan::Nothing => {}
        Plan::Fail(e) => {
            log::error!(target: "rocket_keepsake", "session changes cannot be saved: {}", report(&e));
            respond_with_catcher(req, res, Status::InternalServerError).await;
        }
        Plan::Remove { stored } => {
            if let Some((store, id)) = stored {
                if let Err(e) = store.delete(&id).await {
                    return store_failed(req, res, &e).await;
                }
            }
            res.adjoin_header(shared.cookies.removal());
        }
        Plan::Cookie {
            value,
            life,
            issued,
            dropped_flashes,
        } => {
            if dropped_flashes > 0 {
                log::warn!(
                    target: "rocket_keepsake",
                    "the session cookie would be over 4096 bytes with every pending flash \
                     message, so the {dropped_flashes} oldest were dropped"
                );
            }
            shared.warn_if_dropped_by_browsers(req);
            res.adjoin_header(shared.cookies.set(&value, life, issued));
        }
        Plan::Store {
            store,
            write,
            stamp,
            life,
        } => match apply(store, write).await {
            Ok(Some(id)) => match shared.format.seal(stamp, id.as_str().as_bytes()) {
                Ok(value) => {
                    shared.warn_if_dropped_by_browsers(req);
                    res.adjoin_header(shared.cookies.set(&value, life, stamp.issued));
                }
                Err(e) => {
                    log::error!(target: "rocket_keepsake", "session saved, but its cookie cannot be sealed: {e}");
                    respond_with_catcher(req, res, Status::InternalServerError).await;
                }
            },
            Ok(None) => log::warn!(
                target: "rocket_keepsake",
                "the session was deleted or moved by a concurrent request (a logout or \
                 a new id), so this request's changes were not saved; the client starts \
                 a fresh session"
            ),
            Err(e) => store_failed(req, res, &e).await,
        },
    }
}

/// Performs a store write; the id the record now lives under, or `None` if another
/// request deleted or moved it meanwhile (it is then not recreated).
pub(crate) async fn apply(
    store: &dyn SessionStore,
    write: Write,
) -> Result<Option<SessionId>, StoreError> {
    let new_id = || {
        SessionId::generate_of(write.id_bytes)
            .map_err(|e| StoreError::of_kind("keepsake", StoreErrorKind::NoRandomId, e))
    };
    let id = match write.target {
        Target::Create => new_id()?,
        Target::Update(id) => id,
        Target::Rename { from } => {
            let new = new_id()?;
            if store.rename(&from, &new, write.ttl).await? == crate::store::Saved::Gone {
                return Ok(None);
            }
            new
        }
        Target::Replace { retired } => {
            store.delete(&retired).await?;
            new_id()?
        }
    };
    if store.save(&id, &write.changes, write.ttl).await? == crate::store::Saved::Gone {
        return Ok(None);
    }
    Ok(Some(id))
}

/// Answers a failed store write with a 503 (a 500 for what the store can never
/// hold), logging what may have happened.
async fn store_failed<'r>(req: &'r Request<'_>, res: &mut Response<'r>, error: &StoreError) {
    if error.kind() == StoreErrorKind::Refused {
        log::error!(target: "rocket_keepsake", "session not saved: {}", report(error));
        return respond_with_catcher(req, res, Status::InternalServerError).await;
    }
    if error.kind().may_have_applied() {
        log::error!(
            target: "rocket_keepsake",
            "session may not have been saved (a write that timed out or lost its connection \
             can still have been applied): {}",
            report(error)
        );
    } else {
        log::error!(target: "rocket_keepsake", "session not saved: {}", report(error));
    }
    respond_with_catcher(req, res, Status::ServiceUnavailable).await;
}

/// Replaces the response with what Rocket's catchers give for `status`: the app's
/// own catcher if one matches, else Rocket's default. Headers of the old response
/// that the new one lacks (Shield's, `Vary`) are kept; its body, cookies, content
/// headers and `Location` are not, as when Rocket itself answers with a catcher.
///
/// Boxed: a failure's path, which inline would add its size to the future of every
/// response the fairing sees.
pub(crate) fn respond_with_catcher<'a, 'r: 'a>(
    req: &'r Request<'_>,
    res: &'a mut Response<'r>,
    status: Status,
) -> BoxFuture<'a, ()> {
    Box::pin(replace_with_catcher(req, res, status))
}

async fn replace_with_catcher<'r>(req: &'r Request<'_>, res: &mut Response<'r>, status: Status) {
    let caught = match catcher_for(req, status) {
        Some(catcher) => catcher.handler.handle(status, req).await.ok(),
        None => None,
    };
    let mut fresh = match caught {
        Some(fresh) => fresh,
        None => {
            let default = Catcher::default();
            match default.handler.handle(status, req).await {
                Ok(fresh) => fresh,
                Err(_) => Response::build().status(status).finalize(),
            }
        }
    };
    fresh.set_status(status);
    let old = std::mem::replace(res, fresh);
    const DROPPED: &[&str] = &[
        "set-cookie",
        "location",
        "content-type",
        "content-length",
        "content-encoding",
    ];
    for header in old.headers().iter() {
        let name = header.name().as_str();
        if !DROPPED.iter().any(|d| name.eq_ignore_ascii_case(d)) && !res.headers().contains(name) {
            res.adjoin_header(Header::new(name.to_owned(), header.value().to_owned()));
        }
    }
}

/// The catcher Rocket would pick for `status` on this request: the one for the
/// status, else the default one, with the longest base that prefixes the path.
fn catcher_for<'a>(req: &'a Request<'_>, status: Status) -> Option<&'a Catcher> {
    let path = req.uri().path();
    let best = |code: Option<u16>| {
        req.rocket()
            .catchers()
            .filter(|c| c.code == code && c.base.path().segments().prefix_of(path.segments()))
            .max_by_key(|c| c.base.path().segments().len())
    };
    match (best(Some(status.code)), best(None)) {
        (Some(explicit), Some(default))
            if default.base.path().segments().len() > explicit.base.path().segments().len() =>
        {
            Some(default)
        }
        (Some(explicit), _) => Some(explicit),
        (None, default) => default,
    }
}
