#pragma once
// The client side of TLS to an https endpoint (a function, an http dead letter): the settings a
// config gives, the OpenSSL context built from them, and the reason a handshake failed in words
// a user can act on. Built at config load as well as at run time, so that `validate` refuses a
// CA file or client key that delivery would refuse.
#include <memory>
#include <optional>
#include <string>

struct ssl_st;  // OpenSSL's SSL, for what a connection needs

namespace boost::asio::ssl {
class context;
}

namespace triggerd {

struct TlsClientSettings {
  // PEM bundle of the CAs to trust instead of the system's store; empty: the system store.
  std::string ca_file;
  // PEM certificate (chain) and key presented to a server that asks for one (mutual TLS);
  // both or neither.
  std::string client_cert_file;
  std::string client_key_file;
  // The name sent in SNI and checked against the server's certificate; empty: the URL's host.
  std::string server_name;
  // Accept any certificate. For tests against self-signed servers only: it is logged loudly.
  bool insecure_skip_verify = false;
  bool operator==(const TlsClientSettings&) const = default;
};

// Which setting could not be used, and why.
struct TlsSettingsError {
  std::string field;  // "ca_file", "client_cert_file" or "client_key_file"
  std::string reason;
};

// A client context: TLS 1.2 or later, peers verified against ca_file or the system store
// (unless insecure_skip_verify), the client certificate loaded, and a client session cache so
// that a new connection to the same server resumes the last session instead of paying for a
// full handshake. nullptr and `error` set when a file is missing or not what it should be.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(
    const TlsClientSettings& settings, TlsSettingsError& error);

// Sets up one connection before its handshake: SNI (for a host name; an IP address is not sent)
// and the name or address its certificate must carry. `host` is the URL's host, or the
// settings' server_name. False when OpenSSL refuses the name.
bool prepare_tls_connection(ssl_st* ssl, const std::string& host);

// Why a handshake on `ssl` to `host` failed: the certificate check's verdict when that is what
// failed ("certificate verify failed: certificate has expired"), else `transport_error` (the
// socket's or OpenSSL's own message).
std::string tls_handshake_failure(const ssl_st* ssl, const std::string& host,
                                  const std::string& transport_error);

}  // namespace triggerd
