# Turns a file into a C array, at build time (apps/corio-jobs/CMakeLists.txt):
#   cmake -DIN=dashboard.html -DOUT=dashboard_html.c -DNAME=jobs_dashboard_html -P embed.cmake
# defines `const unsigned char NAME[]` (the bytes, NUL-terminated) and
# `const size_t NAME_len` (without the NUL). The page stays editable as
# HTML; the binary needs no file at run time.
file(READ "${IN}" _hex HEX)
string(LENGTH "${_hex}" _n)
math(EXPR _len "${_n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" _bytes "${_bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
  "#include <stddef.h>\n"
  "extern const unsigned char ${NAME}[];\n"
  "extern const size_t ${NAME}_len;\n"
  "const unsigned char ${NAME}[] = {\n${_bytes}0x00};\n"
  "const size_t ${NAME}_len = ${_len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
