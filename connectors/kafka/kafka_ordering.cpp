#include "connectors/kafka/kafka_ordering.hpp"

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

}  // namespace triggerd::kafka
