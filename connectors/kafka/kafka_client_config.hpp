#pragma once
// The librdkafka configuration of a `kafka` connection, for each client triggerd makes of it
// (the source's consumer, its watermark reader, the dead letter's producer): the brokers, the
// operator's `options` passed through as they are, then triggerd's own `settings`, which win.
// librdkafka's log lines go to triggerd's "kafka" logger.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"

struct rd_kafka_conf_s;

namespace triggerd::kafka {

using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

// The configuration, or nullptr after logging (naming `owner`, e.g. "trigger orders") which
// option librdkafka refused. Option values are never logged: they may be secrets.
// `defaults` come before the options (the operator may change them), `settings` after.
rd_kafka_conf_s* make_kafka_conf(const config::KafkaConnection& connection, std::string_view owner,
                                 const KafkaSettings& defaults, const KafkaSettings& settings);

// "host1:9092,host2:9092"
std::string join_brokers(const config::KafkaConnection& connection);

}  // namespace triggerd::kafka
