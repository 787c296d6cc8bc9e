# The test of cmake/check_layers.cmake: a small tree where each layer includes what it may
# passes, and every kind of wrong include in it is reported with its file and line.
#   cmake -DWORK=<scratch dir> -P cmake/check_layers_test.cmake
if(NOT WORK)
  message(FATAL_ERROR "usage: cmake -DWORK=<scratch dir> -P check_layers_test.cmake")
endif()
set(check ${CMAKE_CURRENT_LIST_DIR}/check_layers.cmake)

function(write_tree root)
  file(REMOVE_RECURSE ${root})
  file(WRITE ${root}/core/event.hpp "#pragma once\n#include <string>\n")
  file(WRITE ${root}/config/config.hpp "#pragma once\n#include \"core/event.hpp\"\n")
  file(WRITE ${root}/dispatcher/dispatcher.cpp
       "#include \"dispatcher/dispatcher.hpp\"\n#include \"config/config.hpp\"\n#include \"core/event.hpp\"\n")
  file(WRITE ${root}/connectors/source.hpp "#pragma once\n#include \"core/event.hpp\"\n")
  file(WRITE ${root}/connectors/kafka/kafka_source.cpp
       "#include \"connectors/kafka/kafka_source.hpp\"\n#include \"connectors/source.hpp\"\n")
  file(WRITE ${root}/connectors/cron/cron_source.cpp "#include \"connectors/redis/redis_cron_lock.hpp\"\n")
  file(WRITE ${root}/connectors/registry.cpp
       "#include \"connectors/kafka/kafka_source.hpp\"\n#include \"dispatcher/dispatcher.hpp\"\n")
  file(WRITE ${root}/broker/app.cpp "#include \"connectors/registry.hpp\"\n")
  # Tests may include anything.
  file(WRITE ${root}/core/event_test.cpp "#include \"broker/app.hpp\"\n")
endfunction()

function(run_check root out_result out_output)
  execute_process(COMMAND ${CMAKE_COMMAND} -DROOT=${root} -P ${check}
                  RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  set(${out_result} ${result} PARENT_SCOPE)
  set(${out_output} "${output}" PARENT_SCOPE)
endfunction()

set(failures "")

# A tree whose includes all run downwards passes.
write_tree(${WORK}/right)
run_check(${WORK}/right result output)
if(NOT result EQUAL 0)
  string(APPEND failures "a right tree was refused:\n${output}\n")
endif()

# Each wrong include is reported, with file and line, and fails the check.
set(cases
  "dispatcher/delivery.cpp|#include \"core/event.hpp\"\n#include \"connectors/kafka/kafka_source.hpp\"\n|dispatcher/delivery.cpp:2: includes \"connectors/kafka/kafka_source.hpp\""
  "config/loader.cpp|#include \"connectors/cron/cron_schedule.hpp\"\n|config/loader.cpp:1: includes \"connectors/cron/cron_schedule.hpp\""
  "core/metrics.hpp|#pragma once\n#include \"config/config.hpp\"\n|core/metrics.hpp:2: includes \"config/config.hpp\""
  "connectors/kafka/kafka_event.cpp|#include \"connectors/http/webhook_event.hpp\"\n|connectors/kafka/kafka_event.cpp:1: includes \"connectors/http/webhook_event.hpp\""
  "connectors/redis/redis_source.cpp|#include \"connectors/registry.hpp\"\n|connectors/redis/redis_source.cpp:1: includes \"connectors/registry.hpp\""
  "connectors/http/webhook_server.cpp|#include \"broker/metrics.hpp\"\n|connectors/http/webhook_server.cpp:1: includes \"broker/metrics.hpp\""
)
foreach(case IN LISTS cases)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 file)
  list(GET parts 1 text)
  list(GET parts 2 expected)
  string(REPLACE "\\n" "\n" text "${text}")
  write_tree(${WORK}/wrong)
  file(WRITE ${WORK}/wrong/${file} "${text}")
  run_check(${WORK}/wrong result output)
  if(result EQUAL 0)
    string(APPEND failures "a wrong include in ${file} passed\n")
  endif()
  string(FIND "${output}" "${expected}" at)
  if(at EQUAL -1)
    string(APPEND failures "${file}: expected \"${expected}\" in:\n${output}\n")
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})

if(failures)
  message(FATAL_ERROR "${failures}")
endif()
message(STATUS "the layer check passes a right tree and reports every wrong include")
