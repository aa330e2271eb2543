// The safetensors reader on files crafted here: a valid one of each dtype, and one bad file per
// diagnostic (each asserting the message names the file and the problem).
#include "samples/minilm/safetensors.h"

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tessel::minilm {
namespace {

using tessel::testing::expect_error;

std::vector<unsigned char> file_bytes(const std::string& header, size_t data_bytes,
                                      uint64_t claimed_length = UINT64_MAX) {
  uint64_t n = claimed_length == UINT64_MAX ? header.size() : claimed_length;
  std::vector<unsigned char> b;
  for (int k = 0; k < 8; ++k)
    b.push_back(static_cast<unsigned char>(n >> (8 * k)));
  b.insert(b.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i)
    b.push_back(static_cast<unsigned char>(i));
  return b;
}

void expect_bad(const std::string& header, size_t data_bytes, const std::string& what) {
  expect_error([&] { Safetensors::parse(file_bytes(header, data_bytes), "crafted.safetensors"); },
               {"crafted.safetensors: not a valid safetensors file", what});
}

TEST(Safetensors, ReadsF32F16AndBf16) {
  // f32 [2] = {1, -2}; f16 [1] = 1.5 (0x3E00); bf16 [2, 1] = {2, -0.5} (0x4000, 0xBF00).
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("h":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},)"
                       R"("b":{"dtype":"BF16","shape":[2,1],"data_offsets":[10,14]}})";
  std::vector<unsigned char> bytes = file_bytes(header, 0);
  float a[2] = {1.f, -2.f};
  const unsigned char* pa = reinterpret_cast<const unsigned char*>(a);
  bytes.insert(bytes.end(), pa, pa + 8);
  for (unsigned char c : {0x00, 0x3E, 0x00, 0x40, 0x00, 0xBF})
    bytes.push_back(c);
  Safetensors st = Safetensors::parse(bytes, "ok.safetensors");
  EXPECT_EQ(st.tensors().size(), 3u);
  EXPECT_EQ(st.tensor("b").dtype, "BF16");
  EXPECT_EQ(st.to_f32("a", {2}), (std::vector<float>{1.f, -2.f}));
  EXPECT_EQ(st.to_f32("h", {1}), (std::vector<float>{1.5f}));
  EXPECT_EQ(st.to_f32("b", {2, 1}), (std::vector<float>{2.f, -0.5f}));
}

TEST(SafetensorsErrors, ShorterThanTheHeaderLength) {
  expect_error(
      [] {
        Safetensors::parse({1, 2, 3}, "tiny.safetensors");
      },
      {"tiny.safetensors", "the file has 3 bytes, less than the 8-byte header length"});
}

TEST(SafetensorsErrors, HeaderLengthPastTheFile) {
  expect_error(
      [] { Safetensors::parse(file_bytes("{}", 0, 4096), "cut.safetensors"); },
      {"cut.safetensors", "the header length is 4096 bytes but the file has 2 bytes after it"});
}

TEST(SafetensorsErrors, MalformedJson) {
  expect_bad(R"({"a":{"dtype":"F32",})", 0,
             "the JSON header is malformed at byte 20: expected a string key");
}

TEST(SafetensorsErrors, HeaderIsNotAnObject) {
  expect_bad("[1, 2]", 0, "the JSON header is an array; expected an object");
}

TEST(SafetensorsErrors, UnknownDtype) {
  expect_bad(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,8]}})", 8,
             "tensor 'a' has dtype Q7, which safetensors does not define");
}

TEST(SafetensorsErrors, IntegerTensorReadAsFloat) {
  // An I64 tensor (BERT's position_ids) is fine in the file, but not as weights.
  Safetensors st = Safetensors::parse(
      file_bytes(R"({"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]}})", 16),
      "i.safetensors");
  expect_error(
      [&] {
        st.to_f32("ids", {1, 2});
      },
      {"i.safetensors: tensor 'ids' has dtype I64; expected F32, F16 or BF16"});
}

TEST(SafetensorsErrors, MissingField) {
  expect_bad(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", 4, "tensor 'a' has no \"shape\"");
}

TEST(SafetensorsErrors, BadShapeEntry) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4,
             "tensor 'a': a \"shape\" entry is not a non-negative integer");
}

TEST(SafetensorsErrors, SizeDisagreesWithShape) {
  expect_bad(R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}})", 4,
             "tensor 'a' of shape [3] F16 needs 6 bytes but data_offsets [0, 4] hold 4");
}

TEST(SafetensorsErrors, OffsetsEndBeforeTheyBegin) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 8,
             "tensor 'a': data_offsets [8, 4] end before they begin");
}

TEST(SafetensorsErrors, TruncatedData) {
  expect_bad(
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 10,
      "tensor 'a' ends at byte 16 of the data but the data has 10 bytes (a truncated file?)");
}

TEST(SafetensorsErrors, OverlappingTensors) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             8, "tensors 'a' and 'b' overlap in the data");
}

TEST(SafetensorsErrors, DuplicateTensor) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
             R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
             8, "tensor 'a' appears twice in the header");
}

TEST(SafetensorsErrors, MissingTensorAndWrongShape) {
  Safetensors st = Safetensors::parse(
      file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8), "m.safetensors");
  expect_error([&] { st.tensor("encoder.layer.0.attention.self.query.weight"); },
               {"m.safetensors: no tensor named 'encoder.layer.0.attention.self.query.weight'",
                "(1 tensors, e.g. a)"});
  expect_error([&] { st.to_f32("a", {384}); },
               {"m.safetensors: tensor 'a' has shape [2]; expected [384]"});
}

TEST(SafetensorsErrors, MissingFile) {
  expect_error([] { Safetensors::open("/nonexistent/model.safetensors"); },
               {"/nonexistent/model.safetensors: cannot open the weights file", "--model DIR"});
}

TEST(SafetensorsErrors, TruncatedFileOnDisk) {
  auto path = std::filesystem::temp_directory_path() / "tessel_minilm_truncated.safetensors";
  std::vector<unsigned char> b =
      file_bytes(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", 32);
  b.resize(b.size() - 5); // cut off the end, as an interrupted copy would
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  expect_error([&] { Safetensors::open(path); },
               {path.string(), "tensor 'w' ends at byte 32 of the data but the data has 27 bytes"});
}

} // namespace
} // namespace tessel::minilm
