// The Prometheus registry's text format, and the /metrics HTTP endpoint against real sockets,
// including clients that send too much or nothing at all.
#include "services/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/metrics_http_server.h"

namespace plume::services {
namespace {

using ::testing::HasSubstr;

TEST(MetricsRegistryTest, RendersCountersGaugesAndCallbacks) {
  MetricsRegistry registry;
  Counter* ok = registry.AddCounter("requests_total", "Requests", {{"code", "OK"}, {"method", "A"}});
  Counter* bad = registry.AddCounter("requests_total", "Requests", {{"code", "BAD"}, {"method", "A"}});
  EXPECT_EQ(registry.AddCounter("requests_total", "Requests", {{"method", "A"}, {"code", "OK"}}), ok);
  ok->Increment();
  ok->Increment(2);
  ok->Increment(-5);  // counters never go down
  bad->Increment();
  Gauge* gauge = registry.AddGauge("in_flight", "In flight");
  gauge->Add(3);
  gauge->Add(-1);
  int calls = 0;
  registry.AddGaugeCallback("queue", "Queue depth", [&calls] { return ++calls * 10.0; });
  registry.AddCounterCallback("big_total", "Big", [] { return 12345678901.0; });

  EXPECT_EQ(registry.Render(),
            "# HELP requests_total Requests\n"
            "# TYPE requests_total counter\n"
            "requests_total{code=\"OK\",method=\"A\"} 3\n"
            "requests_total{code=\"BAD\",method=\"A\"} 1\n"
            "# HELP in_flight In flight\n"
            "# TYPE in_flight gauge\n"
            "in_flight 2\n"
            "# HELP queue Queue depth\n"
            "# TYPE queue gauge\n"
            "queue 10\n"
            "# HELP big_total Big\n"
            "# TYPE big_total counter\n"
            "big_total 12345678901\n");
}

TEST(MetricsRegistryTest, HistogramBucketsAreCumulative) {
  MetricsRegistry registry;
  Histogram* h = registry.AddHistogram("latency_seconds", "Latency", {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0, 30.0}) h->Observe(v);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP latency_seconds Latency\n"
                              "# TYPE latency_seconds histogram\n"
                              "latency_seconds_bucket{le=\"0.1\"} 2\n"
                              "latency_seconds_bucket{le=\"1\"} 3\n"
                              "latency_seconds_bucket{le=\"10\"} 4\n"
                              "latency_seconds_bucket{le=\"+Inf\"} 6\n"
                              "latency_seconds_sum "));
  EXPECT_THAT(text, ::testing::EndsWith("\nlatency_seconds_count 6\n"));
  const size_t sum_at = text.find("latency_seconds_sum ") + 20;
  double sum = 0;
  ASSERT_TRUE(absl::SimpleAtod(text.substr(sum_at, text.find('\n', sum_at) - sum_at), &sum));
  EXPECT_DOUBLE_EQ(sum, 52.65);
}

TEST(MetricsRegistryTest, EscapesLabelValues) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(MetricsRegistryTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  Counter* counter = registry.AddCounter("c_total", "c");
  Histogram* histogram = registry.AddHistogram("h", "h", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        counter->Increment();
        histogram->Observe(0.5);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter->value(), 40000);
  EXPECT_EQ(histogram->Snap().cumulative.back(), 40000u);
  EXPECT_EQ(histogram->Snap().sum, 20000);
}

// Sends `request` to `address` and returns everything the server answers.
std::string Exchange(const std::string& address, const std::string& request) {
  const size_t colon = address.rfind(':');
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on oversized requests
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, n);
  ::close(fd);
  return response;
}

TEST(MetricsHttpServerTest, ServesMetricsAndRejectsEverythingElse) {
  MetricsRegistry registry;
  registry.AddCounter("hits_total", "Hits")->Increment(7);
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server =
      MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string address = (*server)->address();
  EXPECT_THAT(address, ::testing::StartsWith("127.0.0.1:"));

  std::string response = Exchange(address, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\n# HELP hits_total Hits\n"));
  EXPECT_THAT(response, HasSubstr("hits_total 7\n"));
  EXPECT_THAT(Exchange(address, "GET /metrics?x=1 HTTP/1.0\n\n"), HasSubstr("200 OK"));
  EXPECT_THAT(Exchange(address, "GET /other HTTP/1.1\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(Exchange(address, "POST /metrics HTTP/1.1\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 405"));
  // A request head beyond 8 KiB is refused, not buffered.
  EXPECT_THAT(Exchange(address, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'a')),
              ::testing::StartsWith("HTTP/1.1 431"));
  // A client that connects and sends nothing is dropped after the read timeout; others are
  // served afterwards.
  std::thread silent([&] { EXPECT_EQ(Exchange(address, ""), ""); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_THAT(Exchange(address, "GET /metrics HTTP/1.1\r\n\r\n"), HasSubstr("hits_total 7"));
  silent.join();
}

TEST(MetricsHttpServerTest, BadAddressesAreErrors) {
  MetricsRegistry registry;
  EXPECT_FALSE(MetricsHttpServer::Start("no-port", &registry).ok());
  EXPECT_FALSE(MetricsHttpServer::Start("127.0.0.1:99999", &registry).ok());
  auto first = MetricsHttpServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok());
  const absl::StatusOr<std::unique_ptr<MetricsHttpServer>> second =
      MetricsHttpServer::Start((*first)->address(), &registry);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("cannot listen on metrics address"));
}

TEST(SplitHostPortTest, ParsesHostsAndPorts) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:8080", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 8080);
  ASSERT_TRUE(SplitHostPort("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  EXPECT_FALSE(SplitHostPort("localhost", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("localhost:http", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("localhost:-1", &host, &port).ok());
}

}  // namespace
}  // namespace plume::services
