#pragma once
// Typed reading of a YAML tree (config/yaml_tree.hpp) that never throws and never stops at
// the first mistake: each problem becomes a Diagnostic with the file, line, column and dotted
// path, and the reader returns nullopt so the caller keeps its default and goes on.
//
// Every scalar goes through ${VAR} expansion. A key FOO_file stands for FOO with the value
// read from that file (Kubernetes-mounted secrets); relative paths are taken from the
// config file's folder.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "config/diagnostic.hpp"
#include "config/env_expand.hpp"
#include "config/yaml_tree.hpp"

namespace triggerd::config {

struct Position {
  int line = 1;  // 1-based
  int column = 1;
};

Position position_of(const yaml::Mark& mark);

// The message for a name that breaks the naming rule of config::is_valid_name.
std::string name_rule_message(std::string_view name);

// A node of the file with its dotted path and where to point at it.
struct Value {
  yaml::Node node;
  std::string path;
  Position at;                           // the value's, or its key's when the value is empty
  Position key_at;                       // its key's (a list item's own position)
  std::optional<std::string> file_text;  // set when the value came from a KEY_file
  bool secret = false;                   // never echo it in an error
};

class Reader {
 public:
  Reader(std::string file, std::string base_dir, EnvLookup env, Diagnostics& out);

  void error(Position at, const std::string& path, std::string message);
  void error(const Value& value, std::string message) { error(value.at, value.path, std::move(message)); }
  // "must be EXPECTED, got "TEXT"", leaving out what was got when the value is secret.
  void error_got(const Value& value, std::string_view expected, std::string_view text);
  void warning(Position at, const std::string& path, std::string message);
  bool failed() const { return errors_ > 0; }

  // Scalars. Each reports its own "must be ..." error and returns nullopt on a mistake.
  std::optional<std::string> string(const Value& value);
  std::optional<std::string> non_empty_string(const Value& value);
  std::optional<std::int64_t> integer(const Value& value, std::int64_t min, std::int64_t max);
  std::optional<Duration> duration(const Value& value, Duration min = Duration::zero());
  std::optional<std::uint64_t> size(const Value& value);
  // true or false, spelt as YAML 1.2 does (also True/TRUE, False/FALSE); yes/no and on/off
  // are refused rather than guessed.
  std::optional<bool> boolean(const Value& value);
  // One of `choices`; returns its index.
  std::optional<std::size_t> choice(const Value& value, std::initializer_list<std::string_view> choices);
  std::optional<std::string> name(const Value& value);  // [a-z0-9][a-z0-9-]*, <= 63
  // HOST:PORT or [V6]:PORT; port 0 only where `allow_port_zero` (listen addresses).
  std::optional<HostPort> host_port(const Value& value, bool allow_port_zero = false);
  std::optional<HttpUrl> http_url(const Value& value);
  // A YAML list of strings, or one string of comma-separated items.
  std::optional<std::vector<std::string>> string_list(const Value& value);
  // Any YAML as JSON text; plain scalars are typed (null, booleans, numbers), quoted ones
  // are strings; strings are ${VAR}-expanded.
  std::optional<std::string> json(const Value& value);

  // The content of the file that a KEY_file value names, one trailing newline removed.
  std::optional<std::string> read_file_value(const Value& file_key_value);

 private:
  // The expanded text of a scalar; `expected` completes "must be ..." when it is not one.
  std::optional<std::string> scalar_text(const Value& value, std::string_view expected);
  // parse(text) of a scalar, with "must be EXPECTED, got ..." when it gives nullopt.
  template <typename Parse>
  auto parsed_scalar(const Value& value, std::string_view expected, Parse parse)
      -> decltype(parse(std::string_view()));

  std::string file_;
  std::string base_dir_;
  EnvLookup env_;
  Diagnostics& out_;
  int errors_ = 0;
};

// The keys of one mapping. Duplicate keys are reported when it is built, keys that nobody
// asked for when it is destroyed ("unknown key", with a suggestion when one is close).
class MapReader {
 public:
  // `value` that is not a mapping is reported ("must be a mapping") and reads as empty;
  // an empty (null) value reads as an empty mapping.
  MapReader(Reader& reader, const Value& value);
  ~MapReader();
  MapReader(const MapReader&) = delete;
  MapReader& operator=(const MapReader&) = delete;

  bool is_map() const { return is_map_; }
  const Value& self() const { return self_; }

  std::optional<Value> get(std::string_view key);
  // Like get, with a "missing required key" error when absent.
  std::optional<Value> require(std::string_view key);
  // Which of `keys` the mapping holds, for mappings that hold exactly one of several (a
  // filter's dialect, a data condition's operator): the first one's position in `keys` and
  // value, and how many of them it holds. Every one of them counts as known.
  struct Choice {
    std::optional<Value> value;
    std::size_t index = 0;
    int count = 0;
  };
  Choice one_of(std::span<const std::string_view> keys);
  // Marks every key as known: used when the map's schema cannot be told (unknown `type`),
  // so that one mistake is not reported as a dozen unknown keys.
  void accept_all();
  bool has(std::string_view key) const;
  // Every entry, for maps with user-chosen keys (functions, headers, options). KEY_file
  // entries are folded into KEY with their file's content.
  std::vector<std::pair<std::string, Value>> entries();

 private:
  struct Entry {
    std::string key;
    Position key_at;
    yaml::Node value;
    bool used = false;
  };
  Entry* find(std::string_view key);
  Entry* find_file_key(std::string_view key);  // KEY_file
  Value value_of(const Entry& entry, std::string_view shown_key) const;

  Reader& reader_;
  Value self_;
  bool is_map_ = false;
  std::vector<Entry> entries_;
  std::vector<std::string> asked_;  // keys the schema knows, for "did you mean"
};

}  // namespace triggerd::config
