// all-MiniLM-L6-v2's encoder on tessel: BERT embeddings, 6 transformer layers, masked mean
// pooling and L2 normalisation, every step a tessel kernel — tessel::ops (matmul with fused bias /
// GELU epilogues, attention, layer norm, pooling) but for the embedding gather — f32 throughout, on
// the CPU backend or a device (the simulated GPU, or CUDA).
//
//   auto enc = tessel::minilm::Encoder::load(dir / "model.safetensors", tessel::DeviceKind::cpu);
//   std::vector<float> e = enc.embed(tokenizer.encode_batch(texts));   // [batch, 384], unit rows
#pragma once

#include "samples/minilm/tokenizer.h"
#include "tessel/runtime/tensor_view.h"

#include <filesystem>
#include <memory>
#include <vector>

namespace tessel::minilm {

struct EncoderConfig {
  int64_t vocab = 30522, positions = 512, hidden = 384, heads = 12, intermediate = 1536, layers = 6;
  float eps = 1e-12f; // BERT's layer_norm_eps
};

class Encoder {
public:
  // Reads the weights (throws tessel::Error naming the file for a missing tensor or a wrong
  // shape) and copies them to `device` (cpu, sim or cuda).
  static Encoder load(const std::filesystem::path& safetensors_file, DeviceKind device);
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;

  // The normalised sentence embeddings of the batch, [batch, hidden] row-major on the host.
  // Throws when a token id is outside the vocabulary or the batch is longer than the positions.
  std::vector<float> embed(const TokenBatch& batch) const;

  const EncoderConfig& config() const;
  DeviceKind device() const;

private:
  struct Impl;
  Encoder();
  std::unique_ptr<Impl> impl_;
};

} // namespace tessel::minilm
