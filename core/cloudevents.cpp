#include "core/cloudevents.hpp"

#include <algorithm>
#include <utility>

namespace triggerd {

bool is_cloudevents_attribute_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
}

bool has_control_characters(std::string_view value) {
  return std::any_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::string* attribute_member(Event& event, std::string_view name) {
  static constexpr std::pair<std::string_view, std::string Event::*> kMembers[] = {
      {"id", &Event::id},
      {"source", &Event::source},
      {"type", &Event::type},
      {"subject", &Event::subject},
      {"datacontenttype", &Event::content_type},
      {"traceparent", &Event::traceparent},
      {"tracestate", &Event::tracestate},
  };
  for (const auto& [attribute, member] : kMembers) {
    if (name == attribute) return &(event.*member);
  }
  return nullptr;
}

}  // namespace triggerd
