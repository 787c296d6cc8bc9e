#pragma once
// The CloudEvents 1.0 rules on attributes that every part handling events holds them to: the
// webhook and Kafka sources when they read attributes, the dispatcher when it writes them as
// ce-NAME headers.
#include <string>
#include <string_view>

#include "core/event.hpp"

namespace triggerd {

// CloudEvents 1.0: an attribute name is lower-case ASCII letters and digits, and not empty.
// Holding every name to it also keeps ce-NAME a valid header name that cannot smuggle a ':' or
// a line break into a request head.
bool is_cloudevents_attribute_name(std::string_view name);

// Whether `value` holds an ASCII control character (0x00-0x1f or 0x7f). Attribute values become
// header values on delivery, and a CR LF there could end the header and inject others.
bool has_control_characters(std::string_view value);

// The member of `event` that holds the string attribute `name`: id, source, type, subject,
// datacontenttype (content_type), traceparent or tracestate. Null for any other name, which
// includes specversion and time (not strings in an Event) and the extensions.
std::string* attribute_member(Event& event, std::string_view name);

}  // namespace triggerd
