//! With the `cuda` feature, compiles spanscope's own kernels (the fused AdamW of
//! src/train/adamw.cu, the fused training ops of src/model/fused/fused.cu) to PTX with nvcc, as
//! candle's own kernels are compiled; the CPU build needs nothing.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const KERNELS: [(&str, &str); 2] =
    [("src/train/adamw.cu", "adamw.ptx"), ("src/model/fused/fused.cu", "fused.ptx")];

fn main() {
    for (source, _) in KERNELS {
        println!("cargo::rerun-if-changed={source}");
    }
    println!("cargo::rerun-if-env-changed=CUDA_ROOT");
    if env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let nvcc = env::var_os("CUDA_ROOT")
        .map(|root| PathBuf::from(root).join("bin").join("nvcc"))
        .filter(|nvcc| nvcc.is_file())
        .unwrap_or_else(|| PathBuf::from("nvcc"));
    for (source, ptx) in KERNELS {
        compile(&nvcc, source, &out_dir.join(ptx));
    }
}

fn compile(nvcc: &Path, source: &str, out: &Path) {
    // compute_80 PTX runs on Ampere and later (the driver compiles it for the GPU at hand).
    let status = Command::new(nvcc)
        .args(["-ptx", "-arch=compute_80", "-O3", "-o"])
        .arg(out)
        .arg(source)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => panic!("{} failed on {source} ({status})", nvcc.display()),
        Err(err) => panic!(
            "cannot run {} for {source}: {err}; the cuda feature needs the CUDA toolkit \
             (see docs/GPU.md)",
            nvcc.display()
        ),
    }
}
