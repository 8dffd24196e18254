//! A plain "replay + random mutation" fuzz driver for the targets of `ctscreen_fuzz`,
//! for machines without cargo-fuzz or a nightly toolchain. It builds on stable:
//!
//!     cargo run --no-default-features --bin mutate -- [options] [TARGET ...]
//!
//! For each target it first replays every file of `corpus/<target>/`, then runs
//! `--runs` mutated inputs: a seed file picked at random, changed by one to eight
//! mutations (bit flips, random and "interesting" bytes and integers, inserted,
//! deleted, duplicated or spliced chunks, truncation, and for text formats numbers
//! replaced by extreme ones), all from a seeded generator, so a run is reproducible.
//!
//! Failures are written to `artifacts/<target>/` and counted:
//! * a panic (`crash-<hash>`), after which the run goes on;
//! * an input that runs longer than `--timeout` seconds (`timeout-<hash>`): a watchdog
//!   writes it and ends the process with status 70;
//! * one allocation above `--malloc-limit-mb`, or more than `--rss-limit-mb` live
//!   (`oom-<hash>`): the counting allocator writes it and ends the process with 71.
//!
//! The library's own guard runs under `CTSCREEN_MEMORY_LIMIT=256M` (unless set), well
//! below the malloc limit, so an allocation that reaches the limit is one the library
//! failed to refuse.
//!
//! Options: `--runs N` (default 10000), `--seed S` (default 1), `--timeout SECS`
//! (default 10), `--malloc-limit-mb` (1024), `--rss-limit-mb` (4096), `--corpus DIR`
//! (`corpus`), `--artifacts DIR` (`artifacts`), `--replay FILE...` (run just these
//! files through the one named target). Targets default to all of them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

// ------------------------------------------------------------------ allocator limits

static MALLOC_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static RSS_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static TRIPPED: AtomicBool = AtomicBool::new(false);

/// `System`, counting live bytes and refusing (by ending the process, after saving the
/// input) requests above the limits.
struct Limited;

unsafe impl GlobalAlloc for Limited {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check_alloc(layout.size());
        let p = System.alloc(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check_alloc(layout.size());
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            check_alloc(new_size);
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Limited = Limited;

fn check_alloc(size: usize) {
    let single = size > MALLOC_LIMIT.load(Ordering::Relaxed);
    let live =
        LIVE.load(Ordering::Relaxed).saturating_add(size) > RSS_LIMIT.load(Ordering::Relaxed);
    if (single || live) && !TRIPPED.swap(true, Ordering::SeqCst) {
        // Allocating here re-enters this allocator; TRIPPED keeps that from recursing.
        let why = if single {
            format!("one allocation of {size} bytes")
        } else {
            format!("{} live bytes", LIVE.load(Ordering::Relaxed) + size)
        };
        save_current("oom", &why);
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            eprintln!("{}", std::backtrace::Backtrace::force_capture());
        }
        std::process::exit(71);
    }
}

// ------------------------------------------------------------------ current input

/// The input being executed and its target, for the watchdog and the allocator.
struct Current {
    target: &'static str,
    input: Vec<u8>,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
static STARTED_MS: AtomicU64 = AtomicU64::new(0);
static ARTIFACTS: OnceLock<PathBuf> = OnceLock::new();

fn epoch() -> &'static Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    E.get_or_init(Instant::now)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn save(target: &str, kind: &str, input: &[u8]) -> PathBuf {
    let dir = ARTIFACTS
        .get()
        .cloned()
        .unwrap_or_else(|| PathBuf::from("artifacts"))
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let p = dir.join(format!("{kind}-{:016x}", hash(input)));
    let _ = std::fs::write(&p, input);
    p
}

fn save_current(kind: &str, why: &str) {
    // try_lock: the allocator may trip while the driver holds the lock.
    if let Ok(guard) = CURRENT.try_lock() {
        if let Some(c) = guard.as_ref() {
            let p = save(c.target, kind, &c.input);
            eprintln!(
                "\n{kind} in target {}: {why}; input saved to {}",
                c.target,
                p.display()
            );
            return;
        }
    }
    eprintln!("\n{kind}: {why} (input not recorded)");
}

// ------------------------------------------------------------------ mutations

const INTERESTING_8: [u8; 9] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b'-', b' '];
const INTERESTING_32: [i64; 14] = [
    0,
    1,
    -1,
    2,
    255,
    256,
    32767,
    -32768,
    65535,
    65536,
    2147483647,
    -2147483648,
    4294967295,
    1 << 40,
];
const INTERESTING_TEXT: [&str; 16] = [
    "0",
    "-1",
    "1",
    "2147483647",
    "-2147483648",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
    "1e308",
    "-1e308",
    "1e-320",
    "nan",
    "inf",
    "-0",
    "0.0000001",
    "",
];

fn mutate(rng: &mut Pcg64, seeds: &[Vec<u8>], text: bool, max_len: usize) -> Vec<u8> {
    let mut m = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=8) {
        if m.is_empty() {
            m.push(rng.random());
            continue;
        }
        let n = m.len();
        match rng.random_range(0..12) {
            0 | 1 => {
                let i = rng.random_range(0..n);
                m[i] ^= 1 << rng.random_range(0..8);
            }
            2 => {
                let i = rng.random_range(0..n);
                m[i] = rng.random();
            }
            3 => {
                let i = rng.random_range(0..n);
                m[i] = INTERESTING_8[rng.random_range(0..INTERESTING_8.len())];
            }
            4 => {
                // An interesting integer, 2, 4 or 8 bytes wide, either byte order.
                let v = INTERESTING_32[rng.random_range(0..INTERESTING_32.len())];
                let width = [2usize, 4, 8][rng.random_range(0..3)];
                let mut b = v.to_le_bytes()[..width].to_vec();
                if rng.random() {
                    b.reverse();
                }
                let i = rng.random_range(0..n);
                for (k, x) in b.into_iter().enumerate() {
                    if i + k < m.len() {
                        m[i + k] = x;
                    }
                }
            }
            5 => {
                let i = rng.random_range(0..=n);
                m.truncate(i);
            }
            6 => {
                let i = rng.random_range(0..n);
                let len = rng.random_range(1..=16.min(n - i));
                m.drain(i..i + len);
            }
            7 => {
                let i = rng.random_range(0..=n);
                let len = rng.random_range(1..=16);
                let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                m.splice(i..i, bytes);
            }
            8 => {
                // Duplicate a chunk somewhere else.
                let i = rng.random_range(0..n);
                let len = rng.random_range(1..=64.min(n - i));
                let chunk = m[i..i + len].to_vec();
                let at = rng.random_range(0..=m.len());
                m.splice(at..at, chunk);
            }
            9 => {
                // Splice with another seed: our head, its tail.
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let cut = rng.random_range(0..=n);
                    let from = rng.random_range(0..other.len());
                    m.truncate(cut);
                    m.extend_from_slice(&other[from..]);
                }
            }
            _ if text => replace_number(rng, &mut m),
            _ => {
                let i = rng.random_range(0..n);
                m[i] = m[i].wrapping_add(rng.random_range(1..=35)).wrapping_sub(18);
            }
        }
    }
    m.truncate(max_len);
    m
}

/// Replaces one run of number characters (digits, sign, dot, exponent) of a text input
/// by an extreme value.
fn replace_number(rng: &mut Pcg64, m: &mut Vec<u8>) {
    let starts: Vec<usize> = (0..m.len())
        .filter(|&i| m[i].is_ascii_digit() && (i == 0 || !m[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return;
    }
    let s = starts[rng.random_range(0..starts.len())];
    let mut e = s;
    while e < m.len() && (m[e].is_ascii_digit() || matches!(m[e], b'.' | b'e' | b'E' | b'-' | b'+'))
    {
        e += 1;
    }
    let with = INTERESTING_TEXT[rng.random_range(0..INTERESTING_TEXT.len())];
    m.splice(s..e, with.bytes());
}

// ------------------------------------------------------------------ driver

struct Options {
    runs: u64,
    seed: u64,
    timeout: Duration,
    malloc_limit_mb: usize,
    rss_limit_mb: usize,
    corpus: PathBuf,
    artifacts: PathBuf,
    replay: Vec<PathBuf>,
    targets: Vec<String>,
}

fn parse_args() -> Options {
    let mut o = Options {
        runs: 10_000,
        seed: 1,
        timeout: Duration::from_secs(10),
        malloc_limit_mb: 1024,
        rss_limit_mb: 4096,
        corpus: PathBuf::from("corpus"),
        artifacts: PathBuf::from("artifacts"),
        replay: Vec::new(),
        targets: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    let mut replaying = false;
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--runs" => o.runs = value("--runs").parse().expect("--runs N"),
            "--seed" => o.seed = value("--seed").parse().expect("--seed S"),
            "--timeout" => {
                o.timeout =
                    Duration::from_secs_f64(value("--timeout").parse().expect("--timeout SECS"))
            }
            "--malloc-limit-mb" => {
                o.malloc_limit_mb = value("--malloc-limit-mb").parse().expect("MB")
            }
            "--rss-limit-mb" => o.rss_limit_mb = value("--rss-limit-mb").parse().expect("MB"),
            "--corpus" => o.corpus = PathBuf::from(value("--corpus")),
            "--artifacts" => o.artifacts = PathBuf::from(value("--artifacts")),
            "--replay" => replaying = true,
            "-h" | "--help" => {
                println!("usage: mutate [--runs N] [--seed S] [--timeout SECS] [--malloc-limit-mb MB] [--rss-limit-mb MB] [--corpus DIR] [--artifacts DIR] [TARGET...] [--replay FILE...]");
                std::process::exit(0);
            }
            _ if replaying => o.replay.push(PathBuf::from(a)),
            _ => o.targets.push(a),
        }
    }
    o
}

fn seeds_of(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Runs one input: `None` if it panicked, else whether the target accepted it.
fn execute(target: &'static str, f: ctscreen_fuzz::Target, input: &[u8]) -> Option<bool> {
    *CURRENT.lock().expect("current input") = Some(Current {
        target,
        input: input.to_vec(),
    });
    STARTED_MS.store(epoch().elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(|| f(input)).ok();
    STARTED_MS.store(0, Ordering::SeqCst);
    if result.is_none() {
        let p = save(target, "crash", input);
        eprintln!("crash in target {target}: input saved to {}", p.display());
    }
    result
}

fn main() {
    let o = parse_args();
    ARTIFACTS.set(o.artifacts.clone()).expect("set once");
    let _ = ctscreen_fuzz::scratch_dir(); // sets CTSCREEN_MEMORY_LIMIT before any work
    MALLOC_LIMIT.store(o.malloc_limit_mb << 20, Ordering::Relaxed);
    RSS_LIMIT.store(o.rss_limit_mb << 20, Ordering::Relaxed);
    // Panics are counted and saved; keep their messages short.
    // (RUST_BACKTRACE=1 adds the backtrace.)
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {info}\n{}", std::backtrace::Backtrace::capture());
    }));
    let timeout_ms = o.timeout.as_millis() as u64;
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        let started = STARTED_MS.load(Ordering::SeqCst);
        if started != 0 && epoch().elapsed().as_millis() as u64 > started + timeout_ms {
            save_current("timeout", &format!("ran over {timeout_ms} ms"));
            std::process::exit(70);
        }
    });

    let selected: Vec<(&'static str, ctscreen_fuzz::Target)> = ctscreen_fuzz::TARGETS
        .iter()
        .copied()
        .filter(|(n, _)| o.targets.is_empty() || o.targets.iter().any(|t| t == n))
        .collect();
    if selected.is_empty() {
        eprintln!(
            "unknown target; known: {:?}",
            ctscreen_fuzz::TARGETS
                .iter()
                .map(|t| t.0)
                .collect::<Vec<_>>()
        );
        std::process::exit(2);
    }

    if !o.replay.is_empty() {
        let mut failed = 0;
        for (name, f) in &selected {
            for p in &o.replay {
                let bytes = std::fs::read(p).expect("replay file");
                let r = execute(name, *f, &bytes);
                let what = match r {
                    Some(true) => "accepted",
                    Some(false) => "rejected (error)",
                    None => "PANIC",
                };
                println!("{name} {}: {what}", p.display());
                failed += usize::from(r.is_none());
            }
        }
        ctscreen_fuzz::remove_scratch_dir();
        std::process::exit(i32::from(failed > 0));
    }

    let mut total_crashes = 0;
    println!("target          seeds   execs accepted  crashes  seconds  execs/s");
    for (name, f) in selected {
        let seeds = seeds_of(&o.corpus.join(name));
        if seeds.is_empty() {
            eprintln!(
                "no seeds in {} (run make_corpus.sh first)",
                o.corpus.join(name).display()
            );
            std::process::exit(2);
        }
        let text = matches!(name, "mha" | "geometry_json" | "rtk_xml");
        let max_len = seeds.iter().map(Vec::len).max().unwrap_or(0) * 2 + 64;
        let mut rng = Pcg64::seed_from_u64(o.seed ^ ctscreen_fuzz_name_hash(name));
        let t0 = Instant::now();
        let (mut crashes, mut accepted, mut execs) = (0u64, 0u64, 0u64);
        let mut count = |r: Option<bool>| {
            execs += 1;
            match r {
                None => crashes += 1,
                Some(true) => accepted += 1,
                Some(false) => {}
            }
        };
        for s in &seeds {
            count(execute(name, f, s));
        }
        for _ in 0..o.runs {
            let input = mutate(&mut rng, &seeds, text, max_len);
            count(execute(name, f, &input));
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{name:<14} {:>6} {execs:>7} {accepted:>8} {crashes:>8} {secs:>8.1} {:>8.0}",
            seeds.len(),
            execs as f64 / secs
        );
        total_crashes += crashes;
    }
    ctscreen_fuzz::remove_scratch_dir();
    if total_crashes > 0 {
        eprintln!(
            "{total_crashes} crashing input(s) saved under {}",
            o.artifacts.display()
        );
        std::process::exit(1);
    }
}

/// A fixed per-target salt for the generator (stable across runs and platforms).
fn ctscreen_fuzz_name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
