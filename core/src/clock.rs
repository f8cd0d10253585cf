//! The core's clocks: the monotonic clock calls are timed on (and how a
//! host's instants are placed on it), and wall-clock formatting without a
//! date-time dependency (records only need UTC ISO 8601 timestamps with
//! milliseconds).

use std::sync::LazyLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

static START: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since the core's clock started. A host reads it next to its
/// own clock (JS's `performance.now()`, Python's `time.monotonic()`) to
/// place the instants it notes on this clock: the difference is the offset
/// [`instant_at`] takes.
pub fn now_ms() -> f64 {
    START.elapsed().as_secs_f64() * 1000.0
}

/// Starts the clock, so that no instant a host notes precedes it.
pub fn start() {
    LazyLock::force(&START);
}

/// The instant `ms` milliseconds after the clock started. Nonsense (NaN,
/// before the start) and the future count as `now`.
pub fn instant_at(ms: f64, now: Instant) -> Instant {
    Duration::try_from_secs_f64(ms / 1000.0).map_or(now, |d| (*START + d).min(now))
}

/// `2026-11-23T19:54:33.123Z`
pub fn iso8601(t: SystemTime) -> String {
    Iso8601(t).to_string()
}

/// An instant shown as [`iso8601`] shows it, written straight where it is
/// displayed (a record's JSON), with no string of its own.
#[derive(Debug, Clone, Copy)]
pub struct Iso8601(pub SystemTime);

impl std::fmt::Display for Iso8601 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self
            .0
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        let (y, m, d) = civil_from_days(days);
        let secs = ms_of_day / 1000;
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60,
            ms_of_day % 1000
        )
    }
}

impl serde::Serialize for Iso8601 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's published `civil_from_days` algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn host_instants_land_on_the_core_clock() {
        start();
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let ten_ago = instant_at(now_ms() - 10.0, now);
        let ms = now.saturating_duration_since(ten_ago).as_secs_f64() * 1000.0;
        assert!((9.0..100.0).contains(&ms), "{ms}");
        assert_eq!(instant_at(f64::NAN, now), now);
        assert_eq!(instant_at(-5.0, now), now);
        assert_eq!(
            instant_at(now_ms() + 60_000.0, now),
            now,
            "the future is now"
        );
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_465_473_123);
        assert_eq!(iso8601(t), "2026-11-23T20:24:33.123Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000Z");
    }
}
