//! The `asr` provider: discovers and drives an Azure Site Recovery vault through the
//! Azure Resource Manager REST API of Microsoft.RecoveryServices.
