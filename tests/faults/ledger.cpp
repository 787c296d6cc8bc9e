#include "tests/faults/ledger.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <utility>

namespace triggerd::testing {
namespace {

struct Counts {
  int deliveries = 0;
  int dead_letter_takes = 0;
  int dead_letter_refusals = 0;
};

}  // namespace

Ledger::Ledger(std::string source, std::string fault)
    : source_(std::move(source)), fault_(std::move(fault)) {}

std::vector<std::string> Ledger::issue(int count, const std::string& prefix) {
  std::vector<std::string> ids;
  ids.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ids.push_back(prefix + "-" + std::to_string(sent_.size()));
    sent_.push_back(ids.back());
  }
  return ids;
}

void Ledger::function_saw(const std::vector<RecordedRequest>& requests, const AnsweredOk& ok) {
  function_ok_.clear();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (ok(i)) function_ok_.push_back(requests[i].body);
  }
}

void Ledger::dead_letter_saw(const std::vector<RecordedRequest>& requests, const AnsweredOk& ok) {
  dead_letter_ok_.clear();
  dead_letter_refused_.clear();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    (ok(i) ? dead_letter_ok_ : dead_letter_refused_).push_back(requests[i].body);
  }
}

Tally Ledger::tally() const {
  const std::set<std::string> sent(sent_.begin(), sent_.end());
  std::map<std::string, Counts> seen;
  std::size_t unknown = 0;
  auto count = [&](const std::vector<std::string>& ids, int Counts::*field) {
    for (const std::string& id : ids) {
      if (!sent.contains(id)) {
        ++unknown;
        continue;
      }
      ++(seen[id].*field);
    }
  };
  count(function_ok_, &Counts::deliveries);
  count(dead_letter_ok_, &Counts::dead_letter_takes);
  count(dead_letter_refused_, &Counts::dead_letter_refusals);

  Tally tally;
  tally.sent = sent.size();
  tally.unknown = unknown;
  for (const std::string& id : sent) {
    const auto it = seen.find(id);
    if (it == seen.end()) {
      ++tally.lost;
      continue;
    }
    const Counts& c = it->second;
    const int finishes = c.deliveries + c.dead_letter_takes;
    if (finishes > 1) tally.duplicated += static_cast<std::size_t>(finishes - 1);
    if (c.deliveries > 0) {
      ++tally.delivered;
    } else if (c.dead_letter_takes > 0) {
      ++tally.dead_lettered;
    } else if (c.dead_letter_refusals > 0) {
      ++tally.dropped;
    } else {
      ++tally.lost;
    }
  }
  return tally;
}

std::string Ledger::lost_sample(std::size_t limit) const {
  std::set<std::string> accounted(function_ok_.begin(), function_ok_.end());
  accounted.insert(dead_letter_ok_.begin(), dead_letter_ok_.end());
  accounted.insert(dead_letter_refused_.begin(), dead_letter_refused_.end());
  std::string text;
  std::size_t listed = 0;
  for (const std::string& id : sent_) {
    if (accounted.contains(id)) continue;
    if (listed++ == limit) {
      text += " ...";
      break;
    }
    text += (text.empty() ? "" : " ") + id;
  }
  return text;
}

std::string Ledger::row() const {
  const Tally t = tally();
  return "| " + source_ + " | " + fault_ + " | " + std::to_string(t.sent) + " | " +
         std::to_string(t.delivered) + " | " + std::to_string(t.duplicated) + " | " +
         std::to_string(t.dead_lettered) + " | " + std::to_string(t.dropped) + " | " +
         std::to_string(t.lost) + " |";
}

void Ledger::report() const {
  const std::string line = row();
  std::cout << "[ledger] " << line << std::endl;
  if (const char* path = std::getenv("TRIGGERD_FAULTS_REPORT"); path != nullptr && *path != 0) {
    std::ofstream(path, std::ios::app) << line << '\n';
  }
}

void expect_accounted(const Ledger& ledger, std::size_t max_duplicates,
                      const std::string& context) {
  ledger.report();
  const Tally t = ledger.tally();
  EXPECT_EQ(t.lost, 0u) << ledger.row() << "\nlost: " << ledger.lost_sample() << "\n" << context;
  EXPECT_EQ(t.unknown, 0u) << ledger.row() << ": payloads that were never sent";
  EXPECT_LE(t.duplicated, max_duplicates) << ledger.row() << "\n" << context;
}

}  // namespace triggerd::testing
