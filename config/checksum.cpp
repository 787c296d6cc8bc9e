#include "config/checksum.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace triggerd::config {

std::string checksum_of(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int size = 0;
  // EVP_Digest fails only when OpenSSL itself is broken (no SHA-256 in the build, out of
  // memory); there is no sensible checksum to show then.
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL could not compute a SHA-256 digest");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "sha256:";
  text.reserve(text.size() + 2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    text.push_back(kHex[digest[i] >> 4]);
    text.push_back(kHex[digest[i] & 0x0f]);
  }
  return text;
}

std::optional<std::string> checksum_of_file(const std::string& path, std::string* error) {
  // Plain read(2) rather than a stream: a stream hides read errors (a folder opens fine and
  // then reads as empty), and an empty checksum would pass for a file's.
  auto failed = [error] {
    if (error != nullptr) *error = std::strerror(errno);
    return std::nullopt;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failed();
  std::string bytes;
  std::array<char, 64 * 1024> buffer;
  for (;;) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return failed();
    }
    bytes.append(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return checksum_of(bytes);
}

}  // namespace triggerd::config
