//! CSV bodies and `__mv_` cells through the body reader into the engine:
//! errors, never panics, and the row accounting always balances.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsvcsdetect::body::{decode_mv, encode_mv, BodyReader};
use regsvcsdetect::detect::{Config, Engine, Mode, TimeRender};

fuzz_target!(|data: &[u8]| {
    // decode is strict, so whatever it accepts re-encodes to the same text.
    if let Some(values) = decode_mv(data) {
        let refs: Vec<&[u8]> = values.iter().map(|v| v.as_ref()).collect();
        assert_eq!(encode_mv(&refs), data);
    }
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let mode = if selector & 1 == 0 {
        Mode::Network
    } else {
        Mode::Noargs
    };
    let mut cfg = Config::new(mode, TimeRender::Epoch);
    cfg.cim_fill = selector & 2 != 0;
    cfg.sysmon = selector & 4 != 0;
    cfg.max_groups = 1000;
    let mut engine = Engine::new(cfg);
    let schema = engine.schema().clone();
    let needle = if selector & 8 == 0 {
        engine.needle()
    } else {
        ""
    };
    let mut reader = BodyReader::new(needle, None);
    let result = reader.read::<Box<dyn std::error::Error>>(body, &schema, |row| {
        engine.push(row)?;
        Ok(())
    });
    if let Ok(counts) = result {
        engine.skip(counts.skipped);
        assert!(engine.stats().balanced(), "{:?}", engine.stats());
        assert_eq!(engine.stats().rows_in, counts.skipped + counts.decoded);
        let _ = engine.finish();
    }
});
