// A strict reader of the safetensors format (the weights file of HF models):
//
//   [8 bytes: N, little-endian u64] [N bytes: a JSON object] [the tensor data]
//
// The JSON object maps each tensor's name to {"dtype": "F32", "shape": [..],
// "data_offsets": [begin, end]} (offsets into the data that follows the header), plus an optional
// "__metadata__" object of strings. Everything is checked before a tensor is handed out: the
// header length against the file size, the JSON's syntax, each entry's fields, that end - begin is
// the shape's element count times the dtype's size, that the ranges lie within the data and do
// not overlap. Every dtype of the format is accepted in the header (BOOL, U8, I8, F8_E5M2,
// F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64: BERT files hold an I64 position_ids);
// only F32, F16 and BF16 tensors can be read as f32. Errors are tessel::Error naming the file and
// the problem.
//
//   auto st = tessel::minilm::Safetensors::open("model.safetensors");
//   const tessel::minilm::TensorInfo& t = st.tensor("embeddings.word_embeddings.weight");
//   std::vector<float> w = st.to_f32(t, {30522, 384});   // checks the shape too
#pragma once

#include "tessel/dtype.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tessel::minilm {

struct TensorInfo {
  std::string name;
  std::string dtype; // as the header names it: "F32", "I64"...
  unsigned element_bytes = 4;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0; // byte offsets into the data section
  int64_t numel() const;
};

class Safetensors {
public:
  // Reads and checks the whole file. Throws tessel::Error naming the file and the problem.
  static Safetensors open(const std::filesystem::path& file);
  // The same checks on bytes already in memory; `name` is what errors call them.
  static Safetensors parse(std::vector<unsigned char> bytes, const std::string& name);

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws when there is no such tensor (the message names the file and a few present names).
  const TensorInfo& tensor(const std::string& name) const;
  // The tensor as f32 (converted from f16/bf16), after checking its shape is `expected`.
  std::vector<float> to_f32(const std::string& name, const std::vector<int64_t>& expected) const;
  const std::string& file() const { return file_; }

private:
  std::string file_;
  std::vector<unsigned char> bytes_;
  size_t data_start_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

} // namespace tessel::minilm
