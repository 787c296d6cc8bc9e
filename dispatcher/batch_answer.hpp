#pragma once
// What a function's 2xx answer to a batch says of each event (docs/delivery.md, "Batches"):
//   an empty body, or one that is not a JSON object naming either list: all delivered;
//   {"statuses": [{"id": ID, "status": "success" | "retry" | "drop"}, ...]}: per event, an
//     event whose id is not listed counts as retry (an entry that is not of that form is
//     skipped, so its event is retried too);
//   {"batchItemFailures": [{"itemIdentifier": ID}, ...]} (AWS Lambda's form): the listed
//     events are retried, the others delivered; a malformed list, or one naming an id that is
//     not in the batch, retries the whole batch, as Lambda does.
#include <span>
#include <string>
#include <string_view>

namespace triggerd {

enum class ItemStatus : unsigned char { success, retry, drop };

// Reads `body` for the events whose ids are `ids` (in batch order; an id given twice applies to
// each event that has it) into `statuses` (same size as `ids`). Returns empty when the answer
// was read, or why the whole batch is to be retried (then `statuses` are all retry). `cut`: the
// body was longer than what was kept, so a list in it cannot be read.
std::string read_batch_answer(std::string_view body, bool cut,
                              std::span<const std::string_view> ids,
                              std::span<ItemStatus> statuses);

}  // namespace triggerd
