//! Typed flash messages: `Flashes<'_, C>`, `Flash<R, C>` and `flash_msg!`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Mutex;

use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::{Ignite, Request, Rocket, Sentinel};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::error::SessionError;
use crate::record::{FlashEntry, Record};
use crate::request::{abort_unless_attached, lock, RequestSession};
use crate::state::Shared;

/// Seals [`FlashCategory`]: only `#[flash]` implements it.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` implements `FlashCategory` by hand, which is not supported",
    label = "not made by `#[flash]`",
    note = "add `#[flash]` to the enum `{Self}` instead"
)]
pub trait SealedCategory {}

/// A type of flash categories: implemented by `#[flash]` on an enum of unit
/// variants, and sealed: it cannot be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a flash category type",
    label = "not a flash category type",
    note = "add `#[flash]` to the enum `{Self}`"
)]
pub trait FlashCategory: SealedCategory + Copy + Send + Sync + 'static {
    /// Every category, in declaration order.
    const ALL: &'static [Self];

    /// The category string stored in the session, e.g. `"success"`.
    fn as_str(&self) -> &'static str;

    /// The category whose string is `category`.
    fn from_category(category: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == category)
    }
}

/// The error of a `#[flash]` enum's `FromStr`: the string is none of its categories.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown flash category `{0}`")]
pub struct UnknownCategory(pub String);

/// The pending flash messages of category type `C`: a request guard.
///
/// Messages live in the session record under `_flashes`, as `[category, message]`
/// pairs in the order they were flashed (Flask's format, so a Flask app sharing the
/// session reads them). Taking messages consumes them: each is read once. Messages of
/// categories `C` does not know stay pending, untouched.
///
/// At most [`MAX_FLASHES`](crate::MAX_FLASHES) messages are kept pending; pushing
/// more drops the oldest, with a warning in the log.
///
/// `Flashes` serializes as `[{"category": "...", "message": "..."}]`, so it can go
/// straight into a template context; serializing takes the messages.
///
/// ```rust
/// use rocket::get;
/// use rocket_keepsake::{flash, flash_msg, Flashes};
///
/// #[flash]
/// enum Notice {
///     Success,
///     #[flash(category = "danger")]
///     Error,
/// }
///
/// #[get("/")]
/// fn index(mut notices: Flashes<'_, Notice>) -> String {
///     let shown = format!("{:?}", notices.take_all());
///     flash_msg!(notices, Notice::Success, "you saw {} bytes", shown.len());
///     shown
/// }
/// ```
pub struct Flashes<'r, C: FlashCategory> {
    record: &'r Mutex<Box<Record>>,
    category: PhantomData<fn() -> C>,
}

impl<C: FlashCategory> Flashes<'_, C> {
    /// Flashes `message` under `category`: it is pending until taken, in this or a
    /// later request.
    pub fn push(&mut self, category: C, message: impl Into<String>) {
        lock(self.record).push_flash(category.as_str(), message.into());
    }

    /// Takes every pending message of a category of `C`, in the order flashed.
    pub fn take_all(&mut self) -> Vec<(C, String)> {
        take_where(&mut lock(self.record), |_| true)
    }

    /// Takes the pending messages of the given categories, in the order flashed;
    /// the others stay pending for a later request.
    pub fn take(&mut self, categories: &[C]) -> Vec<(C, String)> {
        take_where(&mut lock(self.record), |category: C| {
            categories.iter().any(|c| c.as_str() == category.as_str())
        })
    }

    /// Whether no message of a category of `C` is pending.
    pub fn is_empty(&self) -> bool {
        !lock(self.record)
            .flashes()
            .iter()
            .any(|(c, _)| C::from_category(c).is_some())
    }
}

/// Removes and returns the messages whose category is one of `C`'s and passes `keep`.
fn take_where<C: FlashCategory>(record: &mut Record, keep: impl Fn(C) -> bool) -> Vec<(C, String)> {
    let wanted = |category: &str| C::from_category(category).filter(|c| keep(*c));
    // Only a take that finds something changes the record.
    if !record
        .flashes()
        .iter()
        .any(|(category, _)| wanted(category).is_some())
    {
        return Vec::new();
    }
    let mut taken = Vec::new();
    record
        .flashes_mut()
        .retain_mut(
            |(category, message): &mut FlashEntry| match wanted(category) {
                Some(c) => {
                    taken.push((c, std::mem::take(message)));
                    false
                }
                None => true,
            },
        );
    taken
}

impl<C: FlashCategory> fmt::Debug for Flashes<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flashes").finish_non_exhaustive()
    }
}

/// Serializes, and takes, every pending message of a category of `C`.
impl<C: FlashCategory> Serialize for Flashes<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let taken: Vec<(C, String)> = take_where(&mut lock(self.record), |_| true);
        let mut seq = serializer.serialize_seq(Some(taken.len()))?;
        for (category, message) in &taken {
            seq.serialize_element(&Message {
                category: category.as_str(),
                message,
            })?;
        }
        seq.end()
    }
}

struct Message<'a> {
    category: &'static str,
    message: &'a str,
}

impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("category", self.category)?;
        map.serialize_entry("message", self.message)?;
        map.end()
    }
}

#[rocket::async_trait]
impl<'r, C: FlashCategory> FromRequest<'r> for Flashes<'r, C> {
    type Error = SessionError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, SessionError> {
        RequestSession::guard(req).await.map(|record| Flashes {
            record,
            category: PhantomData,
        })
    }
}

impl<C: FlashCategory> Sentinel for Flashes<'_, C> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        abort_unless_attached(rocket)
    }
}

/// A responder that flashes messages, then responds with `R`: Flask's
/// `flash(...); return redirect(...)` in one value.
///
/// ```rust
/// use rocket::{post, response::Redirect};
/// use rocket_keepsake::{flash, Flash};
///
/// #[flash]
/// enum Notice {
///     Success,
///     Info,
/// }
///
/// #[post("/save")]
/// fn save() -> Flash<Redirect, Notice> {
///     Flash::new(Redirect::to("/"), Notice::Success, "Saved").and(Notice::Info, "Undo within a minute")
/// }
/// ```
#[derive(Debug)]
pub struct Flash<R, C> {
    responder: R,
    messages: Vec<(C, String)>,
}

impl<R, C: FlashCategory> Flash<R, C> {
    /// Responds with `responder` and flashes `message` under `category`.
    pub fn new(responder: R, category: C, message: impl Into<String>) -> Self {
        Flash {
            responder,
            messages: vec![(category, message.into())],
        }
    }

    /// Flashes one more message.
    pub fn and(mut self, category: C, message: impl Into<String>) -> Self {
        self.messages.push((category, message.into()));
        self
    }
}

impl<'r, 'o: 'r, R: Responder<'r, 'o>, C: FlashCategory> Responder<'r, 'o> for Flash<R, C> {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'o> {
        // Responders are synchronous, and loading the record may not be: queue the
        // messages for the fairing, which adds them when the response goes out.
        let messages = self
            .messages
            .into_iter()
            .map(|(c, m)| (c.as_str().to_owned(), m));
        // Without the fairing (which its sentinel stops at launch) there is no one to
        // add them.
        if let Some(shared) = req.rocket().state::<Shared>() {
            RequestSession::of(req, shared).queue_flashes(messages);
        }
        self.responder.respond_to(req)
    }
}

impl<R, C: FlashCategory> Sentinel for Flash<R, C> {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        abort_unless_attached(rocket)
    }
}

/// Flashes a message built with `format!` arguments:
/// `flash_msg!(flashes, Notice::Success, "Welcome back, {}!", name)`.
///
/// The same as `flashes.push(category, format!(...))`. (It cannot be called `flash!`:
/// one module cannot hold the `#[flash]` attribute and a `macro_rules!` of one name.)
///
/// ```rust
/// use rocket::get;
/// use rocket_keepsake::{flash, flash_msg, Flashes};
///
/// #[flash]
/// enum Notice {
///     Success,
/// }
///
/// #[get("/saved/<name>")]
/// fn saved(name: &str, mut flashes: Flashes<'_, Notice>) -> &'static str {
///     flash_msg!(flashes, Notice::Success, "Saved {name}, {} item(s).", 3);
///     "saved"
/// }
/// ```
#[macro_export]
macro_rules! flash_msg {
    ($flashes:expr, $category:expr, $($format:tt)+) => {
        $flashes.push($category, $crate::__private::format!($($format)+))
    };
}
