//! Windows XML events (`<Event>…</Event>`) for `run`: the `System` and `EventData` values of each event, from Splunk's one-line XmlWinEventLog rendering or python-evtx's pretty-printed one; no field mapping here.

use std::io::{self, BufRead, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::input::ReadError;

/// One Windows event as it was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlEvent {
    /// 1-based line of the `<Event>` tag.
    pub(crate) line: u64,
    /// `System` values: element text under the element name (`EventID`,
    /// `Computer`, `Channel`) and attributes as `Element.Attribute`
    /// (`Provider.Name`, `TimeCreated.SystemTime`, `Security.UserID`).
    pub(crate) system: Vec<(String, String)>,
    /// `EventData` values: `<Data Name='Image'>…</Data>` as (`Image`, text).
    pub(crate) data: Vec<(String, String)>,
    /// The same `EventData` values as written, XML entities not decoded
    /// (`&amp;` stays `&amp;`): what a regex extraction over the raw event sees.
    pub(crate) data_raw: Vec<(String, String)>,
}

impl XmlEvent {
    /// A `System` value.
    pub fn system(&self, name: &str) -> Option<&str> {
        self.system
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An `EventData` value, the first when a name repeats.
    pub(crate) fn data(&self, name: &str) -> Option<&str> {
        self.data
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An `EventData` value as written (entities kept), the first when a name repeats.
    pub(crate) fn data_raw(&self, name: &str) -> Option<&str> {
        self.data_raw
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Counts the lines of the bytes a reader has consumed.
struct LineCount<R> {
    inner: R,
    line: u64,
}

impl<R: BufRead> Read for LineCount<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.line += memchr::memchr_iter(b'\n', buf.get(..n).unwrap_or_default()).count() as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for LineCount<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let seen = buf.get(..amt.min(buf.len())).unwrap_or_default();
            self.line += memchr::memchr_iter(b'\n', seen).count() as u64;
        }
        self.inner.consume(amt);
    }
}

/// Where the parser is inside an event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Capture {
    /// Not collecting text.
    Nothing,
    /// Text of a `System` child.
    System(String),
    /// Text of an `EventData/Data` element with this `Name`.
    Data(String),
}

/// Reads events and calls `each` for every `<Event>` in document order.
/// Elements around events (an `<Events>` wrapper) are allowed; text outside
/// an event is not.
///
/// # Errors
///
/// Malformed XML, text outside events, an event cut off by the end of the
/// input, or whatever `each` returns.
pub fn read(
    reader: Box<dyn BufRead>,
    each: &mut dyn FnMut(XmlEvent) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut xml = Reader::from_reader(LineCount {
        inner: reader,
        line: 1,
    });
    let mut buf = Vec::new();
    // Element names from the <Event> down; empty outside events.
    let mut path: Vec<String> = Vec::new();
    let mut event = XmlEvent::default();
    let mut capture = Capture::Nothing;
    let mut text = String::new();
    let mut raw = String::new();
    loop {
        buf.clear();
        let line = xml.get_ref().line;
        let ev = xml.read_event_into(&mut buf).map_err(|e| {
            let at = xml.get_ref().line;
            ReadError::at(at, format!("malformed XML: {e}"))
        })?;
        let here = xml.get_ref().line;
        match ev {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_string();
                open(&mut path, &mut event, &mut capture, &name, &e, (line, here))?;
                text.clear();
                raw.clear();
                if !path.is_empty() || name == "Event" {
                    path.push(name);
                }
            }
            Event::Empty(e) => {
                let name = e.local_name().as_ref().to_string();
                open(&mut path, &mut event, &mut capture, &name, &e, (line, here))?;
                if name == "Event" && path.is_empty() {
                    event.line = line;
                    each(std::mem::take(&mut event))?;
                } else {
                    text.clear();
                    raw.clear();
                    close(&mut event, &mut capture, &mut text, &mut raw);
                }
            }
            Event::Text(t) => {
                let content = t.xml10_content();
                if path.is_empty() {
                    if !content.trim().is_empty() {
                        return Err(ReadError::at(
                            here,
                            format!("text outside an <Event> element: {:?}", clip(&content)),
                        ));
                    }
                } else if capture != Capture::Nothing {
                    text.push_str(&content);
                    raw.push_str(&t[..]);
                }
            }
            Event::CData(t) => {
                if capture != Capture::Nothing {
                    let content = t.xml10_content();
                    text.push_str(&content);
                    raw.push_str(&content);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ReadError::at(here, format!("unknown XML entity &{};", &*r))
                        })?,
                    Err(e) => return Err(ReadError::at(here, format!("malformed XML: {e}"))),
                };
                if path.is_empty() {
                    return Err(ReadError::at(
                        here,
                        "text outside an <Event> element".to_string(),
                    ));
                }
                if capture != Capture::Nothing {
                    text.push_str(&resolved);
                    raw.push_str(&format!("&{};", &*r));
                }
            }
            Event::End(_) => {
                if path.is_empty() {
                    continue;
                }
                close(&mut event, &mut capture, &mut text, &mut raw);
                path.pop();
                if path.is_empty() {
                    each(std::mem::take(&mut event))?;
                }
            }
            Event::Eof => {
                if !path.is_empty() {
                    return Err(ReadError::at(
                        here,
                        format!(
                            "the input ends inside the <Event> that starts at line {}",
                            event.line
                        ),
                    ));
                }
                return Ok(());
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// Handles an opening tag at line `here` of an event that starts at
/// `line`: starts an event, or starts capturing a value.
fn open(
    path: &mut [String],
    event: &mut XmlEvent,
    capture: &mut Capture,
    name: &str,
    tag: &BytesStart<'_>,
    (line, here): (u64, u64),
) -> Result<(), ReadError> {
    let bad =
        |e: &dyn std::fmt::Display| ReadError::at(here, format!("malformed XML attribute: {e}"));
    let depth: Vec<&str> = path.iter().map(String::as_str).collect();
    match depth.as_slice() {
        [] if name == "Event" => {
            *event = XmlEvent {
                line,
                ..XmlEvent::default()
            };
        }
        ["Event", "System"] => {
            for attr in tag.attributes() {
                let attr = attr.map_err(|e| bad(&e))?;
                let value = attr
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| bad(&e))?;
                let key = format!("{name}.{}", attr.key.local_name().as_ref());
                event.system.push((key, value.into_owned()));
            }
            *capture = Capture::System(name.to_string());
        }
        ["Event", "EventData"] if name == "Data" => {
            let key = match tag.try_get_attribute("Name").map_err(|e| bad(&e))? {
                Some(a) => a
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| bad(&e))?
                    .into_owned(),
                None => String::new(),
            };
            *capture = Capture::Data(key);
        }
        _ => {}
    }
    Ok(())
}

/// Stores the captured text when a captured element closes.
fn close(event: &mut XmlEvent, capture: &mut Capture, text: &mut String, raw: &mut String) {
    match std::mem::replace(capture, Capture::Nothing) {
        Capture::Nothing => {}
        Capture::System(name) => event.system.push((name, std::mem::take(text))),
        Capture::Data(name) => {
            // Unnamed <Data> (classic EventLog) has nothing to map; skip it.
            if !name.is_empty() {
                event.data_raw.push((name.clone(), std::mem::take(raw)));
                event.data.push((name, std::mem::take(text)));
            }
        }
    }
    text.clear();
    raw.clear();
}

fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &'static str) -> Result<Vec<XmlEvent>, ReadError> {
        let mut out = Vec::new();
        read(Box::new(text.as_bytes()), &mut |e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    const ONE_LINE: &str = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>3</EventID><TimeCreated SystemTime='2022-09-15T12:56:22.958249300Z'/><Computer>host</Computer></System><EventData><Data Name='Image'>C:\\a&amp;b\\RegSvcs.exe</Data><Data Name='Empty'/><Data Name='R'>&#174;</Data></EventData></Event>\n";

    #[test]
    fn one_line_events_give_system_and_data_values() {
        let text: &'static str = Box::leak(format!("{ONE_LINE}{ONE_LINE}").into_boxed_str());
        let ev = events(text).unwrap();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1].line, 2);
        let e = &ev[0];
        assert_eq!(e.line, 1);
        assert_eq!(e.system("EventID"), Some("3"));
        assert_eq!(e.system("Provider.Name"), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(
            e.system("TimeCreated.SystemTime"),
            Some("2022-09-15T12:56:22.958249300Z")
        );
        assert_eq!(e.data("Image"), Some("C:\\a&b\\RegSvcs.exe"));
        assert_eq!(e.data("Empty"), Some(""));
        assert_eq!(e.data("R"), Some("®"));
        assert_eq!(e.data_raw("Image"), Some("C:\\a&amp;b\\RegSvcs.exe"));
        assert_eq!(e.data_raw("R"), Some("&#174;"));
        assert_eq!(e.data_raw("Empty"), Some(""));
    }

    #[test]
    fn pretty_printed_events_and_wrappers_are_read() {
        let ev = events(
            "<?xml version=\"1.0\"?>\n<Events>\n<Event xmlns=\"x\"><System><EventID Qualifiers=\"\">1</EventID>\n<Computer>H</Computer>\n</System>\n<EventData><Data Name=\"CommandLine\">a  b</Data>\n</EventData>\n</Event>\n</Events>\n",
        )
        .unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].line, 3);
        assert_eq!(ev[0].system("EventID"), Some("1"));
        assert_eq!(ev[0].data("CommandLine"), Some("a  b"));
    }

    #[test]
    fn bad_xml_names_the_line_and_reason() {
        let e = events("<Event><System>\n<EventID>3</Oops>\n</System></Event>\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.reason.to_string().starts_with("malformed XML"),
            "{}",
            e.reason
        );
        let e = events("<Event><System>\n").unwrap_err();
        assert!(
            e.reason.to_string().contains("ends inside the <Event>"),
            "{}",
            e.reason
        );
        let e = events("hello\n").unwrap_err();
        assert!(
            e.reason.to_string().contains("outside an <Event>"),
            "{}",
            e.reason
        );
    }
}
