//! The helper threads of `threads=`: jobs run side by side, and a reply's rows rendered on a helper while this thread writes them.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};

use crate::body::{write_result_rows, write_results, write_results_header};
use crate::detect::Results;

/// Runs every job, the first on this thread and each other on a thread of
/// its own (on this one when no thread can be started), and returns their
/// results in order. A job's panic is re-raised here.
pub(crate) fn run_all<T: Send, F: FnOnce() -> T + Send>(jobs: Vec<F>) -> Vec<T> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Vec::new();
    };
    let (first, rest) = run_beside(jobs.collect(), first);
    std::iter::once(first).chain(rest).collect()
}

/// Runs every job on a thread of its own while `here` runs on this thread;
/// returns what `here` returned and the jobs' results in order. A job no
/// thread could be started for runs here, after `here`. A panic is
/// re-raised here.
pub(crate) fn run_beside<T: Send, F: FnOnce() -> T + Send, H>(
    jobs: Vec<F>,
    here: impl FnOnce() -> H,
) -> (H, Vec<T>) {
    let slots: Vec<Mutex<Option<F>>> = jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
    let run = |slot: &Mutex<Option<F>>| {
        let job = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        job.map(|job| job())
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (slots.iter())
            .map(|slot| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || run(slot))
                    .ok()
            })
            .collect();
        let mine = here();
        let mut out = Vec::with_capacity(slots.len());
        for (helper, slot) in helpers.into_iter().zip(&slots) {
            let done =
                helper.and_then(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            out.extend(done.or_else(|| run(slot)));
        }
        (mine, out)
    })
}

/// The jobs' results in order: run by [`run_all`], or one after another on
/// this thread when `here` (too little work to start threads for).
pub(crate) fn run_all_or_here<T: Send, F: FnOnce() -> T + Send>(
    jobs: Vec<F>,
    here: bool,
) -> Vec<T> {
    if here {
        jobs.into_iter().map(|job| job()).collect()
    } else {
        run_all(jobs)
    }
}

/// Bytes of rows rendered at a time by [`write_results_on`].
const BLOCK: usize = 1 << 20;

/// Writes results as [`write_results`] does, with a helper thread rendering
/// every other block of about [`BLOCK`] bytes of rows while this thread
/// renders the others and writes them all out in order. One thread, few
/// rows, or no thread to be had: [`write_results`] itself.
///
/// # Errors
///
/// Whatever `out` returns.
pub(crate) fn write_results_on(
    out: &mut dyn Write,
    results: &Results,
    threads: usize,
) -> io::Result<()> {
    write_in_blocks(out, results, threads, BLOCK)
}

/// [`write_results_on`] with blocks of about `block` bytes.
fn write_in_blocks(
    out: &mut dyn Write,
    results: &Results,
    threads: usize,
    block: usize,
) -> io::Result<()> {
    let bytes = results.csv_bytes();
    if threads < 2 || bytes < 2 * block {
        return write_results(out, results);
    }
    let len = results.len();
    let per_block = (len * block / bytes).max(1);
    let blocks: Vec<std::ops::Range<usize>> = (0..len)
        .step_by(per_block)
        .map(|start| start..len.min(start + per_block))
        .collect();
    let render = |rows: std::ops::Range<usize>, buf: &mut Vec<u8>| {
        buf.clear();
        // Rendering into a vector cannot fail: `full` leaves it growing.
        let _ = write_result_rows(buf, results, rows, &mut |_| Ok(()));
    };
    std::thread::scope(|scope| {
        // The helper's blocks come back in order, one waiting at most; their
        // buffers go back to it to be filled again.
        let (done, rendered) = mpsc::sync_channel::<Vec<u8>>(1);
        let (give_back, spare) = mpsc::channel::<Vec<u8>>();
        let theirs: Vec<_> = blocks.iter().skip(1).step_by(2).cloned().collect();
        let helper = std::thread::Builder::new().spawn_scoped(scope, move || {
            for rows in theirs {
                let mut buf = spare.try_recv().unwrap_or_default();
                render(rows, &mut buf);
                if done.send(buf).is_err() {
                    return;
                }
            }
        });
        let mut mine = Vec::with_capacity(block + block / 4);
        write_results_header(&mut mine, results);
        out.write_all(&mine)?;
        for (i, rows) in blocks.iter().enumerate() {
            if i % 2 == 0 || helper.is_err() {
                render(rows.clone(), &mut mine);
                out.write_all(&mine)?;
                continue;
            }
            let buf = (rendered.recv())
                .map_err(|_| io::Error::other("the thread rendering the results stopped"))?;
            out.write_all(&buf)?;
            // Once the helper is done, a buffer has nowhere to go.
            let _ = give_back.send(buf);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Sink;
    use crate::detect::{Config, Engine, Mode, TimeRender};

    /// The results of `rows` distinct noargs rows, with quoted cells.
    fn results(rows: usize) -> Results {
        let mut body = b"process_name,process,user,_time\n".to_vec();
        for i in 0..rows {
            let line = format!("RegSvcs.exe,RegSvcs.exe,\"user {i}, \"\"x\"\"\",{i}\n");
            body.extend(line.as_bytes());
        }
        let mut sink = Sink::new(Engine::new(Config::new(Mode::Noargs, TimeRender::Epoch)));
        sink.read(&body).unwrap();
        sink.results()
    }

    #[test]
    fn blocks_rendered_on_two_threads_write_what_one_thread_writes() {
        for rows in [0, 1, 2, 3, 10, 257] {
            let results = results(rows);
            let mut one = Vec::new();
            write_results(&mut one, &results).unwrap();
            assert_eq!(one.len(), crate::body::results_len(&results));
            for block in [1, 7, 64, 1000, 1 << 20] {
                for threads in [1, 2, 3] {
                    let mut many = Vec::new();
                    write_in_blocks(&mut many, &results, threads, block).unwrap();
                    assert!(
                        many == one,
                        "{rows} rows, blocks of {block}, {threads} threads"
                    );
                }
            }
        }
    }

    /// A writer that fails after `left` bytes.
    struct Failing {
        left: usize,
    }

    impl Write for Failing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_stops_the_helper_and_is_returned() {
        let results = results(300);
        for left in [0, 10, 5000] {
            let err = write_in_blocks(&mut Failing { left }, &results, 2, 64).unwrap_err();
            assert_eq!(err.to_string(), "disk full");
        }
    }
}
