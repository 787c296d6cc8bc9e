#pragma once
// The acknowledging half of a Redis source: XACK for a stream, LREM for a list. Finished items
// wait here, and everything that finished since the last round trip is written in one pipeline,
// on a connection of its own so that reads and acknowledgements never wait for each other.
// A write that fails is counted (triggerd_source_errors_total, kind="ack"; kind="connect" when
// the connection cannot be made), logged the first time and every 20th, and tried again after
// a backoff, its items first. Once the source closes, what is owed is written until the close
// deadline and then given up: those items are delivered again (at least once).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "connectors/redis/redis_client.hpp"
#include "connectors/redis/redis_source_context.hpp"

namespace triggerd::redis {

class SourceDrain;

class AckWriter {
 public:
  // What the writer asks of its source.
  class Owner {
   public:
    // After each write, whatever came of it: `acknowledged` holds the items Redis took (none
    // when the write failed), for the source to let go of. It may move them out.
    virtual void written(std::vector<std::string>& acknowledged) = 0;
    // For the log: the write of `items` that failed ("XACK of 3 entries"), and what the close
    // deadline leaves unwritten, with what that means for them.
    virtual std::string describe_write(std::size_t items) const = 0;
    virtual std::string describe_unwritten(std::size_t items) const = 0;
    // Other work for the acknowledging connection, every Settings::upkeep_every, between writes.
    virtual boost::asio::awaitable<void> upkeep();

   protected:
    ~Owner() = default;
  };

  struct Settings {
    // The command's leading words, the items follow: {"XACK", stream, group}.
    std::vector<std::string> command;
    // LREM removes one item per command; XACK takes the whole batch in one.
    bool one_command_per_item = false;
    // How often Owner::upkeep runs; zero: never.
    std::chrono::milliseconds upkeep_every{0};
  };

  // Connects to the context's Redis. `owner`, `drain` and `context` must outlive the writer.
  AckWriter(boost::asio::any_io_executor executor, Settings settings, Owner& owner,
            const SourceDrain& drain, const SourceContext& context);

  // To be acknowledged with the next write.
  void add(std::string item);
  // Not yet acknowledged: waiting, or in the write under way.
  std::size_t owed() const { return waiting_.size() + batch_.size(); }

  // Writes until the drain closes, and then until nothing is owed or the deadline passes.
  boost::asio::awaitable<void> run();
  // For the source's close(): run() sees the deadline at once instead of after its wait.
  void wake();

  // The acknowledging connection, connected if it can be (counted when it cannot): for upkeep.
  boost::asio::awaitable<bool> connect();
  RedisClient& client() { return client_; }

 private:
  boost::asio::awaitable<void> write();

  const Settings settings_;
  Owner& owner_;
  const SourceDrain& drain_;
  const SourceContext& context_;
  RedisClient client_;
  boost::asio::steady_timer wake_;     // run() waits here for items (or the next upkeep)
  boost::asio::steady_timer backoff_;  // and here after a failure
  int failures_ = 0;                   // in a row: the backoff and the log's pace
  std::chrono::steady_clock::time_point next_upkeep_;
  // Three lists whose storage is kept from one write to the next.
  std::vector<std::string> waiting_;
  std::vector<std::string> batch_;  // in the write under way
  std::vector<std::string> again_;  // of a failed write, back to the front of waiting_
};

}  // namespace triggerd::redis
