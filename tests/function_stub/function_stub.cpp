// The only Beast translation unit of the stub (Beast is slow to compile).
#include "tests/function_stub/function_stub.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

#include "core/http_parse_error.hpp"
#include "core/net_names.hpp"

namespace triggerd::testing {
namespace {

// Errors come back as values: a client going away is the normal end of a connection here.
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
constexpr std::string_view kControlPrefix = "/_stub/";

std::string_view strip_query(std::string_view target) { return target.substr(0, target.find('?')); }

// The bytes of a kRespond step's answer, as Beast's serializer writes them for a
// response<string_body> with the step's status, headers, keep-alive and Content-Length (none on
// 204 and 304; a HEAD answer announces the length but carries no body).
std::string format_answer(const StubStep& step, unsigned version, bool keep_alive, bool head) {
  http::response<http::string_body> response(static_cast<http::status>(step.status), version);
  for (const auto& [name, value] : step.headers) response.insert(name, value);
  response.keep_alive(keep_alive);
  if (step.status != 204 && step.status != 304) {
    response.content_length(step.body.size());
    if (!head) response.body() = step.body;
  }
  http::response_serializer<http::string_body> serializer(response);
  std::string bytes;
  beast::error_code error;
  while (!serializer.is_done()) {
    std::size_t taken = 0;
    serializer.next(error, [&](beast::error_code&, const auto& buffers) {
      for (const auto buffer : beast::buffers_range_ref(buffers)) {
        bytes.append(static_cast<const char*>(buffer.data()), buffer.size());
        taken += buffer.size();
      }
    });
    if (error) throw beast::system_error(error);  // string_body never fails
    serializer.consume(taken);
  }
  return bytes;
}

// A scripted step with its answers formatted once, on first use. Serializing a Beast response
// for every request (fields container, status line, a dozen small buffers gathered into
// sendmsg) was a large share of the stub's per-request cost, while the answer of a step is the
// same bytes every time: only the HTTP version, keep-alive and HEAD change it. Shared by every
// connection of every thread that takes the step, hence the once_flags.
class PreparedStep {
 public:
  explicit PreparedStep(StubStep step) : step_(std::move(step)) {}

  const StubStep& step() const { return step_; }

  // The full answer to a request of `version`: 10 or 11, the only versions Beast's parser
  // accepts.
  const std::string& answer(unsigned version, bool keep_alive, bool head) const {
    const std::size_t variant = (version == 11 ? 4 : 0) + (keep_alive ? 2 : 0) + (head ? 1 : 0);
    std::call_once(formatted_[variant],
                   [&] { answers_[variant] = format_answer(step_, version, keep_alive, head); });
    return answers_[variant];
  }

 private:
  StubStep step_;
  mutable std::array<std::once_flag, 8> formatted_;
  mutable std::array<std::string, 8> answers_;
};

using StepPtr = std::shared_ptr<const PreparedStep>;

// Rejected when scripted rather than when served, so the mistake points at the test's line.
StepPtr checked(StubStep step) {
  if (step.kind == StubStep::Kind::kRespond) {
    if (step.status < 200 || step.status > 599) {
      throw std::invalid_argument("function stub: status must be within 200..599, got " +
                                  std::to_string(step.status));
    }
    if ((step.status == 204 || step.status == 304) && !step.body.empty()) {
      throw std::invalid_argument("function stub: a " + std::to_string(step.status) +
                                  " answer can't have a body");
    }
  }
  if (step.delay.count() < 0) throw std::invalid_argument("function stub: negative delay");
  return std::make_shared<const PreparedStep>(std::move(step));
}

// Microsecond latencies in buckets: exact below kExact, then kSub buckets per power of two, so a
// bucket is narrower than 0.1 % of the values in it. Counters are atomic because several stub
// threads record at once; a sample costs two or three relaxed increments, no lock and no
// allocation, so a benchmark can record every request. Negative samples go to a second
// histogram of magnitudes.
class LatencyHistogram {
 public:
  LatencyHistogram()
      : negative_(std::make_unique<Counter[]>(kBuckets)),
        positive_(std::make_unique<Counter[]>(kBuckets)) {}

  void record(std::int64_t us) {
    const bool negative = us < 0;
    // Unsigned negation: correct for INT64_MIN too.
    const std::uint64_t magnitude =
        negative ? ~static_cast<std::uint64_t>(us) + 1 : static_cast<std::uint64_t>(us);
    (negative ? negative_ : positive_)[index(magnitude)].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(us, std::memory_order_relaxed);
    std::int64_t seen = min_.load(std::memory_order_relaxed);
    while (us < seen && !min_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
    }
    seen = max_.load(std::memory_order_relaxed);
    while (us > seen && !max_.compare_exchange_weak(seen, us, std::memory_order_relaxed)) {
    }
  }

  void note_unparsed() { unparsed_.fetch_add(1, std::memory_order_relaxed); }

  // Not atomic as a whole: samples recorded during a reset may half survive it. The benchmarks
  // reset between phases, with no load running.
  void reset() {
    for (std::size_t i = 0; i < kBuckets; ++i) {
      negative_[i].store(0, std::memory_order_relaxed);
      positive_[i].store(0, std::memory_order_relaxed);
    }
    sum_.store(0);
    unparsed_.store(0);
    min_.store(std::numeric_limits<std::int64_t>::max());
    max_.store(std::numeric_limits<std::int64_t>::min());
  }

  LatencySummary summary() const {
    // A copy first, so that the count and the percentiles agree while samples keep coming.
    std::vector<std::uint64_t> negative(kBuckets), positive(kBuckets);
    std::uint64_t count = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      negative[i] = negative_[i].load(std::memory_order_relaxed);
      positive[i] = positive_[i].load(std::memory_order_relaxed);
      count += negative[i] + positive[i];
    }
    LatencySummary summary;
    summary.unparsed = unparsed_.load(std::memory_order_relaxed);
    summary.count = count;
    if (count == 0) return summary;
    summary.min_us = min_.load(std::memory_order_relaxed);
    summary.max_us = max_.load(std::memory_order_relaxed);
    summary.mean_us =
        static_cast<double>(sum_.load(std::memory_order_relaxed)) / static_cast<double>(count);
    // Nearest rank: the smallest value with at least ceil(q * count) samples at or below it.
    const auto at = [&](double quantile) -> std::int64_t {
      const auto rank = std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count))));
      // The first and the last rank are the exact extremes, not their buckets' middles.
      if (rank == 1) return summary.min_us;
      if (rank >= count) return summary.max_us;
      std::uint64_t seen = 0;
      std::int64_t value = summary.max_us;
      bool found = false;
      for (std::size_t i = kBuckets; i-- > 0 && !found;) {  // most negative first
        seen += negative[i];
        if (seen >= rank) value = -static_cast<std::int64_t>(value_at(i)), found = true;
      }
      for (std::size_t i = 0; i < kBuckets && !found; ++i) {
        seen += positive[i];
        if (seen >= rank) value = static_cast<std::int64_t>(value_at(i)), found = true;
      }
      // A bucket's middle can lie past the exact extremes.
      return std::clamp(value, summary.min_us, summary.max_us);
    };
    summary.p50_us = at(0.50);
    summary.p90_us = at(0.90);
    summary.p99_us = at(0.99);
    summary.p999_us = at(0.999);
    return summary;
  }

 private:
  using Counter = std::atomic<std::uint64_t>;
  static constexpr int kSubBits = 10;
  static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;  // buckets per octave
  static constexpr std::uint64_t kExact = 2 * kSub;                    // 0..2047 one each
  static constexpr int kFirstExponent = kSubBits + 1;                  // 2048 = 2^11
  static constexpr int kLastExponent = 42;  // up to 2^43 us (100 days); larger ones clamp
  static constexpr std::size_t kBuckets = kExact + (kLastExponent - kFirstExponent + 1) * kSub;

  static std::size_t index(std::uint64_t magnitude) {
    if (magnitude < kExact) return static_cast<std::size_t>(magnitude);
    int exponent = std::bit_width(magnitude) - 1;
    if (exponent > kLastExponent) {
      exponent = kLastExponent;
      magnitude = (std::uint64_t{1} << (kLastExponent + 1)) - 1;
    }
    const int shift = exponent - kSubBits;
    return static_cast<std::size_t>(kExact + (exponent - kFirstExponent) * kSub +
                                    ((magnitude >> shift) - kSub));
  }

  // The middle of bucket `i` (its value for buckets below kExact).
  static std::uint64_t value_at(std::size_t i) {
    if (i < kExact) return i;
    const std::uint64_t offset = i - kExact;
    const int shift = static_cast<int>(offset / kSub) + kFirstExponent - kSubBits;
    const std::uint64_t low = (kSub + offset % kSub) << shift;
    return low + ((std::uint64_t{1} << shift) >> 1);
  }

  std::unique_ptr<Counter[]> negative_;
  std::unique_ptr<Counter[]> positive_;
  std::atomic<std::int64_t> sum_{0};
  std::atomic<std::uint64_t> unparsed_{0};
  std::atomic<std::int64_t> min_{std::numeric_limits<std::int64_t>::max()};
  std::atomic<std::int64_t> max_{std::numeric_limits<std::int64_t>::min()};
};

std::int64_t micros_since_epoch(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}

// `count` decimal digits at `text[at]`, or -1.
int read_digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return -1;
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

// One request as the serve loop needs it, filled in by RequestParser. One per connection and
// reused: once its strings have grown to a request's size, the common path allocates nothing
// (http::request_parser<string_body> allocated every header field and the body anew).
struct ParsedRequest {
  http::verb method = http::verb::unknown;
  std::string method_string;  // only when keeping the fields
  std::string target;
  unsigned version = 11;
  bool expect_continue = false;  // the first Expect field is 100-continue, in any case
  // Keep-alive as message::keep_alive() decides it: from the first Connection field only (the
  // parser's own keep_alive() looks at every Connection field).
  bool connection_seen = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool has_ce_time = false;
  std::string ce_time;  // the first ce-time field, only when wanted
  std::string body;     // only when wanted
  std::vector<std::pair<std::string, std::string>> headers;  // only when keeping the fields

  bool keep_alive() const {
    if (version < 11) return connection_seen && connection_keep_alive;
    return !(connection_seen && connection_close);
  }
};

// What a request's parse keeps beyond method, target, version, Expect and Connection: a stub
// that neither records nor prints needs no header copies, and the body only for the latency's
// JSON field.
struct WhatToKeep {
  bool fields = false;  // method string, every header and the body, for RecordedRequest
  bool body = false;
  bool ce_time = false;
};

// Beast's HTTP parser (the same grammar, limits and errors as http::request_parser) writing
// into a reused ParsedRequest instead of a fresh message. Beast parsers are single-use; this one
// is a few words on the stack, so a new one per request costs nothing.
class RequestParser final : public http::basic_parser<true> {
 public:
  RequestParser(ParsedRequest& out, WhatToKeep keep) : out_(out), keep_(keep) {
    out_.method = http::verb::unknown;
    out_.method_string.clear();
    out_.target.clear();
    out_.version = 11;
    out_.expect_continue = false;
    out_.connection_seen = out_.connection_close = out_.connection_keep_alive = false;
    out_.has_ce_time = false;
    out_.ce_time.clear();
    out_.body.clear();
    out_.headers.clear();
  }

 private:
  void on_request_impl(http::verb method, beast::string_view method_string,
                       beast::string_view target, int version, beast::error_code&) override {
    out_.method = method;
    if (keep_.fields) out_.method_string.assign(method_string.data(), method_string.size());
    out_.target.assign(target.data(), target.size());
    out_.version = static_cast<unsigned>(version);
  }

  void on_response_impl(int, beast::string_view, int, beast::error_code&) override {}

  void on_field_impl(http::field name, beast::string_view name_string, beast::string_view value,
                     beast::error_code&) override {
    if (keep_.fields) out_.headers.emplace_back(std::string(name_string), std::string(value));
    if (name == http::field::expect) {
      if (!expect_seen_) out_.expect_continue = beast::iequals(value, "100-continue");
      expect_seen_ = true;
    } else if (name == http::field::connection) {
      if (out_.connection_seen) return;
      out_.connection_seen = true;
      http::token_list tokens{value};
      out_.connection_close = tokens.exists("close");
      out_.connection_keep_alive = tokens.exists("keep-alive");
    } else if (keep_.ce_time && !out_.has_ce_time && beast::iequals(name_string, "ce-time")) {
      out_.has_ce_time = true;
      out_.ce_time.assign(value.data(), value.size());
    }
  }

  void on_header_impl(beast::error_code&) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length,
                         beast::error_code&) override {
    // Within body_limit: the parser checks a Content-Length against it before this.
    if (keep_body() && content_length) out_.body.reserve(static_cast<std::size_t>(*content_length));
  }

  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    if (keep_body()) out_.body.append(body.data(), body.size());
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}

  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                 beast::error_code& error) override {
    return on_body_impl(body, error);
  }

  void on_finish_impl(beast::error_code&) override {}

  bool keep_body() const { return keep_.body || keep_.fields; }

  ParsedRequest& out_;
  const WhatToKeep keep_;
  bool expect_seen_ = false;
};

}  // namespace

// --- Latency sources ------------------------------------------------------------------------

std::optional<LatencySource> LatencySource::parse(std::string_view text) {
  if (text == "ce-time") return ce_time();
  constexpr std::string_view kJson = "json:";
  if (text.substr(0, kJson.size()) == kJson && text.size() > kJson.size()) {
    return json(std::string(text.substr(kJson.size())));
  }
  return std::nullopt;
}

std::string LatencySource::name() const {
  if (kind == Kind::kJsonField) return "json:" + json_field;
  return kind == Kind::kCeTime ? "ce-time" : "none";
}

std::optional<std::int64_t> parse_rfc3339_us(std::string_view text) {
  // 2026-11-28T10:00:00 is 19 characters; then an optional fraction, then Z or +HH:MM.
  const int year = read_digits(text, 0, 4);
  const int month = read_digits(text, 5, 2);
  const int day = read_digits(text, 8, 2);
  const int hour = read_digits(text, 11, 2);
  const int minute = read_digits(text, 14, 2);
  const int second = read_digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || text[4] != '-' ||
      text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':' || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) return std::nullopt;
  std::size_t at = 19;
  std::int64_t fraction_us = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t first = at;
    std::int64_t scale = 100000;
    for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) {
      fraction_us += (text[at] - '0') * scale;
      scale /= 10;
    }
    if (at == first) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (at + 1 == text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    // UTC.
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    const int offset_hours = read_digits(text, at + 1, 2);
    const int offset_minutes = read_digits(text, at + 4, 2);
    if (offset_hours < 0 || offset_minutes < 0 || offset_hours > 23 || offset_minutes > 59) {
      return std::nullopt;
    }
    offset_s = (offset_hours * 3600 + offset_minutes * 60) * (text[at] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  return seconds * 1000000 + fraction_us;
}

std::optional<std::int64_t> find_json_integer(std::string_view json, std::string_view field) {
  std::string key;
  key.reserve(field.size() + 2);
  key += '"';
  key += field;
  key += '"';
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  // The name may also occur as a value ("note":"FIELD"): then look further.
  for (std::size_t found = json.find(key); found != std::string_view::npos;
       found = json.find(key, found + 1)) {
    std::size_t at = found + key.size();
    while (at < json.size() && is_space(json[at])) ++at;
    if (at >= json.size() || json[at] != ':') continue;
    ++at;
    while (at < json.size() && is_space(json[at])) ++at;
    const bool negative = at < json.size() && json[at] == '-';
    if (negative) ++at;
    std::int64_t value = 0;
    std::size_t digits = 0;
    for (; at < json.size() && json[at] >= '0' && json[at] <= '9'; ++at, ++digits) {
      if (digits == 18) return std::nullopt;  // would overflow; no epoch time is that long
      value = value * 10 + (json[at] - '0');
    }
    if (digits == 0) return std::nullopt;
    return negative ? -value : value;
  }
  return std::nullopt;
}

// --- StubStep and RecordedRequest -----------------------------------------------------------

StubStep StubStep::respond(int status, std::string body) {
  StubStep step;
  step.status = status;
  step.body = std::move(body);
  return step;
}

StubStep StubStep::close_connection() {
  StubStep step;
  step.kind = Kind::kCloseConnection;
  return step;
}

StubStep StubStep::reset_connection() {
  StubStep step;
  step.kind = Kind::kResetConnection;
  return step;
}

StubStep StubStep::hang() {
  StubStep step;
  step.kind = Kind::kHang;
  return step;
}

StubStep StubStep::with_delay(std::chrono::milliseconds delay_value) const& {
  return StubStep(*this).with_delay(delay_value);
}

StubStep StubStep::with_delay(std::chrono::milliseconds delay_value) && {
  delay = delay_value;
  return std::move(*this);
}

StubStep StubStep::with_header(std::string name, std::string value) const& {
  return StubStep(*this).with_header(std::move(name), std::move(value));
}

StubStep StubStep::with_header(std::string name, std::string value) && {
  headers.emplace_back(std::move(name), std::move(value));
  return std::move(*this);
}

StubStep StubStep::with_body(std::string body_value) const& {
  return StubStep(*this).with_body(std::move(body_value));
}

StubStep StubStep::with_body(std::string body_value) && {
  body = std::move(body_value);
  return std::move(*this);
}

StubStep StubStep::then(After after_value) const& { return StubStep(*this).then(after_value); }

StubStep StubStep::then(After after_value) && {
  after = after_value;
  return std::move(*this);
}

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (beast::iequals(key, name)) return value;
  }
  return "";
}

bool RecordedRequest::has_header(std::string_view name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [name](const auto& field) { return beast::iequals(field.first, name); });
}

std::string_view RecordedRequest::path() const { return strip_query(target); }

// --- The server -----------------------------------------------------------------------------

class FunctionStub::Impl {
 public:
  explicit Impl(FunctionStubOptions options) : options_(std::move(options)) {
    const int threads = std::max(1, options_.threads);
    for (int i = 0; i < threads; ++i) {
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      // Contexts without a listener would otherwise return from run() before any connection.
      work_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    // One listener handing connections round-robin to the threads: simpler than one
    // SO_REUSEPORT listener per thread, and accepting is not the cost with keep-alive.
    acceptor_.emplace(*contexts_.front());
    const tcp::endpoint endpoint(asio::ip::make_address(options_.address), options_.port);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(endpoint);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_->local_endpoint().port();
    if (!options_.tls_cert_file.empty() || !options_.tls_key_file.empty()) make_tls_context();

    asio::co_spawn(*contexts_.front(), accept_loop(), asio::detached);
    for (auto& context : contexts_) {
      threads_.emplace_back([&io = *context] { io.run(); });
    }
  }

  ~Impl() { stop(); }

  void stop() {
    std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& context : contexts_) context->stop();
    for (auto& thread : threads_) thread.join();
    // No thread runs now. The listener goes before its context; the first context goes first
    // because its accept loop may hold a just-accepted socket that belongs to another context.
    // Destroying a context destroys the coroutines parked in it, which closes their sockets.
    beast::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
    work_.clear();
    for (auto& context : contexts_) context.reset();
  }

  std::uint16_t port() const { return port_; }
  std::uint64_t tls_handshakes() const { return tls_handshakes_.load(); }
  std::uint64_t tls_sessions_resumed() const { return tls_resumed_.load(); }
  const FunctionStubOptions& options() const { return options_; }

  // Script.
  void enqueue(StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    queue_.push_back(std::move(checked_step));
  }

  void enqueue_for(std::string path, StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    routes_[std::move(path)].queue.push_back(std::move(checked_step));
  }

  void always(StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    default_step_ = std::move(checked_step);
  }

  void always_for(std::string path, StubStep step) {
    auto checked_step = checked(std::move(step));
    std::lock_guard lock(script_mutex_);
    routes_[std::move(path)].fallback = std::move(checked_step);
  }

  void clear_script() {
    std::lock_guard lock(script_mutex_);
    queue_.clear();
    routes_.clear();
    default_step_ = std::make_shared<const PreparedStep>(StubStep{});
  }

  std::size_t pending_steps() const {
    std::lock_guard lock(script_mutex_);
    return queue_.size();
  }

  // Records.
  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(records_mutex_);
    return records_;
  }

  std::uint64_t request_count() const { return request_count_.load(); }

  bool wait_for_requests(std::uint64_t count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(records_mutex_);
    waiters_.fetch_add(1);
    const bool reached =
        records_cv_.wait_for(lock, timeout, [&] { return request_count_.load() >= count; });
    waiters_.fetch_sub(1);
    return reached;
  }

  void clear() {
    std::lock_guard lock(records_mutex_);
    records_.clear();
    request_count_.store(0);
  }

  // Figures.
  std::int64_t current_concurrent() const { return current_concurrent_.load(); }
  std::int64_t max_concurrent() const { return max_concurrent_.load(); }
  void reset_max_concurrent() { max_concurrent_.store(current_concurrent_.load()); }
  std::uint64_t connection_count() const { return connection_count_.load(); }

  LatencySummary latency() const { return latency_.summary(); }

  void reset_stats() {
    clear();
    reset_max_concurrent();
    connection_count_.store(0);
    latency_.reset();
  }

 private:
  struct Route {
    std::deque<StepPtr> queue;
    StepPtr fallback;  // null: the main default
  };

  // Counts one request as in flight for its lifetime and keeps the maximum.
  class InFlight {
   public:
    explicit InFlight(Impl& impl) : impl_(impl) {
      const std::int64_t now = impl_.current_concurrent_.fetch_add(1) + 1;
      std::int64_t seen = impl_.max_concurrent_.load();
      while (now > seen && !impl_.max_concurrent_.compare_exchange_weak(seen, now)) {
      }
    }
    ~InFlight() { impl_.current_concurrent_.fetch_sub(1); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

   private:
    Impl& impl_;
  };

  asio::awaitable<void> accept_loop() {
    std::size_t next = 0;
    asio::steady_timer backoff(acceptor_->get_executor());
    for (;;) {
      asio::any_io_executor executor = contexts_[next++ % contexts_.size()]->get_executor();
      auto [error, socket] = co_await acceptor_->async_accept(executor, kUseTuple);
      if (error == asio::error::operation_aborted) co_return;
      if (error) {
        // Out of descriptors and the like: wait a little rather than spin on the error.
        backoff.expires_after(std::chrono::milliseconds(10));
        co_await backoff.async_wait(kUseTuple);
        continue;
      }
      // Taken before the move: a moved-from socket has no executor.
      const asio::any_io_executor socket_executor = socket.get_executor();
      if (tls_context_) {
        asio::co_spawn(socket_executor, serve_tls(std::move(socket)), asio::detached);
      } else {
        asio::co_spawn(socket_executor, serve_plain(std::move(socket)), asio::detached);
      }
    }
  }

  // The server side of HTTPS: TLS 1.2 or later, sessions resumable (tickets and the session
  // cache are OpenSSL's defaults; the id context lets a client with a certificate resume too).
  void make_tls_context() {
    tls_context_.emplace(asio::ssl::context::tls_server);
    SSL_CTX* native = tls_context_->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    static constexpr unsigned char kSessionContext[] = "function_stub";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
    tls_context_->use_certificate_chain_file(options_.tls_cert_file);
    tls_context_->use_private_key_file(options_.tls_key_file, asio::ssl::context::pem);
    if (!options_.tls_client_ca_file.empty()) {
      tls_context_->load_verify_file(options_.tls_client_ca_file);
      tls_context_->set_verify_mode(asio::ssl::verify_peer |
                                    asio::ssl::verify_fail_if_no_peer_cert);
    }
  }

  asio::awaitable<void> serve_plain(tcp::socket socket) { co_await serve(socket); }

  // A client that refuses the certificate (or has none to give) ends here: nothing is counted.
  asio::awaitable<void> serve_tls(tcp::socket socket) {
    beast::ssl_stream<tcp::socket> stream(std::move(socket), *tls_context_);
    auto [error] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (error) co_return;
    tls_handshakes_.fetch_add(1);
    if (SSL_session_reused(stream.native_handle()) == 1) tls_resumed_.fetch_add(1);
    co_await serve(stream);
  }

  // One connection: read a request, answer it, and so on. Strictly one request at a time, so
  // pipelined requests wait in the buffer and get their answers in order.
  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream) {
    tcp::socket& socket = beast::get_lowest_layer(stream);
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    beast::flat_buffer buffer;
    ParsedRequest request;  // reused by every request on the connection
    asio::steady_timer timer(socket.get_executor());
    std::uint64_t connection = 0;  // given on the first counted request
    std::uint64_t index_on_connection = 0;

    for (;;) {
      RequestParser parser(request, keep_);
      parser.header_limit(kHeaderLimit);
      parser.body_limit(options_.max_body_bytes);
      const beast::error_code read_error = co_await read_request(stream, buffer, parser, request);
      // Taken first, so that the latency covers none of the stub's own work on the request.
      const auto received =
          latency_on_ ? std::chrono::system_clock::now() : std::chrono::system_clock::time_point{};
      if (read_error) {
        // A client that closes between requests is the normal end; a malformed request gets an
        // answer so that a test sees what went wrong.
        if (read_error == http::error::body_limit) {
          co_await write_plain(stream, http::status::payload_too_large, "body too large\n");
        } else if (is_http_parse_error(read_error)) {
          co_await write_plain(stream, http::status::bad_request, read_error.message() + "\n");
        }
        co_return;
      }
      const bool keep_alive = request.keep_alive();

      if (options_.control_endpoints &&
          std::string_view(request.target).substr(0, kControlPrefix.size()) == kControlPrefix) {
        auto response = control(request);
        response.keep_alive(keep_alive);
        auto [write_error, written] = co_await http::async_write(stream, response, kUseTuple);
        if (write_error || !keep_alive) break;
        continue;
      }

      InFlight in_flight(*this);
      if (connection == 0) {
        connection = next_connection_id_.fetch_add(1) + 1;
        connection_count_.fetch_add(1);
      }
      ++index_on_connection;
      StepPtr step = next_step(strip_query(request.target));
      const bool head = request.method == http::verb::head;
      if (latency_on_) note_latency(request, received);
      if (StepPtr answer = note_request(request, connection, index_on_connection)) {
        step = std::move(answer);
      }

      if (step->step().delay.count() > 0) {
        timer.expires_after(step->step().delay);
        co_await timer.async_wait(kUseTuple);
      }
      switch (step->step().kind) {
        case StubStep::Kind::kRespond:
          break;
        case StubStep::Kind::kHang:
          co_await wait_until_peer_closes(stream);
          co_return;
        case StubStep::Kind::kCloseConnection:
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
          co_return;
        case StubStep::Kind::kResetConnection:
          // Linger 0 makes close() send RST instead of FIN.
          socket.set_option(tcp::socket::linger(true, 0), ignored);
          socket.close(ignored);
          co_return;
      }

      // The step's answer, formatted once (see PreparedStep): one send of one buffer, where
      // Beast's serializer gathered a dozen into sendmsg.
      const StubStep::After after = step->step().after;
      const bool announce_keep_alive = keep_alive && after != StubStep::After::kClose;
      const std::string& answer = step->answer(request.version, announce_keep_alive, head);
      auto [write_error, written] =
          co_await asio::async_write(stream, asio::buffer(answer), kUseTuple);
      if (write_error || !announce_keep_alive || after == StubStep::After::kHangUp) break;
    }
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  }

  // Bytes asked of each read. Beast's reads ask for max(512, free capacity), and a flat_buffer
  // emptied by consume() keeps only what it grew to, so a benchmark's 1 KiB POST (about 1.2 KiB
  // with its header) took three recv calls; this takes it, and many more, in one.
  static constexpr std::size_t kReadSize = 16 * 1024;
  static constexpr std::size_t kMaxReadSize = 64 * 1024;

  // Reads one request into `parser`: the steps of http::async_read_header and then
  // http::async_read (the header first, so that "Expect: 100-continue" is answered before the
  // body is waited for: curl sends it with bodies over 1 KiB and would otherwise wait a second),
  // in one coroutine that calls async_read_some itself. Beast's composed read operations cost
  // two layers of handlers per read, and two operations per request.
  template <typename Stream>
  static asio::awaitable<beast::error_code> read_request(Stream& stream,
                                                         beast::flat_buffer& buffer,
                                                         RequestParser& parser,
                                                         const ParsedRequest& request) {
    bool header_only = true;  // async_read_header's part
    parser.eager(false);      // stop after the header, as async_read_header does
    for (;;) {
      if (header_only ? parser.is_header_done() : parser.is_done()) {
        if (!header_only || parser.is_done()) co_return beast::error_code{};
        header_only = false;
        parser.eager(true);  // as async_read does: parse all the buffer holds at once
        if (request.expect_continue) {
          http::response<http::empty_body> go_on(http::status::continue_, 11);
          auto [write_error, written] = co_await http::async_write(stream, go_on, kUseTuple);
          if (write_error) co_return write_error;
        }
        continue;
      }
      if (buffer.size() > 0) {
        beast::error_code error;
        buffer.consume(parser.put(buffer.data(), error));
        if (error != http::error::need_more) {
          if (error) co_return error;
          continue;  // a complete header or body part: see whether that was all
        }
      }
      const std::size_t size =
          std::clamp(buffer.capacity() - buffer.size(), kReadSize, kMaxReadSize);
      auto [read_error, bytes] = co_await stream.async_read_some(buffer.prepare(size), kUseTuple);
      buffer.commit(bytes);
      // A TLS client may end without close_notify, as clients do: that is its end too.
      if (read_error == asio::error::eof || read_error == asio::ssl::error::stream_truncated) {
        // As Beast: the end of a message cut short is partial_message; between messages,
        // end_of_stream.
        if (!parser.got_some()) co_return beast::error_code(http::error::end_of_stream);
        beast::error_code error;
        parser.put_eof(error);
        if (error) co_return error;
        continue;
      }
      if (read_error) co_return read_error;
    }
  }

  template <typename Stream>
  asio::awaitable<void> write_plain(Stream& stream, http::status status, std::string body) {
    http::response<http::string_body> response(status, 11);
    response.set(http::field::content_type, "text/plain");
    response.keep_alive(false);
    response.body() = std::move(body);
    response.prepare_payload();
    co_await http::async_write(stream, response, kUseTuple);
  }

  // A hung request is over when the client gives up; whatever else it sends is never answered.
  template <typename Stream>
  static asio::awaitable<void> wait_until_peer_closes(Stream& stream) {
    std::array<char, 4096> discard;
    for (;;) {
      auto [error, bytes] = co_await stream.async_read_some(asio::buffer(discard), kUseTuple);
      if (error) co_return;
    }
  }

  http::response<http::string_body> control(const ParsedRequest& request) {
    const std::string_view path = strip_query(request.target);
    http::response<http::string_body> response(http::status::ok, request.version);
    if (path == "/_stub/stats") {
      if (request.method != http::verb::get) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET");
      } else {
        boost::json::object stats;
        stats["requests"] = request_count();
        stats["max_concurrent"] = max_concurrent();
        stats["current_concurrent"] = current_concurrent();
        stats["connections"] = connection_count();
        response.set(http::field::content_type, "application/json");
        response.body() = boost::json::serialize(stats) + "\n";
      }
    } else if (path == "/_stub/latency") {
      if (request.method != http::verb::get) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "GET");
      } else {
        response.set(http::field::content_type, "application/json");
        response.body() = latency_json() + "\n";
      }
    } else if (path == "/_stub/reset") {
      if (request.method != http::verb::post) {
        response.result(http::status::method_not_allowed);
        response.set(http::field::allow, "POST");
      } else {
        reset_stats();
        response.result(http::status::no_content);
        return response;
      }
    } else {
      response.result(http::status::not_found);
    }
    response.prepare_payload();
    return response;
  }

  // {"source":"ce-time","count":N,"unparsed":N,"min_us":..,"p50_us":..,"p90_us":..,"p99_us":..,
  // "p999_us":..,"max_us":..,"mean_us":..}; the figures are null while count is 0.
  std::string latency_json() const {
    const LatencySummary summary = latency_.summary();
    boost::json::object out;
    out["source"] = options_.latency_from.name();
    out["count"] = summary.count;
    out["unparsed"] = summary.unparsed;
    const auto figure = [&](const char* name, auto value) {
      if (summary.count == 0) {
        out[name] = nullptr;
      } else {
        out[name] = value;
      }
    };
    figure("min_us", summary.min_us);
    figure("p50_us", summary.p50_us);
    figure("p90_us", summary.p90_us);
    figure("p99_us", summary.p99_us);
    figure("p999_us", summary.p999_us);
    figure("max_us", summary.max_us);
    figure("mean_us", summary.mean_us);
    return boost::json::serialize(out);
  }

  void note_latency(const ParsedRequest& request, std::chrono::system_clock::time_point received) {
    std::optional<std::int64_t> start_us;
    if (options_.latency_from.kind == LatencySource::Kind::kCeTime) {
      if (request.has_ce_time) start_us = parse_rfc3339_us(request.ce_time);
    } else {
      start_us = find_json_integer(request.body, options_.latency_from.json_field);
    }
    if (start_us) {
      latency_.record(micros_since_epoch(received) - *start_us);
    } else {
      latency_.note_unparsed();
    }
  }

  StepPtr next_step(std::string_view path) {
    std::lock_guard lock(script_mutex_);
    if (!routes_.empty()) {
      if (auto route = routes_.find(path); route != routes_.end()) {
        if (!route->second.queue.empty()) return pop_front(route->second.queue);
        return route->second.fallback ? route->second.fallback : default_step_;
      }
    }
    if (!queue_.empty()) return pop_front(queue_);
    return default_step_;
  }

  static StepPtr pop_front(std::deque<StepPtr>& queue) {
    StepPtr step = std::move(queue.front());
    queue.pop_front();
    return step;
  }

  // Returns the step options_.answer chose for the request, if it chose one.
  StepPtr note_request(ParsedRequest& request, std::uint64_t connection,
                       std::uint64_t index_on_connection) {
    StepPtr answer;
    if (!keep_.fields) {
      request_count_.fetch_add(1);
    } else {
      RecordedRequest record;
      record.method = request.method_string;
      record.target = request.target;
      record.headers = std::move(request.headers);
      record.body = std::move(request.body);
      record.received_at = std::chrono::system_clock::now();
      record.received_steady = std::chrono::steady_clock::now();
      record.connection = connection;
      record.index_on_connection = index_on_connection;
      if (options_.on_request) options_.on_request(record);
      if (options_.answer) {
        if (std::optional<StubStep> chosen = options_.answer(record)) {
          answer = checked(std::move(*chosen));
        }
      }
      if (options_.record) {
        // Counted under the lock so that clear() never leaves a count without its record.
        std::lock_guard lock(records_mutex_);
        records_.push_back(std::move(record));
        request_count_.fetch_add(1);
      } else {
        request_count_.fetch_add(1);
      }
    }
    // The fast path takes no lock: a waiter announces itself before it checks the count, and
    // both sides use sequentially consistent atomics, so either the waiter sees the new count
    // or this sees the waiter and wakes it under the lock.
    if (waiters_.load() > 0) {
      { std::lock_guard lock(records_mutex_); }
      records_cv_.notify_all();
    }
    return answer;
  }

  // Declared before the contexts: coroutines destroyed with a context still touch these.
  FunctionStubOptions options_;
  std::uint16_t port_ = 0;

  mutable std::mutex script_mutex_;
  std::deque<StepPtr> queue_;
  std::map<std::string, Route, std::less<>> routes_;
  StepPtr default_step_ = std::make_shared<const PreparedStep>(StubStep{});

  mutable std::mutex records_mutex_;
  mutable std::condition_variable records_cv_;
  mutable std::atomic<int> waiters_{0};
  std::vector<RecordedRequest> records_;
  std::atomic<std::uint64_t> request_count_{0};

  std::atomic<std::int64_t> current_concurrent_{0};
  std::atomic<std::int64_t> max_concurrent_{0};
  std::atomic<std::uint64_t> connection_count_{0};
  std::atomic<std::uint64_t> next_connection_id_{0};

  const bool latency_on_ = options_.latency_from.kind != LatencySource::Kind::kNone;
  // What each request's parse keeps (see WhatToKeep).
  const WhatToKeep keep_{.fields = options_.record || static_cast<bool>(options_.on_request) ||
                                   static_cast<bool>(options_.answer),
                         .body = options_.latency_from.kind == LatencySource::Kind::kJsonField,
                         .ce_time = options_.latency_from.kind == LatencySource::Kind::kCeTime};
  LatencyHistogram latency_;

  std::mutex stop_mutex_;
  bool stopped_ = false;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::ssl::context> tls_context_;  // HTTPS
  std::atomic<std::uint64_t> tls_handshakes_{0};
  std::atomic<std::uint64_t> tls_resumed_{0};
  std::vector<std::thread> threads_;
};

// --- FunctionStub ---------------------------------------------------------------------------

FunctionStub::FunctionStub(FunctionStubOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

FunctionStub::~FunctionStub() = default;

std::uint16_t FunctionStub::port() const { return impl_->port(); }

std::uint64_t FunctionStub::tls_handshakes() const { return impl_->tls_handshakes(); }

std::uint64_t FunctionStub::tls_sessions_resumed() const {
  return impl_->tls_sessions_resumed();
}

std::string FunctionStub::url(std::string_view path) const {
  const std::string& address = impl_->options().address;
  const bool v6 = address.find(':') != std::string::npos;
  const bool tls = !impl_->options().tls_cert_file.empty();
  return (tls ? "https://" : "http://") + (v6 ? "[" + address + "]" : address) + ":" +
         std::to_string(port()) +
         std::string(path);
}

void FunctionStub::stop() { impl_->stop(); }

void FunctionStub::enqueue(StubStep step) { impl_->enqueue(std::move(step)); }

void FunctionStub::enqueue_statuses(std::initializer_list<int> statuses) {
  for (int status : statuses) impl_->enqueue(StubStep::respond(status));
}

void FunctionStub::enqueue_for(std::string path, StubStep step) {
  impl_->enqueue_for(std::move(path), std::move(step));
}

void FunctionStub::always(int status, std::chrono::milliseconds delay) {
  impl_->always(StubStep::respond(status).with_delay(delay));
}

void FunctionStub::always(StubStep step) { impl_->always(std::move(step)); }

void FunctionStub::always_for(std::string path, StubStep step) {
  impl_->always_for(std::move(path), std::move(step));
}

void FunctionStub::clear_script() { impl_->clear_script(); }

std::size_t FunctionStub::pending_steps() const { return impl_->pending_steps(); }

std::vector<RecordedRequest> FunctionStub::requests() const { return impl_->requests(); }

std::uint64_t FunctionStub::request_count() const { return impl_->request_count(); }

bool FunctionStub::wait_for_requests(std::uint64_t count, std::chrono::milliseconds timeout) const {
  return impl_->wait_for_requests(count, timeout);
}

void FunctionStub::clear() { impl_->clear(); }

std::int64_t FunctionStub::current_concurrent() const { return impl_->current_concurrent(); }

std::int64_t FunctionStub::max_concurrent() const { return impl_->max_concurrent(); }

void FunctionStub::reset_max_concurrent() { impl_->reset_max_concurrent(); }

std::uint64_t FunctionStub::connection_count() const { return impl_->connection_count(); }

LatencySummary FunctionStub::latency() const { return impl_->latency(); }

void FunctionStub::reset_stats() { impl_->reset_stats(); }

}  // namespace triggerd::testing
