// Built by install.package with only `c++ -std=c++20 main.cpp $(pkg-config --cflags --libs
// tessel)`: a kernel that writes i * i, run on the CPU and checked element by element. Exits 1 on a
// mismatch.
#include <tessel/tessel.h>

#include <cstdio>
#include <vector>

namespace tl = tessel::lang;

int main() {
  const tessel::Kernel squares =
      tl::kernel("squares", [](tl::PtrOf<int32_t> out, tl::Int n, tl::Const<int> BLOCK) {
        auto i = tl::program_id(0) * BLOCK + tl::arange(0, BLOCK);
        tl::store(out + i, i * i, i < n);
      });
  const int n = 300, block = 128;
  std::vector<int32_t> out(n + 16, -1);
  squares.launch({(n + block - 1) / block}, {}, out.data(), n, block);
  int bad = 0;
  for (int i = 0; i < n + 16; ++i)
    bad += out[i] != (i < n ? i * i : -1);
  std::printf("%s: squares of 0..%d %s\n", tessel::build_id().c_str(), n - 1,
              bad ? "MISMATCH" : "ok");
  return bad ? 1 : 0;
}
