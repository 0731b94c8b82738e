//! With the `cuda` feature, compiles the fused AdamW kernels (src/train/adamw.cu) to PTX with
//! nvcc, as candle's own kernels are compiled; the CPU build needs nothing.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const KERNELS: &str = "src/train/adamw.cu";

fn main() {
    println!("cargo::rerun-if-changed={KERNELS}");
    println!("cargo::rerun-if-env-changed=CUDA_ROOT");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("adamw.ptx");
    let nvcc = env::var_os("CUDA_ROOT")
        .map(|root| PathBuf::from(root).join("bin").join("nvcc"))
        .filter(|nvcc| nvcc.is_file())
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    // compute_80 PTX runs on Ampere and later (the driver compiles it for the GPU at hand).
    let status = Command::new(&nvcc)
        .args(["-ptx", "-arch=compute_80", "-O3", "-o"])
        .arg(&out)
        .arg(KERNELS)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{} failed on {KERNELS} ({status})", nvcc.display()),
        Err(err) => panic!(
            "cannot run {} for {KERNELS}: {err}; the cuda feature needs the CUDA toolkit \
             (see docs/GPU.md)",
            nvcc.display()
        ),
    }
}
