#include "dispatcher/batch_answer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "core/text.hpp"

namespace triggerd {
namespace {

namespace json = boost::json;

// The positions of the batch's events sorted by id, to find an answer's id in log time.
class IdIndex {
 public:
  explicit IdIndex(std::span<const std::string_view> ids) : ids_(ids), order_(ids.size()) {
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::sort(order_.begin(), order_.end(),
              [&](std::size_t a, std::size_t b) { return ids_[a] < ids_[b]; });
  }

  // Calls `apply(position)` for every event with this id; returns whether there was one.
  template <typename Apply>
  bool each(std::string_view id, Apply apply) const {
    auto it = std::lower_bound(order_.begin(), order_.end(), id,
                               [&](std::size_t position, std::string_view wanted) {
                                 return ids_[position] < wanted;
                               });
    bool found = false;
    for (; it != order_.end() && ids_[*it] == id; ++it) {
      apply(*it);
      found = true;
    }
    return found;
  }

 private:
  std::span<const std::string_view> ids_;
  std::vector<std::size_t> order_;
};

const json::string* string_member(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  return value != nullptr ? value->if_string() : nullptr;
}

std::string read_statuses(const json::value& list, const IdIndex& index,
                          std::span<ItemStatus> statuses) {
  const json::array* entries = list.if_array();
  if (entries == nullptr) return "\"statuses\" is not a list";
  std::fill(statuses.begin(), statuses.end(), ItemStatus::retry);  // not listed: retry
  for (const json::value& entry : *entries) {
    const json::object* object = entry.if_object();
    if (object == nullptr) continue;
    const json::string* id = string_member(*object, "id");
    const json::string* status = string_member(*object, "status");
    if (id == nullptr || status == nullptr) continue;
    ItemStatus value;
    if (*status == "success") {
      value = ItemStatus::success;
    } else if (*status == "drop") {
      value = ItemStatus::drop;
    } else {
      value = ItemStatus::retry;  // "retry", and anything it cannot be sure of
    }
    index.each(*id, [&](std::size_t position) { statuses[position] = value; });
  }
  return {};
}

std::string read_item_failures(const json::value& list, const IdIndex& index,
                               std::span<ItemStatus> statuses) {
  const json::array* entries = list.if_array();
  if (entries == nullptr) return "\"batchItemFailures\" is not a list";
  std::fill(statuses.begin(), statuses.end(), ItemStatus::success);
  for (const json::value& entry : *entries) {
    const json::object* object = entry.if_object();
    const json::string* id = object != nullptr ? string_member(*object, "itemIdentifier") : nullptr;
    if (id == nullptr || id->empty()) {
      return "a \"batchItemFailures\" entry has no \"itemIdentifier\" string";
    }
    if (!index.each(*id, [&](std::size_t position) { statuses[position] = ItemStatus::retry; })) {
      return "\"batchItemFailures\" names an id that is not in the batch";
    }
  }
  return {};
}

}  // namespace

std::string read_batch_answer(std::string_view body, bool cut,
                              std::span<const std::string_view> ids,
                              std::span<ItemStatus> statuses) {
  std::string problem;
  if (cut) {
    problem = "the answer's body is too long to read";
  } else if (trim_whitespace(body).empty()) {
    std::fill(statuses.begin(), statuses.end(), ItemStatus::success);
    return {};
  } else {
    boost::system::error_code error;
    const json::value answer = json::parse(body, error);
    const json::object* object = error ? nullptr : answer.if_object();
    const json::value* list = nullptr;
    if (object != nullptr) {
      const IdIndex index(ids);
      if ((list = object->if_contains("statuses")) != nullptr) {
        problem = read_statuses(*list, index, statuses);
      } else if ((list = object->if_contains("batchItemFailures")) != nullptr) {
        problem = read_item_failures(*list, index, statuses);
      }
    }
    if (list == nullptr) {  // no list to read: a plain success
      std::fill(statuses.begin(), statuses.end(), ItemStatus::success);
      return {};
    }
  }
  if (!problem.empty()) std::fill(statuses.begin(), statuses.end(), ItemStatus::retry);
  return problem;
}

}  // namespace triggerd
