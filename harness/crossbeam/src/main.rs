//! crossbeam ArrayQueue baseline for ttlog-bench: the queue the Rust original used.
//!
//! Same protocol as the C queues in harness/: records of 56 bytes (a ttlog record
//! without its ring sequence word), a bounded queue (push on a full queue fails: the
//! drop policy), P producer and C consumer threads that spin on their operation; after
//! a warm-up the successful pushes and pops of a measured window are counted.
//!
//! usage: ttlog-crossbeam-bench pc P C CAPACITY WARMUP_MS DURATION_MS
//!        ttlog-crossbeam-bench pair CAPACITY WARMUP_MS DURATION_MS   (one thread: push, pop)
//! prints one line: ops=N pushes=N pops=N elapsed_ns=N

use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

type Record = [u64; 7];

#[repr(align(64))]
struct Counter(AtomicU64);

fn arg(args: &[String], i: usize) -> u64 {
    args.get(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            eprintln!("usage: ttlog-crossbeam-bench pc P C CAPACITY WARMUP_MS DURATION_MS | pair CAPACITY WARMUP_MS DURATION_MS");
            std::process::exit(2)
        })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let (p, c, cap, warm, dur) = match mode {
        "pc" => (arg(&args, 2), arg(&args, 3), arg(&args, 4), arg(&args, 5), arg(&args, 6)),
        "pair" => (1, 0, arg(&args, 2), arg(&args, 3), arg(&args, 4)),
        _ => {
            arg(&args, 99);
            unreachable!()
        }
    };
    let q = Arc::new(ArrayQueue::<Record>::new(cap as usize));
    let stop = Arc::new(AtomicBool::new(false));
    let nthreads = (p + c) as usize;
    let counters: Arc<Vec<Counter>> =
        Arc::new((0..nthreads).map(|_| Counter(AtomicU64::new(0))).collect());
    let barrier = Arc::new(Barrier::new(nthreads + 1));
    let mut handles = Vec::new();
    for t in 0..nthreads {
        let (q, stop, counters, barrier) = (q.clone(), stop.clone(), counters.clone(), barrier.clone());
        let producer = (t as u64) < p;
        let pair = mode == "pair";
        handles.push(std::thread::spawn(move || {
            let mut rec: Record = [t as u64; 7];
            let mut n: u64 = 0;
            barrier.wait();
            while !stop.load(Ordering::Relaxed) {
                if pair {
                    rec[0] = n;
                    if q.push(rec).is_ok() {
                        n += 1;
                    }
                    if let Some(r) = q.pop() {
                        std::hint::black_box(r);
                        n += 1;
                    }
                } else if producer {
                    rec[0] = n;
                    if q.push(rec).is_ok() {
                        n += 1;
                    }
                } else if let Some(r) = q.pop() {
                    std::hint::black_box(r);
                    n += 1;
                }
                // the owner is the only writer: a plain store publishes the count
                counters[t].0.store(n, Ordering::Relaxed);
            }
        }));
    }
    barrier.wait();
    std::thread::sleep(Duration::from_millis(warm));
    let sum = |cs: &Vec<Counter>, from: usize, to: usize| -> u64 {
        cs[from..to].iter().map(|x| x.0.load(Ordering::Relaxed)).sum()
    };
    let t0 = Instant::now();
    let (p0, c0) = (sum(&counters, 0, p as usize), sum(&counters, p as usize, nthreads));
    std::thread::sleep(Duration::from_millis(dur));
    let (p1, c1) = (sum(&counters, 0, p as usize), sum(&counters, p as usize, nthreads));
    let el = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let (pushes, pops) = if mode == "pair" { ((p1 - p0) / 2, (p1 - p0) - (p1 - p0) / 2) } else { (p1 - p0, c1 - c0) };
    println!("ops={} pushes={} pops={} elapsed_ns={}", pushes + pops, pushes, pops, el.as_nanos());
}
