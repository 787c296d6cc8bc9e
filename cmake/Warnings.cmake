# One place for the compiler flags of our own code (not of dependencies).
option(TRIGGERD_WERROR "Treat warnings in triggerd's own code as errors" OFF)

add_library(triggerd_warnings INTERFACE)
target_compile_options(triggerd_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wno-missing-field-initializers)
# Clang's -Wpedantic counts librdkafka's RD_KAFKA_V_* argument macros, statement expressions,
# against the code that uses them.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(triggerd_warnings INTERFACE -Wno-gnu-statement-expression)
endif()
if(TRIGGERD_WERROR)
  target_compile_options(triggerd_warnings INTERFACE -Werror)
endif()
