#pragma once
// The short names that triggerd's networking code gives Boost.Asio and Boost.Beast, declared
// once here instead of at the top of every file that speaks TCP or HTTP. Names only: a file
// still includes the Asio and Beast headers of what it uses.
namespace boost::asio::ip {
class tcp;
}  // namespace boost::asio::ip

namespace boost::beast::http {}

namespace triggerd {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

}  // namespace triggerd
