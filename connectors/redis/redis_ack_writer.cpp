#include "connectors/redis/redis_ack_writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>

#include "connectors/redis/redis_source_drain.hpp"
#include "core/metrics.hpp"

namespace triggerd::redis {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Failed writes in a row are logged the first time and then every this many.
constexpr int kLogEvery = 20;

}  // namespace

asio::awaitable<void> AckWriter::Owner::upkeep() { co_return; }

AckWriter::AckWriter(asio::any_io_executor executor, Settings settings, Owner& owner,
                     const SourceDrain& drain, const SourceContext& context)
    : settings_(std::move(settings)),
      owner_(owner),
      drain_(drain),
      context_(context),
      client_(executor, context.spec),
      wake_(executor),
      backoff_(executor) {}

void AckWriter::add(std::string item) {
  waiting_.push_back(std::move(item));
  wake_.cancel();
}

void AckWriter::wake() {
  wake_.cancel();
  backoff_.cancel();
}

asio::awaitable<void> AckWriter::run() {
  const bool upkeep = settings_.upkeep_every > 0ms;
  next_upkeep_ = upkeep ? std::chrono::steady_clock::now() + settings_.upkeep_every
                        : std::chrono::steady_clock::time_point::max();
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (drain_.closing()) {
      if (waiting_.empty()) break;
      if (now >= drain_.deadline()) {
        context_.log->warn("trigger {}: {}", context_.trigger,
                           owner_.describe_unwritten(waiting_.size()));
        break;
      }
    } else if (now >= next_upkeep_) {
      next_upkeep_ = now + settings_.upkeep_every;
      co_await owner_.upkeep();
      continue;
    }
    if (waiting_.empty()) {
      wake_.expires_at(drain_.closing() ? drain_.deadline() : next_upkeep_);
      co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    co_await write();
  }
}

// The awaited results below go through named variables: g++ 12 miscompiles some co_await
// expressions in an if's condition (the frame is resumed at the wrong point).
asio::awaitable<bool> AckWriter::connect() {
  bool connected = client_.connected();
  if (!connected) connected = co_await client_.connect(drain_.bounded(kConnectTimeout));
  if (!connected) context_.state.count_source_error(SourceError::kConnect);
  co_return connected;
}

asio::awaitable<void> AckWriter::write() {
  const bool connected = co_await connect();
  if (!connected) {
    co_await drain_.sleep(backoff_, reconnect_delay(++failures_));
    co_return;
  }
  // Everything that finished since the last round trip.
  batch_.swap(waiting_);
  const std::size_t per_command = settings_.one_command_per_item ? 1 : batch_.size();
  std::vector<std::vector<std::string>> commands;
  commands.reserve(batch_.size() / per_command);
  for (std::size_t first = 0; first < batch_.size(); first += per_command) {
    const std::size_t end = std::min(batch_.size(), first + per_command);
    std::vector<std::string>& command = commands.emplace_back();
    command.reserve(settings_.command.size() + (end - first));
    command.insert(command.end(), settings_.command.begin(), settings_.command.end());
    command.insert(command.end(), batch_.begin() + static_cast<std::ptrdiff_t>(first),
                   batch_.begin() + static_cast<std::ptrdiff_t>(end));
  }
  const std::vector<Reply> replies =
      co_await client_.pipeline(std::move(commands), drain_.bounded(kCommandTimeout));
  // The items of a failed command go to again_; batch_ keeps those Redis took, in order.
  std::string why;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    const Reply& reply = replies[i / per_command];
    if (!reply.error()) {
      if (kept != i) batch_[kept] = std::move(batch_[i]);
      ++kept;
    } else {
      if (i % per_command == 0) why = reply.describe();
      again_.push_back(std::move(batch_[i]));
    }
  }
  batch_.resize(kept);
  owner_.written(batch_);
  batch_.clear();
  if (!again_.empty()) {
    context_.state.count_source_error(SourceError::kAck);
    if (failures_++ % kLogEvery == 0) {
      context_.log->warn("trigger {}: {} failed: {}; retrying", context_.trigger,
                         owner_.describe_write(again_.size()), why);
    }
    waiting_.insert(waiting_.begin(), std::make_move_iterator(again_.begin()),
                    std::make_move_iterator(again_.end()));
    again_.clear();
    co_await drain_.sleep(backoff_, reconnect_delay(failures_));
    co_return;
  }
  failures_ = 0;
}

}  // namespace triggerd::redis
