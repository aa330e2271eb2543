// Private: a tessel::Signature (tessel/jit/compile.h) checked against a kernel's parameters and
// turned into the bindings that trace that specialization — the compile API's counterpart of
// jit/signature.h, which does the same for launch arguments.
#pragma once

#include "tessel/jit/compile.h"
#include "tessel/lang/trace.h"

#include <vector>

namespace tessel::jit {

struct ResolvedSignature {
  Signature signature; // normalised: kinds as the kernel sees them, alignment/divisibility 16 or 1
  std::vector<lang::ParamBinding> bindings;
};

// Throws tessel::Error naming the parameter when `signature` has the wrong number of parameters
// or one that does not fit its parameter (a pointer for an Int, a Const without a value, ...).
ResolvedSignature resolve_signature(const lang::KernelDef& def, const Signature& signature);

// `signature` with its empty parameter names taken from the kernel's (tl::kernel("k", "out, n",
// fn)), so a signature need not repeat them. Throws tessel::Error when a given name differs from
// the kernel's. A signature of the wrong length is returned as it is (resolve_signature reports
// it).
Signature with_param_names(const lang::KernelDef& def, Signature signature);

} // namespace tessel::jit
