// TMA: tensor maps built by encode_tensor_map_tiled (cuTensorMapEncodeTiled's rules) and
// tile-mode cp.async.bulk.tensor 1D-5D loads (mbarrier complete_tx) and stores, with the
// box partly outside the tensor (zero fill on load, skipped on store) and the swizzle modes.
// The expected shared image is computed here from the definition of the swizzle modes: in
// each 128-byte row r of the box, 16-byte chunk j of an S-byte group lands in chunk
// j XOR (r mod S/16) (swizzle_reference), written independently of the simulator's formula.
#include "sim_test_util.h"

#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace tessel::sim::testing {
namespace {

// Where byte `o` of the dense box lands in shared memory under a swizzle mode, spelled as in
// the CUDA programming guide's TMA swizzle tables: the pattern repeats every 8 rows of
// 128 bytes; for a span of S bytes (32/64/128) the 16-byte chunk index within the S-byte
// group is XORed with (row / (128 / S)) mod (S / 16).
uint32_t swizzle_reference(uint32_t o, TensorMapSwizzle mode) {
  uint32_t span = mode == TensorMapSwizzle::b128  ? 128
                  : mode == TensorMapSwizzle::b64 ? 64
                  : mode == TensorMapSwizzle::b32 ? 32
                                                  : 0;
  if (!span)
    return o;
  uint32_t row = o / 128;
  uint32_t chunks = span / 16;
  uint32_t chunk = (o / 16) % chunks;
  uint32_t group_base = o / span * span;
  uint32_t permuted = chunk ^ (row % chunks);
  return group_base + permuted * 16 + o % 16;
}

std::string load_kernel(uint32_t rank) {
  std::string coords = "%r20";
  for (uint32_t i = 1; i < rank; ++i)
    coords += ", %r" + std::to_string(20 + i);
  return R"(.version 8.0
.target sm_90a
.address_size 64
.shared .align 1024 .b8 box[16384];
.shared .align 8 .b8 bar[8];
.visible .entry k(.param .align 64 .b8 tmap[128], .param .u64 out, .param .u32 words,
                  .param .s32 c0, .param .s32 c1, .param .s32 c2, .param .s32 c3, .param .s32 c4)
{
  .reg .pred %p<4>;
  .reg .b32 %r<32>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [out];
  ld.param.u32 %r9, [words];
  ld.param.u32 %r20, [c0];
  ld.param.u32 %r21, [c1];
  ld.param.u32 %r22, [c2];
  ld.param.u32 %r23, [c3];
  ld.param.u32 %r24, [c4];
  mov.u32 %r0, %tid.x;
  mov.u32 %r10, bar;
  mov.u32 %r11, box;
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra WAIT;
  mbarrier.init.shared::cta.b64 [%r10], 1;
  shl.b32 %r12, %r9, 2;
  mbarrier.arrive.expect_tx.shared::cta.b64 %rd5, [%r10], %r12;
  cp.async.bulk.tensor.)" +
         std::to_string(rank) +
         R"(d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r11], [tmap, {)" + coords +
         R"(}], [%r10];
WAIT:
  mov.u32 %r3, 0;
SPIN:
  mbarrier.try_wait.parity.shared::cta.b64 %p1, [%r10], %r3;
  @!%p1 bra SPIN;
  mov.u32 %r4, %r0;
COPY:
  setp.ge.u32 %p2, %r4, %r9;
  @%p2 bra DONE;
  shl.b32 %r5, %r4, 2;
  add.u32 %r6, %r11, %r5;
  ld.shared.u32 %r7, [%r6];
  cvt.u64.u32 %rd2, %r5;
  add.s64 %rd3, %rd1, %rd2;
  st.global.u32 [%rd3], %r7;
  add.u32 %r4, %r4, 32;
  bra COPY;
DONE:
  ret;
}
)";
}

struct Tensor {
  std::vector<uint64_t> dims;    // innermost first
  std::vector<uint32_t> values;  // u32 elements
  std::vector<uint64_t> strides; // bytes, dims 1..
};

Tensor random_tensor(std::vector<uint64_t> dims, uint32_t pad_elems, uint32_t seed) {
  Tensor t;
  t.dims = dims;
  uint64_t row = dims[0] + pad_elems, total = row;
  t.strides.push_back(row * 4);
  for (size_t i = 1; i < dims.size(); ++i) {
    total *= dims[i];
    if (i + 1 < dims.size())
      t.strides.push_back(t.strides.back() * dims[i]);
  }
  std::mt19937 rng(seed);
  t.values.resize(total);
  for (auto& v : t.values)
    v = rng() | 1u; // never 0: zero fill stays visible
  return t;
}

TensorMapSpec spec_of(const Tensor& t, uint64_t address, std::vector<uint32_t> box,
                      TensorMapSwizzle swizzle) {
  TensorMapSpec s;
  s.dtype = TensorMapDtype::u32;
  s.rank = static_cast<uint32_t>(t.dims.size());
  s.global_address = address;
  for (uint32_t i = 0; i < s.rank; ++i) {
    s.global_dim[i] = t.dims[i];
    s.box_dim[i] = box[i];
    if (i + 1 < s.rank)
      s.global_strides[i] = t.strides[i];
  }
  s.swizzle = swizzle;
  return s;
}

// The element at box-relative index `e` (innermost first), 0 outside the tensor.
uint32_t reference_element(const Tensor& t, const std::vector<uint32_t>& box,
                           const std::vector<int32_t>& start, uint32_t e) {
  uint64_t byte = 0;
  for (size_t i = 0; i < box.size(); ++i) {
    int64_t c = start[i] + int64_t(e % box[i]);
    e /= box[i];
    if (c < 0 || c >= int64_t(t.dims[i]))
      return 0;
    byte += uint64_t(c) * (i == 0 ? 4 : t.strides[i - 1]);
  }
  return t.values[byte / 4];
}

void check_load(const Tensor& t, std::vector<uint32_t> box, std::vector<int32_t> start,
                TensorMapSwizzle swizzle) {
  Device dev;
  uint64_t g = upload(dev, t.values);
  auto map = encode_tensor_map_tiled(spec_of(t, g, box, swizzle));
  ASSERT_TRUE(map.ok()) << map.error().to_string();
  uint32_t words = 1;
  for (uint32_t b : box)
    words *= b;
  uint64_t out = *dev.malloc(words * 4);
  std::vector<uint32_t> poison(words, 0xdeadbeefu);
  ASSERT_TRUE(dev.memcpy_to_device(out, poison.data(), words * 4).ok());
  start.resize(5, 0);
  std::vector<KernelArg> args = {KernelArg::of(*map), KernelArg::ptr(out), KernelArg::u32(words)};
  for (int32_t c : start)
    args.push_back(KernelArg::i32(c));
  auto r = dev.launch(load_kernel(static_cast<uint32_t>(box.size())), "k", {1, 1, 1}, {32, 1, 1}, 0,
                      args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  std::vector<uint32_t> got(words);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), out, words * 4).ok());
  start.resize(box.size());
  for (uint32_t e = 0; e < words; ++e) {
    uint32_t at = swizzle_reference(e * 4, swizzle) / 4;
    ASSERT_EQ(got[at], reference_element(t, box, start, e)) << "box element " << e;
  }
}

TEST(Tma, Load1D) { check_load(random_tensor({100}, 0, 1), {64}, {50}, TensorMapSwizzle::none); }

TEST(Tma, Load2DPartlyOutOfBoundsIsZeroFilled) {
  check_load(random_tensor({40, 30}, 8, 2), {16, 16}, {-4, 20}, TensorMapSwizzle::none);
}

TEST(Tma, Load2DSwizzleModes) {
  Tensor t = random_tensor({64, 40}, 0, 3);
  check_load(t, {32, 16}, {8, 4}, TensorMapSwizzle::b128);
  check_load(t, {16, 16}, {8, 4}, TensorMapSwizzle::b64);
  check_load(t, {8, 16}, {8, 4}, TensorMapSwizzle::b32);
}

TEST(Tma, Load3DTo5D) {
  check_load(random_tensor({12, 7, 5}, 4, 4), {8, 4, 4}, {6, -1, 2}, TensorMapSwizzle::none);
  check_load(random_tensor({8, 3, 4, 3}, 0, 5), {4, 2, 2, 2}, {2, 1, 3, 1}, TensorMapSwizzle::none);
  check_load(random_tensor({8, 3, 2, 3, 2}, 4, 6), {4, 2, 2, 2, 2}, {4, 2, 1, 0, 1},
             TensorMapSwizzle::none);
}

TEST(Tma, StoreSkipsElementsOutsideTheTensor) {
  const std::string ptx = R"(.version 8.0
.target sm_90a
.address_size 64
.shared .align 1024 .b8 box[1024];
.visible .entry k(.param .align 64 .b8 tmap[128], .param .u64 in, .param .s32 c0, .param .s32 c1)
{
  .reg .pred %p<4>;
  .reg .b32 %r<32>;
  .reg .b64 %rd<8>;
  ld.param.u64 %rd1, [in];
  ld.param.u32 %r20, [c0];
  ld.param.u32 %r21, [c1];
  mov.u32 %r0, %tid.x;
  mov.u32 %r11, box;
  mov.u32 %r4, %r0;
FILL:
  setp.ge.u32 %p2, %r4, 256;
  @%p2 bra ISSUE;
  shl.b32 %r5, %r4, 2;
  cvt.u64.u32 %rd2, %r5;
  add.s64 %rd3, %rd1, %rd2;
  ld.global.u32 %r7, [%rd3];
  add.u32 %r6, %r11, %r5;
  st.shared.u32 [%r6], %r7;
  add.u32 %r4, %r4, 64;
  bra FILL;
ISSUE:
  fence.proxy.async.shared::cta;
  bar.sync 0;
  setp.ne.u32 %p0, %r0, 0;
  @%p0 bra DONE;
  cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [tmap, {%r20, %r21}], [%r11];
  cp.async.bulk.commit_group;
  cp.async.bulk.wait_group.read 0;
DONE:
  ret;
}
)";
  Tensor t = random_tensor({20, 20}, 4, 7); // 24-element rows
  std::vector<uint32_t> poison(t.values.size(), 0xdeadbeefu);
  std::mt19937 rng(8);
  std::vector<uint32_t> image(256);
  for (auto& v : image)
    v = rng();
  Device dev;
  uint64_t g = upload(dev, poison), in = upload(dev, image);
  auto map = encode_tensor_map_tiled(spec_of(t, g, {16, 16}, TensorMapSwizzle::b64));
  ASSERT_TRUE(map.ok()) << map.error().to_string();
  std::vector<KernelArg> args = {KernelArg::of(*map), KernelArg::ptr(in), KernelArg::i32(12),
                                 KernelArg::i32(-3)};
  auto r = dev.launch(ptx, "k", {1, 1, 1}, {64, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  std::vector<uint32_t> got(t.values.size());
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), g, got.size() * 4).ok());
  for (uint32_t y = 0; y < 20; ++y)
    for (uint32_t x = 0; x < 24; ++x) {
      int bx = int(x) - 12, by = int(y) + 3;
      bool inside = x < 20 && bx >= 0 && bx < 16 && by < 16;
      uint32_t want = inside
                          ? image[swizzle_reference((by * 16 + bx) * 4, TensorMapSwizzle::b64) / 4]
                          : 0xdeadbeefu;
      ASSERT_EQ(got[y * 24 + x], want) << "x " << x << " y " << y;
    }
}

// kernels/tma.cu, compiled by nvcc for sm_90a: its __grid_constant__ CUtensorMap parameter,
// cvta.param and inline-asm TMA + mbarrier, on a box that hangs over the tensor's corner.
TEST(Tma, NvccGridConstantTensorMapKernel) {
  std::string ptx;
  for (const std::string& dir : kernel_dirs()) {
    std::ifstream f(dir + "/tma.sm_90a.ptx");
    if (f) {
      std::ostringstream ss;
      ss << f.rdbuf();
      ptx = ss.str();
      break;
    }
  }
  if (ptx.empty()) {
    if (!TESSEL_SIM_HAVE_NVCC)
      GTEST_SKIP() << "nvcc was not found at build time";
    FAIL() << "missing compiled PTX for tma sm_90a";
  }
  const uint32_t W = 40, H = 20;
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> t(W * H);
  for (auto& v : t)
    v = dist(rng);
  Device dev;
  uint64_t g = upload(dev, t), out = *dev.malloc(256 * 4);
  std::vector<float> poison(256, 1e30f);
  ASSERT_TRUE(dev.memcpy_to_device(out, poison.data(), 256 * 4).ok());
  TensorMapSpec s;
  s.dtype = TensorMapDtype::f32;
  s.rank = 2;
  s.global_address = g;
  s.global_dim[0] = W;
  s.global_dim[1] = H;
  s.global_strides[0] = W * 4;
  s.box_dim[0] = 16;
  s.box_dim[1] = 16;
  auto map = encode_tensor_map_tiled(s);
  ASSERT_TRUE(map.ok()) << map.error().to_string();
  const int c0 = 32, c1 = 10; // columns 32..47 and rows 10..25: partly outside
  std::vector<KernelArg> args = {KernelArg::of(*map), KernelArg::ptr(out), KernelArg::i32(c0),
                                 KernelArg::i32(c1)};
  auto r = dev.launch(ptx, "tma_tile", {1, 1, 1}, {128, 1, 1}, 0, args);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  std::vector<float> got(256);
  ASSERT_TRUE(dev.memcpy_to_host(got.data(), out, 256 * 4).ok());
  for (uint32_t y = 0; y < 16; ++y)
    for (uint32_t x = 0; x < 16; ++x) {
      uint32_t gx = c0 + x, gy = c1 + y;
      float want = gx < W && gy < H ? 2.0f * t[gy * W + gx] : 0.0f;
      ASSERT_EQ(got[y * 16 + x], want) << "box (" << x << "," << y << ")";
    }
}

Error encode_error(TensorMapSpec s) {
  auto m = encode_tensor_map_tiled(s);
  EXPECT_FALSE(m.ok());
  return m.ok() ? Error{} : m.error();
}

TensorMapSpec good_spec() {
  TensorMapSpec s;
  s.dtype = TensorMapDtype::f16;
  s.rank = 2;
  s.global_address = 0x100000000ull;
  s.global_dim[0] = 128;
  s.global_dim[1] = 64;
  s.global_strides[0] = 256;
  s.box_dim[0] = 64;
  s.box_dim[1] = 32;
  s.swizzle = TensorMapSwizzle::b128;
  return s;
}

TEST(TmaEncode, AcceptsAValidSpec) { EXPECT_TRUE(encode_tensor_map_tiled(good_spec()).ok()); }

TEST(TmaEncode, UnalignedAddressIsAnError) {
  auto s = good_spec();
  s.global_address += 8;
  EXPECT_NE(encode_error(s).message.find("not 16-byte aligned"), std::string::npos);
}

TEST(TmaEncode, StrideNotAMultipleOf16IsAnError) {
  auto s = good_spec();
  s.global_strides[0] = 264;
  EXPECT_NE(encode_error(s).message.find("global_strides[0] = 264 bytes is not a multiple of 16"),
            std::string::npos);
}

TEST(TmaEncode, BoxOver256IsAnError) {
  auto s = good_spec();
  s.box_dim[1] = 257;
  EXPECT_NE(encode_error(s).message.find("box_dim[1] = 257 is outside 1..256"), std::string::npos);
}

TEST(TmaEncode, BoxWiderThanTheSwizzleSpanIsAnError) {
  auto s = good_spec();
  s.swizzle = TensorMapSwizzle::b64; // 64 f16 = 128 bytes > 64
  EXPECT_NE(encode_error(s).message.find("more than the 64-byte swizzle span"), std::string::npos);
}

TEST(TmaEncode, InnerBoxNotAMultipleOf16BytesIsAnError) {
  auto s = good_spec();
  s.box_dim[0] = 4; // 8 bytes
  EXPECT_NE(encode_error(s).message.find("not a multiple of 16"), std::string::npos);
}

TEST(TmaEncode, RankOutOfRangeIsAnError) {
  auto s = good_spec();
  s.rank = 6;
  EXPECT_NE(encode_error(s).message.find("rank 6 is outside 1..5"), std::string::npos);
}

} // namespace
} // namespace tessel::sim::testing
