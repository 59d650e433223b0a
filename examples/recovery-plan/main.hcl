# A Windows ERP system of three VMs in one replication group (multi-VM consistency).
# ASR reprotects a replication group only as a whole (FB120), through one master
# target (FB121), so the three reprotects are members of one recovery plan.

failback {
  connectivity = "expressroute"
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

process_server "onprem" {
  configuration_server = configuration_server.cs01
  name                 = "ps-onprem-01"
  location             = "onprem"
}
