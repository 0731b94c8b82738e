//! The `spanscope` command line.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    fix_cpu_thread_count();
    keep_large_allocations();
    let args = cli::Cli::parse();
    cli::logging::init(args.log_file.as_deref());
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("spanscope: {}", message(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes as `{:#}` writes them, less the backtraces candle attaches to its
/// errors when `RUST_BACKTRACE` is set: the user gets the reason, the log keeps the rest.
fn message(err: &anyhow::Error) -> String {
    let causes: Vec<String> = err
        .chain()
        .map(|cause| match cause.downcast_ref::<candle_core::Error>() {
            Some(candle_core::Error::WithBacktrace { inner, .. }) => inner.to_string(),
            _ => cause.to_string(),
        })
        .collect();
    causes.join(": ")
}

/// Decides once how many threads candle's CPU kernels use. Unless `RAYON_NUM_THREADS` is set,
/// candle 0.11 counts the physical cores again on every matrix product and layer norm, and on
/// Linux that reads /proc/cpuinfo each time, dozens of times a sentence, and the file grows
/// with the core count (docs/BENCHMARKS.md, "Figures that were code comments"). The count
/// candle would find is set here, before any thread starts, so the number of threads stays
/// what it would have been.
fn fix_cpu_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
}

/// Lets glibc's heap keep freed large blocks. A forward pass on the CPU allocates activations
/// of a few MiB to tens of MiB; above glibc's mmap threshold each is a fresh mapping whose
/// pages fault in and are zeroed on every pass, which was most of the system time of CPU
/// prediction and training (docs/BENCHMARKS.md). The packed pass's word-piece budget bounds
/// what the heap then holds on to.
fn keep_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any other thread starts.
    unsafe {
        // 32 MiB is the largest threshold glibc accepts on 64-bit systems.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}
