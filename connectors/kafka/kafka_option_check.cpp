#include "connectors/kafka/kafka_option_check.hpp"

#include <librdkafka/rdkafka.h>

#include <cctype>
#include <memory>

#include "config/secret.hpp"

namespace triggerd::kafka {
namespace {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  for (std::string::size_type at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
}

// Below this length a value may well occur in the message by chance ("ssl" in
// "security.protocol"), and librdkafka only echoes values quoted or at the end anyway.
constexpr std::size_t kMinRedactedAnywhere = 6;

}  // namespace

std::string redact_option_value(std::string message, std::string_view value) {
  // Some messages end in a newline.
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  if (value.empty()) return message;
  const std::string redacted = config::Secret::kRedacted;
  // Quoted ("Invalid value \"x\" for ...") or at the end ("...: x").
  replace_all(message, "\"" + std::string(value) + "\"", "\"" + redacted + "\"");
  const std::string tail = ": " + std::string(value);
  if (message.size() >= tail.size() && message.ends_with(tail)) {
    message.replace(message.size() - value.size(), value.size(), redacted);
  }
  if (value.size() >= kMinRedactedAnywhere) replace_all(message, value, redacted);
  return message;
}

std::optional<std::string> check_option(std::string_view key, std::string_view value) {
  const std::unique_ptr<rd_kafka_conf_t, ConfDeleter> conf(rd_kafka_conf_new());
  char error[512] = "";
  const std::string name(key);
  const std::string text(value);
  if (rd_kafka_conf_set(conf.get(), name.c_str(), text.c_str(), error, sizeof(error)) ==
      RD_KAFKA_CONF_OK) {
    return std::nullopt;
  }
  return redact_option_value(error, value);
}

}  // namespace triggerd::kafka
