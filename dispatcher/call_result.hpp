#pragma once
// What one HTTP attempt to a function (or to an http dead letter) came to. A plain value so that
// the retry policy can judge it without knowing anything about sockets.
#include <chrono>
#include <string>

namespace triggerd {

struct CallResult {
  enum class Kind {
    status,         // an HTTP answer was read in full: see `status`
    timeout,        // the endpoint's timeout passed before the answer was read
    connect_error,  // refused, reset, DNS failure, EOF before (or in the middle of) the answer
    cancelled,      // the caller's cancellation slot fired; nothing can be said of the endpoint
  };

  Kind kind = Kind::connect_error;
  int status = 0;           // when kind == status
  std::string retry_after;  // the Retry-After header as received; empty when absent
  std::string error;        // when kind == connect_error: what failed, e.g. "connection refused"
  // connect_error: the server's certificate was refused, or TLS could not be set up. A matter of
  // configuration, never a function that is starting up.
  bool tls_refused = false;
  // From the moment the attempt had its concurrency slot (so a fresh connect is included) to the
  // answer read or the failure.
  std::chrono::steady_clock::duration duration{};
  // kind == status, when the call asked for it (FunctionCall::keep_answer_body): the answer's
  // body, cut at that many bytes; body_cut says it was longer.
  std::string body;
  bool body_cut = false;

  bool is_status() const { return kind == Kind::status; }

  // For logs: "status 503", "timeout", "connect_error: connection refused".
  std::string describe() const {
    return is_status() ? "status " + std::to_string(status) : error_text();
  }

  // How a failure without a status reads in a dead letter and in logs: "timeout",
  // "connect_error: connection refused". Empty for a status.
  std::string error_text() const {
    switch (kind) {
      case Kind::status:
        return {};
      case Kind::timeout:
        return "timeout";
      case Kind::connect_error:
        return error.empty() ? "connect_error" : "connect_error: " + error;
      case Kind::cancelled:
        return "cancelled";
    }
    return {};
  }
};

}  // namespace triggerd
