//! Local stand-ins for failback's tests, benchmarks and demo.
//!
//! [`estate`] is the one JSON world both simulators serve (`ESTATE.md`): the vCenter
//! half goes to the harness in `sim/vcsim` (VMware's own simulator), the vault half to
//! the ASR simulator in [`asr`]. [`vcsim`] builds and launches that harness;
//! [`azurite`] launches Azurite, the Azure Storage emulator the `azurerm` state
//! backend is tested against.

// The VMware fabric shape is one large `json!` literal.
#![recursion_limit = "256"]

pub mod asr;
pub mod azurite;
pub mod estate;
pub mod vcsim;
