//! Where the fairing gets the time: the system clock, or a clock a test moves by hand.

#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(any(test, feature = "testing"))]
use std::sync::Arc;
#[cfg(any(test, feature = "testing"))]
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// The time source of the fairing: every stamp it signs and every expiry it checks
/// (`max_age`, `idle_timeout`, `absolute_timeout`, a cookie's `Expires`) reads it.
///
/// The default is the system clock. Tests give [`Keepsake::with_clock`](crate::Keepsake::with_clock)
/// a `ManualClock` (feature `testing`) and advance it instead of sleeping. A server-side store's own
/// expiry (Redis' TTLs, say) runs on the store's clock, not this one.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until it is advanced; clones share one time. For tests:
/// behind the `testing` feature.
///
/// ```rust
/// use std::time::Duration;
/// use rocket_keepsake::{Keepsake, ManualClock};
///
/// let clock = ManualClock::new();
/// let fairing = Keepsake::fairing().with_clock(clock.clone());
/// // ... a request logs in, then:
/// clock.advance(Duration::from_secs(3600)); // an hour later, without waiting an hour
/// ```
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct ManualClock {
    /// Milliseconds since the Unix epoch.
    millis: Arc<AtomicU64>,
}

#[cfg(any(test, feature = "testing"))]
impl ManualClock {
    /// A clock set to the system's current time.
    pub fn new() -> ManualClock {
        ManualClock::at(SystemTime::now())
    }

    /// A clock set to `time` (times before 1970 read as 1970).
    pub fn at(time: SystemTime) -> ManualClock {
        let millis = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ManualClock {
            millis: Arc::new(AtomicU64::new(millis)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(by))
            })
            .ok();
    }
}

#[cfg(any(test, feature = "testing"))]
impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// `time` in whole Unix seconds, as stamps hold it.
pub(crate) fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = ManualClock::at(UNIX_EPOCH + Duration::from_secs(1_000));
        let copy = clock.clone();
        assert_eq!(unix_seconds(clock.now()), 1_000);
        copy.advance(Duration::from_millis(2_500));
        assert_eq!(unix_seconds(clock.now()), 1_002);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_millis(u64::MAX));
    }
}
