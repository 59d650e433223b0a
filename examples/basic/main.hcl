# One Linux VM (web01), failed over to Azure, reprotected back to vCenter through one
# Linux master target and a process server in Azure.

failback {
  parallelism  = 4
  connectivity = "vpn"

  state "local" {
    path = "failback.state.json"
  }
}

variable "vcenter_url" {
  description = "The vCenter SDK URL (the demo and the tests point it at the simulator)."
  type        = string
  default     = "https://vcsa.lab.local/sdk"
}

variable "vcenter_username" {
  description = "The vCenter account failback uses."
  type        = string
  default     = "failback@vsphere.local"
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
  description = "The Azure Resource Manager endpoint (the simulator's in the demo)."
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
  description = "Password of the vCenter account failback uses."
  type        = string
  default     = "simulator"
  sensitive   = true
}

vcenter "onprem" {
  url        = var.vcenter_url
  username   = var.vcenter_username
  password   = var.vsphere_password
  thumbprint = var.vcenter_thumbprint
}

vault "dr" {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  resource_group  = "rg-dr"
  name            = var.vault_name
  endpoint        = var.asr_endpoint
  access_token    = var.asr_token
}

configuration_server "cs01" {
  vault   = vault.dr
  fabric  = "cs01"
  vcenter = vcenter.onprem
}

process_server "azure" {
  configuration_server = configuration_server.cs01
  name                 = "ps-azure-01"
  location             = "azure"
}

master_target "mt_linux" {
  configuration_server    = configuration_server.cs01
  vm                      = "mt-lnx-01"
  os                      = "linux"
  retention_volume        = "/mnt/retention"
  datastores              = ["vmfs-gold-01"]
  ensure_disk_enable_uuid = true
}

reprotect "web01" {
  protected_item   = "web01-item"
  vm               = "web01"
  process_server   = process_server.azure
  master_target    = master_target.mt_linux
  datastore        = "vmfs-gold-01"
  retention_volume = master_target.mt_linux.retention_volume
}

output "web01_master_target" {
  description = "The master target that receives web01's reverse replication."
  value       = master_target.mt_linux.vm
}
