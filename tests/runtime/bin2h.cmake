# cmake -DIN=file -DOUT=header -DNAME=symbol -P bin2h.cmake: embeds a binary file as a byte array.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
file(WRITE ${OUT} "// Generated from ${IN} by bin2h.cmake.\n#pragma once\n"
  "alignas(16) static const unsigned char ${NAME}[${bytes}] = {${body}};\n")
