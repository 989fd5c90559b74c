//! The engine's view of its input, built once from the configuration: the fields it reads, the column names each may arrive under, the prefilter needle and the partial-row marker.

use super::spec::{is_unprefixed, PARTIAL_MARKER};
use super::Config;

/// What a reader needs to hand rows to one [`super::Engine`]. The one place
/// the data-model prefix rule lives: a field other than `_time`, the stats
/// aggregates and the partial marker may also arrive as `<prefix><field>`,
/// and a prefixed column wins over the plain one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<&'static str>,
    names: Vec<Vec<String>>,
    needle: &'static str,
    marker: Option<&'static str>,
}

impl Schema {
    /// The schema of an engine that reads `fields` (in [`super::Row`] index order).
    pub fn new(fields: Vec<&'static str>, cfg: &Config) -> Schema {
        let mut schema = Schema::from_fields(&fields, &cfg.mode.prefixes());
        schema.fields = fields;
        schema.needle = cfg.binary.exe();
        schema.marker = cfg.trusted_partials.then_some(PARTIAL_MARKER);
        schema
    }

    /// A schema over arbitrary field names, for readers tested on their own:
    /// no needle (every row may match) and no partial marker.
    pub(crate) fn from_fields(fields: &[&str], prefixes: &[&str]) -> Schema {
        let names = fields
            .iter()
            .map(|f| {
                let mut list: Vec<String> = Vec::new();
                if !is_unprefixed(f) {
                    list.extend(prefixes.iter().map(|p| format!("{p}{f}")));
                }
                list.push(f.to_string());
                list
            })
            .collect();
        Schema {
            fields: Vec::new(),
            names,
            needle: "",
            marker: None,
        }
    }

    /// The fields, in the index order [`super::Row::get`] uses.
    pub(crate) fn fields(&self) -> &[&'static str] {
        &self.fields
    }

    /// Number of fields.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// The column names field `i` may arrive under, most preferred first.
    pub(crate) fn names(&self, i: usize) -> &[String] {
        self.names.get(i).map_or(&[], Vec::as_slice)
    }

    /// The literal every row able to match contains (see
    /// [`super::Engine::needle`]); empty when any row may match.
    pub(crate) fn needle(&self) -> &'static str {
        self.needle
    }

    /// The column that marks this command's own partial rows, when the
    /// engine trusts them (the reduce of a distributed search).
    pub(crate) fn partial_marker(&self) -> Option<&'static str> {
        self.marker
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Engine, Mode, TimeRender};

    #[test]
    fn by_fields_take_the_mode_prefixes_first_and_the_rest_stay_plain() {
        let mut cfg = Config::new(Mode::Noargs, TimeRender::Epoch);
        cfg.trusted_partials = true;
        let engine = Engine::new(cfg);
        let s = engine.schema();
        assert_eq!(s.len(), s.fields().len());
        let at = |f: &str| s.fields().iter().position(|x| *x == f).unwrap();
        assert_eq!(s.names(at("process")), ["Processes.process", "process"]);
        for plain in [
            "_time",
            "count",
            "firstTime",
            "lastTime",
            "regsvcsdetect_partial",
        ] {
            assert_eq!(s.names(at(plain)), [plain]);
        }
        assert_eq!(s.needle(), "regsvcs.exe");
        assert_eq!(s.partial_marker(), Some("regsvcsdetect_partial"));
        let network = Engine::new(Config::new(Mode::Network, TimeRender::Epoch));
        let s = network.schema();
        assert_eq!(s.names(0), ["All_Traffic.action", "action"]);
        assert_eq!(s.partial_marker(), None);
    }
}
