master_target "mt_linux" {
  configuration_server = configuration_server.cs01
  vm                   = "mt-lnx-02"
  os                   = "linux"
}
