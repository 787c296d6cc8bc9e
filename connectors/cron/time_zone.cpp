#include "connectors/cron/time_zone.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "core/text.hpp"

namespace triggerd::cron {
namespace {

using std::chrono::days;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

constexpr std::int64_t kMinInstant = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMaxInstant = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kSecondsPerDay = 86400;
// RFC 8536 bounds UT offsets to (-25h, +26h); anything outside is corrupt data, and the
// bound keeps every "local = UTC + offset" sum far from overflow.
constexpr std::int32_t kMinOffset = -89999;
constexpr std::int32_t kMaxOffset = 93599;
// The years the calendar arithmetic is asked about; instants beyond are clamped.
constexpr std::int64_t kFirstInstant = -62135596800;  // 0001-01-01T00:00:00Z
constexpr std::int64_t kLastInstant = 253402300799;   // 9999-12-31T23:59:59Z
// The real tz database files are a few KiB; a limit keeps a wrong path from reading a disk.
constexpr off_t kMaxFileSize = 1 << 20;
constexpr std::string_view kDefaultZoneDir = "/usr/share/zoneinfo";

void set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

bool is_valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return is_ascii_alnum(c) || c == '_' || c == '+' || c == '-' || c == '/';
  });
}

// Reads a whole regular file; nullopt when it is missing, not a regular file or too big.
std::optional<std::string> read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat info {};
  std::optional<std::string> contents;
  if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size <= kMaxFileSize) {
    std::string data(static_cast<std::size_t>(info.st_size), '\0');
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (done == data.size()) contents = std::move(data);
  }
  ::close(fd);
  return contents;
}

// Big-endian reader over the TZif bytes that fails instead of reading past the end.
class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}

  bool skip(std::uint64_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += static_cast<std::size_t>(n);
    return true;
  }
  bool bytes(std::size_t n, std::string_view* out) {
    if (n > data_.size() - pos_) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool u8(std::uint8_t* out) {
    std::string_view b;
    if (!bytes(1, &b)) return false;
    *out = static_cast<std::uint8_t>(b[0]);
    return true;
  }
  bool be(std::size_t width, std::uint64_t* out) {
    std::string_view b;
    if (!bytes(width, &b)) return false;
    std::uint64_t v = 0;
    for (char c : b) v = (v << 8) | static_cast<unsigned char>(c);
    *out = v;
    return true;
  }
  // A two's complement signed integer of `width` bytes (4 or 8).
  bool signed_be(std::size_t width, std::int64_t* out) {
    std::uint64_t v = 0;
    if (!be(width, &v)) return false;
    if (width == 4) {
      *out = static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    } else {
      *out = static_cast<std::int64_t>(v);
    }
    return true;
  }
  [[nodiscard]] std::string_view rest() const { return data_.substr(pos_); }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  std::uint64_t isutcnt = 0;
  std::uint64_t isstdcnt = 0;
  std::uint64_t leapcnt = 0;
  std::uint64_t timecnt = 0;
  std::uint64_t typecnt = 0;
  std::uint64_t charcnt = 0;

  [[nodiscard]] std::uint64_t data_size(std::uint64_t time_size) const {
    return timecnt * time_size + timecnt + typecnt * 6 + charcnt + leapcnt * (time_size + 4) +
           isstdcnt + isutcnt;
  }
};

enum class HeaderResult { kOk, kNotTzif, kTruncated };

HeaderResult read_header(ByteReader& in, TzifHeader* header) {
  std::string_view magic;
  if (!in.bytes(4, &magic)) return HeaderResult::kNotTzif;
  if (magic != "TZif") return HeaderResult::kNotTzif;
  std::uint8_t version = 0;
  if (!in.u8(&version) || !in.skip(15)) return HeaderResult::kTruncated;
  header->version = static_cast<char>(version);
  for (std::uint64_t* count : {&header->isutcnt, &header->isstdcnt, &header->leapcnt,
                               &header->timecnt, &header->typecnt, &header->charcnt}) {
    if (!in.be(4, count)) return HeaderResult::kTruncated;
  }
  return HeaderResult::kOk;
}

bool is_leap_year(int year) { return std::chrono::year{year}.is_leap(); }

int year_of(std::int64_t instant) {
  const std::int64_t clamped = std::clamp(instant, kFirstInstant, kLastInstant);
  const auto day = std::chrono::floor<days>(sys_seconds{std::chrono::seconds{clamped}});
  return static_cast<int>(std::chrono::year_month_day{day}.year());
}

// POSIX TZ string pieces, each consuming from the front of `text` and failing cleanly.
bool parse_number(std::string_view& text, int max_digits, int* out) {
  int value = 0;
  int digits = 0;
  while (!text.empty() && is_ascii_digit(text.front()) && digits < max_digits) {
    value = value * 10 + (text.front() - '0');
    text.remove_prefix(1);
    ++digits;
  }
  *out = value;
  return digits > 0;
}

bool parse_abbreviation(std::string_view& text) {
  std::size_t n = 0;
  if (!text.empty() && text.front() == '<') {
    n = text.find('>');
    if (n == std::string_view::npos || n < 2) return false;
    text.remove_prefix(n + 1);
    return true;
  }
  while (n < text.size() && is_ascii_alpha(text[n])) ++n;
  if (n < 3) return false;
  text.remove_prefix(n);
  return true;
}

// [+-]hh[:mm[:ss]] with hours up to 167 (RFC 8536 extension), as signed seconds.
bool parse_hms(std::string_view& text, std::int32_t* out) {
  int sign = 1;
  if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
    if (text.front() == '-') sign = -1;
    text.remove_prefix(1);
  }
  int hours = 0;
  int minutes = 0;
  int seconds = 0;
  if (!parse_number(text, 3, &hours) || hours > 167) return false;
  if (!text.empty() && text.front() == ':') {
    text.remove_prefix(1);
    if (!parse_number(text, 2, &minutes) || minutes > 59) return false;
    if (!text.empty() && text.front() == ':') {
      text.remove_prefix(1);
      if (!parse_number(text, 2, &seconds) || seconds > 59) return false;
    }
  }
  *out = sign * (hours * 3600 + minutes * 60 + seconds);
  return true;
}

}  // namespace

std::optional<TimeZone::PosixRule> TimeZone::parse_posix_rule(std::string_view text) {
  PosixRule rule;
  std::int32_t west = 0;
  if (!parse_abbreviation(text) || !parse_hms(text, &west)) return std::nullopt;
  rule.std_offset = -west;
  if (text.empty()) return rule;

  if (!parse_abbreviation(text)) return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (!text.empty() && text.front() != ',') {
    if (!parse_hms(text, &west)) return std::nullopt;
    rule.dst_offset = -west;
  }
  // Without explicit dates POSIX leaves the rule to the implementation; real TZif footers
  // always spell them out, so anything else is treated as corrupt.
  auto parse_date = [&text](PosixDate* date) {
    if (text.empty() || text.front() != ',') return false;
    text.remove_prefix(1);
    if (!text.empty() && text.front() == 'J') {
      text.remove_prefix(1);
      date->kind = PosixDate::Kind::kJulianNoLeap;
      if (!parse_number(text, 3, &date->day) || date->day < 1 || date->day > 365) return false;
    } else if (!text.empty() && text.front() == 'M') {
      text.remove_prefix(1);
      date->kind = PosixDate::Kind::kMonthWeekDay;
      if (!parse_number(text, 2, &date->month) || date->month < 1 || date->month > 12) {
        return false;
      }
      if (text.empty() || text.front() != '.') return false;
      text.remove_prefix(1);
      if (!parse_number(text, 1, &date->week) || date->week < 1 || date->week > 5) return false;
      if (text.empty() || text.front() != '.') return false;
      text.remove_prefix(1);
      if (!parse_number(text, 1, &date->weekday) || date->weekday > 6) return false;
    } else {
      date->kind = PosixDate::Kind::kDayOfYear;
      if (!parse_number(text, 3, &date->day) || date->day > 365) return false;
    }
    if (!text.empty() && text.front() == '/') {
      text.remove_prefix(1);
      if (!parse_hms(text, &date->time)) return false;
    }
    return true;
  };
  if (!parse_date(&rule.dst_start) || !parse_date(&rule.dst_end) || !text.empty()) {
    return std::nullopt;
  }
  return rule;
}

std::int64_t TimeZone::rule_transition(const PosixDate& date, int year, std::int32_t offset) {
  using std::chrono::January;
  const std::chrono::year y{year};
  sys_days day{};
  switch (date.kind) {
    case PosixDate::Kind::kJulianNoLeap:
      // Jn never counts February 29: J60 is always March 1.
      day = sys_days{y / January / 1} +
            days{date.day - 1 + (is_leap_year(year) && date.day >= 60 ? 1 : 0)};
      break;
    case PosixDate::Kind::kDayOfYear:
      day = sys_days{y / January / 1} + days{date.day};
      break;
    case PosixDate::Kind::kMonthWeekDay: {
      const std::chrono::month m{static_cast<unsigned>(date.month)};
      const sys_days first{y / m / 1};
      const int first_weekday = static_cast<int>(std::chrono::weekday{first}.c_encoding());
      int day_of_month = 1 + (date.weekday - first_weekday + 7) % 7 + 7 * (date.week - 1);
      const int last = static_cast<int>(static_cast<unsigned>((y / m / std::chrono::last).day()));
      while (day_of_month > last) day_of_month -= 7;
      day = first + days{day_of_month - 1};
      break;
    }
  }
  return day.time_since_epoch().count() * kSecondsPerDay + date.time - offset;
}

TimeZone::Segment TimeZone::rule_segment_at(std::int64_t instant, std::int64_t floor) const {
  const PosixRule& rule = *rule_;
  if (!rule.has_dst) return {floor, kMaxInstant, rule.std_offset};

  // Two years either side: rule times may reach 167h past their date, so a neighbouring
  // year's switch can land in this one.
  const int year = year_of(instant);
  std::array<RuleTransition, 10> switches{};
  std::size_t n = 0;
  for (int y = year - 2; y <= year + 2; ++y) {
    switches[n++] = {rule_transition(rule.dst_start, y, rule.std_offset), rule.dst_offset};
    switches[n++] = {rule_transition(rule.dst_end, y, rule.dst_offset), rule.std_offset};
  }
  // Stable: for a zone on DST all year ("0/0,J365/25") the end of one year and the start of
  // the next coincide, and the later entry (DST starts) must win.
  std::stable_sort(switches.begin(), switches.end(),
                   [](const RuleTransition& a, const RuleTransition& b) { return a.at < b.at; });
  const auto next =
      std::upper_bound(switches.begin(), switches.end(), instant,
                       [](std::int64_t t, const RuleTransition& s) { return t < s.at; });
  const std::int64_t end = next == switches.end() ? kMaxInstant : next->at;
  if (next == switches.begin()) return {floor, end, rule.std_offset};
  const RuleTransition& current = *(next - 1);
  return {std::max(current.at, floor), end, current.offset_after};
}

TimeZone::Segment TimeZone::segment_at(std::int64_t instant) const {
  if (transitions_.empty()) {
    if (rule_) return rule_segment_at(instant, kMinInstant);
    return {kMinInstant, kMaxInstant, initial_offset_};
  }
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), instant);
  const auto index = static_cast<std::size_t>(it - transitions_.begin());
  if (index == 0) return {kMinInstant, transitions_.front(), initial_offset_};
  if (index < transitions_.size()) {
    return {transitions_[index - 1], transitions_[index], offsets_after_[index - 1]};
  }
  if (rule_) return rule_segment_at(instant, transitions_.back());
  return {transitions_.back(), kMaxInstant, offsets_after_.back()};
}

std::chrono::seconds TimeZone::offset_at(std::chrono::sys_seconds instant) const {
  return std::chrono::seconds{segment_at(instant.time_since_epoch().count()).offset};
}

std::chrono::local_seconds TimeZone::to_local(std::chrono::sys_seconds instant) const {
  return std::chrono::local_seconds{instant.time_since_epoch() + offset_at(instant)};
}

LocalInstants TimeZone::from_local(std::chrono::local_seconds local) const {
  // Every instant that can show `local` lies within a day of it (offsets stay under 26h),
  // so walking the segments of a window two days either side finds all of them.
  const std::int64_t wall = local.time_since_epoch().count();
  const std::int64_t window_end = wall + 2 * kSecondsPerDay;
  LocalInstants result;
  bool gap_seen = false;
  Segment segment = segment_at(wall - 2 * kSecondsPerDay);
  while (true) {
    const std::int64_t candidate = wall - segment.offset;
    if (candidate >= segment.begin && candidate < segment.end) {
      if (result.count == 0) {
        result.first = sys_seconds{std::chrono::seconds{candidate}};
        result.count = 1;
      } else if (result.count == 1 && candidate != result.first.time_since_epoch().count()) {
        result.second = sys_seconds{std::chrono::seconds{candidate}};
        result.count = 2;
      }
    } else if (candidate < segment.begin && result.count == 0 && !gap_seen) {
      // Before this segment starts but after the previous one ended: the clock jumped
      // over `local`, and this segment's start is where it landed.
      result.gap_end = sys_seconds{std::chrono::seconds{segment.begin}};
      gap_seen = true;
    }
    if (segment.end == kMaxInstant || segment.end > window_end) break;
    segment = segment_at(segment.end);
  }
  return result;
}

TimeZone TimeZone::utc() {
  TimeZone zone;
  zone.name_ = "UTC";
  return zone;
}

std::optional<TimeZone> TimeZone::from_tzif(std::string_view name, std::string_view data,
                                            std::string* error) {
  const auto malformed = [&](std::string_view why) {
    set_error(error,
              "time zone " + quote(name) + ": malformed TZif data (" + std::string(why) + ")");
    return std::nullopt;
  };

  ByteReader in(data);
  TzifHeader header;
  switch (read_header(in, &header)) {
    case HeaderResult::kOk:
      break;
    case HeaderResult::kNotTzif:
      set_error(error, "time zone " + quote(name) + ": not a TZif file");
      return std::nullopt;
    case HeaderResult::kTruncated:
      return malformed("truncated header");
  }
  const bool has_v2_data = header.version >= '2';
  if (!has_v2_data && header.version != '\0') return malformed("unknown version");

  std::size_t time_size = 4;
  if (has_v2_data) {
    // The version 1 block only has 32-bit times (good until 2038); skip to the 64-bit one.
    if (!in.skip(header.data_size(4))) return malformed("truncated version 1 data");
    if (read_header(in, &header) != HeaderResult::kOk) return malformed("bad second header");
    time_size = 8;
  }
  // Counts are 32-bit, so these products cannot overflow 64 bits; the size check below then
  // proves every read fits.
  if (header.typecnt == 0 || header.typecnt > 256) return malformed("bad type count");
  if ((header.isstdcnt != 0 && header.isstdcnt != header.typecnt) ||
      (header.isutcnt != 0 && header.isutcnt != header.typecnt)) {
    return malformed("bad indicator count");
  }
  if (header.data_size(time_size) > in.rest().size()) return malformed("truncated data");
  if (header.leapcnt != 0) {
    set_error(error, "time zone " + quote(name) +
                         " counts leap seconds, which is not supported; use the zone without"
                         " the right/ prefix");
    return std::nullopt;
  }

  TimeZone zone;
  zone.name_ = std::string(name);
  const auto timecnt = static_cast<std::size_t>(header.timecnt);
  zone.transitions_.resize(timecnt);
  for (std::int64_t& at : zone.transitions_) {
    in.signed_be(time_size, &at);
  }
  for (std::size_t i = 1; i < timecnt; ++i) {
    if (zone.transitions_[i] <= zone.transitions_[i - 1]) {
      return malformed("transitions out of order");
    }
  }
  std::vector<std::uint8_t> type_index(timecnt);
  for (std::uint8_t& index : type_index) {
    in.u8(&index);
    if (index >= header.typecnt) return malformed("bad type index");
  }
  std::vector<std::int32_t> type_offset(static_cast<std::size_t>(header.typecnt));
  for (std::int32_t& offset : type_offset) {
    std::int64_t utoff = 0;
    std::uint8_t ignored = 0;
    in.signed_be(4, &utoff);
    in.u8(&ignored);  // isdst: the offset alone decides what the clock shows
    in.u8(&ignored);  // abbreviation index
    if (utoff < kMinOffset || utoff > kMaxOffset) return malformed("bad UT offset");
    offset = static_cast<std::int32_t>(utoff);
  }
  in.skip(header.charcnt + header.isstdcnt + header.isutcnt);

  zone.initial_offset_ = type_offset[0];
  zone.offsets_after_.reserve(timecnt);
  for (std::uint8_t index : type_index) zone.offsets_after_.push_back(type_offset[index]);

  if (has_v2_data) {
    const std::string_view footer = in.rest();
    if (footer.empty() || footer.front() != '\n') return malformed("missing footer");
    const std::size_t close = footer.find('\n', 1);
    if (close == std::string_view::npos) return malformed("unterminated footer");
    const std::string_view tz = footer.substr(1, close - 1);
    if (!tz.empty()) {
      zone.rule_ = parse_posix_rule(tz);
      if (!zone.rule_) return malformed("bad footer \"" + std::string(tz) + "\"");
      const auto within = [](std::int32_t offset) {
        return offset >= kMinOffset && offset <= kMaxOffset;
      };
      if (!within(zone.rule_->std_offset) || !within(zone.rule_->dst_offset)) {
        return malformed("bad footer offset");
      }
    }
  }
  return zone;
}

std::optional<TimeZone> TimeZone::load(std::string_view name, std::string* error) {
  if (name == "UTC" || name == "Etc/UTC") {
    TimeZone zone = utc();
    zone.name_ = std::string(name);
    return zone;
  }
  if (!is_valid_zone_name(name)) {
    set_error(error, "invalid time zone name " + quote(name));
    return std::nullopt;
  }
  std::string path;
  // Like glibc, honour $TZDIR. Read at config time; nothing in triggerd calls setenv.
  const char* tzdir = std::getenv("TZDIR");  // NOLINT(concurrency-mt-unsafe)
  path = (tzdir != nullptr && *tzdir != '\0') ? tzdir : std::string(kDefaultZoneDir);
  path += '/';
  path += name;
  const std::optional<std::string> data = read_small_file(path);
  // Files in the zone directory that are not zones (e.g. "leapseconds") count as unknown.
  if (!data || data->compare(0, 4, "TZif") != 0) {
    set_error(error, "unknown time zone " + quote(name));
    return std::nullopt;
  }
  return from_tzif(name, *data, error);
}

}  // namespace triggerd::cron
