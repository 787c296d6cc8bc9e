#include "config/yaml_reader.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include "config/units.hpp"
#include "core/text.hpp"

namespace triggerd::config {
namespace {

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::int64_t> parse_int(std::string_view text) {
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return number;
}

}  // namespace

std::string name_rule_message(std::string_view name) {
  return "name " + quote(name) +
         " must be lower-case letters, digits and '-', start with a letter or digit, and be at "
         "most 63 characters";
}

Position position_of(const yaml::Mark& mark) { return {mark.line + 1, mark.column + 1}; }

Reader::Reader(std::string file, std::string base_dir, EnvLookup env, Diagnostics& out)
    : file_(std::move(file)), base_dir_(std::move(base_dir)), env_(std::move(env)), out_(out) {}

void Reader::error(Position at, const std::string& path, std::string message) {
  ++errors_;
  out_.push_back({Severity::error, file_, at.line, at.column, path, std::move(message)});
}

void Reader::error_got(const Value& value, std::string_view expected, std::string_view text) {
  std::string message = "must be ";
  message.append(expected);
  if (!value.secret) message.append(", got ").append(quote(text));
  error(value, std::move(message));
}

void Reader::warning(Position at, const std::string& path, std::string message) {
  out_.push_back({Severity::warning, file_, at.line, at.column, path, std::move(message)});
}

std::optional<std::string> Reader::read_file_value(const Value& file_key_value) {
  auto name = scalar_text(file_key_value, "a file path");
  if (!name) return std::nullopt;
  std::string path = *name;
  if (!path.empty() && path[0] != '/' && !base_dir_.empty()) path = base_dir_ + "/" + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error(file_key_value, "cannot read file " + quote(path) + ": " + std::strerror(errno));
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  std::string text = content.str();
  // Files written by `echo` or editors end in a newline that is not part of the secret.
  if (text.ends_with("\r\n")) {
    text.resize(text.size() - 2);
  } else if (text.ends_with('\n')) {
    text.pop_back();
  }
  return text;
}

std::optional<std::string> Reader::scalar_text(const Value& value, std::string_view expected) {
  if (value.file_text) return value.file_text;
  if (!value.node.IsScalar()) {
    error(value, "must be " + std::string(expected));
    return std::nullopt;
  }
  ExpandResult expanded = expand_env(value.node.Scalar(), env_);
  if (!expanded.ok()) {
    error(value, expanded.error);
    return std::nullopt;
  }
  return std::move(expanded.value);
}

std::optional<std::string> Reader::string(const Value& value) {
  return scalar_text(value, "a string");
}

std::optional<std::string> Reader::non_empty_string(const Value& value) {
  auto text = scalar_text(value, "a non-empty string");
  if (text && text->empty()) {
    error(value, "must be a non-empty string");
    return std::nullopt;
  }
  return text;
}

std::optional<std::int64_t> Reader::integer(const Value& value, std::int64_t min,
                                            std::int64_t max) {
  std::string expected = max == INT64_MAX
                             ? "an integer >= " + std::to_string(min)
                             : "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  auto text = scalar_text(value, expected);
  if (!text) return std::nullopt;
  auto number = parse_int(*text);
  if (!number || *number < min || *number > max) {
    error(value, "must be " + expected);
    return std::nullopt;
  }
  return number;
}

template <typename Parse>
auto Reader::parsed_scalar(const Value& value, std::string_view expected, Parse parse)
    -> decltype(parse(std::string_view())) {
  auto text = scalar_text(value, expected);
  if (!text) return std::nullopt;
  auto parsed = parse(std::string_view(*text));
  if (!parsed) error_got(value, expected, *text);
  return parsed;
}

std::optional<Duration> Reader::duration(const Value& value, Duration min) {
  auto parsed =
      parsed_scalar(value, "a duration with a unit, e.g. 250ms, 5s, 2m, 1h", parse_duration);
  if (parsed && *parsed < min) {
    error(value, "must be at least " + format_duration(min));
    return std::nullopt;
  }
  return parsed;
}

std::optional<std::uint64_t> Reader::size(const Value& value) {
  return parsed_scalar(value, "a size with a unit, e.g. 512KiB, 1MiB", [](std::string_view text) {
    std::optional<std::uint64_t> size = parse_size(text);
    if (size && *size == 0) return std::optional<std::uint64_t>();
    return size;
  });
}

std::optional<bool> Reader::boolean(const Value& value) {
  return parsed_scalar(value, "true or false", [](std::string_view text) -> std::optional<bool> {
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    return std::nullopt;
  });
}

std::optional<std::size_t> Reader::choice(const Value& value,
                                          std::initializer_list<std::string_view> choices) {
  std::string expected = "one of: ";
  for (auto it = choices.begin(); it != choices.end(); ++it) {
    if (it != choices.begin()) expected += ", ";
    expected += *it;
  }
  return parsed_scalar(value, expected, [&](std::string_view text) -> std::optional<std::size_t> {
    auto it = std::find(choices.begin(), choices.end(), text);
    if (it == choices.end()) return std::nullopt;
    return static_cast<std::size_t>(it - choices.begin());
  });
}

std::optional<std::string> Reader::name(const Value& value) {
  auto text = scalar_text(value, "a name");
  if (!text) return std::nullopt;
  if (!is_valid_name(*text)) {
    error(value, name_rule_message(*text));
    return std::nullopt;
  }
  return text;
}

std::optional<HostPort> Reader::host_port(const Value& value, bool allow_port_zero) {
  constexpr const char* kExpected = "HOST:PORT, e.g. 127.0.0.1:6379";
  auto text = scalar_text(value, kExpected);
  if (!text) return std::nullopt;
  HostPort result;
  std::string_view port_text;
  std::string_view view = *text;
  if (view.starts_with('[')) {
    auto close = view.find("]:");
    if (close == std::string_view::npos) {
      error_got(value, kExpected, *text);
      return std::nullopt;
    }
    result.host = std::string(view.substr(1, close - 1));
    port_text = view.substr(close + 2);
  } else {
    auto colon = view.rfind(':');
    if (colon == std::string_view::npos || view.find(':') != colon) {
      error_got(value, kExpected, *text);
      return std::nullopt;
    }
    result.host = std::string(view.substr(0, colon));
    port_text = view.substr(colon + 1);
  }
  auto port = parse_int(port_text);
  if (result.host.empty() || !port || *port < (allow_port_zero ? 0 : 1) || *port > 65535) {
    error_got(value, std::string(kExpected) + " with a port from " + (allow_port_zero ? "0" : "1") +
                         " to 65535",
              *text);
    return std::nullopt;
  }
  result.port = static_cast<std::uint16_t>(*port);
  return result;
}

std::optional<HttpUrl> Reader::http_url(const Value& value) {
  constexpr const char* kExpected =
      "an http:// or https:// URL with a host, e.g. http://127.0.0.1:9000/path";
  auto text = scalar_text(value, kExpected);
  if (!text) return std::nullopt;
  // URLs may carry tokens in their query: errors never echo them.
  std::string_view view = *text;
  const bool https = view.starts_with("https://");
  if (!https && !view.starts_with("http://")) {
    error(value, std::string("must be ") + kExpected);
    return std::nullopt;
  }
  view.remove_prefix(https ? 8 : 7);
  std::size_t authority_end = view.find_first_of("/?#");
  std::string_view authority = view.substr(0, authority_end);
  std::string_view rest = authority_end == std::string_view::npos ? "" : view.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    error(value, "must not carry credentials (user@host); send them in `headers`");
    return std::nullopt;
  }
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  HttpUrl url;
  url.text = *text;
  url.https = https;
  if (https) url.port = 443;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) authority = {};
    else {
      url.host = std::string(authority.substr(1, close - 1));
      if (authority.size() > close + 1) {
        if (authority[close + 1] != ':') url.host.clear();
        port_text = authority.substr(close + 2);
      }
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    url.host = std::string(authority.substr(0, colon));
    port_text = authority.substr(colon + 1);
  } else {
    url.host = std::string(authority);
  }
  bool ok = !url.host.empty() &&
            url.host.find_first_of(" \t\r\n") == std::string::npos &&
            rest.find_first_of(" \t\r\n") == std::string_view::npos;
  if (ok && !port_text.empty()) {
    auto port = parse_int(port_text);
    ok = port && *port >= 1 && *port <= 65535;
    if (ok) url.port = static_cast<std::uint16_t>(*port);
  }
  if (!ok) {
    error(value, std::string("must be ") + kExpected);
    return std::nullopt;
  }
  url.target = rest.empty() || rest[0] == '?' ? "/" + std::string(rest) : std::string(rest);
  return url;
}

std::optional<std::vector<std::string>> Reader::string_list(const Value& value) {
  std::vector<std::string> items;
  if (value.node.IsSequence()) {
    bool ok = true;
    for (std::size_t i = 0; i < value.node.size(); ++i) {
      Position at = position_of(value.node[i].GetMark());
      Value item{value.node[i], value.path + "[" + std::to_string(i) + "]", at, at};
      auto text = non_empty_string(item);
      if (text) items.push_back(std::move(*text)); else ok = false;
    }
    if (!ok) return std::nullopt;
  } else {
    auto text = scalar_text(value, "a list or a comma-separated string");
    if (!text) return std::nullopt;
    std::string_view rest = *text;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      const std::string_view item = trim_whitespace(rest.substr(0, comma));
      if (!item.empty()) items.emplace_back(item);
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
  }
  if (items.empty()) {
    error(value, "must not be empty");
    return std::nullopt;
  }
  return items;
}

namespace {

// Plain YAML scalars carry their type by their spelling (YAML 1.2 core schema).
boost::json::value plain_scalar_to_json(const std::string& text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (auto number = parse_int(text)) return *number;
  if (text.find_first_of("0123456789") != std::string::npos &&
      text.find_first_not_of("0123456789+-.eE") == std::string::npos) {
    char* end = nullptr;
    double number = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size()) return number;
  }
  return boost::json::string(text);
}

}  // namespace

std::optional<std::string> Reader::json(const Value& value) {
  bool ok = true;
  auto convert = [&](auto& self, const Value& v) -> boost::json::value {
    switch (v.node.Type()) {
      case yaml::NodeType::kNull:
        return nullptr;
      case yaml::NodeType::kScalar: {
        ExpandResult expanded = expand_env(v.node.Scalar(), env_);
        if (!expanded.ok()) {
          error(v, expanded.error);
          ok = false;
          return nullptr;
        }
        if (v.node.IsPlain()) return plain_scalar_to_json(expanded.value);
        return boost::json::string(expanded.value);
      }
      case yaml::NodeType::kSequence: {
        boost::json::array array;
        for (std::size_t i = 0; i < v.node.size(); ++i) {
          Position at = position_of(v.node[i].GetMark());
          array.push_back(
              self(self, Value{v.node[i], v.path + "[" + std::to_string(i) + "]", at, at}));
        }
        return array;
      }
      case yaml::NodeType::kMap: {
        boost::json::object object;
        MapReader map(*this, v);
        for (auto& [key, item] : map.entries()) object[key] = self(self, item);
        return object;
      }
    }
    return nullptr;
  };
  boost::json::value result = convert(convert, value);
  if (!ok) return std::nullopt;
  return boost::json::serialize(result);
}

MapReader::MapReader(Reader& reader, const Value& value) : reader_(reader), self_(value) {
  if (value.node.IsNull() || !value.node.IsDefined()) return;  // an empty mapping
  if (!value.node.IsMap()) {
    reader_.error(value, "must be a mapping");
    return;
  }
  is_map_ = true;
  entries_.reserve(value.node.size());
  for (std::size_t i = 0; i < value.node.size(); ++i) {
    auto [key_node, value_node] = value.node.entry(i);
    Position key_at = position_of(key_node.GetMark());
    if (!key_node.IsScalar()) {
      reader_.error(key_at, self_.path, "keys must be plain strings");
      continue;
    }
    const std::string& key = key_node.Scalar();
    auto first = std::find_if(entries_.begin(), entries_.end(),
                              [&](const Entry& e) { return e.key == key; });
    if (first != entries_.end()) {
      reader_.error(key_at, child_path(self_.path, key),
                    "duplicate key " + quote(key) + " (first at line " +
                        std::to_string(first->key_at.line) + ")");
      continue;
    }
    entries_.push_back({key, key_at, value_node});
  }
}

MapReader::~MapReader() {
  for (const Entry& entry : entries_) {
    if (entry.used) continue;
    std::string message = "unknown key " + quote(entry.key);
    std::string_view best;
    std::size_t best_distance = 3;  // suggest only close spellings
    for (const std::string& known : asked_) {
      std::size_t distance = edit_distance(entry.key, known);
      if (distance < best_distance) {
        best_distance = distance;
        best = known;
      }
    }
    if (!best.empty()) message += " (did you mean " + quote(best) + "?)";
    reader_.error(entry.key_at, child_path(self_.path, entry.key), message);
  }
}

MapReader::Entry* MapReader::find(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return e.key == key; });
  return it == entries_.end() ? nullptr : &*it;
}

namespace {

// `entry_key` is KEY_file for `key`; compared in place, as this runs for every key asked.
bool is_file_key_of(std::string_view entry_key, std::string_view key) {
  return entry_key.size() == key.size() + 5 && entry_key.starts_with(key) &&
         entry_key.ends_with("_file");
}

}  // namespace

MapReader::Entry* MapReader::find_file_key(std::string_view key) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const Entry& e) { return is_file_key_of(e.key, key); });
  return it == entries_.end() ? nullptr : &*it;
}

bool MapReader::has(std::string_view key) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.key == key || is_file_key_of(e.key, key); });
}

Value MapReader::value_of(const Entry& entry, std::string_view shown_key) const {
  Value value{entry.value, child_path(self_.path, shown_key), entry.key_at, entry.key_at};
  // An empty value has no position of its own (the parser points past it): use its key's.
  if (!entry.value.IsNull()) value.at = position_of(entry.value.GetMark());
  return value;
}

std::optional<Value> MapReader::get(std::string_view key) {
  asked_.emplace_back(key);
  Entry* direct = find(key);
  Entry* from_file = find_file_key(key);
  if (direct) direct->used = true;
  if (from_file) from_file->used = true;
  if (direct && from_file) {
    reader_.error(from_file->key_at, child_path(self_.path, from_file->key),
                  "set either " + std::string(key) + " or " + from_file->key + ", not both");
    return std::nullopt;
  }
  if (direct) return value_of(*direct, key);
  if (!from_file) return std::nullopt;
  Value file_key = value_of(*from_file, from_file->key);
  auto text = reader_.read_file_value(file_key);
  if (!text) return std::nullopt;
  Value value = file_key;
  value.file_text = std::move(text);
  value.secret = true;
  return value;
}

MapReader::Choice MapReader::one_of(std::span<const std::string_view> keys) {
  Choice choice;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (auto value = get(keys[i]); value && choice.count++ == 0) {
      choice.value = std::move(value);
      choice.index = i;
    }
  }
  return choice;
}

std::optional<Value> MapReader::require(std::string_view key) {
  bool present = has(key);
  auto value = get(key);
  // A value of the wrong type was reported already; its "missing" keys would be noise.
  bool wrong_type = !is_map_ && self_.node.IsDefined() && !self_.node.IsNull();
  if (!present && !wrong_type) {
    reader_.error(self_.key_at, self_.path, "missing required key " + quote(key));
  }
  return value;
}

void MapReader::accept_all() {
  for (Entry& entry : entries_) entry.used = true;
}

std::vector<std::pair<std::string, Value>> MapReader::entries() {
  std::vector<std::pair<std::string, Value>> result;
  for (Entry& entry : entries_) {
    if (entry.used) continue;
    if (entry.key.ends_with("_file") && entry.key.size() > 5) {
      std::string key = entry.key.substr(0, entry.key.size() - 5);
      if (find(key) != nullptr) continue;  // get() reports "set either ... not both"
      if (auto value = get(key)) result.emplace_back(key, std::move(*value));
      continue;
    }
    if (auto value = get(entry.key)) result.emplace_back(entry.key, std::move(*value));
  }
  return result;
}

}  // namespace triggerd::config
