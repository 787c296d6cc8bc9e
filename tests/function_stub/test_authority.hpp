#pragma once
// A certificate authority made up on the spot, for HTTPS tests and benchmarks: it issues server
// and client certificates for the names a test needs, valid or expired, so that every TLS
// failure a user can meet (unknown CA, wrong host name, expired) is tested against a real
// handshake. Keys are EC P-256: quick to make.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace triggerd::testing {

struct PemPair {
  std::string certificate;
  std::string key;
};

class TestAuthority {
 public:
  explicit TestAuthority(std::string_view common_name = "triggerd test CA");
  ~TestAuthority();
  TestAuthority(const TestAuthority&) = delete;
  TestAuthority& operator=(const TestAuthority&) = delete;

  // The CA's own certificate: what a client trusts.
  const std::string& certificate() const;

  // A certificate for `names` (host names, or IP addresses such as "127.0.0.1"), valid from
  // now + valid_from until now + valid_until; for a server, or for a client (mutual TLS).
  PemPair issue(const std::vector<std::string>& names,
                std::chrono::seconds valid_from = std::chrono::hours(-1),
                std::chrono::seconds valid_until = std::chrono::hours(24 * 30),
                bool client = false) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `text` to `path` (replacing it); throws std::runtime_error when it can't.
void write_text_file(const std::string& path, std::string_view text);

// A new authority and a server certificate for 127.0.0.1, ::1 and localhost, written into `dir`
// (which must exist) as ca.pem, server.pem and server.key. What `function_stub --tls-self-signed`
// and the benchmarks use.
struct ServerTlsFiles {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};
ServerTlsFiles write_local_server_tls_files(const std::string& dir);

}  // namespace triggerd::testing
