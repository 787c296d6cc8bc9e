#pragma once
// Small text helpers shared by every layer. ASCII only, whatever the process locale: the
// <cctype> functions follow the locale, and what triggerd reads (HTTP heads, cron expressions,
// config keys, time stamps) is defined in ASCII.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace triggerd {

constexpr bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_ascii_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
constexpr bool is_ascii_alnum(char c) { return is_ascii_alpha(c) || is_ascii_digit(c); }
// Space, \t, \n, \v, \f and \r.
constexpr bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

constexpr char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr char ascii_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}
std::string to_ascii_lower(std::string_view text);
std::string to_ascii_upper(std::string_view text);

// Inline: the dispatcher compares header names with these for every request it writes.
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}
inline bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

// `text` without the ASCII white space (is_ascii_space) at either end.
std::string_view trim_whitespace(std::string_view text);

// 0-15 for a hex digit of either case, -1 for anything else.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The bytes of standard base64 (RFC 4648 section 4, '+' and '/'), with or without its '='
// padding; std::nullopt for any other character, a misplaced '=' or a dangling bit count.
std::optional<std::string> base64_decode(std::string_view text);

// An RFC 9110 token (a header name, a method): letters, digits and !#$%&'*+-.^_`|~, not empty.
bool is_http_token(std::string_view text);

// `text` in double quotes for an error message. Printable ASCII stays as it is; every other
// byte, and '"' and '\', become \xNN, so the message stays one line (FILE:LINE:COL: error:),
// cannot move a terminal's cursor, and shows where the quoted text ends. Not named quoted():
// for a std::string argument, ADL would find std::quoted and prefer it.
std::string quote(std::string_view text);
// quote() of at most the first `max_length` bytes of `text`, with "..." after the closing
// quote when it was cut: for echoing what a client sent without echoing all of it.
std::string quote_excerpt(std::string_view text, std::size_t max_length);

}  // namespace triggerd
