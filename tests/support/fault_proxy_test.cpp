// The TCP fault proxy of the fault suite, against a function stub (an HTTP server that records
// what reaches it) and plain sockets, so that each fault is seen as a client sees it: refused,
// reset, never answered, late.
#include "tests/support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "tests/function_stub/function_stub.hpp"
#include "tests/support/free_port.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"

namespace triggerd::testing {
namespace {

using namespace std::chrono_literals;
using std::chrono::steady_clock;

constexpr std::string_view kRequest =
    "POST /fn HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";

// A blocking client socket with a receive timeout, for what http_request cannot tell apart.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    connect_errno_ =
        ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 ? 0 : errno;
    const timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~RawClient() { ::close(fd_); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  int connect_errno() const { return connect_errno_; }
  void send(std::string_view bytes) { ASSERT_EQ(try_send(bytes), 0); }
  // 0 once all of `bytes` went out, else the errno of the failed send.
  int try_send(std::string_view bytes) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0) return errno;
    return sent == static_cast<ssize_t>(bytes.size()) ? 0 : EMSGSIZE;
  }
  // Reads once: the bytes, "" at the end of the stream, or "errno:N" on an error (EAGAIN: the
  // 2 s receive timeout passed).
  std::string receive() {
    char buffer[4096];
    const ssize_t got = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (got < 0) return "errno:" + std::to_string(errno);
    return std::string(buffer, static_cast<std::size_t>(got));
  }

 private:
  int fd_ = -1;
  int connect_errno_ = 0;
};

const std::string kReset = "errno:" + std::to_string(ECONNRESET);
const std::string kTimedOut = "errno:" + std::to_string(EAGAIN);

TEST(FaultProxy, PassesRequestsAndAnswersThroughUnchanged) {
  FunctionStub function;
  function.always(StubStep::respond(201, "made"));
  FaultProxy proxy(function.port());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse response =
        http_request("POST", proxy.port(), "/fn", "body " + std::to_string(i));
    EXPECT_EQ(response.status, 201) << response.error;
    EXPECT_EQ(response.body, "made");
  }
  ASSERT_EQ(function.request_count(), 3u);
  EXPECT_EQ(function.requests()[2].body, "body 2");
  const FaultProxyStats stats = proxy.stats();
  EXPECT_EQ(stats.accepted, 3u);
  EXPECT_GT(stats.bytes_to_target, 0u);
  EXPECT_GT(stats.bytes_to_client, 0u);
  EXPECT_EQ(stats.resets, 0u);
}

TEST(FaultProxy, KeepsAConnectionOpenAcrossRequests) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  HttpConnection connection(proxy.port());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(connection.request("POST", "/fn", "x").status, 200);
  EXPECT_EQ(proxy.stats().accepted, 1u);
  EXPECT_EQ(function.connection_count(), 1u);
}

TEST(FaultProxy, AddedLatencyHoldsTheRequestAndTheAnswerEach) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  proxy.add_latency(500ms);
  const auto started = steady_clock::now();
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "slow").status, 200);
  EXPECT_GE(steady_clock::now() - started, 1000ms);
  proxy.pass();
  const auto again = steady_clock::now();
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "fast").status, 200);
  EXPECT_LT(steady_clock::now() - again, 500ms) << "pass() takes the latency away";
}

TEST(FaultProxy, ResetAfterSomeBytesCutsTheRequestBeforeTheServerSeesIt) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  proxy.reset_after(16);
  RawClient client(proxy.port());
  ASSERT_EQ(client.connect_errno(), 0);
  client.send(kRequest);
  EXPECT_EQ(client.receive(), kReset);
  EXPECT_EQ(proxy.stats().resets, 1u);
  EXPECT_EQ(proxy.stats().bytes_to_target, 16u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(function.request_count(), 0u) << "16 bytes are not a whole request";

  proxy.pass();
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "after").status, 200);
  EXPECT_EQ(function.request_count(), 1u);
}

TEST(FaultProxy, ResetAfterTheRequestCutsTheAnswer) {
  FunctionStub function;
  function.always(StubStep::respond(200, std::string(1000, 'a')));
  FaultProxy proxy(function.port());
  proxy.reset_after(kRequest.size() + 10);
  RawClient client(proxy.port());
  client.send(kRequest);
  // The server did the work; the client hears at most the first 10 bytes of it, then a reset.
  std::string heard;
  for (std::string got = client.receive(); got != kReset; got = client.receive()) {
    ASSERT_FALSE(got.empty() || got == kTimedOut) << "no reset: " << got;
    heard += got;
  }
  EXPECT_LE(heard.size(), 10u);
  EXPECT_EQ(function.request_count(), 1u);
}

TEST(FaultProxy, ResetAfterZeroResetsEveryNewConnection) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  proxy.reset_after(0);
  const HttpResponse response = http_request("POST", proxy.port(), "/fn", "x", 2000ms);
  EXPECT_EQ(response.status, 0);
  EXPECT_EQ(function.request_count(), 0u);
  EXPECT_GE(proxy.stats().resets, 1u);
}

TEST(FaultProxy, BlackHoleTakesTheRequestAndNeverAnswers) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  // Opened before the hole: swallowed too once it opens.
  HttpConnection open(proxy.port(), 1000ms);
  ASSERT_EQ(open.request("POST", "/fn", "before").status, 200);
  proxy.black_hole();

  RawClient client(proxy.port());
  ASSERT_EQ(client.connect_errno(), 0) << "a black hole accepts";
  client.send(kRequest);
  EXPECT_EQ(client.receive(), kTimedOut);
  const HttpResponse on_open = open.request("POST", "/fn", "swallowed");
  EXPECT_EQ(on_open.status, 0);
  EXPECT_EQ(function.request_count(), 1u) << "only the request before the hole";
  EXPECT_GE(proxy.stats().swallowed, kRequest.size());

  proxy.pass();
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "after").status, 200);
  EXPECT_EQ(function.request_count(), 2u);
}

TEST(FaultProxy, RefuseStopsListeningAndPassListensAgainOnTheSamePort) {
  FunctionStub function;
  FaultProxy proxy(function.port());
  HttpConnection open(proxy.port());
  ASSERT_EQ(open.request("POST", "/fn", "before").status, 200);
  proxy.refuse();
  EXPECT_EQ(RawClient(proxy.port()).connect_errno(), ECONNREFUSED);
  EXPECT_EQ(open.request("POST", "/fn", "still open").status, 200)
      << "refusing new connections leaves the open ones alone";
  proxy.pass();
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "after").status, 200);
  EXPECT_EQ(function.request_count(), 3u);
}

TEST(FaultProxy, CutResetsEveryLiveConnectionAndKeepsTheMode) {
  FunctionStub function;
  function.enqueue(StubStep::hang());
  FaultProxy proxy(function.port());
  RawClient waiting(proxy.port());
  waiting.send(kRequest);  // hangs at the function
  ASSERT_TRUE(function.wait_for_requests(1, 5s));
  HttpConnection idle(proxy.port());
  ASSERT_EQ(idle.request("POST", "/fn", "x").status, 200);
  ASSERT_TRUE(wait_until([&] { return proxy.stats().open == 2; }, 2000ms));

  proxy.cut();
  EXPECT_EQ(waiting.receive(), kReset);
  EXPECT_EQ(idle.request("POST", "/fn", "y").status, 0);
  EXPECT_EQ(proxy.stats().resets, 2u);
  EXPECT_EQ(proxy.stats().open, 0u);
  // The stub sees its side of the hung request go too.
  EXPECT_TRUE(wait_until([&] { return function.current_concurrent() == 0; }, 2000ms));
  EXPECT_EQ(http_request("POST", proxy.port(), "/fn", "z").status, 200);
}

TEST(FaultProxy, ATargetThatIsDownLooksLikeAReset) {
  FaultProxy proxy(free_port());
  RawClient client(proxy.port());
  ASSERT_EQ(client.connect_errno(), 0);
  // The proxy may find the target down and reset the connection before the request goes out
  // (the client's thread lost its core after connecting): the send then meets the reset.
  const int send_error = client.try_send(kRequest);
  if (send_error != 0) {
    EXPECT_EQ(send_error, ECONNRESET);
    return;
  }
  EXPECT_EQ(client.receive(), kReset);
}

TEST(FaultProxy, PassesACloseFromEitherSideOn) {
  FunctionStub function;
  function.enqueue(StubStep::close_connection());
  FaultProxy proxy(function.port());
  {
    RawClient client(proxy.port());
    client.send(kRequest);
    EXPECT_EQ(client.receive(), "") << "the function's FIN reaches the client";
  }
  EXPECT_TRUE(wait_until([&] { return proxy.stats().open == 0; }, 2000ms));
  EXPECT_EQ(proxy.stats().resets, 0u);
}

}  // namespace
}  // namespace triggerd::testing
