// The function client over HTTPS against a real TLS server: the function stub serving
// certificates of a test CA made for each test. Covers what a user of an https function meets:
// verification against a CA file, keep-alive and session resumption (so a handshake is not paid
// per event), SNI with server_name, mutual TLS, and each way a certificate can be refused, with
// the reason the delivery reports.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/net_names.hpp"
#include "core/tls_client.hpp"
#include "dispatcher/http_client.hpp"
#include "tests/function_stub/function_stub.hpp"
#include "tests/function_stub/test_authority.hpp"
#include "tests/support/host_resolves.hpp"

namespace triggerd {
namespace {

using namespace std::chrono_literals;
using testing::FunctionStub;
using testing::FunctionStubOptions;
using testing::PemPair;
using testing::StubStep;
using testing::TestAuthority;

class HttpsClientTest : public ::testing::Test {
 protected:
  HttpsClientTest() {
    dir_ = std::filesystem::temp_directory_path() /
           ("triggerd-https-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    trusted_ca_file_ = write("ca.pem", authority_.certificate());
  }
  ~HttpsClientTest() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    testing::write_text_file(path, text);
    return path;
  }

  // A stub serving `certificate`; with `client_ca_file`, one that demands client certificates.
  std::unique_ptr<FunctionStub> serve(const PemPair& certificate,
                                      const std::string& client_ca_file = "") {
    FunctionStubOptions options;
    options.tls_cert_file = write("server-" + std::to_string(++files_) + ".pem",
                                  certificate.certificate);
    options.tls_key_file = write("server-" + std::to_string(files_) + ".key", certificate.key);
    options.tls_client_ca_file = client_ca_file;
    auto stub = std::make_unique<FunctionStub>(options);
    stub->always(StubStep::respond(200, "answer body"));
    return stub;
  }

  HttpEndpoint endpoint_for(const FunctionStub& stub, const std::string& host,
                            TlsClientSettings tls) {
    HttpEndpoint endpoint;
    endpoint.name = "resize";
    endpoint.url = {"https://" + host + ":" + std::to_string(stub.port()) + "/resize", host,
                    stub.port(), "/resize", true};
    endpoint.timeout = 5s;
    endpoint.tls = std::move(tls);
    return endpoint;
  }

  TlsClientSettings trusting_the_test_ca() const {
    TlsClientSettings tls;
    tls.ca_file = trusted_ca_file_;
    return tls;
  }

  // One POST of a small event, run to its end on the test's io_context.
  CallResult post(FunctionClient& client) {
    Event event;
    event.id = "event-" + std::to_string(++events_);
    event.source = "test";
    event.type = "dev.triggerd.test";
    event.data = std::string("{\"n\":") + std::to_string(events_) + "}";
    std::optional<CallResult> result;
    asio::co_spawn(
        io_, [&]() -> asio::awaitable<void> { result = co_await client.post(event, {}); },
        asio::detached);
    io_.restart();
    io_.run_for(20s);
    EXPECT_TRUE(result.has_value()) << "the call never ended";
    return result.value_or(CallResult{});
  }

  asio::io_context io_;
  TestAuthority authority_;
  std::filesystem::path dir_;
  std::string trusted_ca_file_;
  int files_ = 0;
  int events_ = 0;
};

TEST_F(HttpsClientTest, DeliversOverOneKeepAliveConnectionVerifiedAgainstTheCaFile) {
  auto stub = serve(authority_.issue({"127.0.0.1"}));
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", trusting_the_test_ca()));
  for (int i = 0; i < 20; ++i) {
    const CallResult result = post(client);
    ASSERT_TRUE(result.is_status()) << result.describe();
    EXPECT_EQ(result.status, 200);
  }
  EXPECT_EQ(stub->request_count(), 20u);
  const auto requests = stub->requests();
  EXPECT_EQ(requests.back().body, "{\"n\":20}") << "the body arrives byte for byte";
  EXPECT_EQ(requests.back().header("ce-id"), "event-20");
  EXPECT_EQ(stub->tls_handshakes(), 1u) << "one handshake for 20 events";
  EXPECT_EQ(client.connections_opened(), 1u);
}

TEST_F(HttpsClientTest, ANewConnectionResumesTheLastSessionInsteadOfAFullHandshake) {
  auto stub = serve(authority_.issue({"127.0.0.1"}));
  // Every answer closes its connection: each event needs a new one.
  stub->always(StubStep::respond(200).then(StubStep::After::kClose));
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", trusting_the_test_ca()));
  for (int i = 0; i < 5; ++i) {
    const CallResult result = post(client);
    ASSERT_TRUE(result.is_status()) << result.describe();
  }
  EXPECT_EQ(stub->tls_handshakes(), 5u);
  EXPECT_EQ(stub->tls_sessions_resumed(), 4u) << "every connection after the first resumes";
  EXPECT_EQ(client.tls_sessions_resumed(), 4u);
}

TEST_F(HttpsClientTest, AHostNameUrlIsLookedUpSentInSniAndChecked) {
  TRIGGERD_SKIP_UNLESS_RESOLVES("localhost");
  auto stub = serve(authority_.issue({"localhost"}));
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "localhost", trusting_the_test_ca()));
  const CallResult result = post(client);
  ASSERT_TRUE(result.is_status()) << result.describe();
  EXPECT_EQ(result.status, 200);
}

TEST_F(HttpsClientTest, ServerNameIsTheNameCheckedWhenTheUrlHoldsAnAddress) {
  auto stub = serve(authority_.issue({"resize.functions.internal"}));
  TlsClientSettings tls = trusting_the_test_ca();
  tls.server_name = "resize.functions.internal";
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", tls));
  const CallResult result = post(client);
  ASSERT_TRUE(result.is_status()) << result.describe();
}

// Each refusal is a connect error that says why, and nothing reaches the function.
struct Refusal {
  const char* name;
  const char* host;                // in the url
  std::vector<std::string> names;  // on the server's certificate
  std::chrono::hours valid_from;
  std::chrono::hours valid_until;
  bool trust_the_ca;  // else: the system store, which does not know the test CA
  const char* reason;
};

class HttpsRefusalTest : public HttpsClientTest, public ::testing::WithParamInterface<Refusal> {};

TEST_P(HttpsRefusalTest, RefusesTheCertificateWithAClearReason) {
  const Refusal& refusal = GetParam();
  TRIGGERD_SKIP_UNLESS_RESOLVES(refusal.host);
  auto stub = serve(authority_.issue(refusal.names, refusal.valid_from, refusal.valid_until));
  FunctionClient client(io_.get_executor(),
                        endpoint_for(*stub, refusal.host,
                                     refusal.trust_the_ca ? trusting_the_test_ca()
                                                          : TlsClientSettings{}));
  const CallResult result = post(client);
  EXPECT_EQ(result.kind, CallResult::Kind::connect_error) << result.describe();
  EXPECT_EQ(result.error, refusal.reason);
  EXPECT_TRUE(result.tls_refused) << "not taken for a function that is starting up";
  EXPECT_EQ(stub->request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Certificates, HttpsRefusalTest,
    ::testing::Values(
        Refusal{"WrongHostName", "localhost", {"other.example"}, -1h, 24h, true,
                "certificate verify failed: hostname mismatch (the certificate is not for "
                "localhost)"},
        Refusal{"WrongAddress", "127.0.0.1", {"127.0.0.2", "other.example"}, -1h, 24h, true,
                "certificate verify failed: IP address mismatch (the certificate is not for "
                "127.0.0.1)"},
        Refusal{"Expired", "127.0.0.1", {"127.0.0.1"}, -48h, -24h, true,
                "certificate verify failed: certificate has expired"},
        Refusal{"NotYetValid", "127.0.0.1", {"127.0.0.1"}, 24h, 48h, true,
                "certificate verify failed: certificate is not yet valid"},
        Refusal{"UnknownCa", "127.0.0.1", {"127.0.0.1"}, -1h, 24h, false,
                "certificate verify failed: unable to get local issuer certificate"}),
    [](const ::testing::TestParamInfo<Refusal>& param) { return std::string(param.param.name); });

TEST_F(HttpsClientTest, ACaFileOfAnotherAuthorityRefusesTheServer) {
  const TestAuthority other("another CA");
  auto stub = serve(other.issue({"127.0.0.1"}));
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", trusting_the_test_ca()));
  const CallResult result = post(client);
  EXPECT_EQ(result.error, "certificate verify failed: unable to get local issuer certificate");
}

TEST_F(HttpsClientTest, InsecureSkipVerifyAcceptsAnUnknownCertificate) {
  const TestAuthority other("another CA");
  auto stub = serve(other.issue({"elsewhere.example"}));
  TlsClientSettings tls;
  tls.insecure_skip_verify = true;
  FunctionClient client(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", tls));
  const CallResult result = post(client);
  ASSERT_TRUE(result.is_status()) << result.describe();
  EXPECT_EQ(result.status, 200);
}

TEST_F(HttpsClientTest, PresentsTheClientCertificateToAServerThatDemandsOne) {
  auto stub = serve(authority_.issue({"127.0.0.1"}), trusted_ca_file_);
  {
    FunctionClient without(io_.get_executor(),
                           endpoint_for(*stub, "127.0.0.1", trusting_the_test_ca()));
    const CallResult refused = post(without);
    EXPECT_EQ(refused.kind, CallResult::Kind::connect_error) << refused.describe();
    // With TLS 1.3 the server's alert comes after the client's handshake, on the first read.
    EXPECT_NE(refused.error.find("certificate required"), std::string::npos) << refused.error;
    EXPECT_EQ(stub->request_count(), 0u);
  }
  const PemPair client_certificate = authority_.issue({"triggerd"}, -1h, 24h, /*client=*/true);
  TlsClientSettings tls = trusting_the_test_ca();
  tls.client_cert_file = write("client.pem", client_certificate.certificate);
  tls.client_key_file = write("client.key", client_certificate.key);
  FunctionClient with(io_.get_executor(), endpoint_for(*stub, "127.0.0.1", tls));
  const CallResult result = post(with);
  ASSERT_TRUE(result.is_status()) << result.describe();
  EXPECT_EQ(stub->request_count(), 1u);
}

TEST_F(HttpsClientTest, TheTimeoutCoversAHandshakeThatNeverComes) {
  // Accepts the connection and never answers the ClientHello.
  tcp::acceptor silent(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket accepted(io_);
  silent.async_accept(accepted, [](const boost::system::error_code&) {});
  HttpEndpoint endpoint;
  endpoint.name = "resize";
  const std::uint16_t port = silent.local_endpoint().port();
  endpoint.url = {"https://127.0.0.1:" + std::to_string(port) + "/", "127.0.0.1", port, "/", true};
  endpoint.timeout = 300ms;
  endpoint.tls = trusting_the_test_ca();
  FunctionClient client(io_.get_executor(), endpoint);
  const auto started = std::chrono::steady_clock::now();
  const CallResult result = post(client);
  EXPECT_EQ(result.kind, CallResult::Kind::timeout) << result.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(TlsClientContext, RefusesFilesThatCannotBeUsedNamingTheSetting) {
  const TestAuthority authority;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("triggerd-tls-files-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string path = (dir / name).string();
    testing::write_text_file(path, text);
    return path;
  };
  const PemPair first = authority.issue({"triggerd"}, -1h, 24h, true);
  const PemPair second = authority.issue({"triggerd"}, -1h, 24h, true);
  const std::string first_cert = write("first.pem", first.certificate);
  const std::string second_key = write("second.key", second.key);
  const std::string not_pem = write("not.pem", "hello\n");

  auto refusal = [](TlsClientSettings settings) {
    TlsSettingsError error;
    const bool built = make_tls_client_context(settings, error) != nullptr;
    return built ? std::string("built") : error.field + ": " + error.reason;
  };
  EXPECT_EQ(refusal({.ca_file = (dir / "missing.pem").string()}),
            "ca_file: cannot read " + (dir / "missing.pem").string() + ": No such file or directory");
  EXPECT_TRUE(refusal({.ca_file = not_pem}).starts_with("ca_file: " + not_pem +
                                                         " holds no PEM certificate ("))
      << refusal({.ca_file = not_pem});
  EXPECT_EQ(refusal({.client_cert_file = first_cert}),
            "client_key_file: client_cert_file and client_key_file go together");
  EXPECT_EQ(refusal({.client_cert_file = first_cert, .client_key_file = second_key}),
            "client_key_file: " + second_key + " is not the key of the certificate in " +
                first_cert);
  EXPECT_EQ(refusal({.client_cert_file = first_cert,
                     .client_key_file = write("first.key", first.key)}),
            "built");
  EXPECT_EQ(refusal({}), "built") << "the system store";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace triggerd
