#include "dispatcher/event_filter.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "core/time_format.hpp"

// Counts the heap allocations of this thread while `counting` is on: the filters must not
// allocate per event. Sanitizers bring their own operator new, so the count is left out there.
#ifndef TRIGGERD_SANITIZED
namespace {
thread_local bool counting = false;
thread_local std::size_t allocations = 0;
}  // namespace

// GCC sees free() of what operator new returned once it inlines both: here that is the point.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
  throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
#pragma GCC diagnostic pop
#endif

namespace triggerd {
namespace {

// The filters as a user writes them (a YAML flow list), read by the config loader.
std::vector<config::Filter> filters_of(const std::string& yaml) {
  const config::LoadResult result = config::load_string(
      "functions: {fn: {url: \"http://127.0.0.1:9/\"}}\n"
      "triggers:\n  t:\n    function: fn\n    source: {type: http, path: /t}\n    filters: " +
          yaml + "\n",
      "t.yaml");
  std::string errors;
  for (const auto& diagnostic : result.diagnostics) errors += diagnostic.to_string() + "\n";
  EXPECT_TRUE(result.ok()) << errors;
  if (!result.ok()) return {};
  return result.config->triggers[0].filters;
}

constexpr const char* kOrderData =
    R"({"amount": 150, "price": 12.5, "status": "paid", "region": "eu-west", "flag": true,)"
    R"( "none": null, "tags": ["a", "b"], "customer": {"id": "c-7", "tier": 2}})";

// An incoming CloudEvent with everything set.
Event order_event() {
  Event event;
  event.id = "order-1";
  event.source = "/shop/orders";
  event.type = "com.example.order.created";
  event.subject = "eu/123";
  event.content_type = "application/json";
  event.time = std::chrono::sys_days{std::chrono::year{2025} / 6 / 1} + std::chrono::hours(12) +
               std::chrono::milliseconds(250);
  event.attributes = {{"priority", "high"}, {"dataschema", "https://example.com/order.json"}};
  event.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  event.data = std::string(kOrderData);
  return event;
}

// A plain webhook request: no subject, no extensions, no content type, a body that is not JSON.
Event bare_event() {
  Event event;
  event.id = "b-1";
  event.source = "/hooks/bare";
  event.type = "dev.triggerd.http.request";
  event.data = std::string("amount=150");
  return event;
}

struct FilterCase {
  const char* name;
  const char* filters;  // YAML flow list
  bool order;           // whether order_event() passes
  bool bare;            // whether bare_event() passes
};

const FilterCase kCases[] = {
    {"NoFilters", "[]", true, true},
    // exact, prefix, suffix over the context attributes
    {"ExactType", "[{exact: {type: com.example.order.created}}]", true, false},
    {"ExactIsCaseSensitive", "[{exact: {type: com.example.Order.created}}]", false, false},
    {"ExactIsWhole", "[{exact: {type: com.example.order}}]", false, false},
    {"ExactEveryAttribute", "[{exact: {type: com.example.order.created, subject: eu/123}}]", true,
     false},
    {"ExactOneAttributeDiffers", "[{exact: {type: com.example.order.created, subject: eu/124}}]",
     false, false},
    {"ExactId", "[{exact: {id: b-1}}]", false, true},
    {"PrefixSubject", "[{prefix: {subject: \"eu/\"}}]", true, false},
    {"PrefixOfASubjectTheEventLacks", "[{prefix: {subject: \"e\"}}]", true, false},
    {"SuffixSource", "[{suffix: {source: /orders}}]", true, false},
    {"SuffixOtherSource", "[{suffix: {source: /bare}}]", false, true},
    {"PrefixSource", "[{prefix: {source: /}}]", true, true},
    {"SpecVersion", "[{exact: {specversion: \"1.0\"}}]", true, true},
    {"TimeAsCeTimeWritesIt", "[{exact: {time: \"2025-06-01T12:00:00.250Z\"}}]", true, false},
    {"TimePrefix", "[{prefix: {time: 2025-06-01T12}}]", true, false},
    {"DataContentType", "[{exact: {datacontenttype: application/json}}]", true, false},
    {"EmptyContentTypeIsMissing", "[{prefix: {datacontenttype: application}}]", true, false},
    {"DataSchemaFromTheAttributes", "[{suffix: {dataschema: order.json}}]", true, false},
    {"TraceParent", "[{prefix: {traceparent: \"00-\"}}]", true, false},
    // extensions
    {"Extension", "[{exact: {priority: high}}]", true, false},
    {"ExtensionIsCaseSensitive", "[{exact: {priority: High}}]", false, false},
    {"UnknownExtensionNeverMatches", "[{prefix: {region: e}}]", false, false},
    // not, all, any
    {"NotOfMissingAttributeMatches", "[{not: {exact: {priority: high}}}]", false, true},
    {"NotOfMatch", "[{not: {exact: {type: com.example.order.created}}}]", false, true},
    {"NotNot", "[{not: {not: {exact: {priority: high}}}}]", true, false},
    {"All", "[{all: [{prefix: {subject: eu}}, {exact: {priority: high}}]}]", true, false},
    {"AllOneFails", "[{all: [{prefix: {subject: eu}}, {exact: {priority: low}}]}]", false, false},
    {"Any", "[{any: [{exact: {priority: low}}, {suffix: {source: bare}}]}]", false, true},
    {"AnyNoneMatch", "[{any: [{exact: {priority: low}}, {suffix: {source: nope}}]}]", false, false},
    {"AnyWithNotInside", "[{any: [{exact: {priority: high}}, {not: {prefix: {subject: test/}}}]}]",
     true, true},
    {"NestedAllAnyNot",
     "[{all: [{any: [{exact: {type: x}}, {prefix: {type: com.example.}}]},"
     " {not: {any: [{exact: {priority: low}}, {suffix: {subject: /999}}]}}]}]",
     true, false},
    {"EveryListEntryMustMatch", "[{prefix: {subject: eu}}, {exact: {priority: low}}]", false,
     false},
    // data: exact values of each JSON type
    {"DataString", "[{data: {status: paid}}]", true, false},
    {"DataStringIsCaseSensitive", "[{data: {status: PAID}}]", false, false},
    {"DataNumber", "[{data: {amount: 150}}]", true, false},
    {"DataNumberAsDouble", "[{data: {amount: 150.0, price: 12.5}}]", true, false},
    {"DataNumberIsNotAString", "[{data: {amount: \"150\"}}]", false, false},
    {"DataBoolean", "[{data: {flag: true}}]", true, false},
    {"DataBooleanIsNotAString", "[{data: {flag: \"true\"}}]", false, false},
    {"DataListOfValues", "[{data: {region: [eu-west, eu-central]}}]", true, false},
    {"DataListOfOtherValues", "[{data: {region: [us-east, 150]}}]", false, false},
    {"DataEveryPathMustHold", "[{data: {status: paid, amount: 151}}]", false, false},
    // data: operators
    {"DataPrefix", "[{data: {region: {prefix: eu-}}}]", true, false},
    {"DataPrefixOfANumber", "[{data: {amount: {prefix: \"1\"}}}]", false, false},
    {"DataNumericAtLeast", "[{data: {amount: {numeric: [\">=\", 100]}}}]", true, false},
    {"DataNumericAbove", "[{data: {amount: {numeric: [\">\", 150]}}}]", false, false},
    {"DataNumericRange", "[{data: {amount: {numeric: [\">\", 0, \"<=\", 150]}}}]", true, false},
    {"DataNumericOutOfRange", "[{data: {price: {numeric: [\">=\", 10, \"<\", 12.5]}}}]", false,
     false},
    {"DataNumericEqual", "[{data: {amount: {numeric: [\"=\", 150]}}}]", true, false},
    {"DataNumericBelow", "[{data: {amount: {numeric: [\"<\", 100]}}}]", false, false},
    {"DataNumericOfAString", "[{data: {status: {numeric: [\">=\", 0]}}}]", false, false},
    {"DataExists", "[{data: {customer.id: {exists: true}}}]", true, false},
    {"DataExistsNot", "[{data: {customer.email: {exists: true}}}]", false, false},
    {"DataMissingPath", "[{data: {customer.email: {exists: false}}}]", true, false},
    {"DataNullIsNoValue", "[{data: {none: {exists: false}}}]", true, false},
    {"DataNullDoesNotExist", "[{data: {none: {exists: true}}}]", false, false},
    {"DataAnythingBut", "[{data: {status: {anything-but: [cancelled, refunded]}}}]", true, false},
    {"DataAnythingButTheValue", "[{data: {status: {anything-but: paid}}}]", false, false},
    {"DataAnythingButAnotherType", "[{data: {amount: {anything-but: \"150\"}}}]", true, false},
    {"DataAnythingButOfMissingPath", "[{data: {missing: {anything-but: [x]}}}]", false, false},
    {"DataNestedPath", "[{data: {customer.tier: {numeric: [\">=\", 2]}}}]", true, false},
    {"DataPathThroughAString", "[{data: {customer.id.x: {exists: true}}}]", false, false},
    {"DataArrayHasTheValue", "[{data: {tags: a}}]", true, false},
    {"DataArrayLacksTheValue", "[{data: {tags: c}}]", false, false},
    {"DataAnythingButOverAnArray", "[{data: {tags: {anything-but: [c]}}}]", true, false},
    {"DataAnythingButAnItemOfTheArray", "[{data: {tags: {anything-but: [b]}}}]", false, false},
    // a payload that is not JSON matches no data filter, whatever its conditions
    {"NotJsonMatchesNoDataFilter", "[{data: {missing: {exists: false}}}]", true, false},
    {"NotOfDataOverNotJson", "[{not: {data: {status: paid}}}]", false, true},
    {"DataAndAttributes", "[{exact: {priority: high}}, {data: {status: paid}}]", true, false},
};

class EventFilter : public testing::TestWithParam<FilterCase> {};

TEST_P(EventFilter, PassesExactlyTheMatchingEvents) {
  const FilterCase& c = GetParam();
  const std::vector<config::Filter> filters = filters_of(c.filters);
  EXPECT_EQ(passes(filters, order_event()), c.order) << c.filters << " over the order";
  EXPECT_EQ(passes(filters, bare_event()), c.bare) << c.filters << " over the bare request";
}

INSTANTIATE_TEST_SUITE_P(Table, EventFilter, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<FilterCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(EventFilterTime, IsTheTextCeTimeCarries) {
  const Event event = order_event();
  Rfc3339Buffer buffer;
  EXPECT_EQ(write_rfc3339(event.time, buffer), format_rfc3339(event.time));
  EXPECT_EQ(write_rfc3339(event.time, buffer), "2025-06-01T12:00:00.250Z");
}

TEST(EventFilterData, AJsonPayloadThatIsNotAnObjectHasNoPaths) {
  Event event = bare_event();
  event.data = std::string("[1, 2, 3]");
  EXPECT_FALSE(passes(filters_of("[{data: {x: {exists: true}}}]"), event));
  EXPECT_TRUE(passes(filters_of("[{data: {x: {exists: false}}}]"), event));
}

TEST(EventFilterData, ALentPayloadIsReadInPlace) {
  // The Kafka source lends the message's bytes; the filter reads them where they are.
  static std::string bytes = R"({"status": "paid"})";
  static int released = 0;
  Event event = bare_event();
  event.data = Payload::lent(
      bytes, [](void*) { ++released; }, nullptr);
  EXPECT_TRUE(passes(filters_of("[{data: {status: paid}}]"), event));
  EXPECT_EQ(released, 0) << "the filter does not take the payload";
}

#ifndef TRIGGERD_SANITIZED
// How many heap allocations passes() makes for `event`.
std::size_t allocations_of(const std::vector<config::Filter>& filters, const Event& event,
                           bool& passed) {
  allocations = 0;
  counting = true;
  passed = passes(filters, event);
  counting = false;
  return allocations;
}

TEST(EventFilterCost, AttributeDialectsAndSmallPayloadsAllocateNothing) {
  const Event event = order_event();
  bool passed = false;
  const auto attributes = filters_of(
      "[{exact: {type: com.example.order.created}}, {prefix: {time: \"2025-\"}},"
      " {any: [{suffix: {source: /orders}}, {not: {exact: {priority: low}}}]}]");
  EXPECT_EQ(allocations_of(attributes, event, passed), 0u);
  EXPECT_TRUE(passed);
  const auto data = filters_of(
      "[{data: {amount: {numeric: [\">=\", 100]}, customer.id: {exists: true},"
      " tags: [a, z], status: {anything-but: [cancelled]}}}]");
  EXPECT_EQ(allocations_of(data, event, passed), 0u);
  EXPECT_TRUE(passed);
}

TEST(EventFilterCost, ThePayloadIsParsedOnceHoweverManyDataFiltersReadIt) {
  // Too big for the stack buffer: parsing it allocates, once.
  std::string big = R"({"status": "paid", "items": [)";
  for (int i = 0; i < 500; ++i) {
    big += (i ? ", " : "") + std::string(R"({"sku": "item-)") + std::to_string(i) +
           R"(", "count": 1})";
  }
  big += "]}";
  Event event = bare_event();
  event.data = big;
  bool passed = false;
  const std::size_t one = allocations_of(filters_of("[{data: {status: paid}}]"), event, passed);
  EXPECT_TRUE(passed);
  EXPECT_GT(one, 0u);
  const std::size_t three =
      allocations_of(filters_of("[{data: {status: paid}}, {data: {items: {exists: true}}},"
                                " {not: {data: {status: cancelled}}}]"),
                     event, passed);
  EXPECT_TRUE(passed);
  EXPECT_EQ(three, one);
}
#endif

}  // namespace
}  // namespace triggerd
