// A minimal HTTP/1.1 server for Prometheus scrapes: GET /metrics returns the registry's text;
// anything else is 404 (or 405 for other methods). One thread, one connection at a time,
// "Connection: close". Robust against slow or hostile clients: the request head is read up to
// 8 KiB within a 2-second deadline, the response is written within 5 seconds, and nothing a
// client sends can make it allocate more or block longer.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "services/metrics.h"

namespace plume::services {

class MetricsHttpServer {
 public:
  // Binds `host:port` (port 0 = a free port) and starts serving `registry`, which must outlive
  // the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  const MetricsRegistry* registry);
  ~MetricsHttpServer();  // stops the thread and closes the socket
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // "HOST:PORT" with the port actually bound.
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer(int listen_fd, int wake_fd_read, int wake_fd_write, std::string address,
                    const MetricsRegistry* registry);
  void Loop();
  void Serve(int fd);

  const int listen_fd_;
  const int wake_read_, wake_write_;  // a pipe that wakes the loop for shutdown
  const std::string address_;
  const MetricsRegistry* registry_;
  std::thread thread_;
};

// Splits "HOST:PORT" ("[::1]:80" for IPv6) into host and port; the port must be in [0, 65535].
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace plume::services
