#include "connectors/kafka/kafka_ordering.hpp"

#include <string>

namespace triggerd::kafka {

OrderingGate::Slot OrderingGate::slot(const TopicPartition& partition,
                                      std::optional<std::string_view> key) {
  return Slot{partition, key ? std::optional<std::string>(std::string(*key)) : std::nullopt};
}

bool OrderingGate::may_start(const TopicPartition& partition,
                             std::optional<std::string_view> key) const {
  switch (ordering_) {
    case config::Ordering::none:
      return true;
    case config::Ordering::partition:
      return !busy_partitions_.contains(partition);
    case config::Ordering::key:
      return !busy_keys_.contains(slot(partition, key));
  }
  return true;
}

void OrderingGate::started(const TopicPartition& partition, std::optional<std::string_view> key) {
  if (ordering_ == config::Ordering::partition) busy_partitions_.insert(partition);
  if (ordering_ == config::Ordering::key) busy_keys_.insert(slot(partition, key));
}

void OrderingGate::finished(const TopicPartition& partition, std::optional<std::string_view> key) {
  if (ordering_ == config::Ordering::partition) busy_partitions_.erase(partition);
  if (ordering_ == config::Ordering::key) busy_keys_.erase(slot(partition, key));
}

void OrderingGate::forget(const TopicPartition& partition) {
  busy_partitions_.erase(partition);
  // Slots of one partition are adjacent: the no-key slot sorts first.
  auto it = busy_keys_.lower_bound(Slot{partition, std::nullopt});
  while (it != busy_keys_.end() && it->first == partition) it = busy_keys_.erase(it);
}

namespace {

// FNV-1a, 64 bits: enough to spread groups, cheap enough for every message.
void mix(std::uint64_t& hash, std::string_view bytes) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
}

}  // namespace

std::uint64_t order_group(config::Ordering ordering, std::string_view topic,
                          std::int32_t partition, std::optional<std::string_view> key) {
  if (ordering == config::Ordering::none) return 0;
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  mix(hash, topic);
  const std::string number = std::to_string(partition);
  mix(hash, std::string_view(number.c_str(), number.size() + 1));  // with its NUL: a separator
  if (ordering == config::Ordering::key) {
    mix(hash, key ? std::string_view("k") : std::string_view("-"));
    if (key) mix(hash, *key);
  }
  return hash == 0 ? 1 : hash;
}

}  // namespace triggerd::kafka
