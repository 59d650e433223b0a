vcenter "onprem" {
  url = "https://vcsa.lab.local/sdk"
}

vault "dr" {
  subscription_id = "00000000-0000-0000-0000-000000000001"
  resource_group  = "rg-dr"
  name            = "rsv-dr-weu"
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
  configuration_server = configuration_server.cs01
  vm                   = "mt-lnx-01"
  os                   = "linux"
}

reprotect "web01" {
  protected_item = "web01-item"
  process_server = process_server.azure
  master_target  = master_target.mt_linux
  datastore      = "vmfs-gold-01"
}

output "mt_vm" {
  value = reprotect.web01.master_target.vm
}
