//! The option parser over arbitrary argument lists (NUL-separated), and the
//! time rendering and map-phase search it configures: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsvcsdetect::options::unquote;
use regsvcsdetect::options::Options;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    let _ = args.iter().map(|a| unquote(a)).count();
    if let Ok(opts) = Options::parse(&args) {
        let _ = opts.preop("regsvcsdetect");
        for t in [0.0, -1.5, 1_700_000_000.25, 1e18, f64::NAN, f64::INFINITY] {
            let _ = opts.config.time.time(t);
        }
    }
});
