// The safetensors reader (safetensors.h): the file is read whole, its header parsed with json.h,
// and every entry checked before anything else may read it.
#include "samples/minilm/safetensors.h"

#include "samples/minilm/json.h"
#include "tessel/error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace tessel::minilm {

namespace {

// A header past this is not a weights file (real headers are a few hundred KB at most).
constexpr uint64_t kMaxHeader = 100u << 20;

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw Error(fmt::format("{}: not a valid safetensors file: {}", file, what));
}

// The element size of each dtype the format defines; 0 for a name it does not define.
unsigned element_bytes(const std::string& name) {
  static const std::pair<const char*, unsigned> kDtypes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [n, bytes] : kDtypes)
    if (name == n)
      return bytes;
  return 0;
}

std::vector<int64_t> read_shape(const std::string& file, const std::string& name,
                                const json::Value& v) {
  if (v.kind != json::Value::Kind::array)
    fail(file, fmt::format("tensor '{}': \"shape\" is {}; expected an array of sizes", name,
                           json::kind_name(v.kind)));
  std::vector<int64_t> shape;
  for (const json::Value& d : v.items) {
    std::optional<uint64_t> n = d.as_uint();
    if (!n || *n > uint64_t(INT64_MAX >> 8))
      fail(file, fmt::format("tensor '{}': a \"shape\" entry is not a non-negative integer", name));
    shape.push_back(int64_t(*n));
  }
  return shape;
}

std::pair<uint64_t, uint64_t> read_offsets(const std::string& file, const std::string& name,
                                           const json::Value& v) {
  if (v.kind != json::Value::Kind::array || v.items.size() != 2)
    fail(file, fmt::format("tensor '{}': \"data_offsets\" must be an array [begin, end]", name));
  std::optional<uint64_t> b = v.items[0].as_uint(), e = v.items[1].as_uint();
  if (!b || !e)
    fail(file,
         fmt::format("tensor '{}': \"data_offsets\" entries must be non-negative integers", name));
  if (*b > *e)
    fail(file,
         fmt::format("tensor '{}': data_offsets [{}, {}] end before they begin", name, *b, *e));
  return {*b, *e};
}

const json::Value& field(const std::string& file, const std::string& name, const json::Value& v,
                         const char* key) {
  const json::Value* f = v.find(key);
  if (f == nullptr)
    fail(file, fmt::format("tensor '{}' has no \"{}\"", name, key));
  return *f;
}

TensorInfo read_entry(const std::string& file, const std::string& name, const json::Value& v,
                      uint64_t data_size) {
  if (v.kind != json::Value::Kind::object)
    fail(file, fmt::format("tensor '{}' is {}; expected an object", name, json::kind_name(v.kind)));
  TensorInfo t;
  t.name = name;
  const json::Value& dt = field(file, name, v, "dtype");
  t.dtype = dt.kind == json::Value::Kind::string ? dt.text : json::kind_name(dt.kind);
  t.element_bytes = dt.kind == json::Value::Kind::string ? element_bytes(dt.text) : 0;
  if (t.element_bytes == 0)
    fail(file,
         fmt::format("tensor '{}' has dtype {}, which safetensors does not define", name, t.dtype));
  t.shape = read_shape(file, name, field(file, name, v, "shape"));
  std::tie(t.begin, t.end) = read_offsets(file, name, field(file, name, v, "data_offsets"));
  uint64_t bytes = uint64_t(t.numel()) * t.element_bytes;
  if (t.end - t.begin != bytes)
    fail(file, fmt::format("tensor '{}' of shape [{}] {} needs {} bytes but data_offsets [{}, {}] "
                           "hold {}",
                           name, fmt::join(t.shape, ", "), t.dtype, bytes, t.begin, t.end,
                           t.end - t.begin));
  if (t.end > data_size)
    fail(file, fmt::format("tensor '{}' ends at byte {} of the data but the data has {} bytes (a "
                           "truncated file?)",
                           name, t.end, data_size));
  return t;
}

void check_disjoint(const std::string& file, const std::map<std::string, TensorInfo>& tensors) {
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [_, t] : tensors)
    by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail(file, fmt::format("tensors '{}' and '{}' overlap in the data", by_offset[i - 1]->name,
                             by_offset[i]->name));
}

float bits_to_f32(bool f16, const unsigned char* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16 ? half_to_float(h) : bfloat16_to_float(h);
}

} // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

Safetensors Safetensors::open(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw Error(fmt::format("{}: cannot open the weights file; pass --model DIR with the directory "
                            "that holds model.safetensors (samples/minilm/README.md)",
                            file.string()));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  return parse(std::move(bytes), file.string());
}

Safetensors Safetensors::parse(std::vector<unsigned char> bytes, const std::string& name) {
  if (bytes.size() < 8)
    fail(name,
         fmt::format("the file has {} bytes, less than the 8-byte header length", bytes.size()));
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k)
    n = n << 8 | bytes[size_t(k)];
  if (n > kMaxHeader || n > bytes.size() - 8)
    fail(name, fmt::format("the header length is {} bytes but the file has {} bytes after it", n,
                           bytes.size() - 8));
  std::string error;
  std::optional<json::Value> header =
      json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data() + 8), n), error);
  if (!header)
    fail(name, "the JSON header is malformed " + error);
  if (header->kind != json::Value::Kind::object)
    fail(name,
         fmt::format("the JSON header is {}; expected an object", json::kind_name(header->kind)));
  Safetensors st;
  st.file_ = name;
  st.data_start_ = size_t(8 + n);
  uint64_t data_size = bytes.size() - st.data_start_;
  for (const auto& [key, v] : header->members) {
    if (key == "__metadata__")
      continue;
    if (st.tensors_.count(key))
      fail(name, fmt::format("tensor '{}' appears twice in the header", key));
    st.tensors_.emplace(key, read_entry(name, key, v, data_size));
  }
  check_disjoint(name, st.tensors_);
  st.bytes_ = std::move(bytes);
  return st;
}

const TensorInfo& Safetensors::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it != tensors_.end())
    return it->second;
  std::vector<std::string> some;
  for (const auto& [k, _] : tensors_)
    if (some.size() < 4)
      some.push_back(k);
  throw Error(fmt::format("{}: no tensor named '{}' ({} tensors, e.g. {}); is this the "
                          "all-MiniLM-L6-v2 model?",
                          file_, name, tensors_.size(), fmt::join(some, ", ")));
}

std::vector<float> Safetensors::to_f32(const std::string& name,
                                       const std::vector<int64_t>& expected) const {
  const TensorInfo& t = tensor(name);
  if (t.shape != expected)
    throw Error(fmt::format("{}: tensor '{}' has shape [{}]; expected [{}]", file_, name,
                            fmt::join(t.shape, ", "), fmt::join(expected, ", ")));
  if (t.dtype != "F32" && t.dtype != "F16" && t.dtype != "BF16")
    throw Error(fmt::format("{}: tensor '{}' has dtype {}; expected F32, F16 or BF16", file_, name,
                            t.dtype));
  std::vector<float> out(size_t(t.numel()));
  const unsigned char* p = bytes_.data() + data_start_ + t.begin;
  if (t.dtype == "F32") {
    std::memcpy(out.data(), p, out.size() * 4);
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = bits_to_f32(t.dtype == "F16", p + 2 * i);
  return out;
}

} // namespace tessel::minilm
