master_target "mt_windows" {
  configuration_server    = configuration_server.cs01
  vm                      = "mt-win-01"
  os                      = "windows"
  datastores              = ["vmfs-gold-01"]
  ensure_disk_enable_uuid = true
}

failback_policy "default" {
  name = "failback-policy"
}

locals {
  erp_vms = ["erp-db", "erp-app", "erp-web"]
}

reprotect "erp_db" {
  protected_item = "erp-db-item"
  process_server = process_server.onprem
  master_target  = master_target.mt_windows
  policy         = failback_policy.default
  run_as_account = "vcenter-runas"

  # The database VM stays running until the change window's last step.
  acknowledge "FB128" {
    reason = "erp-db is shut down by the DBA runbook right before apply"
  }
}

reprotect "erp_app" {
  protected_item = "erp-app-item"
  process_server = process_server.onprem
  master_target  = master_target.mt_windows
  policy         = failback_policy.default
}

reprotect "erp_web" {
  protected_item = "erp-web-item"
  process_server = process_server.onprem
  master_target  = master_target.mt_windows
  policy         = failback_policy.default
}

recovery_plan "erp" {
  name           = "erp-plan"
  members        = [reprotect.erp_db, reprotect.erp_app, reprotect.erp_web]
  master_target  = master_target.mt_windows
  process_server = process_server.onprem
  # Members name no datastore of their own: they use the plan's (FB118).
  datastore = "vmfs-gold-01"
}

output "erp_members" {
  value = length(local.erp_vms)
}
