// plume-serve with TLS (certificates made by the openssl CLI at test time), mutual TLS and API
// keys: wrong, missing and right keys, over the C++ client and plume-complete.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/serve_fixture.h"

namespace plume::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kKeyA[] = "plume-test-key-aaaaaaaaaaaaaaaa";
constexpr char kKeyB[] = "plume-test-key-bbbbbbbbbbbbbbbb";

class ServeSecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all P-256.
    const std::string d = tmp_.path();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    ASSERT_TRUE(core::WriteFileDurably(d + "/server.ext",
                                       "subjectAltName=DNS:localhost,IP:127.0.0.1\n").ok());
    ASSERT_TRUE(core::WriteFileDurably(d + "/client.ext", "extendedKeyUsage=clientAuth\n").ok());
    for (const std::string& command : {
             absl::StrCat("openssl req -x509", ec, " -keyout ", d, "/ca.key -out ", d,
                          "/ca.pem -days 2 -subj /CN=PlumeTestCA"),
             absl::StrCat("openssl req", ec, " -keyout ", d, "/server.key -out ", d,
                          "/server.csr -subj /CN=localhost"),
             absl::StrCat("openssl x509 -req -in ", d, "/server.csr -CA ", d, "/ca.pem -CAkey ", d,
                          "/ca.key -CAcreateserial -out ", d, "/server.pem -days 2 -extfile ", d,
                          "/server.ext"),
             absl::StrCat("openssl req", ec, " -keyout ", d, "/client.key -out ", d,
                          "/client.csr -subj /CN=plume-client"),
             absl::StrCat("openssl x509 -req -in ", d, "/client.csr -CA ", d, "/ca.pem -CAkey ", d,
                          "/ca.key -CAcreateserial -out ", d, "/client.pem -days 2 -extfile ", d,
                          "/client.ext"),
         }) {
      const CommandResult result = RunCommand(command);
      ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.output;
    }
    ASSERT_TRUE(core::WriteFileDurably(
                    d + "/keys.txt", absl::StrCat("# API keys\n", kKeyA, "\n\n", kKeyB, "\n"))
                    .ok());
    ASSERT_TRUE(core::WriteFileDurably(d + "/key_b.txt", absl::StrCat(kKeyB, "\n")).ok());
  }

  std::string Read(const std::string& name) { return *core::ReadFile(tmp_ / name); }

  std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, bool client_cert) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = Read("ca.pem");
    if (client_cert) {
      options.pem_cert_chain = Read("client.pem");
      options.pem_private_key = Read("client.key");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
  }

  static StreamOutcome CompleteWithKey(const std::shared_ptr<grpc::Channel>& channel,
                                       const std::string& authorization) {
    auto stub = v1::CompletionService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!authorization.empty()) context.AddMetadata("authorization", authorization);
    return Complete(stub.get(), GreedyRequest("Silver morning", 6), &context);
  }

  TempDir tmp_{"serve_security"};
};

TEST_F(ServeSecurityTest, TlsWithApiKeys) {
  ServeProcess server(ServingCheckpoint(),
                      {"--tls_cert", tmp_ / "server.pem", "--tls_key", tmp_ / "server.key",
                       "--api_keys_file", tmp_ / "keys.txt"},
                      tmp_ / "serve.log");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto channel = TlsChannel(server.address, /*client_cert=*/false);

  // Health needs no key (probes); every CompletionService call does.
  EXPECT_EQ(HealthStatus(channel), "SERVING");
  StreamOutcome out = CompleteWithKey(channel, "");
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(out.status.error_message(), HasSubstr("missing API key"));
  out = CompleteWithKey(channel, "Bearer plume-test-key-cccccccccccccccc");
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(out.status.error_message(), HasSubstr("invalid API key"));
  out = CompleteWithKey(channel, absl::StrCat("Bearer ", kKeyA, "x"));  // a prefix is no match
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  out = CompleteWithKey(channel, absl::StrCat("Basic ", kKeyA));
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(out.status.error_message(), HasSubstr("Bearer"));
  for (const char* key : {kKeyA, kKeyB}) {
    out = CompleteWithKey(channel, absl::StrCat("Bearer ", key));
    EXPECT_TRUE(out.status.ok()) << out.status.error_message();
    EXPECT_EQ(out.token_ids.size(), 6u);
  }
  {
    auto stub = v1::CompletionService::NewStub(channel);
    grpc::ClientContext context;
    v1::GetModelInfoResponse info;
    EXPECT_EQ(stub->GetModelInfo(&context, {}, &info).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }

  // Plaintext clients do not get through a TLS port.
  auto plain = v1::CompletionService::NewStub(server.Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kKeyA));
  EXPECT_EQ(Complete(plain.get(), GreedyRequest("x", 2), &context).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // plume-complete: the key from a file, or from PLUME_API_KEY.
  const std::string tls_flags = absl::StrCat(" --server=", server.address, " --ca_cert ",
                                             tmp_ / "ca.pem", " --tls_server_name localhost");
  CommandResult result = RunCommand(absl::StrCat(kCompleteBinary, tls_flags, " --api_key_file ",
                                                 tmp_ / "key_b.txt", " --max_tokens 5 hello"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("completion_tokens=5"));
  result = RunCommand(absl::StrCat("PLUME_API_KEY=wrong-key-0123456789abcdef ", kCompleteBinary,
                                   tls_flags, " hello"));
  EXPECT_EQ(result.exit_code, static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_THAT(result.output, HasSubstr("UNAUTHENTICATED: invalid API key"));
  result = RunCommand(absl::StrCat(kCompleteBinary, tls_flags, " hello"));
  EXPECT_EQ(result.exit_code, static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

  // Keys never reach the log; rejected calls are counted.
  const std::string log = server.Log();
  EXPECT_THAT(log, HasSubstr("code=UNAUTHENTICATED"));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("plume-test-key")));
  EXPECT_THAT(log, ::testing::Not(HasSubstr("wrong-key")));
  EXPECT_GE(MetricValue(server.Metrics(),
                        R"(plume_requests_total{code="UNAUTHENTICATED",method="Complete"})")
                .value_or(0),
            6);
}

TEST_F(ServeSecurityTest, MutualTlsRequiresAClientCertificate) {
  ServeProcess server(ServingCheckpoint(),
                      {"--tls_cert", tmp_ / "server.pem", "--tls_key", tmp_ / "server.key",
                       "--tls_client_ca", tmp_ / "ca.pem"},
                      tmp_ / "serve.log");
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  StreamOutcome out = CompleteWithKey(TlsChannel(server.address, /*client_cert=*/false), "");
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  out = CompleteWithKey(TlsChannel(server.address, /*client_cert=*/true), "");
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  const CommandResult result = RunCommand(absl::StrCat(
      kCompleteBinary, " --server=", server.address, " --ca_cert ", tmp_ / "ca.pem",
      " --client_cert ", tmp_ / "client.pem", " --client_key ", tmp_ / "client.key",
      " --tls_server_name localhost --max_tokens 3 hello"));
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST_F(ServeSecurityTest, BadKeyFilesAndCertificatesStopTheServerWithAClearError) {
  ASSERT_TRUE(core::WriteFileDurably(tmp_ / "short.txt", "good-key-0123456789\ntoo-short\n").ok());
  ServeProcess short_key(ServingCheckpoint(), {"--api_keys_file", tmp_ / "short.txt"},
                         tmp_ / "short.log");
  EXPECT_EQ(short_key.process().Wait(std::chrono::seconds(60)), 1);
  EXPECT_THAT(short_key.Log(), HasSubstr("short.txt:2: an API key must have 16 to 512 characters"));
  EXPECT_THAT(short_key.Log(), ::testing::Not(HasSubstr("too-short")));

  ServeProcess no_key(ServingCheckpoint(), {"--tls_cert", tmp_ / "server.pem"}, tmp_ / "tls.log");
  EXPECT_EQ(no_key.process().Wait(std::chrono::seconds(60)), 1);
  EXPECT_THAT(no_key.Log(), HasSubstr("tls.cert and tls.key must be set together"));

  ServeProcess not_pem(ServingCheckpoint(),
                       {"--tls_cert", tmp_ / "keys.txt", "--tls_key", tmp_ / "server.key"},
                       tmp_ / "pem.log");
  EXPECT_EQ(not_pem.process().Wait(std::chrono::seconds(60)), 1);
  EXPECT_THAT(not_pem.Log(), HasSubstr("is not a PEM file"));
}

}  // namespace
}  // namespace plume::testing
