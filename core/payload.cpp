#include "core/payload.hpp"

#include <ostream>

namespace triggerd {

std::ostream& operator<<(std::ostream& out, const Payload& payload) {
  return out << payload.view();
}

}  // namespace triggerd
