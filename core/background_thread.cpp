#include "core/background_thread.hpp"

#include <sched.h>

namespace triggerd {

bool make_background_thread() {
  sched_param param{};
  param.sched_priority = 0;  // the only priority of the normal policies
  // 0: the calling thread (Linux applies scheduling policies per thread).
  return ::sched_setscheduler(0, SCHED_BATCH, &param) == 0;
}

}  // namespace triggerd
