#include "tests/function_stub/test_authority.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

namespace triggerd::testing {
namespace {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertificateFree {
  void operator()(X509* certificate) const { X509_free(certificate); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertificatePtr = std::unique_ptr<X509, CertificateFree>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test authority: ") + what + " failed");
}

KeyPtr make_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EC key generation");
  return key;
}

// Each certificate gets its own serial: a client may cache by issuer and serial.
long next_serial() {
  static std::atomic<long> serial{1};
  return serial.fetch_add(1);
}

void add_extension(X509* certificate, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, issuer, certificate, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  check(extension != nullptr, "certificate extension");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

bool is_ip_address(const std::string& name) {
  return name.find(':') != std::string::npos ||
         name.find_first_not_of("0123456789.") == std::string::npos;
}

CertificatePtr make_certificate(EVP_PKEY* key, const std::string& common_name,
                                std::chrono::seconds valid_from, std::chrono::seconds valid_until) {
  CertificatePtr certificate(X509_new());
  check(certificate != nullptr, "X509_new");
  X509_set_version(certificate.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(certificate.get()), next_serial());
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), valid_from.count());
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), valid_until.count());
  X509_set_pubkey(certificate.get(), key);
  X509_NAME* name = X509_get_subject_name(certificate.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  return certificate;
}

std::string to_pem(X509* certificate) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), certificate) == 1, "PEM certificate");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string to_pem(EVP_PKEY* key) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM key");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

struct TestAuthority::Impl {
  KeyPtr key;
  CertificatePtr certificate;
  std::string certificate_pem;
};

TestAuthority::TestAuthority(std::string_view common_name) : impl_(std::make_unique<Impl>()) {
  impl_->key = make_key();
  impl_->certificate = make_certificate(impl_->key.get(), std::string(common_name),
                                        std::chrono::hours(-1), std::chrono::hours(24 * 365));
  X509* ca = impl_->certificate.get();
  X509_set_issuer_name(ca, X509_get_subject_name(ca));
  add_extension(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(ca, ca, NID_subject_key_identifier, "hash");
  check(X509_sign(ca, impl_->key.get(), EVP_sha256()) > 0, "signing the CA");
  impl_->certificate_pem = to_pem(ca);
}

TestAuthority::~TestAuthority() = default;

const std::string& TestAuthority::certificate() const { return impl_->certificate_pem; }

PemPair TestAuthority::issue(const std::vector<std::string>& names, std::chrono::seconds valid_from,
                             std::chrono::seconds valid_until, bool client) const {
  check(!names.empty(), "a certificate without a name");
  KeyPtr key = make_key();
  CertificatePtr certificate = make_certificate(key.get(), names.front(), valid_from, valid_until);
  X509* issued = certificate.get();
  X509* ca = impl_->certificate.get();
  X509_set_issuer_name(issued, X509_get_subject_name(ca));
  std::string alternative_names;
  for (const std::string& name : names) {
    if (!alternative_names.empty()) alternative_names += ",";
    alternative_names += (is_ip_address(name) ? "IP:" : "DNS:") + name;
  }
  add_extension(issued, ca, NID_subject_alt_name, alternative_names);
  add_extension(issued, ca, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(issued, ca, NID_key_usage, "critical,digitalSignature");
  add_extension(issued, ca, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
  add_extension(issued, ca, NID_authority_key_identifier, "keyid:always");
  check(X509_sign(issued, impl_->key.get(), EVP_sha256()) > 0, "signing a certificate");
  return PemPair{to_pem(issued), to_pem(key.get())};
}

void write_text_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

ServerTlsFiles write_local_server_tls_files(const std::string& dir) {
  const TestAuthority authority;
  const PemPair server = authority.issue({"localhost", "127.0.0.1", "::1"});
  ServerTlsFiles files{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  write_text_file(files.ca_file, authority.certificate());
  write_text_file(files.cert_file, server.certificate);
  write_text_file(files.key_file, server.key);
  return files;
}

}  // namespace triggerd::testing
