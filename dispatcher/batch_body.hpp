#pragma once
// The body of a batched delivery (docs/delivery.md, "Batches"): the CloudEvents JSON batch
// format, a JSON array of structured-mode events, written straight into a reusable string.
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/event.hpp"

namespace triggerd {

inline constexpr std::string_view kBatchContentType = "application/cloudevents-batch+json";

// Whether events of this content type carry JSON: application/json, text/json and any
// type/subtype+json, parameters and case aside.
bool is_json_content_type(std::string_view content_type);

// Appends `event` as one structured-mode CloudEvent: its attributes and extensions, `trigger`
// and `attempt` as the extensions of the same names, and its data as JSON when its content type
// is JSON and the data parses as such, else as data_base64 (none when the data is empty).
// Strings that are not valid UTF-8 have each bad byte replaced by U+FFFD, so the body is always
// valid JSON.
void append_structured_event(const Event& event, std::string_view trigger, int attempt,
                             std::string& out);

// About how many bytes append_structured_event() writes for `event`, from above (data_base64
// is a third larger than the data): what a batch's max_bytes is counted in.
std::size_t structured_size_bound(const Event& event, std::string_view trigger);

}  // namespace triggerd
