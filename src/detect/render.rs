//! Output values: `count` as a number and `firstTime`/`lastTime` through strftime in a time zone, as `security_content_ctime` does.

use jiff::civil::DateTime;
use jiff::fmt::strtime::BrokenDownTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// How `firstTime`/`lastTime` are written.
#[derive(Debug, Clone)]
pub enum TimeRender {
    /// Leave the epoch seconds as numbers (`timeformat=epoch`).
    Epoch,
    /// `convert timeformat="<format>" ctime(x)` in the given zone.
    Format {
        /// strftime format, `%Y-%m-%dT%H:%M:%S` by default.
        format: String,
        /// Zone to render in.
        tz: TimeZone,
        /// Whether the format shows fractional seconds (decided once).
        subseconds: bool,
        /// Whether the format names the zone (`%Z`, `%Q`), which takes the
        /// zone itself, not only its offset at that time (decided once).
        named: bool,
        /// The format as digits and text, when it has no other directive
        /// than `%Y %m %d %H %M %S %%` (ESCU's formats among them).
        digits: Option<Digits>,
    },
}

/// A strftime format made only of the zero-padded fields `%Y %m %d %H %M
/// %S`, `%%` and literal text, written without jiff's formatter: every
/// field has a fixed width, so a time is the format's text with zeros in
/// the fields, copied whole, and each field's digits stored at its place,
/// about a fifth of the cost of interpreting the format for every time,
/// and the same text.
#[derive(Debug, Clone)]
pub struct Digits {
    /// The rendering with every field zero.
    text: Vec<u8>,
    /// Each field and where its digits start in `text`.
    fields: Vec<(usize, Field)>,
}

/// One field of a [`Digits`] format.
#[derive(Debug, Clone, Copy)]
enum Field {
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

impl Digits {
    /// `format` as digits and text, if it has no other directive.
    fn compile(format: &str) -> Option<Digits> {
        let (mut text, mut fields) = (Vec::with_capacity(format.len()), Vec::new());
        let mut bytes = format.bytes();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                text.push(b);
                continue;
            }
            let field = match bytes.next()? {
                b'Y' => Field::Year,
                b'm' => Field::Month,
                b'd' => Field::Day,
                b'H' => Field::Hour,
                b'M' => Field::Minute,
                b'S' => Field::Second,
                b'%' => {
                    text.push(b'%');
                    continue;
                }
                _ => return None,
            };
            fields.push((text.len(), field));
            let width = if matches!(field, Field::Year) { 4 } else { 2 };
            text.extend(std::iter::repeat_n(b'0', width));
        }
        Some(Digits { text, fields })
    }

    /// Appends `dt` in this format; false (nothing appended) for a year
    /// before 0, which strftime writes with a sign.
    fn write(&self, dt: DateTime, out: &mut Vec<u8>) -> bool {
        let Ok(year) = u16::try_from(dt.year()) else {
            return false;
        };
        let at = out.len();
        out.extend_from_slice(&self.text);
        let text = &mut out[at..];
        let two = |text: &mut [u8], at: usize, n: i8| {
            let n = n as u8;
            text[at..at + 2].copy_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
        };
        for &(place, field) in &self.fields {
            match field {
                Field::Year => text[place..place + 4].copy_from_slice(&[
                    b'0' + (year / 1000) as u8,
                    b'0' + (year / 100 % 10) as u8,
                    b'0' + (year / 10 % 10) as u8,
                    b'0' + (year % 10) as u8,
                ]),
                Field::Month => two(text, place, dt.month()),
                Field::Day => two(text, place, dt.day()),
                Field::Hour => two(text, place, dt.hour()),
                Field::Minute => two(text, place, dt.minute()),
                Field::Second => two(text, place, dt.second()),
            }
        }
        true
    }
}

/// Why a time format was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFormat(pub(crate) String);

impl TimeRender {
    /// A strftime renderer, checked by rendering a sample time.
    ///
    /// # Errors
    ///
    /// The format uses a directive jiff's strftime does not know.
    pub(crate) fn format(format: &str, tz: TimeZone) -> Result<TimeRender, BadFormat> {
        let render = TimeRender::Format {
            format: format.to_string(),
            tz,
            subseconds: has_directive(format, |d| d.ends_with('N') || d.ends_with('f')),
            named: has_directive(format, |d| d.ends_with('Z') || d.ends_with('Q')),
            digits: Digits::compile(format),
        };
        render.time(0.0).map(|_| render)
    }

    /// Renders one time. Sub-seconds are floored, as ctime with a format
    /// without a sub-second directive does; `%N`, `%3N`, `%6N`, `%f` and
    /// `%.f` show them (truncated, as Splunk's `%3N` does).
    ///
    /// # Errors
    ///
    /// The time is out of range for the calendar, or the format is invalid.
    pub fn time(&self, t: f64) -> Result<String, BadFormat> {
        let mut out = Vec::new();
        self.write(t, &mut out)?;
        String::from_utf8(out).map_err(|e| BadFormat(e.to_string()))
    }

    /// Appends [`TimeRender::time`]'s text of `t` to `out`, formatted in
    /// place (no string is built per time).
    ///
    /// # Errors
    ///
    /// As [`TimeRender::time`]; nothing is appended then.
    pub(crate) fn write(&self, t: f64, out: &mut Vec<u8>) -> Result<(), BadFormat> {
        let TimeRender::Format {
            format,
            tz,
            subseconds,
            named,
            digits,
        } = self
        else {
            write_number(out, t);
            return Ok(());
        };
        let secs = t.floor();
        let nanos = if *subseconds {
            (((t - secs) * 1e9) as i32).clamp(0, 999_999_999)
        } else {
            0
        };
        let ts = Timestamp::new(secs as i64, nanos)
            .map_err(|e| BadFormat(format!("time {} is out of range: {e}", number(t))))?;
        // Only a named zone needs a `Zoned`, which holds the zone; for the
        // rest the offset at that time is all, and no zone is cloned, as a
        // clone of a zone read from the tz database touches a count shared
        // by every thread rendering times.
        let tm = if *named {
            BrokenDownTime::from(&ts.to_zoned_datetime(tz.clone()))
        } else {
            let offset = tz.to_offset(ts);
            let dt = offset.to_datetime(ts);
            if digits.as_ref().is_some_and(|d| d.write(dt, out)) {
                return Ok(());
            }
            let mut tm = BrokenDownTime::from(dt);
            tm.set_offset(Some(offset));
            tm.set_timestamp(Some(ts));
            tm
        };
        let at = out.len();
        match tm.format(format.as_bytes(), &mut *out) {
            Ok(()) => Ok(()),
            Err(e) => {
                out.truncate(at);
                Err(BadFormat(e.to_string()))
            }
        }
    }
}

/// Renders times through a direct-mapped cache: the last rendering of each
/// epoch second, by the second's low bits. A search's groups share their
/// seconds (and a distinct second is rendered at most once while it stays
/// in its slot), so jiff formats each one about once, not per group. Only
/// a format without sub-seconds is cached, as its text depends on the whole
/// second alone, and only one jiff formats: a format of digits is written
/// faster than a slot of a cache bigger than the core's own caches is read
/// (A-network's sorted groups read the slots in no order, a miss each).
#[derive(Debug)]
pub(crate) struct TimeCache<'a> {
    render: &'a TimeRender,
    cached: bool,
    /// How many slots to make: a power of two, at most [`SLOTS`].
    size: usize,
    slots: Vec<Slot>,
}

/// One cached rendering; `len` 0 is empty.
#[derive(Debug, Clone, Copy)]
struct Slot {
    secs: i64,
    len: u8,
    text: [u8; SLOT_TEXT],
}

/// The longest rendering a slot holds; longer ones are not cached.
const SLOT_TEXT: usize = 39;

/// The most slots in a [`TimeCache`]: 64 Ki, 3 MiB, enough for every second of 18 hours.
const SLOTS: usize = 1 << 16;

impl<'a> TimeCache<'a> {
    /// An empty cache for `render`, for about `renderings` times: no more
    /// slots than that (a reply of a few rows does not write 3 MiB).
    pub(crate) fn new(render: &'a TimeRender, renderings: usize) -> TimeCache<'a> {
        let cached = matches!(
            render,
            TimeRender::Format {
                subseconds: false,
                digits: None,
                ..
            }
        );
        TimeCache {
            render,
            cached,
            size: renderings.clamp(16, SLOTS).next_power_of_two(),
            slots: Vec::new(),
        }
    }

    /// Appends the rendering of `t` to `out`, as [`TimeRender::time`] renders it.
    ///
    /// # Errors
    ///
    /// As [`TimeRender::time`]; nothing is appended then.
    pub(crate) fn write(&mut self, t: f64, out: &mut Vec<u8>) -> Result<(), BadFormat> {
        let secs = t.floor();
        if !self.cached || !(-1e15..1e15).contains(&secs) {
            return self.render.write(t, out);
        }
        let secs = secs as i64;
        if self.slots.is_empty() {
            // A second no call caches (they are within ±1e15), so an empty
            // slot is not all zeros: the cache is written here, not taken as
            // zeroed pages that each fault again, and flush the TLB of every
            // thread, when a slot is first written.
            let empty = Slot {
                secs: i64::MIN,
                len: 0,
                text: [0; SLOT_TEXT],
            };
            self.slots = vec![empty; self.size];
        }
        let slot = &mut self.slots[secs as usize & (self.size - 1)];
        if slot.len > 0 && slot.secs == secs {
            crate::bytes::extend(out, &slot.text[..usize::from(slot.len)]);
            return Ok(());
        }
        let at = out.len();
        self.render.write(t, out)?;
        let text = &out[at..];
        if !text.is_empty() && text.len() <= SLOT_TEXT {
            slot.secs = secs;
            slot.len = text.len() as u8;
            slot.text[..text.len()].copy_from_slice(text);
        }
        Ok(())
    }
}

/// True when a directive of a strftime format (its flags, width and
/// letter, without the `%`) passes `test`.
fn has_directive(format: &str, test: impl Fn(&str) -> bool) -> bool {
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        let mut spec = String::new();
        while let Some(&n) = chars.peek() {
            chars.next();
            spec.push(n);
            if n.is_ascii_alphabetic() || n == '%' {
                break;
            }
        }
        if test(&spec) {
            return true;
        }
    }
    false
}

/// Writes a number the way Splunk shows it: integers without a fraction,
/// other values in the shortest form that reads back exactly.
pub(crate) fn number(n: f64) -> String {
    let mut out = Vec::new();
    write_number(&mut out, n);
    // Both writers below produce ASCII.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends [`number`]'s text of `n` to `out`: whole numbers exact in an
/// `f64` through itoa, the others through `f64`'s shortest round-trip form.
pub(crate) fn write_number(out: &mut Vec<u8>, n: f64) {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        crate::bytes::extend(out, itoa::Buffer::new().format(n as i64).as_bytes());
    } else {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_format_renders_in_the_zone_and_floors_sub_seconds() {
        let utc = TimeRender::format("%Y-%m-%dT%H:%M:%S", TimeZone::UTC).unwrap();
        assert_eq!(utc.time(1563547579.999).unwrap(), "2019-07-19T14:46:19");
        assert_eq!(utc.time(-0.5).unwrap(), "1969-12-31T23:59:59");
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let paris = TimeRender::format("%Y-%m-%dT%H:%M:%S", paris).unwrap();
        assert_eq!(paris.time(1563547579.0).unwrap(), "2019-07-19T16:46:19");
    }

    #[test]
    fn times_render_as_a_zoned_time_formats_them() {
        // The reference: jiff's own rendering of the zoned time, which
        // holds the zone; `write` uses only the offset unless the format
        // names the zone.
        let zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"];
        // The first three are written as digits, the rest by jiff.
        let formats = [
            "%Y-%m-%dT%H:%M:%S",
            "%m/%d/%Y %H:%M:%S",
            "at %d%%%H, %Y",
            "%m/%d/%Y %H:%M:%S %z",
            "%c",
            "%s %:z %Z",
            "%Q %H:%M:%S.%3N",
            "%a %b %e %I:%M %p %:z",
            "%-m/%d/%y",
        ];
        for (n, format) in formats.iter().enumerate() {
            assert_eq!(Digits::compile(format).is_some(), n < 3, "{format}");
        }
        // DST changes in Paris (2019-03-31, 2019-10-27) and New York
        // (2019-11-03), before the epoch, with a fraction, in the years
        // 385 and 4, and in 27 BC (a year strftime writes with a sign).
        let times: [f64; 10] = [
            -50_000_000_000.0,
            -62_000_000_000.0,
            -63_000_000_000.0,
            1553994000.0,
            1553993999.25,
            1572137999.0,
            1572138000.5,
            1572760800.0,
            -86399.75,
            1563547579.999,
        ];
        for zone in zones {
            let tz = TimeZone::get(zone).unwrap();
            for format in formats {
                let render = TimeRender::format(format, tz.clone()).unwrap();
                for t in times {
                    // Sub-seconds are floored unless the format shows them.
                    let secs = t.floor();
                    let shown = format.contains("%3N");
                    let nanos = if shown { ((t - secs) * 1e9) as i32 } else { 0 };
                    let ts = Timestamp::new(secs as i64, nanos).unwrap();
                    let zoned = ts.to_zoned_datetime(tz.clone());
                    let expected = BrokenDownTime::from(&zoned).to_string(format).unwrap();
                    assert_eq!(render.time(t).unwrap(), expected, "{zone} {format} {t}");
                }
            }
        }
    }

    #[test]
    fn the_cache_renders_as_time_does() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        for render in [
            TimeRender::format("%Y-%m-%dT%H:%M:%S", paris.clone()).unwrap(),
            TimeRender::format("%a %d %b %Y %H:%M:%S %Z", paris).unwrap(),
            TimeRender::format("%H:%M:%S.%3N", TimeZone::UTC).unwrap(),
            TimeRender::Epoch,
        ] {
            let mut small = TimeCache::new(&render, 1);
            let mut cache = TimeCache::new(&render, usize::MAX);
            // Repeated seconds, sub-seconds, a slot collision (2^16 apart,
            // or 16 in the small cache), negative times, and a DST change in Paris.
            let times = [
                1563547579.999,
                1563547579.25,
                1563547579.0 + 65536.0,
                1563547579.5,
                -0.5,
                -0.5,
                1711846799.0,
                1711846800.0,
                1711846799.0,
                1711846799.0 + 16.0,
                1711846799.0,
                3.0,
            ];
            for t in times {
                for cache in [&mut cache, &mut small] {
                    let mut out = Vec::new();
                    cache.write(t, &mut out).unwrap();
                    assert_eq!(out, render.time(t).unwrap().into_bytes(), "{t}");
                }
            }
            let mut out = Vec::new();
            assert!(cache.write(1e300, &mut out).is_err() || matches!(render, TimeRender::Epoch));
        }
        let mut out = Vec::new();
        write_number(&mut out, 2.5);
        write_number(&mut out, 3.0);
        assert_eq!(out, b"2.53");
    }

    #[test]
    fn whole_numbers_through_itoa_read_as_core_fmt_writes_them() {
        let edges = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            9.007_199_254_740_991e15,
            9.007_199_254_740_992e15,
        ];
        let more = [
            -9.007_199_254_740_991e15,
            1e300,
            -2.5e-7,
            1700007254.5,
            f64::MIN_POSITIVE,
        ];
        let spread =
            (0..64).map(|i| f64::from(7i32.pow(i % 11)) * if i % 2 == 0 { 1.0 } else { -1.0 });
        for n in edges.into_iter().chain(more).chain(spread) {
            let mut out = b"x".to_vec();
            write_number(&mut out, n);
            let want = if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
                format!("{}", n as i64)
            } else {
                format!("{n}")
            };
            assert_eq!(out[1..], *want.as_bytes(), "{n}");
            assert_eq!(number(n), want, "{n}");
        }
    }

    #[test]
    fn epoch_keeps_numbers() {
        assert_eq!(
            TimeRender::Epoch.time(1599171244.277).unwrap(),
            "1599171244.277"
        );
        assert_eq!(TimeRender::Epoch.time(1599171244.0).unwrap(), "1599171244");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.5");
    }

    #[test]
    fn sub_second_directives_show_the_fraction() {
        let r = TimeRender::format("%H:%M:%S.%3N", TimeZone::UTC).unwrap();
        assert_eq!(r.time(1700000000.75).unwrap(), "22:13:20.750");
        let r = TimeRender::format("%S.%6f|%%N", TimeZone::UTC).unwrap();
        assert_eq!(r.time(1700000000.5).unwrap(), "20.500000|%N");
    }

    #[test]
    fn bad_formats_and_times_are_errors() {
        assert!(TimeRender::format("%Q%", TimeZone::UTC).is_err());
        let utc = TimeRender::format("%Y", TimeZone::UTC).unwrap();
        assert!(utc.time(1e300).is_err());
    }
}
