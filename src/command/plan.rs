//! The getinfo request turned into a `Plan`: the reply, the engine, the phase and whether to record; no I/O.

use crate::detect::Engine;
use crate::options::{unquote, Options, Phase};
use crate::protocol::{Action, Reply, Request, SearchInfo};

use super::error::{Error, ErrorKind, COMMAND};
use super::record::Target;

/// What one getinfo request asks of this process.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The getinfo reply (a recording that cannot start adds a WARN).
    pub(crate) reply: Reply,
    /// The engine, configured for the phase and still empty.
    pub(crate) engine: Engine,
    /// Map (partial rows per chunk) or reduce (the result at the end).
    pub(crate) phase: Phase,
    /// Threads that decode and aggregate each request's rows.
    pub(crate) threads: usize,
    /// Where to record this session, when `record=t` applies here.
    pub record: Option<Target>,
    /// A WARN held for the first execute reply.
    pub(crate) warn: Option<String>,
}

impl Plan {
    /// Plans the session from its first request, which carried a
    /// `body_len`-byte body. `may_record` is false for a replay, which must
    /// not record whatever `record=` says.
    ///
    /// # Errors
    ///
    /// The request is not getinfo, carries a body, or its arguments are
    /// refused ([`ErrorKind::Options`], every problem at once).
    pub(crate) fn from_request(
        request: &Request,
        body_len: usize,
        may_record: bool,
    ) -> Result<Plan, Error> {
        let action = request.action();
        if action != Action::Getinfo {
            return Err(ErrorKind::NotGetinfo { action }.into());
        }
        if body_len > 0 {
            return Err(ErrorKind::GetinfoBody { len: body_len }.into());
        }
        let none = SearchInfo::default();
        let info = request.searchinfo.as_ref().unwrap_or(&none);
        let opts = Options::parse(&arguments(info))?;
        let mut reply = Reply {
            // Both phases compute results only for the finished search:
            // their partial groups mean nothing in a preview.
            run_in_preview: Some(false),
            ..Reply::default()
        };
        let mut record = None;
        let mut warn = None;
        // A preview process (should splunkd start one anyway) answers as
        // usual but leaves nothing behind: no recording, no file.
        let preview = request.preview == Some(true);
        if opts.record && may_record && !preview {
            if info.dispatch_dir.is_empty() {
                // Probes also come without a dispatch directory; they get no
                // execute request, so the WARN waits for the first one.
                warn = Some(
                    "record=t but splunkd gave no dispatch directory; the search goes on without recording"
                        .to_string(),
                );
            } else if !info.is_probe() {
                // Parse-time probes must have no side effects.
                record = Some(Target {
                    dir: info.dispatch_dir.clone(),
                    sid: info.sid.clone(),
                });
            }
        }
        let mut config = opts.config.clone();
        match opts.phase {
            Phase::Map => reply.kind = Some("streaming"),
            Phase::Reduce => {
                reply.kind = Some("reporting");
                if opts.distributed {
                    let command = if info.command.is_empty() {
                        COMMAND
                    } else {
                        info.command.as_str()
                    };
                    reply.streaming_preop = Some(opts.preop(command));
                    // Rows the map marked are merged as they are; unmarked
                    // rows (no map phase ran) are filtered as usual.
                    config.trusted_partials = true;
                }
            }
        }
        let engine = Engine::new(config);
        // Each phase asks for what its engine reads: the map for the event
        // fields, the reduce for those plus the partial marker it merges by.
        reply.required_fields = Some(engine.required_fields());
        Ok(Plan {
            reply,
            engine,
            phase: opts.phase,
            threads: opts.threads,
            record,
            warn,
        })
    }
}

/// The command's arguments: `args` as splunkd split them, else `raw_args`
/// unquoted.
fn arguments(info: &SearchInfo) -> Vec<String> {
    let args = info
        .args
        .clone()
        .or_else(|| {
            info.raw_args
                .as_ref()
                .map(|raw| raw.iter().map(|a| unquote(a)).collect())
        })
        .unwrap_or_default();
    // splunkd sends only the arguments, but a driver that splits our own
    // `streaming_preop` text may pass the command name first.
    match args.split_first() {
        Some((first, rest)) if first.eq_ignore_ascii_case(COMMAND) => rest.to_vec(),
        _ => args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Problem;

    fn getinfo(args: &[&str], dispatch_dir: &str, sid: &str) -> Request {
        let meta = serde_json::json!({
            "action": "getinfo",
            "searchinfo": {"args": args, "dispatch_dir": dispatch_dir, "sid": sid},
        });
        Request::parse(meta.to_string().as_bytes(), 1, 0).unwrap()
    }

    fn plan(args: &[&str]) -> Result<Plan, Error> {
        Plan::from_request(&getinfo(args, "", "1.1"), 0, true)
    }

    #[test]
    fn a_reduce_plan_asks_for_the_map_phase_and_trusts_its_partials() {
        let p = plan(&["mode=network"]).unwrap();
        assert_eq!(p.phase, Phase::Reduce);
        assert_eq!(p.reply.kind, Some("reporting"));
        assert_eq!(
            p.reply.streaming_preop.as_deref(),
            Some("regsvcsdetect phase=map mode=network")
        );
        assert!(p.engine.config().trusted_partials);
        assert!(p.record.is_none());
    }

    #[test]
    fn a_map_plan_streams_what_its_engine_reads() {
        let p = plan(&["regsvcsdetect", "phase=map", "mode=noargs"]).unwrap();
        assert_eq!(p.phase, Phase::Map);
        assert_eq!(p.reply.kind, Some("streaming"));
        assert_eq!(p.reply.run_in_preview, Some(false));
        assert_eq!(p.reply.required_fields, Some(p.engine.required_fields()));
        assert!(!p.engine.config().trusted_partials);
    }

    #[test]
    fn a_preview_process_never_records() {
        let meta = serde_json::json!({
            "action": "getinfo", "preview": true,
            "searchinfo": {"args": ["mode=network", "record=t"], "dispatch_dir": "/d", "sid": "1.5"},
        });
        let request = Request::parse(meta.to_string().as_bytes(), 1, 0).unwrap();
        let p = Plan::from_request(&request, 0, true).unwrap();
        assert!(p.record.is_none() && p.warn.is_none());
    }

    #[test]
    fn refused_arguments_are_every_problem_at_once() {
        let err = plan(&["mode=dns", "colour=red"]).unwrap_err();
        let ErrorKind::Options(problems) = err.kind() else {
            panic!("{err:?}")
        };
        let found: Vec<&Problem> = problems.iter().collect();
        assert!(matches!(found[0], Problem::Unknown { name } if name == "colour"));
        assert!(matches!(found[1], Problem::Invalid { name: "mode", .. }));
        assert_eq!(err.messages().len(), 2);
    }

    #[test]
    fn the_first_request_must_be_an_empty_getinfo() {
        let execute = Request::parse(br#"{"action":"execute"}"#, 1, 0).unwrap();
        let err = Plan::from_request(&execute, 0, true).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::NotGetinfo {
                action: Action::Execute
            }
        ));
        let err = Plan::from_request(&getinfo(&["mode=network"], "", ""), 5, true).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::GetinfoBody { len: 5 }));
    }

    #[test]
    fn recording_needs_a_dispatch_directory_a_real_search_and_no_replay() {
        let args = ["mode=network", "record=t"];
        let p = Plan::from_request(&getinfo(&args, "/d", "1.5"), 0, true).unwrap();
        assert_eq!(
            p.record,
            Some(Target {
                dir: "/d".into(),
                sid: "1.5".into()
            })
        );
        assert!(p.warn.is_none());
        let probe = getinfo(&args, "/d", "searchparsetmp_1");
        let p = Plan::from_request(&probe, 0, true).unwrap();
        assert!(p.record.is_none() && p.warn.is_none());
        let p = Plan::from_request(&getinfo(&args, "", "1.5"), 0, true).unwrap();
        assert!(p.record.is_none());
        assert!(p.warn.unwrap().contains("no dispatch directory"));
        let p = Plan::from_request(&getinfo(&args, "/d", "1.5"), 0, false).unwrap();
        assert!(p.record.is_none() && p.warn.is_none());
    }
}
