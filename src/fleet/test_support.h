// Test support for src/fleet: a real etcd (/usr/bin/etcd, Debian's
// etcd-server) run as a child process on free loopback ports with its data
// in a temporary directory, and loopback ports nobody listens on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "fleet/etcd_client.h"

namespace pgthaw::fleet::testing {

class EtcdProcess {
 public:
  // Starts etcd and waits until it answers a range request (it has a
  // leader). Retries with other ports if one was taken meanwhile.
  static Result<std::unique_ptr<EtcdProcess>> Start();
  // Kills etcd (SIGKILL, a paused one too) and removes its data.
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  EtcdEndpoint endpoint() const { return {"127.0.0.1", client_port_}; }
  // SIGSTOP / SIGCONT: etcd keeps its sockets but answers nothing.
  void Pause();
  void Resume();

 private:
  EtcdProcess() = default;
  Status Launch();
  Status WaitReady();

  pid_t pid_ = -1;
  uint16_t client_port_ = 0;
  uint16_t peer_port_ = 0;
  std::string data_dir_;
};

// A loopback TCP port that was free a moment ago (bound to 0, then closed).
uint16_t FreeLoopbackPort();

// A client of `endpoints` with short timeouts, as tests want.
std::shared_ptr<EtcdClient> MakeClient(std::vector<EtcdEndpoint> endpoints);

}  // namespace pgthaw::fleet::testing
