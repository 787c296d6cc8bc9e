#pragma once
// The `redis-stream` source (SPEC sections 2, 3 and 6): a consumer group member that
//   - creates the group when it is missing (XGROUP CREATE ... MKSTREAM),
//   - first re-delivers its own pending entries (XREADGROUP ... 0, a restart after a crash),
//   - then reads new ones (XREADGROUP ... >, BLOCK) into a small read-ahead: up to
//     min(count, max_inflight) entries read from Redis but not yet started, so that a slot
//     the trigger frees gets its next entry at once while the next read is already under way,
//   - claims entries idle longer than claim_idle in any consumer (XAUTOCLAIM), so a dead
//     replica's work is finished by the others,
//   - keeps the entries it holds (read ahead, in flight, waiting for their XACK) its own: every
//     claim_idle / 3 one XCLAIM ... JUSTID resets their idle time, so that no other replica
//     claims an entry this one still delivers, however long the delivery takes,
//   - XACKs finished events in batches (all that finished since the last XACK, one command),
//   - reads the group's lag and pending count (XINFO GROUPS) every second on the reading
//     connection, so that lag and read-ahead never both count one entry: its depth is lag +
//     read-ahead, and the group's backlog total (the same from every replica) lag + pending.
// Two connections: the reads (and the depth), and the acks and idle-time refreshes, so neither
// waits for the other.
//
// The drain: stop_taking() ends the reads and lets the read-ahead go (its entries stay pending,
// no longer refreshed: another replica claims them after claim_idle, or the next start re-reads
// them); acks and refreshes go on for the events still in flight. close() writes the XACKs
// still owed until its deadline, then closes both connections, and run() returns.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "config/config.hpp"
#include "connectors/redis/redis_ack_writer.hpp"
#include "connectors/redis/redis_client.hpp"
#include "connectors/redis/redis_queue_depth.hpp"
#include "connectors/redis/redis_reconnect.hpp"
#include "connectors/redis/redis_source_context.hpp"
#include "connectors/redis/redis_source_drain.hpp"
#include "connectors/redis/redis_stream_backlog.hpp"
#include "connectors/source.hpp"

namespace triggerd::redis {

class RedisStreamSource final : public Source, private Acknowledger, private AckWriter::Owner {
 public:
  // `trigger` (of type redis-stream), `connection` (its redis connection) and `state` must
  // outlive the source.
  RedisStreamSource(boost::asio::any_io_executor executor, const config::Trigger& trigger,
                    const config::Connection& connection, TriggerState& state);
  ~RedisStreamSource() override;

  boost::asio::awaitable<void> run(EventSink& sink) override;
  void stop_taking() override;
  void close(std::chrono::steady_clock::time_point deadline) override;
  // lag + read-ahead: entries waiting, not yet taken (nullopt until the first lag is known).
  std::optional<std::int64_t> queue_depth() const override;
  void set_max_inflight(int max_inflight) override;

 private:
  // One read-ahead slot: an entry read from Redis, not yet handed to the sink.
  struct Ahead {
    Event event;  // event.id is the entry id
  };

  void acknowledge(std::uint64_t token, Outcome outcome) override;
  // AckWriter::Owner: the XACKs, and between them the refresh of held entries' idle time.
  void written(std::vector<std::string>& acknowledged) override;
  std::string describe_write(std::size_t items) const override;
  std::string describe_unwritten(std::size_t items) const override;
  boost::asio::awaitable<void> upkeep() override;

  boost::asio::awaitable<bool> connect();
  boost::asio::awaitable<void> read_once(std::size_t free);
  boost::asio::awaitable<void> claim(std::size_t free);
  boost::asio::awaitable<void> read_depth();
  // Redis answered the group's lag as nil: the unread entries as XINFO STREAM bounds them;
  // nothing when that cannot be read either.
  boost::asio::awaitable<std::optional<std::int64_t>> bound_unread(StreamGroupInfo group);
  // Puts the entries of an XREADGROUP/XAUTOCLAIM array into the read-ahead; returns the last
  // id seen and counts them (held ones too) in `seen`.
  std::string take_entries(const Reply& entries, std::size_t* seen);
  // Whether max_inflight entries are started and not yet XACKed: then none more is started.
  bool unacknowledged_bound_reached() const;
  // Hands read-ahead entries to the sink, in order, while it has room.
  void start_ahead(EventSink& sink);
  // Lets the read-ahead go: its entries stay pending in our PEL, unstarted.
  void drop_ahead();
  boost::asio::awaitable<void> feed_loop(EventSink& sink);
  // Entries the next read may take: read-ahead room, and held entries within
  // max_inflight + read-ahead capacity (what a crash would deliver again, at most).
  std::size_t free_to_read() const;
  void publish_depth();

  const SourceContext context_;
  const config::RedisStreamSource& config_;
  const std::string consumer_;
  // Atomic: a reload sets it on the loop, and other threads may read it.
  std::atomic<std::size_t> max_inflight_;
  const std::size_t ahead_capacity_;  // min(count, max_inflight)
  const std::size_t refill_at_;       // read again once the read-ahead holds this many or fewer
  const std::chrono::milliseconds claim_interval_;
  const std::chrono::milliseconds refresh_interval_;  // claim_idle / 3
  SourceDrain drain_;  // the feed and ack loops, and where the drain is
  RedisClient reader_;
  // The XACKs, and the idle-time refreshes (its upkeep), on a connection of their own.
  AckWriter acks_;
  boost::asio::steady_timer sleep_timer_;
  boost::asio::steady_timer read_wake_;  // the reader waits here for read-ahead room
  boost::asio::steady_timer feed_wake_;  // the feeder waits here for read-ahead entries
  ReaderReconnect reconnect_;            // keeps reader_ up

  bool refresh_failing_ = false;  // logged once per run of failed refreshes
  bool lag_unknown_logged_ = false;  // a nil lag is logged once per run of them
  // Re-read our own pending entries (at start, after a reconnect, after a refused submit).
  bool pending_phase_ = true;
  std::string pending_cursor_ = "0";
  std::string claim_cursor_ = "0-0";
  std::chrono::steady_clock::time_point next_claim_;
  std::chrono::steady_clock::time_point next_depth_;
  std::uint64_t next_token_ = 1;
  std::unordered_map<std::uint64_t, std::string> inflight_;  // token -> entry id
  // Entries taken and not yet XACKed (read ahead, in flight or in the ack batch): never
  // handed out twice.
  std::unordered_set<std::string> held_ids_;
  // While a read of our PEL (XREADGROUP ... 0, XAUTOCLAIM) is under way: the ids whose XACK
  // completed meanwhile. Redis may have run the read before the XACK, so its answer can still
  // list them; they are finished, not to be taken again.
  bool reading_history_ = false;
  std::vector<std::string> acked_while_reading_;
  // The read-ahead: a ring of ahead_capacity_ slots, allocated once.
  std::vector<Ahead> ahead_;
  std::size_t ahead_head_ = 0;
  std::size_t ahead_size_ = 0;
  // The group's lag as XINFO GROUPS last said, less what our reads of new entries took since;
  // -1 until known. Kept on the reading connection, in step with the read-ahead.
  std::int64_t lag_ = -1;
  QueueDepth depth_;
};

}  // namespace triggerd::redis
