//! The helper threads of `threads=`: jobs run side by side, and a reply's rows rendered on a helper while this thread writes them.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::OnceLock;

use crate::body::{write_result_rows, write_results, write_results_header};
use crate::detect::Results;

/// Runs every job, the first on this thread and each other on a helper
/// thread (on this one when no thread can be started), and returns their
/// results in order. A job's panic is re-raised here.
pub(crate) fn run_all<T: Send, F: FnOnce() -> T + Send>(jobs: Vec<F>) -> Vec<T> {
    let mut jobs = jobs.into_iter();
    let Some(first) = jobs.next() else {
        return Vec::new();
    };
    let (first, rest) = run_beside(jobs.collect(), first);
    std::iter::once(first).chain(rest).collect()
}

/// The most helper threads one job list is given: one fewer than the most
/// `threads=` allows.
const MOST_HELPERS: usize = crate::options::MAX_THREADS - 1;

/// The process's helper threads for `helpers` jobs at a time, started the
/// first time they are asked for and kept, so every later body, sort and
/// reply finds them waiting; `None` when no thread can be started. A search
/// asks for its `threads=` less one, and for one to render its reply (the
/// same pool at the default of 2); tests mix counts and get a pool for each.
fn pool(helpers: usize) -> Option<&'static rayon_core::ThreadPool> {
    static POOLS: [OnceLock<Option<rayon_core::ThreadPool>>; MOST_HELPERS] =
        [const { OnceLock::new() }; MOST_HELPERS];
    let slot = POOLS.get(helpers.checked_sub(1)?)?;
    let build = || {
        let pool = rayon_core::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("regsvcsdetect-helper-{i}"));
        pool.build().ok()
    };
    slot.get_or_init(build).as_ref()
}

/// Runs every job on a helper thread of its own while `here` runs on this
/// thread; returns what `here` returned and the jobs' results in order.
/// When no helper can be had, the jobs run here, after `here`. A panic is
/// re-raised here once every job has ended.
pub(crate) fn run_beside<T: Send, F: FnOnce() -> T + Send, H>(
    jobs: Vec<F>,
    here: impl FnOnce() -> H,
) -> (H, Vec<T>) {
    let Some(pool) = pool(jobs.len()) else {
        let mine = here();
        return (mine, jobs.into_iter().map(|job| job()).collect());
    };
    let mut done: Vec<Option<T>> = jobs.iter().map(|_| None).collect();
    let mine = pool.in_place_scope(|scope| {
        for (job, out) in jobs.into_iter().zip(&mut done) {
            scope.spawn(move |_| *out = Some(job()));
        }
        here()
    });
    let done = done
        .into_iter()
        .map(|out| out.expect("a scope ends after its jobs"));
    (mine, done.collect())
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
/// blocks of about [`BLOCK`] bytes of rows while this thread writes them
/// out in order. Each thread takes the next block nobody has taken; this
/// one renders only while the block it is to write next is not ready, so
/// the kernel's copy of the output, which only this thread makes, is never
/// waiting for rendering this thread could have left to the helper. One
/// thread, few rows, or no thread to be had: [`write_results`] itself.
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

/// The most blocks rendered and not yet written that this thread holds
/// before it waits for the helper's block instead of rendering another.
const HELD: usize = 3;

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
    let next = AtomicUsize::new(0);
    let take = || Some(next.fetch_add(1, Ordering::Relaxed)).filter(|&i| i < blocks.len());
    let render = |i: usize, buf: &mut Vec<u8>| {
        buf.clear();
        // Rendering into a vector cannot fail: `full` leaves it growing.
        let _ = write_result_rows(buf, results, blocks[i].clone(), &mut |_| Ok(()));
    };
    // The helper's blocks, numbered; their buffers go back to it once
    // written, and this thread's to this thread.
    let (done, rendered) = mpsc::sync_channel::<(usize, Vec<u8>)>(HELD);
    let (give_back, spare) = mpsc::channel::<Vec<u8>>();
    // Without a helper, this thread takes every block.
    let helper = move || {
        while let Some(i) = take() {
            let mut buf = spare.try_recv().unwrap_or_default();
            render(i, &mut buf);
            if done.send((i, buf)).is_err() {
                return;
            }
        }
    };
    let count = blocks.len();
    let write = move || -> io::Result<()> {
        let mut header = Vec::new();
        write_results_header(&mut header, results);
        out.write_all(&header)?;
        // Rendered blocks not yet written: number, rows, whether rendered here.
        let mut ready: Vec<(usize, Vec<u8>, bool)> = Vec::with_capacity(2 * HELD);
        let mut mine: Vec<Vec<u8>> = Vec::new();
        for want in 0..count {
            let block = loop {
                ready.extend(rendered.try_iter().map(|(i, buf)| (i, buf, false)));
                if let Some(at) = ready.iter().position(|(i, _, _)| *i == want) {
                    break ready.swap_remove(at);
                }
                match (ready.len() < HELD).then(take).flatten() {
                    Some(i) => {
                        let mut buf = mine.pop().unwrap_or_default();
                        render(i, &mut buf);
                        ready.push((i, buf, true));
                    }
                    // Taken by the helper: wait for it.
                    None => {
                        let (i, buf) = rendered.recv().map_err(|_| {
                            io::Error::other("the thread rendering the results stopped")
                        })?;
                        ready.push((i, buf, false));
                    }
                }
            };
            let (_, buf, here) = block;
            out.write_all(&buf)?;
            // Once the helper is done, its buffers stay here.
            if here {
                mine.push(buf);
            } else if let Err(mpsc::SendError(buf)) = give_back.send(buf) {
                mine.push(buf);
            }
        }
        Ok(())
    };
    // Returning drops this thread's ends of the channels, so a helper
    // still rendering stops at its next block.
    run_beside(vec![helper], write).0
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
    fn helpers_are_started_once_and_kept() {
        let here = std::thread::current().id();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let job = || std::thread::current().id();
            let (mine, theirs) = run_beside(vec![job; 3], job);
            assert_eq!(mine, here);
            seen.extend(theirs);
        }
        // Three helpers, whichever of them ran each job; never this thread.
        assert!(seen.len() <= 3, "{} threads ran the jobs", seen.len());
        assert!(!seen.contains(&here));
        let results = run_all((0..5).map(|i| move || i * 10).collect());
        assert_eq!(results, [0, 10, 20, 30, 40]);
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
