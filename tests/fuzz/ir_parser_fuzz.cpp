// Fuzz target: the tile-IR text parser and the verifier (ir/parser.cpp, ir/verifier.cpp).
// Properties, for any bytes:
//   * parse_module returns a module or throws tessel::Error whose message starts with the source
//     name and a line ("fuzz.tir:L:C: ..."); no other exception, no assertion, no crash;
//   * verify returns nothing or an error with a message (located by the op's loc(...) when the
//     text gave one, and always by the op's own text after "in:");
//   * a module that verifies prints, parses back, verifies again and prints the same text.
#include "fuzz_entry.h"

#include "tessel/error.h"
#include "tessel/ir/parser.h"
#include "tessel/ir/printer.h"
#include "tessel/ir/verifier.h"

#include <cctype>
#include <exception>
#include <memory>
#include <string>

namespace {

constexpr std::string_view kSource = "fuzz.tir";

bool located(const std::string& message) {
  std::string prefix = std::string(kSource) + ":";
  return message.rfind(prefix, 0) == 0 && message.size() > prefix.size() &&
         std::isdigit(static_cast<unsigned char>(message[prefix.size()]));
}

std::unique_ptr<tessel::ir::Module> parse(std::string_view text) {
  try {
    return tessel::ir::parse_module(text, kSource);
  } catch (const tessel::Error& e) {
    if (!located(e.what()))
      tessel::fuzz::fail(std::string("parse error without a location: ") + e.what());
    return nullptr;
  } catch (const std::exception& e) {
    tessel::fuzz::fail(std::string("parse threw a non-tessel exception: ") + e.what());
  }
}

void check_round_trip(const tessel::ir::Module& module) {
  std::string printed = tessel::ir::print(module);
  std::unique_ptr<tessel::ir::Module> again;
  try {
    again = tessel::ir::parse_module(printed, "printed.tir");
  } catch (const tessel::Error& e) {
    tessel::fuzz::fail(std::string("printed IR does not parse: ") + e.what() + "\n" + printed);
  }
  if (auto err = tessel::ir::verify(*again))
    tessel::fuzz::fail("printed IR does not verify: " + err->message + "\n" + printed);
  if (tessel::ir::print(*again) != printed)
    tessel::fuzz::fail("print(parse(print(m))) != print(m):\n" + printed);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<tessel::ir::Module> module = parse(tessel::fuzz::as_text(data, size));
  if (!module)
    return 0;
  std::optional<tessel::ir::VerifyError> err;
  try {
    err = tessel::ir::verify(*module);
  } catch (const std::exception& e) {
    tessel::fuzz::fail(std::string("verify threw instead of returning an error: ") + e.what());
  }
  if (err) {
    if (err->message.empty())
      tessel::fuzz::fail("verify error with an empty message");
    return 0;
  }
  check_round_trip(*module);
  return 0;
}
