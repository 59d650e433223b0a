failback {
  parallelism = 10
  # How Azure reaches on-premises: with only a site-to-site VPN the process server
  # belongs in Azure (FB103), as process_server.azure below is.
  connectivity = "vpn"
}

locals {
  fabric = "cs01"
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
  fabric  = local.fabric
  vcenter = vcenter.onprem
}

process_server "azure" {
  configuration_server = configuration_server.cs01
  name                 = "ps-azure-01"
  location             = "azure"
}

master_target "mt_linux" {
  configuration_server = configuration_server.cs01
  vm                   = "mt-lnx-01"
  os                   = "linux"
  datastores           = ["vmfs-gold-01", "vmfs-silver-01"]
}

master_target "mt_windows" {
  configuration_server = configuration_server.cs01
  vm                   = "mt-win-01"
  os                   = "windows"
  datastores           = ["vmfs-gold-01", "vmfs-silver-01"]
}

reprotect "app" {
  for_each = var.vms

  protected_item = "${each.key}-item"
  vm             = each.key
  process_server = process_server.azure
  # A Linux VM needs a Linux master target, a Windows VM a Windows one (FB105).
  master_target = each.value.os == "windows" ? master_target.mt_windows : master_target.mt_linux
  datastore     = each.value.datastore
}

output "reprotected_vms" {
  value = length(var.vms)
}
