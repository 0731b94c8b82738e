//! `--device`, `--tf32` and `--no-cuda-graphs`: taken by the commands that run a model, so
//! that the others' `--help` does not list them.

use spanscope::model::device::DeviceSpec;

/// Where and how a model runs.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
#[command(next_help_heading = "Device")]
pub struct DeviceArgs {
    /// Where the model runs: auto (the first GPU in a CUDA build on a machine with one,
    /// else the CPU), cpu, cuda or cuda:N [default: auto].
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<DeviceSpec>,

    /// On the GPU, run f32 matrix products on TF32 tensor cores: faster for large encoders,
    /// with about three significant digits fewer in each product (as PyTorch's
    /// `allow_tf32`; off by default, and no effect on the CPU).
    #[arg(long)]
    pub tf32: bool,

    /// On the GPU, run every encoder pass op by op instead of replaying it as a CUDA graph
    /// (graphs are recorded for each batch shape seen twice; the results are the same).
    #[arg(long)]
    pub no_cuda_graphs: bool,
}

impl DeviceArgs {
    /// These flags, with those given before the command name (`spanscope --device cuda
    /// predict`, the old spelling) where the command's own leave a choice open.
    pub fn or(self, before: DeviceArgs) -> DeviceArgs {
        DeviceArgs {
            device: self.device.or(before.device),
            tf32: self.tf32 || before.tf32,
            no_cuda_graphs: self.no_cuda_graphs || before.no_cuda_graphs,
        }
    }

    /// Sets TF32 and CUDA graphs for the process and gives the device to open.
    pub fn apply(self) -> DeviceSpec {
        candle_core::cuda::set_gemm_reduced_precision_f32(self.tf32);
        spanscope::model::graphs::set_enabled(!self.no_cuda_graphs);
        self.device.unwrap_or_default()
    }
}
