#include "core/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace triggerd {
namespace {

namespace ssl = boost::asio::ssl;

// The last failure on this thread's OpenSSL error queue, which it empties.
unsigned long last_openssl_error() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  return last;
}

// OpenSSL's reason for the last failure on this thread (its error queue emptied), or `fallback`.
std::string openssl_reason(const char* fallback) {
  const unsigned long last = last_openssl_error();
  if (last == 0) return fallback;
  const char* reason = ERR_reason_error_string(last);
  return reason != nullptr ? reason : fallback;
}

// Opening the file first gives "No such file or directory" instead of OpenSSL's "system lib".
bool readable(const std::string& path, std::string& why) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    why = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(file);
  return true;
}

bool is_ip_address(const std::string& host) {
  boost::system::error_code error;
  boost::asio::ip::make_address(host, error);
  return !error;
}

}  // namespace

std::shared_ptr<ssl::context> make_tls_client_context(const TlsClientSettings& settings,
                                                      TlsSettingsError& error) {
  ERR_clear_error();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Sessions are kept by the client itself (one per endpoint, set on each new connection);
  // OpenSSL's own store is for servers.
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  // Keep-alive connections carry many requests: partial writes and a moving buffer are normal.
  SSL_CTX_set_mode(native, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

  auto fail = [&](const char* field, std::string reason) -> std::shared_ptr<ssl::context> {
    error = TlsSettingsError{field, std::move(reason)};
    ERR_clear_error();
    return nullptr;
  };

  if (settings.insecure_skip_verify) {
    SSL_CTX_set_verify(native, SSL_VERIFY_NONE, nullptr);
  } else {
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    if (!settings.ca_file.empty()) {
      std::string why;
      if (!readable(settings.ca_file, why)) return fail("ca_file", why);
      if (SSL_CTX_load_verify_locations(native, settings.ca_file.c_str(), nullptr) != 1) {
        return fail("ca_file", settings.ca_file + " holds no PEM certificate (" +
                                   openssl_reason("unreadable") + ")");
      }
    } else if (SSL_CTX_set_default_verify_paths(native) != 1) {
      return fail("ca_file", "the system's CA store cannot be loaded (" +
                                 openssl_reason("unknown reason") + "); give a ca_file");
    }
  }

  const bool has_cert = !settings.client_cert_file.empty();
  const bool has_key = !settings.client_key_file.empty();
  if (has_cert != has_key) {
    return fail(has_cert ? "client_key_file" : "client_cert_file",
                "client_cert_file and client_key_file go together");
  }
  if (has_cert) {
    std::string why;
    if (!readable(settings.client_cert_file, why)) return fail("client_cert_file", why);
    if (SSL_CTX_use_certificate_chain_file(native, settings.client_cert_file.c_str()) != 1) {
      return fail("client_cert_file", settings.client_cert_file +
                                          " holds no PEM certificate (" +
                                          openssl_reason("unreadable") + ")");
    }
    if (!readable(settings.client_key_file, why)) return fail("client_key_file", why);
    // The key's own text never goes into an error: only the file's name.
    const bool key_loaded = SSL_CTX_use_PrivateKey_file(native, settings.client_key_file.c_str(),
                                                        SSL_FILETYPE_PEM) == 1;
    const unsigned long key_error = key_loaded ? 0 : last_openssl_error();
    if (!key_loaded && ERR_GET_REASON(key_error) != X509_R_KEY_VALUES_MISMATCH) {
      const char* reason = ERR_reason_error_string(key_error);
      return fail("client_key_file", settings.client_key_file +
                                         " holds no unencrypted PEM private key (" +
                                         (reason != nullptr ? reason : "unreadable") + ")");
    }
    if (!key_loaded || SSL_CTX_check_private_key(native) != 1) {
      return fail("client_key_file", settings.client_key_file +
                                         " is not the key of the certificate in " +
                                         settings.client_cert_file);
    }
  }
  return context;
}

bool prepare_tls_connection(ssl_st* ssl, const std::string& host) {
  if (is_ip_address(host)) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

std::string tls_handshake_failure(const ssl_st* ssl, const std::string& host,
                                  const std::string& transport_error) {
  const long verdict = SSL_get_verify_result(ssl);
  if (verdict == X509_V_OK) return "tls handshake failed: " + transport_error;
  std::string text = std::string("certificate verify failed: ") +
                     X509_verify_cert_error_string(verdict);
  if (verdict == X509_V_ERR_HOSTNAME_MISMATCH || verdict == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    text += " (the certificate is not for " + host + ")";
  }
  return text;
}

}  // namespace triggerd
