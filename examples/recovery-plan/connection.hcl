# How failback reaches vCenter and the vault. The defaults are the real-world values;
# the demo and the end-to-end tests point them at the simulators (FAILBACK_VAR_*).

variable "vcenter_url" {
  description = "The vCenter SDK URL."
  type        = string
  default     = "https://vcsa.lab.local/sdk"
}

variable "vcenter_username" {
  description = "The vCenter account failback uses (null: VSPHERE_USER)."
  type        = string
  default     = null
}

variable "vcenter_thumbprint" {
  description = "The pinned SHA-256 thumbprint of vCenter's certificate (null: the system's trust store)."
  type        = string
  default     = null
}

variable "vault_name" {
  description = "The Recovery Services vault's name."
  type        = string
  default     = "rsv-dr-weu"
}

variable "asr_endpoint" {
  description = "The Azure Resource Manager endpoint."
  type        = string
  default     = "https://management.azure.com"
}

variable "asr_token" {
  description = "A static bearer token (the simulator's); null signs in through Azure identity."
  type        = string
  default     = null
  sensitive   = true
}

variable "vsphere_password" {
  description = "The vCenter account's password (null: VSPHERE_PASSWORD)."
  type        = string
  default     = null
  sensitive   = true
}
