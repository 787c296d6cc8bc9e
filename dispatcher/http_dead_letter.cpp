#include "dispatcher/http_dead_letter.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <string>

#include "core/logging.hpp"
#include "core/time_format.hpp"

namespace triggerd {

DeadLetterResult http_dead_letter_result(const CallResult& result) {
  switch (result.kind) {
    case CallResult::Kind::status:
      if (result.status >= 200 && result.status <= 299) return DeadLetterResult::accepted();
      if (result.status == 408 || result.status == 429 || result.status >= 500) {
        return DeadLetterResult::temporary(result.describe());
      }
      return DeadLetterResult::permanent(result.describe());
    case CallResult::Kind::timeout:
    case CallResult::Kind::connect_error:
    case CallResult::Kind::cancelled:
      break;
  }
  return DeadLetterResult::temporary(result.describe());
}

HttpDeadLetterSink::HttpDeadLetterSink(boost::asio::any_io_executor executor,
                                       const config::HttpDeadLetter& spec)
    : client_(std::move(executor),
              HttpEndpoint{"dead-letter", spec.url, kTimeout, kMaxConcurrency, {}, spec.tls}),
      logger_(logging::get("dispatcher")) {}

boost::asio::awaitable<DeadLetterResult> HttpDeadLetterSink::write(const Event& event,
                                                                   const DeadLetterInfo& info) {
  std::array<char, 16> attempts{};
  std::array<char, 16> status{};
  const char* attempts_end =
      std::to_chars(attempts.data(), attempts.data() + attempts.size(), info.attempts).ptr;
  const char* status_end =
      std::to_chars(status.data(), status.data() + status.size(), info.last_status).ptr;
  const std::string first_attempt = format_rfc3339(info.first_attempt);
  const bool had_status = info.last_status != 0;
  const std::array<ExtraHeader, 5> headers{{
      {"ce-trigger", info.trigger},
      {"ce-function", info.function},
      {"ce-attempts", std::string_view(attempts.data(), attempts_end)},
      had_status ? ExtraHeader{"ce-laststatus", std::string_view(status.data(), status_end)}
                 : ExtraHeader{"ce-lasterror", info.last_error},
      {"ce-firstattempt", first_attempt},
  }};
  const CallResult result = co_await client_.post(event, headers);
  DeadLetterResult outcome = http_dead_letter_result(result);
  if (!outcome.ok() && result.kind != CallResult::Kind::cancelled) {
    logger_->debug("trigger {}: event {}: dead letter {} did not take it: {}", info.trigger,
                   event.id, client_.endpoint().url.text, outcome.reason);
  }
  co_return outcome;
}

}  // namespace triggerd
