#include "connectors/redis/redis_event.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>

#include "core/time_format.hpp"

namespace triggerd::redis {

std::chrono::system_clock::time_point stream_id_time(std::string_view id) {
  std::int64_t millis = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), millis);
  // XADD takes any id up to 2^64 - 1 milliseconds: beyond what the clock holds it says "as
  // late as can be".
  const auto time = unix_millis_time(millis);
  if (error == std::errc::result_out_of_range || !time) {
    return std::chrono::system_clock::time_point::max();
  }
  return *time;
}

Event make_stream_event(std::string_view connection, std::string_view stream, const std::string& id,
                        const Reply& fields) {
  Event event;
  event.id = id;
  event.source = "redis://";
  event.source.append(connection).append("/").append(stream);
  event.type = "dev.triggerd.redis.stream.entry";
  event.time = stream_id_time(id);
  const auto& items = fields.elements;
  if (items.size() == 2 && items[0].str == "data") {
    event.content_type = "application/octet-stream";
    event.data = items[1].str;
  } else {
    boost::json::object object;
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) object[items[i].str] = items[i + 1].str;
    event.content_type = "application/json";
    event.data = boost::json::serialize(object);
  }
  return event;
}

Event make_list_event(std::string_view connection, std::string_view list, std::string item) {
  Event event;
  event.id = generate_event_id();
  event.source = "redis://";
  event.source.append(connection).append("/").append(list);
  event.type = "dev.triggerd.redis.list.item";
  event.content_type = "application/octet-stream";
  event.data = std::move(item);
  event.time = std::chrono::system_clock::now();
  return event;
}

}  // namespace triggerd::redis
