//! Arbitrary bytes through every offline reader of `run` (EVTX, Windows XML,
//! CSV, JSON lines), forced and sniffed, gzip or not: errors, never panics.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use regsvcsdetect::offline::input::{self, Format, Item};

fn read_all(bytes: Vec<u8>, forced: Option<Format>) {
    let Ok(reader) = input::decompress(Box::new(Cursor::new(bytes))) else {
        return;
    };
    let Ok((format, reader)) = input::detect(reader, forced) else {
        return;
    };
    let _ = input::read(reader, format, &mut |item: Item| {
        // Empty values are null and never reach a record.
        assert!(item.record.iter().all(|(_, v)| !v.is_empty()));
        Ok(())
    });
}

fuzz_target!(|data: &[u8]| {
    for f in Format::ALL {
        read_all(data.to_vec(), Some(f));
    }
    read_all(data.to_vec(), None);
    // A valid EVTX file header in front, so the chunk and record parsers see
    // the bytes, not only the signature check.
    let mut evtx = b"ElfFile\0".to_vec();
    evtx.resize(4096, 0);
    evtx.extend_from_slice(data);
    read_all(evtx, None);
});
