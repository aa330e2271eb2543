// The instruction mix of PTX text: counts of the instruction kinds that say whether the code
// generator did its job (vector widths of global accesses, shuffles, barriers, shared memory,
// tensor-core and async-copy instructions, local memory). The async-copy family is split the
// way a pipeline is read: the copies (`cp.async`), `cp.async.commit_group`, the waits
// (`cp.async.wait_group`, wait_all included) and the bulk (TMA) copies; wgmma both as one count
// (`wgmma`) and by kind (`wgmma.mma_async`, `wgmma.fence`, `wgmma.commit_group`,
// `wgmma.wait_group`); `prmt` counts byte permutes.
#include "tessel/codegen/gpu.h"

#include <sstream>

namespace tessel::codegen::gpu {

namespace {

std::string vector_suffix(const std::string& op) {
  if (op.find(".v4") != std::string::npos)
    return ".v4";
  if (op.find(".v2") != std::string::npos)
    return ".v2";
  if (op.find(".v8") != std::string::npos)
    return ".v8";
  return "";
}

} // namespace

PtxStats ptx_stats(const std::string& ptx) {
  PtxStats s;
  std::istringstream in(ptx);
  std::string line;
  while (std::getline(in, line)) {
    size_t i = line.find_first_not_of(" \t");
    if (i == std::string::npos)
      continue;
    std::string rest = line.substr(i);
    if (rest[0] == '.' || rest[0] == '/' || rest[0] == '{' || rest[0] == '}' || rest[0] == '$' ||
        rest.back() == ':')
      continue;
    if (rest[0] == '@') { // predicate
      size_t sp = rest.find_first_of(" \t");
      if (sp == std::string::npos)
        continue;
      rest = rest.substr(rest.find_first_not_of(" \t", sp));
    }
    std::string op = rest.substr(0, rest.find_first_of(" \t;"));
    if (op.empty())
      continue;
    ++s.instructions;
    auto bump = [&](const std::string& k) { ++s.counts[k]; };
    auto starts = [&](const char* p) { return op.rfind(p, 0) == 0; };
    if (starts("ld.global"))
      bump("ld.global" + vector_suffix(op));
    else if (starts("st.global"))
      bump("st.global" + vector_suffix(op));
    else if (starts("ld.shared"))
      bump("ld.shared" + vector_suffix(op));
    else if (starts("st.shared"))
      bump("st.shared" + vector_suffix(op));
    else if (starts("ld.local") || starts("st.local"))
      bump("local");
    else if (starts("shfl.sync"))
      bump("shfl.sync");
    else if (starts("bar.sync") || starts("barrier.sync"))
      bump("bar.sync");
    else if (starts("wgmma")) {
      bump("wgmma"); // all of them, and each kind: wgmma.mma_async, .fence, .commit_group, ...
      bump(op.substr(0, op.find('.', 6)));
    } else if (starts("fence.proxy.async"))
      bump("fence.proxy.async");
    else if (starts("mma"))
      bump("mma");
    else if (starts("cp.async.commit_group"))
      bump("cp.async.commit_group");
    else if (starts("cp.async.wait_group") || starts("cp.async.wait_all"))
      bump("cp.async.wait_group"); // wait_all is wait_group 0
    else if (starts("cp.async.bulk")) {
      bump("cp.async.bulk"); // TMA (sm_90): copies, commits and waits
      if (starts("cp.async.bulk.tensor"))
        bump("cp.async.bulk.tensor"); // the box copies alone
    } else if (starts("mbarrier"))
      bump("mbarrier"); // init, arrive(.expect_tx), try_wait, inval
    else if (starts("cp.async"))
      bump("cp.async"); // the copies: cp.async.ca / .cg.shared.global
    else if (starts("ldmatrix"))
      bump("ldmatrix");
    else if (starts("prmt"))
      bump("prmt"); // byte permutes: the 8-bit B stored along N (byte_transpose.h)
    else if (starts("fma"))
      bump("fma");
    else if (starts("ex2.approx"))
      bump("ex2.approx");
    else if (starts("ld.param"))
      bump("ld.param");
  }
  return s;
}

} // namespace tessel::codegen::gpu
