#include "tests/support/temp_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace triggerd::testing {
namespace {

std::string temp_dir() {
  const char* dir = std::getenv("TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

void write_whole(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

TempFile::TempFile(std::string_view content, std::string_view suffix) {
  std::string pattern = temp_dir() + "/triggerd-test-XXXXXX" + std::string(suffix);
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemps(name.data(), static_cast<int>(suffix.size()));
  if (fd < 0) throw std::runtime_error(std::string("mkstemps: ") + std::strerror(errno));
  ::close(fd);
  path_ = name.data();
  write_whole(path_, content);
}

TempFile::~TempFile() { std::remove(path_.c_str()); }

void TempFile::write(std::string_view content) const {
  const std::string next = path_ + ".next";
  write_whole(next, content);
  if (std::rename(next.c_str(), path_.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + next + ": " + std::strerror(errno));
  }
}

std::string TempFile::read() const { return read_file(path_); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace triggerd::testing
