#include "connectors/kafka/kafka_queue_reader.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>

namespace triggerd::kafka {

namespace {

using namespace std::chrono_literals;

// Partitions are added to a topic rarely, and one this member is assigned but the metadata
// lacks makes it read again at once; the others are counted after at most this long.
constexpr auto kMetadataMaxAge = 30s;

struct ListDestroyer {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDestroyer>;

ListPtr to_list(const std::vector<TopicPartition>& partitions, std::int64_t offset) {
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const TopicPartition& partition : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), partition.topic.c_str(), partition.partition)
        ->offset = offset;
  }
  return list;
}

// The first per-partition error of `list`, if any.
rd_kafka_resp_err_t first_error(const rd_kafka_topic_partition_list_t* list) {
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    if (list->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) return list->elems[i].err;
  }
  return RD_KAFKA_RESP_ERR_NO_ERROR;
}

int to_ms(std::chrono::milliseconds timeout) { return static_cast<int>(timeout.count()); }

}  // namespace

QueueReader::QueueReader(rd_kafka_s* client, std::vector<std::string> topics, std::string group,
                         std::chrono::milliseconds timeout, std::function<bool()> stopping)
    : client_(client),
      admin_results_(rd_kafka_queue_new(client)),
      topics_(std::move(topics)),
      group_(std::move(group)),
      timeout_(timeout),
      stopping_(std::move(stopping)) {}

QueueReader::~QueueReader() {
  rd_kafka_queue_destroy(admin_results_);
  rd_kafka_destroy(client_);
}

bool QueueReader::stopped() {
  if (!stopping_ || !stopping_()) return false;
  error_ = "stopping";
  return true;
}

bool QueueReader::read_metadata() {
  std::vector<TopicPartition> found;
  for (const std::string& topic : topics_) {
    if (stopped()) return false;
    rd_kafka_topic_t* handle = rd_kafka_topic_new(client_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* metadata = nullptr;
    const rd_kafka_resp_err_t err =
        rd_kafka_metadata(client_, 0, handle, &metadata, to_ms(timeout_));
    rd_kafka_topic_destroy(handle);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error_ = std::string("metadata: ") + rd_kafka_err2str(err);
      return false;
    }
    const std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> owned(
        metadata, rd_kafka_metadata_destroy);
    for (int t = 0; t < metadata->topic_cnt; ++t) {
      const rd_kafka_metadata_topic_t& entry = metadata->topics[t];
      if (entry.topic == nullptr || topic != entry.topic) continue;
      // A topic that does not exist holds nothing; the consumer reports it on its own.
      if (entry.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) continue;
      if (entry.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        error_ = "metadata of " + topic + ": " + rd_kafka_err2str(entry.err);
        return false;
      }
      for (int p = 0; p < entry.partition_cnt; ++p) {
        found.push_back(TopicPartition{topic, entry.partitions[p].id});
      }
    }
  }
  std::sort(found.begin(), found.end());
  partitions_ = std::move(found);
  metadata_read_at_ = std::chrono::steady_clock::now();
  return true;
}

std::optional<std::vector<TopicPartition>> QueueReader::partitions(
    const std::vector<TopicPartition>& known) {
  const bool stale = !metadata_read_at_ ||
                     std::chrono::steady_clock::now() - *metadata_read_at_ >= kMetadataMaxAge;
  const bool lacking = std::any_of(known.begin(), known.end(), [&](const TopicPartition& p) {
    return !std::binary_search(partitions_.begin(), partitions_.end(), p);
  });
  // One that cannot be read again leaves the last list in use: partitions come and go rarely.
  if ((stale || lacking) && !read_metadata() && !metadata_read_at_) return std::nullopt;
  // With the ones assigned: they exist, whatever metadata said a moment ago.
  std::vector<TopicPartition> all = partitions_;
  for (const TopicPartition& partition : known) {
    if (!std::binary_search(partitions_.begin(), partitions_.end(), partition)) {
      all.push_back(partition);
    }
  }
  return all;
}

std::optional<WatermarkMap> QueueReader::watermarks(const std::vector<TopicPartition>& partitions) {
  WatermarkMap marks;
  if (partitions.empty()) return marks;
  // A ListOffsets request per broker for each end of the log: asked at the "latest" and
  // "earliest" timestamps, offsets_for_times answers the high and low watermarks (as the
  // consumer's isolation level sees them), every partition in one go.
  ListPtr highs = to_list(partitions, RD_KAFKA_OFFSET_END);
  ListPtr lows = to_list(partitions, RD_KAFKA_OFFSET_BEGINNING);
  for (rd_kafka_topic_partition_list_t* list : {highs.get(), lows.get()}) {
    if (stopped()) return std::nullopt;
    rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(client_, list, to_ms(timeout_));
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) err = first_error(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error_ = std::string("watermarks: ") + rd_kafka_err2str(err);
      return std::nullopt;
    }
  }
  for (int i = 0; i < highs->cnt; ++i) {
    const rd_kafka_topic_partition_t& high = highs->elems[i];
    const rd_kafka_topic_partition_t* low =
        rd_kafka_topic_partition_list_find(lows.get(), high.topic, high.partition);
    if (high.offset < 0 || low == nullptr || low->offset < 0) {
      error_ = std::string("watermarks of ") + high.topic + " [" + std::to_string(high.partition) +
               "]: not given";
      return std::nullopt;
    }
    marks[TopicPartition{high.topic, high.partition}] = Watermarks{low->offset, high.offset};
  }
  return marks;
}

std::optional<CommittedMap> QueueReader::committed(const std::vector<TopicPartition>& partitions) {
  CommittedMap offsets;
  if (partitions.empty()) return offsets;
  if (stopped()) return std::nullopt;
  // The admin API rather than rd_kafka_committed(): that needs a client with the group's id,
  // and such a client brings a group coordinator whose teardown may wait.
  ListPtr list = to_list(partitions, RD_KAFKA_OFFSET_INVALID);
  rd_kafka_ListConsumerGroupOffsets_t* request =
      rd_kafka_ListConsumerGroupOffsets_new(group_.c_str(), list.get());
  rd_kafka_AdminOptions_t* options =
      rd_kafka_AdminOptions_new(client_, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
  char unused[256];
  rd_kafka_AdminOptions_set_request_timeout(options, to_ms(timeout_), unused, sizeof(unused));
  // Tells this request's result from a late one of a request given up on before.
  const std::uintptr_t id = ++requests_;
  rd_kafka_AdminOptions_set_opaque(options, reinterpret_cast<void*>(id));
  rd_kafka_ListConsumerGroupOffsets(client_, &request, 1, options, admin_results_);
  rd_kafka_ListConsumerGroupOffsets_destroy(request);
  rd_kafka_AdminOptions_destroy(options);
  // The request times out by itself; the margin only guards against a result that never comes.
  const auto deadline = std::chrono::steady_clock::now() + timeout_ + 500ms;
  using EventPtr = std::unique_ptr<rd_kafka_event_t, void (*)(rd_kafka_event_t*)>;
  EventPtr owned(nullptr, rd_kafka_event_destroy);
  while (!owned) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) break;
    EventPtr event(rd_kafka_queue_poll(admin_results_, to_ms(left)), rd_kafka_event_destroy);
    if (event && reinterpret_cast<std::uintptr_t>(rd_kafka_event_opaque(event.get())) == id) {
      owned = std::move(event);
    }
  }
  if (!owned) {
    error_ = "committed offsets: no answer";
    return std::nullopt;
  }
  rd_kafka_event_t* event = owned.get();
  if (rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error_ = std::string("committed offsets: ") + rd_kafka_event_error_string(event);
    return std::nullopt;
  }
  const rd_kafka_ListConsumerGroupOffsets_result_t* result =
      rd_kafka_event_ListConsumerGroupOffsets_result(event);
  std::size_t count = 0;
  const rd_kafka_group_result_t** groups =
      result != nullptr ? rd_kafka_ListConsumerGroupOffsets_result_groups(result, &count) : nullptr;
  if (count != 1) {
    error_ = "committed offsets: no result for the group";
    return std::nullopt;
  }
  if (const rd_kafka_error_t* failed = rd_kafka_group_result_error(groups[0])) {
    error_ = std::string("committed offsets: ") + rd_kafka_error_string(failed);
    return std::nullopt;
  }
  const rd_kafka_topic_partition_list_t* answer = rd_kafka_group_result_partitions(groups[0]);
  if (const rd_kafka_resp_err_t err = first_error(answer); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    error_ = std::string("committed offsets: ") + rd_kafka_err2str(err);
    return std::nullopt;
  }
  for (int i = 0; answer != nullptr && i < answer->cnt; ++i) {
    const rd_kafka_topic_partition_t& entry = answer->elems[i];
    if (entry.offset >= 0) offsets[TopicPartition{entry.topic, entry.partition}] = entry.offset;
  }
  return offsets;
}

}  // namespace triggerd::kafka
