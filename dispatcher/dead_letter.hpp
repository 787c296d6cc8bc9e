#pragma once
// Where an event goes when the function rejected it or every retry failed (SPEC sections 2 and
// 3): the dead letter. One interface for every type (http here; redis-stream, redis-list and
// kafka from their connector folders), built through one explicit switch.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "broker/event.hpp"
#include "config/config.hpp"

namespace triggerd {

// What a dead-lettered event carries besides its own data and attributes.
struct DeadLetterInfo {
  std::string trigger;
  std::string function;
  int attempts = 0;
  int last_status = 0;     // the function's last HTTP status; 0 when the last attempt had none
  std::string last_error;  // when last_status is 0: "timeout", "connect_error: ..."
  std::chrono::system_clock::time_point first_attempt;
};

class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;

  // Writes one event; true once the dead letter has it (durably, as far as the target promises).
  // Never throws; false on any failure, including a cancellation of the calling coroutine (the
  // dispatcher tells the two apart). `event` and `info` stay valid until it completes.
  virtual boost::asio::awaitable<bool> write(const Event& event, const DeadLetterInfo& info) = 0;

  // Releases idle resources (pooled connections) at shutdown. Writes may still follow.
  virtual void stop() {}
};

// The sink for one trigger's `dead_letter`.
// `config` is there for the connection a redis or kafka dead letter names.
std::unique_ptr<DeadLetterSink> make_dead_letter_sink(boost::asio::any_io_executor executor,
                                                      const config::DeadLetter& dead_letter,
                                                      const config::Config& config);

}  // namespace triggerd
