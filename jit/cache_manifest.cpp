// Disk-cache manifests to and from JSON (LLVM's JSON support).
#include "jit/cache_manifest.h"

#include "jit/cache_key.h"

#include <llvm/Support/FormatVariadic.h>
#include <llvm/Support/JSON.h>
#include <llvm/Support/raw_ostream.h>

namespace tessel::jit {

const Manifest::File* Manifest::file(std::string_view name) const {
  for (const File& f : files)
    if (f.name == name)
      return &f;
  return nullptr;
}

namespace {

// The manifest as a JSON object, without its own checksum.
llvm::json::Object manifest_object(const Manifest& m) {
  llvm::json::Object numbers;
  for (const auto& [name, value] : m.numbers)
    numbers[name] = value;
  llvm::json::Array files;
  for (const Manifest::File& f : m.files)
    files.push_back(llvm::json::Object{{"name", f.name}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  return llvm::json::Object{
      {"format", m.format},
      {"key", m.key},
      {"kernel", m.kernel},
      {"entry", m.entry},
      {"backend", m.backend},
      {"created", m.created},
      {"numbers", std::move(numbers)},
      {"files", std::move(files)},
      {"key_inputs",
       llvm::json::Object{{"target", m.target}, {"options", m.options}, {"build", m.build}}},
  };
}

std::string to_text(llvm::json::Object root) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root)));
  os.flush();
  return text + "\n";
}

// The SHA-256 of the canonical text of every field but the checksum itself. A reader recomputes
// it from the fields it parsed, so an edit that keeps the JSON valid (a digit of shared_bytes)
// is caught as surely as a flipped bit in a file.
std::string manifest_checksum(const Manifest& m) { return sha256_hex(to_text(manifest_object(m))); }

} // namespace

std::string manifest_to_json(const Manifest& m) {
  llvm::json::Object root = manifest_object(m);
  root["manifest_sha256"] = manifest_checksum(m);
  return to_text(std::move(root));
}

namespace {

bool get_string(const llvm::json::Object& o, llvm::StringRef name, std::string& out) {
  std::optional<llvm::StringRef> s = o.getString(name);
  if (!s)
    return false;
  out = s->str();
  return true;
}

} // namespace

std::optional<Manifest> manifest_from_json(std::string_view text, std::string& error) {
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse(llvm::StringRef(text.data(), text.size()));
  if (!parsed) {
    error = "manifest.json is not JSON: " + llvm::toString(parsed.takeError());
    return std::nullopt;
  }
  const llvm::json::Object* root = parsed->getAsObject();
  if (!root) {
    error = "manifest.json is not a JSON object";
    return std::nullopt;
  }
  Manifest m;
  std::optional<int64_t> format = root->getInteger("format");
  if (!format || *format != kManifestFormat) {
    error = "manifest.json has an unknown format";
    return std::nullopt;
  }
  m.created = root->getInteger("created").value_or(0);
  const llvm::json::Object* inputs = root->getObject("key_inputs");
  const llvm::json::Array* files = root->getArray("files");
  if (!get_string(*root, "key", m.key) || !get_string(*root, "kernel", m.kernel) ||
      !get_string(*root, "entry", m.entry) || !get_string(*root, "backend", m.backend) || !inputs ||
      !files || !get_string(*inputs, "target", m.target) ||
      !get_string(*inputs, "options", m.options) || !get_string(*inputs, "build", m.build)) {
    error = "manifest.json lacks a field";
    return std::nullopt;
  }
  if (const llvm::json::Object* numbers = root->getObject("numbers")) {
    for (const auto& [name, value] : *numbers) {
      std::optional<int64_t> v = value.getAsInteger();
      if (!v) {
        error = "manifest.json: number '" + name.str() + "' is not an integer";
        return std::nullopt;
      }
      m.numbers[name.str()] = *v;
    }
  }
  for (const llvm::json::Value& v : *files) {
    const llvm::json::Object* f = v.getAsObject();
    Manifest::File file;
    std::optional<int64_t> bytes = f ? f->getInteger("bytes") : std::nullopt;
    if (!f || !bytes || !get_string(*f, "name", file.name) ||
        !get_string(*f, "sha256", file.sha256) || file.name.empty() ||
        file.name.find('/') != std::string::npos || file.name[0] == '.') {
      error = "manifest.json has a malformed file record";
      return std::nullopt;
    }
    file.bytes = *bytes;
    m.files.push_back(std::move(file));
  }
  std::optional<llvm::StringRef> checksum = root->getString("manifest_sha256");
  if (!checksum) {
    error = "manifest.json has no manifest_sha256";
    return std::nullopt;
  }
  if (*checksum != manifest_checksum(m)) {
    error = "manifest.json does not match its manifest_sha256: edited or damaged";
    return std::nullopt;
  }
  return m;
}

} // namespace tessel::jit
