# One place for the compiler flags of our own code (not of dependencies).
option(TRIGGERD_WERROR "Treat warnings in triggerd's own code as errors" OFF)
option(TRIGGERD_SANITIZE "Build with AddressSanitizer and UBSan" OFF)

add_library(triggerd_warnings INTERFACE)
target_compile_options(triggerd_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                       -Wnon-virtual-dtor -Wno-missing-field-initializers)
if(TRIGGERD_WERROR)
  target_compile_options(triggerd_warnings INTERFACE -Werror)
endif()
if(TRIGGERD_SANITIZE)
  target_compile_options(triggerd_warnings INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer)
  target_link_options(triggerd_warnings INTERFACE -fsanitize=address,undefined)
endif()
