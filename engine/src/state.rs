//! State: what was applied, per address, with lineage and serial, and the backends
//! that store it. Never holds a secret.
