//! Stored instants and local times of day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant in microseconds since the Unix epoch. Every stored time is one of these.
///
/// Written as RFC 3339 in JSON; as a varint in records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Microseconds in one second.
    pub const MICROS_PER_SEC: i64 = 1_000_000;

    /// From a chrono UTC instant.
    pub fn from_datetime(dt: DateTime<Utc>) -> Timestamp {
        Timestamp(dt.timestamp_micros())
    }

    /// As a chrono UTC instant.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// From whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Timestamp {
        Timestamp(secs * Self::MICROS_PER_SEC)
    }

    /// Whole seconds since the epoch (floored).
    pub fn secs(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_SEC)
    }

    /// This instant moved by a signed number of seconds.
    pub fn plus_secs(self, secs: i64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(secs.saturating_mul(Self::MICROS_PER_SEC)),
        )
    }

    /// This instant moved by a signed number of microseconds.
    pub fn plus_micros(self, micros: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Microseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC, e.g. `2026-11-22T19:00:00Z`.
    pub fn rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Parses RFC 3339 with any offset.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text)
            .map(|dt| Timestamp::from_datetime(dt.with_timezone(&Utc)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&self.rfc3339())
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            Timestamp::parse_rfc3339(&text).map_err(|e| {
                serde::de::Error::custom(format!("expected an RFC 3339 time, got {text:?}: {e}"))
            })
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

/// A wall-clock time of day (`HH:MM`) in the campaign's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    minutes: u16,
}

impl TimeOfDay {
    /// `hour:minute`; `None` when out of range.
    pub const fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        if hour < 24 && minute < 60 {
            Some(TimeOfDay {
                minutes: hour as u16 * 60 + minute as u16,
            })
        } else {
            None
        }
    }

    /// The hour and minute of a chrono time (seconds are dropped).
    pub fn from_naive(t: chrono::NaiveTime) -> TimeOfDay {
        use chrono::Timelike;
        TimeOfDay {
            minutes: (t.hour() * 60 + t.minute()) as u16,
        }
    }

    /// Minutes since local midnight.
    pub const fn minutes(self) -> u16 {
        self.minutes
    }

    /// The hour (0-23).
    pub const fn hour(self) -> u8 {
        (self.minutes / 60) as u8
    }

    /// The minute (0-59).
    pub const fn minute(self) -> u8 {
        (self.minutes % 60) as u8
    }

    /// As a chrono naive time.
    pub fn to_naive(self) -> chrono::NaiveTime {
        chrono::NaiveTime::from_hms_opt(u32::from(self.hour()), u32::from(self.minute()), 0)
            .unwrap_or_default()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected a time of day as HH:MM (00:00-23:59), got {s:?}");
        let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u8 = h.parse().map_err(|_| bad())?;
        let m: u8 = m.parse().map_err(|_| bad())?;
        TimeOfDay::new(h, m).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u16(self.minutes)
        }
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            String::deserialize(deserializer)?
                .parse()
                .map_err(serde::de::Error::custom)
        } else {
            let minutes = u16::deserialize(deserializer)?;
            if minutes >= 24 * 60 {
                return Err(serde::de::Error::custom("time of day out of range"));
            }
            Ok(TimeOfDay { minutes })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_text_round_trips() {
        let t = Timestamp::parse_rfc3339("2026-03-08T02:30:00-05:00").unwrap();
        assert_eq!(t.rfc3339(), "2026-03-08T07:30:00Z");
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let sub = Timestamp(t.0 + 1);
        assert_eq!(Timestamp::parse_rfc3339(&sub.rfc3339()).unwrap(), sub);
    }

    #[test]
    fn time_of_day_parses_strictly() {
        assert_eq!("14:00".parse::<TimeOfDay>().unwrap().minutes(), 840);
        assert_eq!("9:05".parse::<TimeOfDay>().unwrap().to_string(), "09:05");
        for bad in ["24:00", "12:60", "12", "12:5", "aa:bb", "", "-1:00"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
    }
}
