//! The README's options table and searchbnf.conf against `options::OPTIONS`: names, values and defaults.

use regsvcsdetect::options::{Kind, OptionSpec, OPTIONS};

fn repo_file(rel: &str) -> String {
    let path = format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The backticked words of a README cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// The rows of the README's `### Options` table, as cells.
fn readme_rows() -> Vec<Vec<String>> {
    let readme = repo_file("README.md");
    let section = readme
        .split("\n### Options\n")
        .nth(1)
        .expect("README has an ### Options section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// One key of the `[regsvcsdetect-command]` stanza, continuation lines joined.
fn searchbnf(key: &str) -> String {
    let text = repo_file("splunk_app/SA_regsvcsdetect/default/searchbnf.conf");
    let joined = text.replace("\\\n", " ");
    let stanza = joined
        .split("[regsvcsdetect-command]")
        .nth(1)
        .expect("a [regsvcsdetect-command] stanza");
    stanza
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('='))
        .unwrap_or_else(|| panic!("searchbnf has no {key}"))
        .trim()
        .to_string()
}

/// How searchbnf's syntax writes the option's values.
fn bnf(spec: &OptionSpec) -> String {
    match &spec.kind {
        Kind::Choice(_) => format!("({})", spec.kind.shown()),
        Kind::Bool(_) => "<bool>".to_string(),
        Kind::Count { .. } => "<int>".to_string(),
        Kind::Text { .. } => "<string>".to_string(),
    }
}

#[test]
fn readme_options_table_has_the_names_values_and_defaults_of_the_code() {
    let rows = readme_rows();
    let names: Vec<String> = rows.iter().map(|r| r[0].replace('`', "")).collect();
    let want: Vec<&str> = OPTIONS.iter().map(|o| o.name).collect();
    assert_eq!(names, want, "README options, in table order");
    for (spec, row) in OPTIONS.iter().zip(&rows) {
        let (values, default) = (&row[1], &row[2]);
        match &spec.kind {
            Kind::Bool(_) => assert_eq!(values, "boolean", "{}", spec.name),
            Kind::Count { min, max, .. } => {
                assert_eq!(*values, format!("{min} to {max}"), "{}", spec.name)
            }
            Kind::Choice(_) | Kind::Text { .. } => {
                assert_eq!(ticked(values), spec.kind.literals(), "{} values", spec.name)
            }
        }
        match spec.default {
            None => assert_eq!(default, "required", "{}", spec.name),
            Some(d) => assert_eq!(default.replace('`', ""), d, "{} default", spec.name),
        }
    }
}

#[test]
fn searchbnf_syntax_names_every_option_with_its_values() {
    let syntax = searchbnf("syntax");
    let words: Vec<&str> = syntax.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"REGSVCSDETECT"), "{syntax}");
    let options = &words[1..];
    assert_eq!(options.len(), OPTIONS.len(), "{syntax}");
    for (spec, word) in OPTIONS.iter().zip(options) {
        let term = format!("{}={}", spec.name.to_uppercase(), bnf(spec));
        let want = match spec.default {
            None => term,
            Some(_) => format!("({term})?"),
        };
        assert_eq!(*word, want, "searchbnf syntax for {}", spec.name);
    }
}

/// Each option's `\i\NAME:` line says its default as `(default X)` or
/// `X (default)`, or that it is required.
#[test]
fn searchbnf_description_gives_every_default() {
    let description = searchbnf("description");
    for spec in &OPTIONS {
        let key = format!("{}:", spec.name.to_uppercase());
        let part = description
            .split("\\i\\")
            .find(|p| p.trim_start().starts_with(&key))
            .unwrap_or_else(|| panic!("description does not explain {key}"));
        let part = part.to_lowercase();
        match spec.default {
            None => assert!(part.contains("required"), "{part}"),
            Some(d) => assert!(
                [format!("default {d}"), format!("{d} (default")]
                    .iter()
                    .any(|w| part.contains(&w.to_lowercase())),
                "{} default {d} not in: {part}",
                spec.name
            ),
        }
    }
}
