# Thirty VMs from one variable map: each entry becomes an instance of
# reprotect.app, addressed as reprotect.app["app01"] and so on.

variable "vms" {
  description = "The VMs to reprotect: name => guest OS family and target datastore."
  type = map(object({
    os        = string
    datastore = string
  }))
  default = {
    app01 = { os = "linux", datastore = "vmfs-gold-01" }
    app02 = { os = "linux", datastore = "vmfs-silver-01" }
    app03 = { os = "linux", datastore = "vmfs-gold-01" }
    app04 = { os = "linux", datastore = "vmfs-silver-01" }
    app05 = { os = "windows", datastore = "vmfs-gold-01" }
    app06 = { os = "linux", datastore = "vmfs-silver-01" }
    app07 = { os = "linux", datastore = "vmfs-gold-01" }
    app08 = { os = "linux", datastore = "vmfs-silver-01" }
    app09 = { os = "linux", datastore = "vmfs-gold-01" }
    app10 = { os = "windows", datastore = "vmfs-silver-01" }
    app11 = { os = "linux", datastore = "vmfs-gold-01" }
    app12 = { os = "linux", datastore = "vmfs-silver-01" }
    app13 = { os = "linux", datastore = "vmfs-gold-01" }
    app14 = { os = "linux", datastore = "vmfs-silver-01" }
    app15 = { os = "windows", datastore = "vmfs-gold-01" }
    app16 = { os = "linux", datastore = "vmfs-silver-01" }
    app17 = { os = "linux", datastore = "vmfs-gold-01" }
    app18 = { os = "linux", datastore = "vmfs-silver-01" }
    app19 = { os = "linux", datastore = "vmfs-gold-01" }
    app20 = { os = "windows", datastore = "vmfs-silver-01" }
    app21 = { os = "linux", datastore = "vmfs-gold-01" }
    app22 = { os = "linux", datastore = "vmfs-silver-01" }
    app23 = { os = "linux", datastore = "vmfs-gold-01" }
    app24 = { os = "linux", datastore = "vmfs-silver-01" }
    app25 = { os = "windows", datastore = "vmfs-gold-01" }
    app26 = { os = "linux", datastore = "vmfs-silver-01" }
    app27 = { os = "linux", datastore = "vmfs-gold-01" }
    app28 = { os = "linux", datastore = "vmfs-silver-01" }
    app29 = { os = "linux", datastore = "vmfs-gold-01" }
    app30 = { os = "windows", datastore = "vmfs-silver-01" }
  }

  validation {
    condition     = length(var.vms) > 0
    error_message = "List at least one VM to reprotect."
  }
}

variable "vsphere_password" {
  type      = string
  default   = "simulator"
  sensitive = true
}
