//! Serde types for request metadata (getinfo, execute) and for reply metadata (configuration, inspector messages).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::{Error, ErrorKind};

/// The `action` of a request chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The first request: describe the command.
    Getinfo,
    /// Every later request: process these rows.
    Execute,
    /// Anything else splunkd (or a bad driver) might send.
    Other(String),
    /// No `action` key at all.
    Missing,
}

/// Parsed request metadata. Unknown keys are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Request {
    action: Option<String>,
    /// `finished` as sent: true on the last execute request.
    pub(crate) finished: Option<bool>,
    /// True when splunkd runs the command for preview results.
    #[serde(deserialize_with = "lenient_bool")]
    pub(crate) preview: Option<bool>,
    /// Search context, sent with getinfo; anything but an object is ignored.
    #[serde(deserialize_with = "lenient_searchinfo")]
    pub(crate) searchinfo: Option<SearchInfo>,
}

impl Request {
    /// Parses metadata bytes. Invalid UTF-8 is replaced rather than refused.
    ///
    /// # Errors
    ///
    /// The metadata is not a JSON object, or a known key has the wrong type.
    pub fn parse(bytes: &[u8], chunk: u64, offset: u64) -> Result<Request, Error> {
        let text = String::from_utf8_lossy(bytes);
        let invalid =
            |reason: String| Error::new(ErrorKind::MetadataInvalid { reason }, chunk, offset);
        if bytes.is_empty() {
            return Err(invalid("the metadata is empty".into()));
        }
        let value: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        if !value.is_object() {
            return Err(invalid("the metadata is not a JSON object".into()));
        }
        Request::deserialize(value).map_err(|e| invalid(e.to_string()))
    }

    /// The request's action.
    pub fn action(&self) -> Action {
        match self.action.as_deref() {
            Some("getinfo") => Action::Getinfo,
            Some("execute") => Action::Execute,
            Some(other) => Action::Other(other.to_string()),
            None => Action::Missing,
        }
    }
}

/// `searchinfo` of a getinfo request. `session_key` is deliberately not
/// deserialized, so it can never reach an output or a log.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SearchInfo {
    /// Command arguments, quotes removed by splunkd.
    pub(crate) args: Option<Vec<String>>,
    /// Command arguments with their original quoting.
    pub(crate) raw_args: Option<Vec<String>>,
    /// The job's dispatch directory; empty or temporary in parse probes.
    #[serde(deserialize_with = "text")]
    pub(crate) dispatch_dir: String,
    /// Search id; `searchparsetmp_*` in parse probes.
    #[serde(deserialize_with = "text")]
    pub(crate) sid: String,
    /// App context.
    #[serde(deserialize_with = "text")]
    pub(crate) app: String,
    /// Search owner.
    #[serde(deserialize_with = "text")]
    pub(crate) owner: String,
    /// User running the search.
    #[serde(deserialize_with = "text")]
    pub(crate) username: String,
    /// splunkd's REST endpoint.
    #[serde(deserialize_with = "text")]
    pub(crate) splunkd_uri: String,
    /// Splunk version string.
    #[serde(deserialize_with = "text")]
    pub(crate) splunk_version: String,
    /// The whole search, percent-decoded.
    #[serde(deserialize_with = "decoded")]
    pub(crate) search: String,
    /// Command name from the commands.conf stanza (8.x).
    #[serde(deserialize_with = "text")]
    pub(crate) command: String,
    /// limits.conf `maxresultrows`.
    #[serde(deserialize_with = "lenient_u64")]
    pub(crate) maxresultrows: Option<u64>,
    /// Search window start, epoch seconds; `0` means unbounded.
    #[serde(deserialize_with = "epoch")]
    pub(crate) earliest_time: Option<f64>,
    /// Search window end, epoch seconds; `0` means unbounded.
    #[serde(deserialize_with = "epoch")]
    pub(crate) latest_time: Option<f64>,
}

impl SearchInfo {
    /// True for splunkd's parse-time probe processes, which must have no side effects.
    pub(crate) fn is_probe(&self) -> bool {
        let sid = self.sid.as_str();
        sid.is_empty()
            || sid == "tmp"
            || sid.starts_with("searchparsetmp_")
            || sid.ends_with("_tmp")
            || self.dispatch_dir.is_empty()
    }
}

// Keys the command does not act on are read leniently: a wrong JSON type
// there must not fail a search (PROTOCOL.md §0.10).

fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Value::deserialize(d)?.as_u64())
}

fn lenient_searchinfo<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SearchInfo>, D::Error> {
    match Value::deserialize(d)? {
        value @ Value::Object(_) => SearchInfo::deserialize(value)
            .map(Some)
            .map_err(serde::de::Error::custom),
        _ => Ok(None),
    }
}

fn decoded<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(percent_decode(&text(d)?))
}

/// splunkd sends the times as strings (`"0"`, `"1627333200"`); the SDK's
/// recorder wrote floats. Accept both, and treat unparseable text as absent.
fn epoch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|t| t.is_finite()),
        _ => None,
    })
}

/// Decodes `%XX` escapes (`+` stays a plus: splunkd encodes spaces as
/// `%20`). Malformed escapes are kept literally; invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Inspector messages and metrics carried on any reply.
#[derive(Debug, Default, Clone)]
pub struct Inspector {
    messages: Vec<(String, String)>,
    metrics: Map<String, Value>,
}

impl Inspector {
    /// Adds a message; `level` is `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub(crate) fn message(&mut self, level: &str, text: impl Into<String>) {
        self.messages.push((level.to_string(), text.into()));
    }

    /// Sets `metric.<name>`.
    pub(crate) fn metric(&mut self, name: &str, value: impl Into<Value>) {
        self.metrics.insert(format!("metric.{name}"), value.into());
    }

    /// True when there is nothing to send.
    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.metrics.is_empty()
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        if !self.messages.is_empty() {
            let list = self
                .messages
                .iter()
                .map(|(l, t)| Value::from(vec![l.clone(), t.clone()]))
                .collect::<Vec<_>>();
            map.insert("messages".into(), Value::Array(list));
        }
        for (k, v) in &self.metrics {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

/// Reply metadata. Keys are written in a fixed order with `inspector` first,
/// since MLTK insists it precede `error`.
#[derive(Debug, Default, Clone)]
pub struct Reply {
    /// Inspector messages and metrics.
    pub(crate) inspector: Inspector,
    /// getinfo: `streaming`, `stateful`, `events` or `reporting`.
    pub kind: Option<&'static str>,
    /// getinfo: fields splunkd must send.
    pub(crate) required_fields: Option<Vec<String>>,
    /// getinfo: the map-phase search run on the peers.
    pub(crate) streaming_preop: Option<String>,
    /// getinfo: whether splunkd should run the command for preview results.
    pub(crate) run_in_preview: Option<bool>,
    /// execute (and fatal getinfo errors): the finished flag.
    pub(crate) finished: Option<bool>,
    /// Fatal error text; set together with `finished: true`.
    pub(crate) error: Option<String>,
}

impl Reply {
    /// Serializes the reply metadata as compact JSON.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Wire<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            inspector: Option<Value>,
            #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
            kind: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            required_fields: Option<&'a [String]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            streaming_preop: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            run_in_preview: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            finished: Option<bool>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }
        let wire = Wire {
            inspector: (!self.inspector.is_empty()).then(|| self.inspector.to_value()),
            kind: self.kind,
            required_fields: self.required_fields.as_deref(),
            streaming_preop: self.streaming_preop.as_deref(),
            run_in_preview: self.run_in_preview,
            finished: self.finished,
            error: self.error.as_deref(),
        };
        serde_json::to_vec(&wire).unwrap_or_else(|_| b"{\"finished\":true}".to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getinfo_metadata_tolerates_unknown_keys_and_string_times() {
        let meta = br#"{"action":"getinfo","preview":false,"streaming_command_will_restart":false,"searchinfo":{"args":["mode=network"],"raw_args":["mode=network"],"dispatch_dir":"/d","sid":"1.2","session_key":"secret","search":"search%20index%3Dmain%20%7C%20regsvcsdetect","earliest_time":"0","latest_time":1627333200.5,"future_key":{"x":1}}}"#;
        let r = Request::parse(meta, 1, 0).unwrap();
        assert_eq!(r.action(), Action::Getinfo);
        let si = r.searchinfo.unwrap();
        assert_eq!(si.search, "search index=main | regsvcsdetect");
        assert_eq!(si.earliest_time, Some(0.0));
        assert_eq!(si.latest_time, Some(1627333200.5));
        assert!(!format!("{si:?}").contains("secret"));
    }

    #[test]
    fn keys_the_command_does_not_use_tolerate_odd_types() {
        let meta = br#"{"action":"getinfo","preview":"no","searchinfo":{"args":["mode=network"],"sid":123,"dispatch_dir":null,"maxresultrows":-1,"search":7}}"#;
        let si = Request::parse(meta, 1, 0).unwrap().searchinfo.unwrap();
        assert_eq!(si.sid, "123");
        assert_eq!(si.dispatch_dir, "");
        assert_eq!(si.maxresultrows, None);
        let exec = Request::parse(
            br#"{"action":"execute","finished":true,"searchinfo":[1]}"#,
            2,
            0,
        )
        .unwrap();
        assert!(exec.searchinfo.is_none());
    }

    #[test]
    fn metadata_must_be_an_object() {
        for bad in [&b"[]"[..], b"42", b"{", b"", b"{\"finished\":\"yes\"}"] {
            assert!(Request::parse(bad, 1, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_utf8_in_metadata_is_replaced() {
        let r = Request::parse(b"{\"action\":\"execute\",\"x\":\"\xff\"}", 2, 0).unwrap();
        assert_eq!(r.action(), Action::Execute);
    }

    #[test]
    fn probes_are_recognised() {
        let si = |sid: &str, dir: &str| SearchInfo {
            sid: sid.into(),
            dispatch_dir: dir.into(),
            ..SearchInfo::default()
        };
        assert!(si("searchparsetmp_1", "/d").is_probe());
        assert!(si("", "/d").is_probe());
        assert!(si("1.2_tmp", "/d").is_probe());
        assert!(si("1.2", "").is_probe());
        assert!(!si("1629786023.114", "/d").is_probe());
    }

    #[test]
    fn reply_puts_inspector_first_and_error_last() {
        let mut r = Reply {
            finished: Some(true),
            error: Some("boom".into()),
            ..Reply::default()
        };
        r.inspector.message("ERROR", "boom");
        assert_eq!(
            String::from_utf8(r.to_json()).unwrap(),
            r#"{"inspector":{"messages":[["ERROR","boom"]]},"finished":true,"error":"boom"}"#
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
        assert_eq!(percent_decode("a+b%2Bc%25"), "a+b+c%");
        assert_eq!(percent_decode("%E2%9C%93 %ff"), "\u{2713} \u{fffd}");
    }
}
