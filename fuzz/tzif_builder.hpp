#pragma once
// Writes TZif files (RFC 8536, version 2) for the cron and time zone targets: a zone with a
// fixed offset, or one that is nothing but a POSIX TZ rule in its footer, as the tz database
// writes the zones that have never changed their rule.
#include <cstdint>
#include <string>
#include <string_view>

namespace triggerd::fuzz {

inline void append_be32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

// One local time type of `offset` seconds east of UTC, no transitions, and `footer` as the
// rule for every instant (empty: the type's offset holds for ever).
inline std::string make_tzif(std::int32_t offset, std::string_view footer) {
  constexpr std::string_view kAbbreviation("FZ\0", 3);
  std::string out;
  const auto block = [&](char version) {
    out.append("TZif");
    out.push_back(version);
    out.append(15, '\0');
    for (std::uint32_t count :
         {0u, 0u, 0u, 0u, 1u, static_cast<std::uint32_t>(kAbbreviation.size())}) {
      append_be32(out, count);  // isut, isstd, leap, time, type, char
    }
    append_be32(out, static_cast<std::uint32_t>(offset));
    out.push_back('\0');  // isdst
    out.push_back('\0');  // abbreviation index
    out.append(kAbbreviation);
  };
  block('2');  // the version 1 block, which readers of version 2 skip
  block('2');
  out.push_back('\n');
  out.append(footer);
  out.push_back('\n');
  return out;
}

}  // namespace triggerd::fuzz
