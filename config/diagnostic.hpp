#pragma once
// One finding about a configuration file, printed as
//   FILE:LINE:COL: error: PATH: MESSAGE
// LINE and COL are 1-based; PATH is the dotted key path (list items as [i]).
#include <string>
#include <vector>

namespace triggerd::config {

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  int line = 0;
  int column = 0;
  std::string path;
  std::string message;

  std::string to_string() const;
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace triggerd::config
