//! Output values: `count` as a number and `firstTime`/`lastTime` through strftime in a time zone, as `security_content_ctime` does.

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
    },
}

/// Why a time format was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFormat(pub String);

impl TimeRender {
    /// A strftime renderer, checked by rendering a sample time.
    ///
    /// # Errors
    ///
    /// The format uses a directive jiff's strftime does not know.
    pub fn format(format: &str, tz: TimeZone) -> Result<TimeRender, BadFormat> {
        let render = TimeRender::Format {
            format: format.to_string(),
            tz,
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
        match self {
            TimeRender::Epoch => Ok(number(t)),
            TimeRender::Format { format, tz } => {
                let secs = t.floor();
                let nanos = if has_subseconds(format) {
                    (((t - secs) * 1e9) as i32).clamp(0, 999_999_999)
                } else {
                    0
                };
                let ts = Timestamp::new(secs as i64, nanos)
                    .map_err(|e| BadFormat(format!("time {} is out of range: {e}", number(t))))?;
                jiff::fmt::strtime::format(format.as_bytes(), &ts.to_zoned_datetime(tz.clone()))
                    .map_err(|e| BadFormat(e.to_string()))
            }
        }
    }
}

/// True when a strftime format shows fractional seconds.
fn has_subseconds(format: &str) -> bool {
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
        if spec.ends_with('N') || spec.ends_with('f') {
            return true;
        }
    }
    false
}

/// Writes a number the way Splunk shows it: integers without a fraction,
/// other values in the shortest form that reads back exactly.
pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
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
