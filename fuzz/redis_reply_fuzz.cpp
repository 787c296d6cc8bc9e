// Bytes from a Redis server: hiredis's own reader (the one the client's connection uses) turns
// them into replies, copy_reply into the client's Reply, and each reply is then read the way
// the sources read theirs: as an XREADGROUP or XAUTOCLAIM answer whose entries become stream
// events, as a list item, and as XINFO GROUPS and XINFO STREAM answers for the backlog. Every
// event must have an id, a source and a type and a delivery head that cannot be broken
// (delivery_head_check.hpp); the backlog is never negative.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "connectors/redis/redis_client.hpp"
#include "connectors/redis/redis_event.hpp"
#include "connectors/redis/redis_stream_backlog.hpp"
#include "delivery_head_check.hpp"

namespace {

using triggerd::redis::Reply;

// hiredis allocates an array reply's element list from the count in its header, before any
// element arrives; "*9999999999" would ask for 80 GB. Beyond this many elements the reader is
// told the allocation failed, as a real failure would tell it, so that the run looks at the
// reply rules rather than at the allocator.
constexpr std::size_t kMaxArrayElements = 4096;
redisReplyObjectFunctions hiredis_functions;
redisReplyObjectFunctions bounded_functions;

void* create_bounded_array(const redisReadTask* task, int elements) {
  if (elements < 0 || static_cast<std::size_t>(elements) > kMaxArrayElements) return nullptr;
  return hiredis_functions.createArray(task, elements);
}

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "redis reply: %s\n", why);
  std::abort();
}

void check_event(const triggerd::Event& event) {
  if (event.id.empty() || event.source.empty() || event.type.empty()) {
    fail("an event without id, source or type");
  }
  triggerd::fuzz::check_delivery_head(event);
}

// [id, [field, value, ...]] entries, as RedisStreamSource::take_entries reads them.
void read_entries(const Reply& entries) {
  for (const Reply& entry : entries.elements) {
    if (entry.elements.empty()) continue;
    const std::string& id = entry.elements[0].str;
    (void)triggerd::redis::compare_stream_ids(id, "1700000000000-0");
    if (entry.elements.size() < 2 || entry.elements[1].nil()) continue;
    const Reply& fields = entry.elements[1];
    const triggerd::Event event = triggerd::redis::make_stream_event("fuzz", "events", id, fields);
    // Redis never sends an entry without an id; the event then has none either, which the
    // head check still has to survive.
    if (id.empty()) {
      triggerd::fuzz::check_delivery_head(event);
    } else {
      check_event(event);
    }
    if (event.id != id) fail("the event's id is not the entry's");
    if (fields.elements.size() == 2 && fields.elements[0].str == "data") {
      if (event.data.view() != fields.elements[1].str) fail("the data field was not kept as is");
    }
  }
}

void read_reply(const Reply& reply) {
  // XREADGROUP: [[stream, [[id, fields], ...]]].
  if (!reply.elements.empty() && reply.elements.front().elements.size() >= 2) {
    read_entries(reply.elements.front().elements[1]);
  }
  // XAUTOCLAIM: [cursor, [[id, fields], ...], [deleted ids]].
  if (reply.elements.size() >= 2) read_entries(reply.elements[1]);
  // A list item.
  if (reply.type == Reply::Type::kString) {
    check_event(triggerd::redis::make_list_event("fuzz", "jobs", reply.str));
  }
  // The backlog.
  const auto group = triggerd::redis::find_stream_group(reply, "triggerd");
  const auto stream = triggerd::redis::read_stream_info(reply);
  if (group && stream && triggerd::redis::unread_bound(*group, *stream) < 0) {
    fail("a negative unread bound");
  }
  (void)reply.describe();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  redisReader* reader = redisReaderCreate();
  if (reader == nullptr) return 0;
  if (bounded_functions.createArray == nullptr) {
    hiredis_functions = *reader->fn;
    bounded_functions = hiredis_functions;
    bounded_functions.createArray = create_bounded_array;
  }
  reader->fn = &bounded_functions;
  if (redisReaderFeed(reader, reinterpret_cast<const char*>(data), size) == REDIS_OK) {
    for (int n = 0; n < 64; ++n) {
      void* raw = nullptr;
      if (redisReaderGetReply(reader, &raw) != REDIS_OK || raw == nullptr) break;
      const Reply reply = triggerd::redis::copy_reply(*static_cast<redisReply*>(raw));
      freeReplyObject(raw);
      read_reply(reply);
    }
  }
  redisReaderFree(reader);
  return 0;
}
