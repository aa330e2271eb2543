// tessel.Error, the one Python exception the package raises, and the location its messages name.
//
// tessel's C++ messages start with the file:line of the call that went wrong, taken from the
// std::source_location each op and launch receives. Called from Python, that location is a line
// of this extension, which tells the user nothing; so the binding passes its own location and
// error_from() puts the Python caller's file:line (the innermost frame outside the tessel package)
// in its place.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <source_location>
#include <string>

namespace tessel::python {

namespace nb = nanobind;

// Creates tessel.Error (a subclass of RuntimeError) in `m`.
void register_errors(nb::module_& m);

// "file.py:12" of the innermost Python frame that is not in the tessel package; "" when there is
// none (called from C).
std::string python_caller();

// Raises tessel.Error with `message` prefixed by the Python caller's file:line.
[[noreturn]] void raise_error(const std::string& message);

// Raises tessel.Error for a tessel::Error thrown by a call made at `binding`: the binding's
// "file:line:col: " prefix, where the message has it, becomes the Python caller's.
[[noreturn]] void raise_relocated(const std::string& message, const std::source_location& binding);

} // namespace tessel::python
