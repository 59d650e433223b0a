//! The `vcenter` provider: discovers and changes the on-premises VMware side through
//! the vSphere SOAP API (vim25).
