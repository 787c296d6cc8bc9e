#pragma once
// The parser of a function's answer: Beast's framing, keeping only the status and Retry-After.
// Included by http_client.cpp and the answer fuzz target only (it pulls in Beast's parser).
#include <boost/beast/http/basic_parser.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/net_names.hpp"

namespace triggerd {

// Reads a function's answer and keeps only what the dispatcher uses: the status, Retry-After,
// and the body only when asked (a batch's per-event statuses). Beast's response_parser would
// store every header field (an allocation each) and the body; this one stores nothing else, and
// otherwise the body's bytes are only counted, read to the end so the connection can carry the
// next request. basic_parser still does all of the framing (Content-Length, chunked,
// keep-alive).
class AnswerParser final : public http::basic_parser<false> {
 public:
  // Functions may answer with cookies and tracing headers; 8 KiB (Beast's default) is tight.
  static constexpr std::uint32_t kHeaderLimit = 64 * 1024;

  // Keeps up to `limit` bytes of the body in `*out` (cleared first); past that, sets `*cut`.
  void keep_body(std::string* out, bool* cut, std::size_t limit) {
    body_ = out;
    body_cut_ = cut;
    body_limit_ = limit;
    body_->clear();
    *body_cut_ = false;
  }

  int status() const { return status_; }
  const std::string& retry_after() const { return retry_after_; }

 private:
  void on_request_impl(http::verb /*method*/, beast::string_view /*method_str*/,
                       beast::string_view /*target*/, int /*version*/,
                       beast::error_code& /*error*/) override {}

  void on_response_impl(int code, beast::string_view /*reason*/, int /*version*/,
                        beast::error_code& /*error*/) override {
    status_ = code;
  }

  void on_field_impl(http::field name, beast::string_view /*name_string*/,
                     beast::string_view value, beast::error_code& /*error*/) override {
    if (name == http::field::retry_after) retry_after_.assign(value.data(), value.size());
  }

  void on_header_impl(beast::error_code& /*error*/) override {}

  void on_body_init_impl(const boost::optional<std::uint64_t>& /*content_length*/,
                         beast::error_code& /*error*/) override {}

  std::size_t on_body_impl(beast::string_view body, beast::error_code& /*error*/) override {
    keep(body);
    return body.size();
  }

  void on_chunk_header_impl(std::uint64_t /*size*/, beast::string_view /*extensions*/,
                            beast::error_code& /*error*/) override {}

  std::size_t on_chunk_body_impl(std::uint64_t /*remain*/, beast::string_view body,
                                 beast::error_code& /*error*/) override {
    keep(body);
    return body.size();
  }

  void keep(beast::string_view body) {
    if (body_ == nullptr) return;
    const std::size_t room = body_limit_ - std::min(body_limit_, body_->size());
    if (body.size() > room) *body_cut_ = true;
    body_->append(body.data(), std::min(room, body.size()));
  }

  void on_finish_impl(beast::error_code& /*error*/) override {}

  int status_ = 0;
  std::string retry_after_;
  std::string* body_ = nullptr;  // null: the body is only counted
  bool* body_cut_ = nullptr;
  std::size_t body_limit_ = 0;
};

}  // namespace triggerd
