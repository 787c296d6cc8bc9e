// A function's answer, read as the dispatcher reads it (dispatcher/http_client.cpp: an
// AnswerParser per answer, its header limit, no body limit, interim 1xx answers skipped), and
// beside it by Beast's own http::response_parser<http::string_body> as the reference. The two
// share Beast's framing but not the callbacks, so they must agree on every input: the same
// error or none, and for an answer the same status, keep-alive, Retry-After (the last one
// given) and the same bytes left over. Retry-After values, and the whole input as one, go
// through parse_retry_after, which must never give a negative wait.
//
// Input: one byte for how the bytes arrive (at once, or in pieces), then the answer's bytes.
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "arriving_bytes.hpp"
#include "dispatcher/answer_parser.hpp"
#include "dispatcher/retry_policy.hpp"

namespace {

namespace http = boost::beast::http;
using triggerd::AnswerParser;
using triggerd::fuzz::ArrivingBytes;
using Reference = http::response_parser<http::string_body>;

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
constexpr int kMaxAnswers = 8;
constexpr std::uint64_t kReferenceBodyLimit = 1024 * 1024;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "function answer: %s\n", why.c_str());
  std::abort();
}

void check_retry_after(std::string_view value) {
  const std::optional<triggerd::config::Duration> wait = triggerd::parse_retry_after(value, kNow);
  if (wait && wait->count() < 0) fail("a negative Retry-After wait");
}

// The last Retry-After of the reference's message, as AnswerParser keeps it.
std::string last_retry_after(const Reference& parser) {
  std::string value;
  for (const auto& field : parser.get()) {
    if (field.name() == http::field::retry_after) value = std::string(field.value());
  }
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t piece = static_cast<std::size_t>(data[0]) * 2;
  check_retry_after(bytes);

  ArrivingBytes ours(bytes, piece);
  ArrivingBytes theirs(bytes, piece);
  for (int n = 0; n < kMaxAnswers; ++n) {
    AnswerParser parser;
    parser.header_limit(AnswerParser::kHeaderLimit);
    parser.body_limit(boost::none);
    parser.eager(true);  // as http::read
    Reference reference;
    reference.header_limit(AnswerParser::kHeaderLimit);
    // string_body reserves what Content-Length announces; a limit keeps the reference from
    // asking the allocator for exabytes (inputs are a few KiB anyway).
    reference.body_limit(kReferenceBodyLimit);
    reference.eager(true);

    const boost::system::error_code error = ours.read(parser, [&] { return parser.is_done(); });
    const boost::system::error_code expected =
        theirs.read(reference, [&] { return reference.is_done(); });
    // Beyond its limit the reference refuses a body that AnswerParser, storing nothing, reads
    // on: nothing to compare then.
    if (expected == http::error::body_limit || expected == http::error::buffer_overflow) return 0;
    if (error != expected) {
      fail("error \"" + error.message() + "\", the reference's \"" + expected.message() + "\"");
    }
    if (error) return 0;
    if (parser.status() != static_cast<int>(reference.get().result_int())) {
      fail("status " + std::to_string(parser.status()) + ", the reference's " +
           std::to_string(reference.get().result_int()));
    }
    if (parser.keep_alive() != reference.keep_alive()) fail("keep-alive differs");
    if (parser.retry_after() != last_retry_after(reference)) fail("Retry-After differs");
    if (ours.rest() != theirs.rest()) fail("different bytes left after the answer");
    check_retry_after(parser.retry_after());

    // The dispatcher reads on past an interim answer; any other answer is the last.
    const int status = parser.status();
    if (status < 100 || status > 199 || status == 101) return 0;
  }
  return 0;
}
