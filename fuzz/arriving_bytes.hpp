#pragma once
// Bytes from a peer fed to a Beast parser the way http::read and http::read_header feed it from
// a socket, but from memory: what has arrived so far is offered to put(), what it leaves stays
// buffered, more arrives when the parser asks for it, and the end of the input is the peer
// closing the connection (put_eof). Arriving in pieces of a few bytes walks the parser through
// every place where a message can be cut.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <string_view>

namespace triggerd::fuzz {

class ArrivingBytes {
 public:
  // `piece`: how many bytes arrive at a time; 0 for all at once.
  ArrivingBytes(std::string_view bytes, std::size_t piece)
      : bytes_(bytes), piece_(piece == 0 ? bytes.size() : piece) {}

  // Bytes neither given to a parser nor still to arrive.
  bool exhausted() const { return used_ == bytes_.size(); }
  std::string_view rest() const { return bytes_.substr(used_); }

  // Runs `parser` over the input until `enough()`, an error, or the end of the input.
  // need_buffer (a buffer_body that is full) comes back like any error; the end of the input
  // gives end_of_stream before a message starts, else whatever put_eof says.
  template <typename Parser, typename Enough>
  boost::system::error_code read(Parser& parser, Enough enough) {
    namespace http = boost::beast::http;
    boost::system::error_code error;
    while (!enough()) {
      const std::string_view buffered = bytes_.substr(used_, arrived_ - used_);
      if (buffered.empty()) {
        if (arrive()) continue;
        if (!parser.got_some()) return http::error::end_of_stream;
        parser.put_eof(error);
        return error;
      }
      const std::size_t used =
          parser.put(boost::asio::buffer(buffered.data(), buffered.size()), error);
      used_ += used;
      // Nothing taken and no error is a parser that wants more, whatever it says.
      if (error == http::error::need_more || (!error && used == 0)) {
        error = {};
        if (arrive()) continue;
        if (!parser.got_some()) return http::error::end_of_stream;
        parser.put_eof(error);
        return error;
      }
      if (error) return error;
    }
    return error;
  }

 private:
  bool arrive() {
    if (arrived_ == bytes_.size()) return false;
    arrived_ = std::min(bytes_.size(), arrived_ + piece_);
    return true;
  }

  std::string_view bytes_;
  std::size_t piece_;
  std::size_t used_ = 0;     // given to the parser and taken by it
  std::size_t arrived_ = 0;  // used_ <= arrived_ <= bytes_.size()
};

}  // namespace triggerd::fuzz
