#pragma once
// An event's data, byte for byte. Most sources hand over a string the event then owns; the
// Kafka source lends the bytes where librdkafka fetched them instead, so a message's value
// goes to the function's socket without being copied (docs/kafka.md). A lent payload carries
// what keeps its bytes alive, and lets go of it exactly once: when the payload is destroyed
// or given other data, i.e. when the event that holds it ends.
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

namespace triggerd {

class Payload {
 public:
  // Lets go of lent bytes; `context` is what was passed with them.
  using Release = void (*)(void* context);

  Payload() = default;
  Payload(std::string text) : owned_(std::move(text)) {}  // NOLINT: data is text as often
  Payload(std::string_view text) : owned_(text) {}        // NOLINT
  Payload(const char* text) : owned_(text) {}             // NOLINT
  // Bytes that stay valid until `release(context)` is called.
  static Payload lent(std::string_view bytes, Release release, void* context) {
    Payload payload;
    payload.lent_ = bytes;
    payload.release_ = release;
    payload.context_ = context;
    return payload;
  }

  Payload(Payload&& other) noexcept
      : owned_(std::move(other.owned_)),
        lent_(other.lent_),
        release_(std::exchange(other.release_, nullptr)),
        context_(other.context_) {}
  Payload& operator=(Payload&& other) noexcept {
    if (this != &other) {
      let_go();
      owned_ = std::move(other.owned_);
      lent_ = other.lent_;
      release_ = std::exchange(other.release_, nullptr);
      context_ = other.context_;
    }
    return *this;
  }
  // Copies would be silent copies of the bytes, or a second owner of a loan.
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  ~Payload() { let_go(); }

  std::string_view view() const { return release_ != nullptr ? lent_ : std::string_view(owned_); }
  operator std::string_view() const { return view(); }  // NOLINT: reads like the string it was
  const char* data() const { return view().data(); }
  std::size_t size() const { return view().size(); }
  bool empty() const { return view().empty(); }
  // Whether the bytes are lent rather than owned.
  bool is_lent() const { return release_ != nullptr; }

  friend bool operator==(const Payload& payload, std::string_view text) {
    return payload.view() == text;
  }

 private:
  void let_go() {
    if (release_ != nullptr) std::exchange(release_, nullptr)(context_);
    lent_ = {};
  }

  std::string owned_;
  std::string_view lent_;
  Release release_ = nullptr;  // set while the bytes are lent
  void* context_ = nullptr;
};

std::ostream& operator<<(std::ostream& out, const Payload& payload);

}  // namespace triggerd
