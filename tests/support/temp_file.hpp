#pragma once
// A file under the temp directory that is removed when the object goes away: config files
// for the process under test, captured output.
#include <string>
#include <string_view>

namespace triggerd::testing {

class TempFile {
 public:
  // Creates the file with `content`; `suffix` ends its name (".yaml" so errors read well).
  explicit TempFile(std::string_view content = "", std::string_view suffix = ".yaml");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& path() const { return path_; }
  // Replaces the content atomically (write beside, then rename), so a process that reads
  // the file at any moment (a reload) sees the old or the new text, never half of it.
  void write(std::string_view content) const;
  std::string read() const;

 private:
  std::string path_;
};

std::string read_file(const std::string& path);

}  // namespace triggerd::testing
