// Formatting of simulator errors (error.h).
#include <tessel/sim/error.h>

#include <fmt/format.h>

namespace tessel::sim {

const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::parse:
    return "parse error";
  case ErrorKind::unsupported:
    return "unsupported";
  case ErrorKind::bad_launch:
    return "bad launch";
  case ErrorKind::memcheck:
    return "memcheck";
  case ErrorKind::racecheck:
    return "racecheck";
  case ErrorKind::sync:
    return "sync";
  case ErrorKind::limit:
    return "limit";
  case ErrorKind::io:
    return "io";
  case ErrorKind::assertion:
    return "assertion";
  }
  return "error";
}

std::string Error::to_string() const {
  std::string out = error_kind_name(kind);
  std::string where;
  auto add = [&](const std::string& s) { where += (where.empty() ? "" : ", ") + s; };
  if (!kernel.empty())
    add("kernel " + kernel);
  if (ptx_line)
    add(ptx_column ? fmt::format("ptx line {}:{}", ptx_line, ptx_column)
                   : fmt::format("ptx line {}", ptx_line));
  if (source_line) {
    std::string file = source_file;
    if (auto slash = file.rfind('/'); slash != std::string::npos)
      file = file.substr(slash + 1);
    add(fmt::format("source {}:{}", file.empty() ? "?" : file, source_line));
  }
  if (!instruction.empty())
    add("'" + instruction + "'");
  if (has_thread)
    add(fmt::format("thread ({},{},{}) block ({},{},{})", thread.x, thread.y, thread.z, block.x,
                    block.y, block.z));
  if (has_address)
    add(fmt::format("address {:#x}", address));
  if (!where.empty())
    out += " [" + where + "]";
  return out + ": " + message;
}

} // namespace tessel::sim
