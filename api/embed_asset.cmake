# Generates a .cc defining `std::string_view <FUNC>()` that returns the bytes of INPUT.
# cmake -DINPUT=... -DOUTPUT=... -DFUNC=... -P embed_asset.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," body "${hex}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT}; do not edit.\n#include \"api/assets.h\"\nnamespace sh::api {\nnamespace {\nconst char kData[] = {${body} 0};\n}\nstd::string_view ${FUNC}() { return {kData, ${size}}; }\n}  // namespace sh::api\n")
