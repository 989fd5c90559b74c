//! A whole protocol session over arbitrary input: every outcome is a clean
//! end or an error reply, never a panic, and the replies are well framed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsvcsdetect::command::{Outcome, Session};
use regsvcsdetect::protocol::{Chunk, ChunkReader};

fuzz_target!(|data: &[u8]| {
    // `record=t` writes into the dispatch directory named by the input; keep
    // the fuzzer from creating files wherever it likes.
    let lower = data.to_ascii_lowercase();
    if memfind(&lower, b"record") || memfind(&lower, b"\\u") {
        return;
    }
    let mut out = Vec::new();
    let outcome = Session::new(data, &mut out).run();
    let mut reader = ChunkReader::new(out.as_slice());
    let mut chunk = Chunk::default();
    let mut replies = 0;
    while reader
        .read_chunk(&mut chunk)
        .expect("replies are well framed")
    {
        assert!(serde_json::from_slice::<serde_json::Value>(&chunk.metadata)
            .expect("reply metadata is JSON")
            .is_object());
        replies += 1;
    }
    if let Outcome::Failed(_) = outcome {
        assert!(replies >= 1, "a failure is always reported");
    }
});

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
