#include "dispatcher/event_filter.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string_view>
#include <variant>

#include "core/time_format.hpp"

namespace triggerd {
namespace {

namespace json = boost::json;
using config::DataCondition;
using config::DataScalar;
using config::Filter;
using config::NumericOp;

// Payloads up to about this size parse without a heap allocation (a JSON value takes a few
// times the bytes of its text; Boost.JSON's parser has a stack buffer of its own on top).
constexpr std::size_t kParseBuffer = 4096;

// What the filters of one event read, each worked out at most once and only when a filter asks:
// the time as text, and the payload as JSON.
class EventView {
 public:
  explicit EventView(const Event& event) : event_(event) {}
  EventView(const EventView&) = delete;
  EventView& operator=(const EventView&) = delete;

  // The value of attribute `name`; nothing when the event has none. An empty subject,
  // datacontenttype or trace context is none: it is not sent to the function either.
  std::optional<std::string_view> attribute(std::string_view name) {
    auto present = [](std::string_view value) -> std::optional<std::string_view> {
      if (value.empty()) return std::nullopt;
      return value;
    };
    if (name == "type") return present(event_.type);
    if (name == "source") return present(event_.source);
    if (name == "subject") return present(event_.subject);
    if (name == "id") return present(event_.id);
    if (name == "time") {
      // As ce-time says it (RFC 3339, UTC), so that a prefix such as "2025-06" means what the
      // function would read.
      if (time_.empty()) time_ = write_rfc3339(event_.time, time_buffer_);
      return time_;
    }
    if (name == "specversion") return std::string_view("1.0");
    if (name == "datacontenttype") return present(event_.content_type);
    if (name == "traceparent") return present(event_.traceparent);
    if (name == "tracestate") return present(event_.tracestate);
    // Extensions, and dataschema: an incoming CloudEvent's own, a Kafka message's ce_* headers.
    for (const auto& [attribute, value] : event_.attributes) {
      if (attribute == name) return std::string_view(value);
    }
    return std::nullopt;
  }

  // The payload as JSON; null when it is not JSON.
  const json::value* payload() {
    if (!parsed_) {
      parsed_ = true;
      resource_.emplace(buffer_, sizeof buffer_);
      boost::system::error_code error;
      json::value value = json::parse(event_.data.view(), error, json::storage_ptr(&*resource_));
      if (!error) payload_.emplace(std::move(value));  // keeps the buffer's storage
    }
    return payload_ ? &*payload_ : nullptr;
  }

 private:
  const Event& event_;
  Rfc3339Buffer time_buffer_;
  std::string_view time_;
  bool parsed_ = false;
  alignas(std::max_align_t) unsigned char buffer_[kParseBuffer];
  std::optional<json::monotonic_resource> resource_;  // over buffer_, then the heap
  std::optional<json::value> payload_;                // in resource_: destroyed before it
};

// ---- data ---------------------------------------------------------------------------------

// The value at `path` (object keys separated by dots) in `root`; null when there is none.
const json::value* find_path(const json::value& root, std::string_view path) {
  const json::value* at = &root;
  for (;;) {
    const json::object* object = at->if_object();
    if (object == nullptr) return nullptr;
    const std::size_t dot = path.find('.');
    const auto it = object->find(path.substr(0, dot));
    if (it == object->end()) return nullptr;
    at = &it->value();
    if (dot == std::string_view::npos) return at;
    path.remove_prefix(dot + 1);
  }
}

std::optional<double> number_of(const json::value& value) {
  switch (value.kind()) {
    case json::kind::int64:
      return static_cast<double>(value.get_int64());
    case json::kind::uint64:
      return static_cast<double>(value.get_uint64());
    case json::kind::double_:
      return value.get_double();
    default:
      return std::nullopt;
  }
}

// Whether `value` is `expected`, of the same JSON type: 100 is not "100".
bool equals(const json::value& value, const DataScalar& expected) {
  if (const auto* text = std::get_if<std::string>(&expected)) {
    const json::string* string = value.if_string();
    return string != nullptr && std::string_view(*string) == *text;
  }
  if (const auto* number = std::get_if<double>(&expected)) return number_of(value) == *number;
  const bool* flag = value.if_bool();
  return flag != nullptr && *flag == std::get<bool>(expected);
}

bool listed(const json::value& value, const std::vector<DataScalar>& values) {
  return std::any_of(values.begin(), values.end(),
                     [&](const DataScalar& expected) { return equals(value, expected); });
}

bool within(double number, const std::vector<config::NumericBound>& bounds) {
  return std::all_of(bounds.begin(), bounds.end(), [number](const config::NumericBound& bound) {
    switch (bound.op) {
      case NumericOp::less:
        return number < bound.value;
      case NumericOp::less_equal:
        return number <= bound.value;
      case NumericOp::equal:
        return number == bound.value;
      case NumericOp::greater:
        return number > bound.value;
      case NumericOp::greater_equal:
        return number >= bound.value;
    }
    return false;
  });
}

// equals, prefix and numeric on one value that is not an array.
bool scalar_holds(const DataCondition& condition, const json::value& value) {
  switch (condition.kind) {
    case DataCondition::Kind::equals:
      return listed(value, condition.values);
    case DataCondition::Kind::prefix: {
      const json::string* string = value.if_string();
      return string != nullptr && std::string_view(*string).starts_with(condition.prefix);
    }
    case DataCondition::Kind::numeric: {
      const auto number = number_of(value);
      return number && within(*number, condition.numeric);
    }
    default:
      return false;
  }
}

bool holds(const DataCondition& condition, const json::value& payload) {
  const json::value* value = find_path(payload, condition.path);
  // A path that leads nowhere or to null has no value: only {exists: false} matches it.
  const bool has_value = value != nullptr && !value->is_null();
  if (condition.kind == DataCondition::Kind::exists) return has_value == condition.exists;
  if (!has_value) return false;
  const json::array* array = value->if_array();
  if (condition.kind == DataCondition::Kind::anything_but) {
    // An array is none of the values when none of its items is.
    if (array == nullptr) return !listed(*value, condition.values);
    return std::none_of(array->begin(), array->end(),
                        [&](const json::value& item) { return listed(item, condition.values); });
  }
  // An array matches when one of its items does (tags: [a, b] matches tags: a).
  if (array == nullptr) return scalar_holds(condition, *value);
  return std::any_of(array->begin(), array->end(),
                     [&](const json::value& item) { return scalar_holds(condition, item); });
}

// ---- filters ------------------------------------------------------------------------------

template <typename Compare>
bool every_attribute(const Filter& filter, EventView& event, Compare compare) {
  return std::all_of(filter.attributes.begin(), filter.attributes.end(),
                     [&](const config::AttributeMatch& match) {
                       const auto value = event.attribute(match.attribute);
                       return value && compare(*value, std::string_view(match.value));
                     });
}

bool matches(const Filter& filter, EventView& event) {
  switch (filter.dialect) {
    case Filter::Dialect::exact:
      return every_attribute(filter, event, [](std::string_view value, std::string_view want) {
        return value == want;
      });
    case Filter::Dialect::prefix:
      return every_attribute(filter, event, [](std::string_view value, std::string_view want) {
        return value.starts_with(want);
      });
    case Filter::Dialect::suffix:
      return every_attribute(filter, event, [](std::string_view value, std::string_view want) {
        return value.ends_with(want);
      });
    case Filter::Dialect::all:
      return std::all_of(filter.filters.begin(), filter.filters.end(),
                         [&](const Filter& inner) { return matches(inner, event); });
    case Filter::Dialect::any:
      return std::any_of(filter.filters.begin(), filter.filters.end(),
                         [&](const Filter& inner) { return matches(inner, event); });
    case Filter::Dialect::negation:
      return !filter.filters.empty() && !matches(filter.filters.front(), event);
    case Filter::Dialect::data: {
      // A payload that is not JSON has no paths: no data filter matches it.
      const json::value* payload = event.payload();
      return payload != nullptr && std::all_of(filter.data.begin(), filter.data.end(),
                                               [&](const DataCondition& condition) {
                                                 return holds(condition, *payload);
                                               });
    }
  }
  return false;
}

}  // namespace

bool passes(std::span<const config::Filter> filters, const Event& event) {
  if (filters.empty()) return true;
  EventView view(event);
  return std::all_of(filters.begin(), filters.end(),
                     [&](const Filter& filter) { return matches(filter, view); });
}

}  // namespace triggerd
