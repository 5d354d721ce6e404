# Cross-compiles corio for 64-bit Arm Linux with Debian's cross toolchain and
# runs the tests under qemu-user (scripts/deps.sh cross installs all of it,
# plus cmocka for arm64 through dpkg multiarch):
#
#   cmake -S . -B build-aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 -j2 && ctest --test-dir build-aarch64
#
# scripts/test.sh aarch64 does exactly this.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CORIO_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER   ${CORIO_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CORIO_CROSS_TRIPLE}-g++)
set(CMAKE_ASM_COMPILER ${CORIO_CROSS_TRIPLE}-gcc)

# ctest (and add_test with a target as COMMAND) prefixes this to every
# test command line. -L makes qemu find the cross loader and libc.
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;/usr/${CORIO_CROSS_TRIPLE}")

# Libraries and headers of the target: the cross libc, plus multiarch
# packages (libcmocka-dev:arm64) under /usr/lib/aarch64-linux-gnu. Programs
# (pkg-config, ...) come from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${CORIO_CROSS_TRIPLE})
set(CMAKE_LIBRARY_ARCHITECTURE ${CORIO_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must see only the target's .pc files (cmocka.pc for arm64).
if(NOT DEFINED ENV{PKG_CONFIG_LIBDIR})
  set(ENV{PKG_CONFIG_LIBDIR}
      /usr/lib/${CORIO_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
endif()
