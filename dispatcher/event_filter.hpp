#pragma once
// Whether an event passes its trigger's `filters` (docs/filters.md): the CloudEvents
// Subscriptions API's dialects (exact, prefix, suffix, all, any, not) over the event's
// attributes, and `data` over its payload when that is JSON.
//
// Runs for every event a filtered trigger takes, on the event loop: the attribute dialects
// allocate nothing, and a payload is parsed at most once per event however many `data`
// filters read it, a small one without touching the heap.
#include <span>

#include "config/config.hpp"
#include "core/event.hpp"

namespace triggerd {

// True when every one of `filters` matches `event` (no filters: true). Comparisons are
// case-sensitive, byte for byte; an attribute the event does not have matches nothing, so a
// `not` over it does.
bool passes(std::span<const config::Filter> filters, const Event& event);

}  // namespace triggerd
