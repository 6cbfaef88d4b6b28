#include "fleet/test_support.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

namespace pgthaw::fleet::testing {
namespace {

constexpr const char* kEtcdBinary = "/usr/bin/etcd";
constexpr auto kReadyTimeout = std::chrono::seconds(30);

}  // namespace

uint16_t FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  ::close(fd);
  return port;
}

std::shared_ptr<EtcdClient> MakeClient(std::vector<EtcdEndpoint> endpoints) {
  EtcdClient::Options options;
  options.endpoints = std::move(endpoints);
  options.connect_timeout = std::chrono::milliseconds(500);
  options.request_timeout = std::chrono::milliseconds(1500);
  return std::make_shared<EtcdClient>(std::move(options));
}

Result<std::unique_ptr<EtcdProcess>> EtcdProcess::Start() {
  if (::access(kEtcdBinary, X_OK) != 0) {
    return Status::NotFound(std::string(kEtcdBinary) +
                            " missing: install etcd-server (scripts/install-deps.sh)");
  }
  Status last = Status::Internal("etcd never started");
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<EtcdProcess> etcd(new EtcdProcess());
    last = etcd->Launch();
    if (last.ok()) last = etcd->WaitReady();
    if (last.ok()) return etcd;
  }
  return last;
}

Status EtcdProcess::Launch() {
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "pgthaw-fleet-etcd-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) return Status::FromErrno("mkdtemp", errno);
  data_dir_ = dir_template;
  client_port_ = FreeLoopbackPort();
  peer_port_ = FreeLoopbackPort();
  if (client_port_ == 0 || peer_port_ == 0 || client_port_ == peer_port_) {
    return Status::Unavailable("no free loopback port");
  }
  const std::string client_url = "http://127.0.0.1:" + std::to_string(client_port_);
  const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer_port_);
  std::vector<std::string> args = {kEtcdBinary,
                                   "--name=fleet-test",
                                   "--data-dir=" + data_dir_ + "/data",
                                   "--listen-client-urls=" + client_url,
                                   "--advertise-client-urls=" + client_url,
                                   "--listen-peer-urls=" + peer_url,
                                   "--initial-advertise-peer-urls=" + peer_url,
                                   "--initial-cluster=fleet-test=" + peer_url,
                                   "--initial-cluster-state=new",
                                   "--logger=zap",
                                   "--log-level=warn"};
  const std::string log_path = data_dir_ + "/etcd.log";
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return Status::FromErrno("open " + log_path, errno);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return Status::FromErrno("fork", errno);
  }
  if (pid == 0) {
    // etcd must not outlive a test binary that crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execv(kEtcdBinary, argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pid_ = pid;
  return Status::Ok();
}

Status EtcdProcess::WaitReady() {
  std::shared_ptr<EtcdClient> client = MakeClient({endpoint()});
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int wait_status = 0;
    if (::waitpid(pid_, &wait_status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Unavailable("etcd exited at start; see " + data_dir_ + "/etcd.log");
    }
    if (client->Range("/pgthaw-test/ready").ok()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Unavailable("etcd not ready in time; see " + data_dir_ + "/etcd.log");
}

void EtcdProcess::Pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void EtcdProcess::Resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

EtcdProcess::~EtcdProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int wait_status = 0;
    ::waitpid(pid_, &wait_status, 0);
  }
  if (!data_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }
}

}  // namespace pgthaw::fleet::testing
