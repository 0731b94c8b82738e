//! `--device auto|cpu|cuda[:N]`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

/// Where the model runs, as the user names it on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The first GPU when this build has CUDA and the machine a GPU, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
}

/// The text given to `--device` is not `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, thiserror::Error)]
#[error("unknown device `{0}`: expected auto, cpu, cuda or cuda:N")]
pub struct BadDevice(String);

impl FromStr for DeviceSpec {
    type Err = BadDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| BadDevice(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => write!(f, "auto"),
            Self::Cpu => write!(f, "cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl DeviceSpec {
    /// Opens the device. A CUDA device in a build without the `cuda` feature is an error that
    /// says how to get one.
    pub fn open(self) -> candle_core::Result<Device> {
        match self {
            Self::Auto => {
                let (spec, why) = self.resolve();
                tracing::info!("--device auto: {spec} ({why})");
                spec.open()
            }
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(candle_core::Error::Msg(
                        "this spanscope was built without CUDA support: \
                         rebuild with `cargo build --release --features cuda`"
                            .into(),
                    ));
                }
                let device = Device::new_cuda(n)?;
                #[cfg(feature = "cuda")]
                if let Device::Cuda(cuda) = &device {
                    // cudarc makes two CUDA events for every buffer it allocates and destroys
                    // them with it: four driver calls per tensor. It only records or waits on
                    // them once its context has made a stream of its own, and candle's device
                    // never does (it uses the calling thread's default stream).
                    // SAFETY: the events were never used, so no ordering between streams
                    // changes; spanscope makes no other stream on this context.
                    unsafe { cuda.disable_event_tracking() };
                }
                Ok(device)
            }
        }
    }
}

impl DeviceSpec {
    /// What `auto` stands for on this machine, and why; other devices stand for themselves.
    pub fn resolve(self) -> (DeviceSpec, &'static str) {
        if self != Self::Auto {
            return (self, "as asked");
        }
        if !candle_core::utils::cuda_is_available() {
            return (Self::Cpu, "this build has no CUDA");
        }
        match Device::new_cuda(0) {
            Ok(_) => (Self::Cuda(0), "the first GPU"),
            Err(_) => (Self::Cpu, "no usable GPU"),
        }
    }

    /// The device a model opened on, as the log and the status line name it.
    pub fn name_of(device: &Device) -> String {
        match device {
            Device::Cpu => "cpu".to_string(),
            Device::Cuda(_) => match device.location() {
                candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
                _ => "cuda".to_string(),
            },
            _ => format!("{:?}", device.location()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("auto".parse::<DeviceSpec>().unwrap(), DeviceSpec::Auto);
        assert_eq!(DeviceSpec::default(), DeviceSpec::Auto);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("CUDA:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
    }

    #[test]
    fn auto_is_the_cpu_without_cuda() {
        if !candle_core::utils::cuda_is_available() {
            assert_eq!(DeviceSpec::Auto.resolve().0, DeviceSpec::Cpu);
            assert!(DeviceSpec::Auto.open().unwrap().is_cpu());
        }
        assert_eq!(DeviceSpec::Cuda(1).resolve().0, DeviceSpec::Cuda(1));
    }
}
