//! The chunk reader and request metadata parser over arbitrary bytes: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regsvcsdetect::protocol::{parse_header, Chunk, ChunkReader, Request};

fuzz_target!(|data: &[u8]| {
    let _ = parse_header(data);
    // A small limit as well as the default, so the size check is exercised.
    for limit in [64, u64::MAX] {
        let mut reader = ChunkReader::with_limit(data, limit);
        let mut chunk = Chunk::default();
        while let Ok(true) = reader.read_chunk(&mut chunk) {
            assert!((chunk.metadata.len() + chunk.body.len()) as u64 <= limit);
            if let Ok(request) = Request::parse(&chunk.metadata, reader.chunks(), reader.offset()) {
                let _ = request.action();
            }
        }
        assert!(reader.offset() <= data.len() as u64);
    }
});
