//! Documents and their files: reading, writing, validating, converting between formats and
//! word pieces. One test binary per area (docs/TESTING.md).

mod files;
mod formats_losses;
mod formats_real;
mod formats_roundtrip;
#[path = "../interop/mod.rs"]
mod interop;
mod roundtrip;
mod shared_datasets;
mod wordpiece;
