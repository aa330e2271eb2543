// The encoder of encoder.h. Weights are loaded once (linear weights transposed to [in, out] and
// Q, K, V fused into one [hidden, 3 * hidden] projection, so each layer starts with one matmul);
// each embed() allocates its activations for the batch and runs, per layer:
//
//   qkv = h Wqkv + b                  (matmul, bias epilogue)
//   ctx = attention(qkv, mask)        (ops::attention on strided views of qkv, key mask)
//   h   = layer_norm(ctx Wo + bo + h) (matmul, then ops::add_layer_norm)
//   f   = gelu(h W1 + b1)             (matmul, bias + GELU(erf) epilogue)
//   h   = layer_norm(f W2 + b2 + h)   (matmul, then ops::add_layer_norm)
//
// then ops::mean_pool with the mask and ops::l2_normalize.
#include "samples/minilm/encoder.h"

#include "samples/minilm/attention.h"
#include "samples/minilm/linear.h"
#include "samples/minilm/safetensors.h"
#include "tessel/error.h"
#include "tessel/jit/kernel.h"
#include "tessel/lang/ops.h"
#include "tessel/ops/norms.h"
#include "tessel/ops/pooling.h"
#include "tessel/runtime/device_buffer.h"

#include <fmt/format.h>

#include <cstring>
#include <optional>

namespace tessel::minilm {

namespace tl = tessel::lang;

namespace {

// Memory on the host (the CPU backend) or on a device, with a view for kernel arguments.
class Array {
public:
  Array() = default;
  Array(DeviceKind kind, size_t bytes) : kind_(kind) {
    if (kind == DeviceKind::cpu)
      host_.assign(bytes, 0);
    else
      dev_ = runtime::DeviceBuffer::allocate_on(kind, std::max<size_t>(bytes, 16));
  }
  template <class T> static Array of(DeviceKind kind, const std::vector<T>& v) {
    Array a(kind, v.size() * sizeof(T));
    a.upload(v.data(), v.size() * sizeof(T));
    return a;
  }
  void upload(const void* src, size_t bytes) {
    if (kind_ == DeviceKind::cpu)
      std::memcpy(host_.data(), src, bytes);
    else
      dev_.copy_from_host(src, bytes);
  }
  void download(void* dst, size_t bytes) const {
    if (kind_ == DeviceKind::cpu)
      std::memcpy(dst, host_.data(), bytes);
    else
      dev_.copy_to_host(dst, bytes);
  }
  TensorView view(DType dtype, std::initializer_list<int64_t> shape) const {
    if (kind_ == DeviceKind::cpu)
      return TensorView(const_cast<unsigned char*>(host_.data()), dtype, shape);
    return dev_.view(dtype, shape);
  }
  TensorView f32(std::initializer_list<int64_t> shape) const { return view(DType::f32, shape); }

private:
  DeviceKind kind_ = DeviceKind::cpu;
  std::vector<unsigned char> host_;
  runtime::DeviceBuffer dev_;
};

struct Layer {
  Array wqkv, bqkv, wo, bo, ln1_w, ln1_b, w1, b1, w2, b2, ln2_w, ln2_b;
};

// [out, in] (torch's Linear) to [in, out], the matmul's B.
std::vector<float> transposed(const std::vector<float>& w, int64_t out, int64_t in) {
  std::vector<float> t(w.size());
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i)
      t[size_t(i * out + o)] = w[size_t(o * in + i)];
  return t;
}

// Word + position + token type (0) embedding of each token: one program per token.
const Kernel& embed_kernel() {
  static const Kernel k =
      tl::kernel("minilm_embed", "y, ids, word, pos, type, seq, hidden, BLOCK",
                 [](tl::Ptr y, tl::Ptr ids, tl::Ptr word, tl::Ptr pos, tl::Ptr type, tl::Int seq,
                    tl::Int hidden, tl::Const<int> BLOCK) {
                   auto t = tl::program_id(0);
                   auto cols = tl::arange(0, BLOCK);
                   auto in = cols < hidden;
                   auto id = tl::load(ids + t).to(DType::i64);
                   auto p = (t % seq).to(DType::i64);
                   auto h = hidden.to(DType::i64);
                   auto v = tl::load(word + id * h + cols, in, 0.0) +
                            tl::load(pos + p * h + cols, in, 0.0) + tl::load(type + cols, in, 0.0);
                   tl::store(y + t.to(DType::i64) * h + cols, v, in);
                 });
  return k;
}

struct Activations;

} // namespace

struct Encoder::Impl {
  EncoderConfig cfg;
  DeviceKind device = DeviceKind::cpu;
  Array word, pos, type, ln_w, ln_b;
  std::vector<Layer> layers;

  void check_batch(const TokenBatch& b) const;
  void run_layer(const Layer& l, Activations& a, const AttentionShape& s) const;
};

namespace {

// The activations of one batch, allocated per embed() call on the encoder's device.
struct Activations {
  Array ids, mask, h, next, proj, qkv, ctx, ff, mean, rstd, pooled, out;
  Activations(DeviceKind d, const EncoderConfig& c, int64_t batch, int64_t seq) {
    size_t t = size_t(batch * seq), f = 4;
    ids = Array(d, t * 4);
    mask = Array(d, t * 4);
    h = Array(d, t * c.hidden * f);
    next = Array(d, t * c.hidden * f);
    proj = Array(d, t * c.hidden * f);
    qkv = Array(d, t * 3 * c.hidden * f);
    ctx = Array(d, t * c.hidden * f);
    ff = Array(d, t * c.intermediate * f);
    mean = Array(d, t * f);
    rstd = Array(d, t * f);
    pooled = Array(d, size_t(batch * c.hidden) * f);
    out = Array(d, size_t(batch * c.hidden) * f);
  }
};

} // namespace

Encoder::Encoder() : impl_(std::make_unique<Impl>()) {}
Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;
const EncoderConfig& Encoder::config() const { return impl_->cfg; }
DeviceKind Encoder::device() const { return impl_->device; }

Encoder Encoder::load(const std::filesystem::path& file, DeviceKind device) {
  Safetensors st = Safetensors::open(file);
  Encoder e;
  Impl& m = *e.impl_;
  m.device = device;
  const EncoderConfig& c = m.cfg;
  const int64_t H = c.hidden, I = c.intermediate;
  auto put = [&](const std::string& name, const std::vector<int64_t>& shape) {
    return Array::of(device, st.to_f32(name, shape));
  };
  auto linear_w = [&](const std::string& name, int64_t out, int64_t in) {
    return transposed(st.to_f32(name, {out, in}), out, in);
  };
  m.word = put("embeddings.word_embeddings.weight", {c.vocab, H});
  m.pos = put("embeddings.position_embeddings.weight", {c.positions, H});
  m.type = put("embeddings.token_type_embeddings.weight", {2, H});
  m.ln_w = put("embeddings.LayerNorm.weight", {H});
  m.ln_b = put("embeddings.LayerNorm.bias", {H});
  for (int64_t i = 0; i < c.layers; ++i) {
    std::string p = fmt::format("encoder.layer.{}.", i);
    std::vector<float> wqkv, bqkv;
    for (const char* which : {"query", "key", "value"}) {
      std::string n = p + "attention.self." + which;
      std::vector<float> w = st.to_f32(n + ".weight", {H, H}), b = st.to_f32(n + ".bias", {H});
      wqkv.insert(wqkv.end(), w.begin(), w.end()); // rows of the [3H, H] fused weight
      bqkv.insert(bqkv.end(), b.begin(), b.end());
    }
    Layer l;
    l.wqkv = Array::of(device, transposed(wqkv, 3 * H, H));
    l.bqkv = Array::of(device, bqkv);
    l.wo = Array::of(device, linear_w(p + "attention.output.dense.weight", H, H));
    l.bo = put(p + "attention.output.dense.bias", {H});
    l.ln1_w = put(p + "attention.output.LayerNorm.weight", {H});
    l.ln1_b = put(p + "attention.output.LayerNorm.bias", {H});
    l.w1 = Array::of(device, linear_w(p + "intermediate.dense.weight", I, H));
    l.b1 = put(p + "intermediate.dense.bias", {I});
    l.w2 = Array::of(device, linear_w(p + "output.dense.weight", H, I));
    l.b2 = put(p + "output.dense.bias", {H});
    l.ln2_w = put(p + "output.LayerNorm.weight", {H});
    l.ln2_b = put(p + "output.LayerNorm.bias", {H});
    m.layers.push_back(std::move(l));
  }
  return e;
}

void Encoder::Impl::check_batch(const TokenBatch& b) const {
  if (b.seq > cfg.positions)
    throw Error(fmt::format("embed: a sequence of {} tokens is longer than the model's {} "
                            "positions; tokenize with max_length <= {}",
                            b.seq, cfg.positions, cfg.positions));
  for (int32_t id : b.ids)
    if (id < 0 || id >= cfg.vocab)
      throw Error(fmt::format("embed: token id {} is outside the model's vocabulary of {}; is "
                              "vocab.txt the one of this model?",
                              id, cfg.vocab));
}

void Encoder::Impl::run_layer(const Layer& l, Activations& a, const AttentionShape& s) const {
  const int64_t T = s.batch * s.seq, H = cfg.hidden, I = cfg.intermediate;
  ops::LayerNormOptions ln{.eps = cfg.eps};
  TensorView h = a.h.f32({T, H}), next = a.next.f32({T, H}), proj = a.proj.f32({T, H});
  TensorView mean = a.mean.f32({T}), rstd = a.rstd.f32({T});
  linear(h, l.wqkv.f32({H, 3 * H}), l.bqkv.f32({3 * H}), a.qkv.f32({T, 3 * H}));
  self_attention(a.qkv.f32({T, 3 * H}), a.mask.view(DType::i32, {s.batch, s.seq}),
                 a.ctx.f32({T, H}), s);
  linear(a.ctx.f32({T, H}), l.wo.f32({H, H}), l.bo.f32({H}), proj);
  ops::add_layer_norm(proj, h, l.ln1_w.f32({H}), l.ln1_b.f32({H}), next, h, mean, rstd, ln);
  linear(next, l.w1.f32({H, I}), l.b1.f32({I}), a.ff.f32({T, I}), Activation::gelu);
  linear(a.ff.f32({T, I}), l.w2.f32({I, H}), l.b2.f32({H}), proj);
  ops::add_layer_norm(proj, next, l.ln2_w.f32({H}), l.ln2_b.f32({H}), h, next, mean, rstd, ln);
}

std::vector<float> Encoder::embed(const TokenBatch& b) const {
  const Impl& m = *impl_;
  m.check_batch(b);
  const int64_t H = m.cfg.hidden, T = b.batch * b.seq;
  std::vector<float> result(size_t(b.batch * H));
  if (T == 0)
    return result;
  Activations a(m.device, m.cfg, b.batch, b.seq);
  a.ids.upload(b.ids.data(), b.ids.size() * 4);
  a.mask.upload(b.mask.data(), b.mask.size() * 4);
  int block = 16;
  while (block < H)
    block *= 2;
  embed_kernel().launch({T}, {}, a.next.f32({T, H}), a.ids.view(DType::i32, {T}),
                        m.word.f32({m.cfg.vocab, H}), m.pos.f32({m.cfg.positions, H}),
                        m.type.f32({2, H}), b.seq, H, block);
  ops::layer_norm(a.next.f32({T, H}), m.ln_w.f32({H}), m.ln_b.f32({H}), a.h.f32({T, H}),
                  a.mean.f32({T}), a.rstd.f32({T}), {.eps = m.cfg.eps});
  AttentionShape s{b.batch, b.seq, m.cfg.heads, H / m.cfg.heads};
  for (const Layer& l : m.layers)
    m.run_layer(l, a, s);
  ops::mean_pool(a.h.f32({b.batch, b.seq, H}), a.mask.view(DType::i32, {b.batch, b.seq}),
                 a.pooled.f32({b.batch, H}));
  ops::l2_normalize(a.pooled.f32({b.batch, H}), a.out.f32({b.batch, H}));
  a.out.download(result.data(), result.size() * 4);
  return result;
}

} // namespace tessel::minilm
