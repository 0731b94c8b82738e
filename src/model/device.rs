//! `--device cpu|cuda[:N]`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

/// Where the model runs, as the user names it on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The CPU.
    #[default]
    Cpu,
    /// An NVIDIA GPU by ordinal.
    Cuda(usize),
}

/// The text given to `--device` is not `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, thiserror::Error)]
#[error("unknown device `{0}`: expected cpu, cuda or cuda:N")]
pub struct BadDevice(String);

impl FromStr for DeviceSpec {
    type Err = BadDevice;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("cuda".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(0));
        assert_eq!("CUDA:3".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(3));
        assert!("cuda:x".parse::<DeviceSpec>().is_err());
        assert!("tpu".parse::<DeviceSpec>().is_err());
        assert_eq!(DeviceSpec::Cuda(1).to_string(), "cuda:1");
    }
}
