// WordPiece tokenization (tokenizer.h): UTF-8 decoding with the reference's replacement rule,
// per-code-point normalisation from the generated tables, word and punctuation splitting, and the
// greedy longest-match piece search.
#include "samples/minilm/tokenizer.h"
#include "samples/minilm/utf8.h"

#include "samples/minilm/unicode_table.h"
#include "tessel/error.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>

namespace tessel::minilm {

namespace {

constexpr size_t kMaxWordChars = 100; // the reference's max_input_chars_per_word
const std::array<std::string_view, 5> kSpecialTokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                        "[MASK]"};

bool in_ranges(char32_t c, const unicode::CodeRange* r, size_t n) {
  const unicode::CodeRange* end = r + n;
  const unicode::CodeRange* it = std::upper_bound(
      r, end, c, [](char32_t v, const unicode::CodeRange& x) { return v < x.first; });
  return it != r && c <= (it - 1)->last;
}

// The length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong forms,
// surrogates and code points past U+10FFFF are invalid, as in Python's decoder).
size_t utf8_length(std::string_view s, size_t i, char32_t& c) {
  auto byte = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  unsigned b0 = byte(i);
  if (b0 < 0x80) {
    c = b0;
    return 1;
  }
  size_t n = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (n == 0 || b0 > 0xF4)
    return 0;
  char32_t v = b0 & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    unsigned b = byte(i + k);
    if ((b & 0xC0) != 0x80)
      return 0;
    v = v << 6 | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[n] || v > 0x10FFFF || (v >= 0xD800 && v < 0xE000))
    return 0;
  c = v;
  return n;
}

// Invalid bytes would become U+FFFD, which clean_text drops: they are skipped here.
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    char32_t c = 0;
    size_t n = utf8_length(s, i, c);
    if (n == 0) {
      ++i;
      continue;
    }
    out.push_back(c);
    i += n;
  }
  return out;
}

// Hangul syllables decompose algorithmically (Unicode 3.12); their jamo are letters, kept.
bool hangul_syllable(char32_t c) { return c >= 0xAC00 && c <= 0xD7A3; }
void append_hangul(std::u32string& out, char32_t c) {
  char32_t s = c - 0xAC00;
  out.push_back(0x1100 + s / 588);
  out.push_back(0x1161 + (s % 588) / 28);
  if (s % 28)
    out.push_back(0x11A7 + s % 28);
}

// BertNormalizer on one code point: clean text, CJK spacing, accent stripping, lower case.
void normalize(char32_t c, std::u32string& out) {
  using namespace unicode;
  if (in_ranges(c, kDropped, kDroppedCount))
    return;
  if (in_ranges(c, kBlank, kBlankCount))
    return out.push_back(U' ');
  if (in_ranges(c, kSpaced, kSpacedCount)) {
    out += U' ';
    out += c;
    out += U' ';
    return;
  }
  if (hangul_syllable(c))
    return append_hangul(out, c);
  const Rewrite* end = kRewrites + kRewritesCount;
  const Rewrite* it =
      std::lower_bound(kRewrites, end, c, [](const Rewrite& r, char32_t v) { return r.code < v; });
  if (it == end || it->code != c)
    return out.push_back(c);
  out += decode_utf8(it->utf8);
}

bool is_punct(char32_t c) { return in_ranges(c, unicode::kPunct, unicode::kPunctCount); }

// BertPreTokenizer: words between spaces, each punctuation character a word of its own.
std::vector<std::u32string> split_words(const std::u32string& text) {
  std::vector<std::u32string> words;
  std::u32string word;
  auto flush = [&] {
    if (!word.empty())
      words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : text) {
    if (c == U' ') {
      flush();
    } else if (is_punct(c)) {
      flush();
      words.push_back(std::u32string(1, c));
    } else {
      word.push_back(c);
    }
  }
  flush();
  return words;
}

// The special token that starts at text[i], or npos: the reference matches them in the raw
// text before normalising anything.
size_t special_at(std::string_view text, size_t i) {
  if (text[i] != '[')
    return std::string_view::npos;
  for (size_t k = 0; k < kSpecialTokens.size(); ++k)
    if (text.substr(i, kSpecialTokens[k].size()) == kSpecialTokens[k])
      return k;
  return std::string_view::npos;
}

} // namespace

int64_t TokenBatch::tokens() const {
  return std::count_if(mask.begin(), mask.end(), [](int32_t m) { return m != 0; });
}

int32_t Tokenizer::id_of(std::string_view token, const std::filesystem::path& file) const {
  auto it = vocab_.find(std::string(token));
  if (it == vocab_.end())
    throw Error(fmt::format("{}: the vocabulary has no {} token; expected BERT's vocab.txt (one "
                            "token per line, with [PAD] [UNK] [CLS] [SEP] [MASK])",
                            file.string(), token));
  return it->second;
}

Tokenizer Tokenizer::load(const std::filesystem::path& vocab_file, int max_length) {
  std::ifstream in(vocab_file, std::ios::binary);
  if (!in)
    throw Error(fmt::format("{}: cannot open the vocabulary file; pass --model DIR with the "
                            "directory that holds vocab.txt (samples/minilm/README.md)",
                            vocab_file.string()));
  if (max_length < 2)
    throw Error(
        fmt::format("tokenizer: max_length {} leaves no room for [CLS] and [SEP]", max_length));
  Tokenizer t;
  t.max_length_ = max_length;
  std::string line;
  for (int32_t id = 0; std::getline(in, line); ++id) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    t.vocab_.emplace(line, id); // a repeated line keeps its first id, as the reference does
  }
  if (t.vocab_.empty())
    throw Error(fmt::format("{}: the vocabulary file is empty", vocab_file.string()));
  t.pad_ = t.id_of("[PAD]", vocab_file);
  t.unk_ = t.id_of("[UNK]", vocab_file);
  t.cls_ = t.id_of("[CLS]", vocab_file);
  t.sep_ = t.id_of("[SEP]", vocab_file);
  t.mask_ = t.id_of("[MASK]", vocab_file);
  return t;
}

void Tokenizer::word_pieces(const std::u32string& word, std::vector<int32_t>& out) const {
  if (word.size() > kMaxWordChars)
    return out.push_back(unk_);
  std::vector<int32_t> found;
  for (size_t start = 0; start < word.size();) {
    size_t end = word.size();
    int32_t id = -1;
    for (; end > start; --end) {
      std::string piece = start > 0 ? "##" : "";
      for (size_t k = start; k < end; ++k)
        append_utf8(piece, word[k]);
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        id = it->second;
        break;
      }
    }
    if (id < 0)
      return out.push_back(unk_); // some part has no piece: the whole word is [UNK]
    found.push_back(id);
    start = end;
  }
  out.insert(out.end(), found.begin(), found.end());
}

std::vector<int32_t> Tokenizer::pieces(std::string_view utf8) const {
  const int32_t special_ids[] = {pad_, unk_, cls_, sep_, mask_};
  std::vector<int32_t> out;
  auto run = [&](std::string_view segment) {
    std::u32string normal;
    for (char32_t c : decode_utf8(segment))
      normalize(c, normal);
    for (const std::u32string& w : split_words(normal))
      word_pieces(w, out);
  };
  size_t begin = 0;
  for (size_t i = 0; i < utf8.size(); ++i) {
    size_t k = special_at(utf8, i);
    if (k == std::string_view::npos)
      continue;
    run(utf8.substr(begin, i - begin));
    out.push_back(special_ids[k]);
    i += kSpecialTokens[k].size() - 1;
    begin = i + 1;
  }
  run(utf8.substr(begin));
  return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view utf8) const {
  std::vector<int32_t> p = pieces(utf8);
  p.resize(std::min(p.size(), size_t(max_length_ - 2)));
  std::vector<int32_t> out;
  out.reserve(p.size() + 2);
  out.push_back(cls_);
  out.insert(out.end(), p.begin(), p.end());
  out.push_back(sep_);
  return out;
}

TokenBatch Tokenizer::encode_batch(const std::vector<std::string>& texts) const {
  std::vector<std::vector<int32_t>> rows;
  TokenBatch b;
  b.batch = int64_t(texts.size());
  for (const std::string& t : texts) {
    rows.push_back(encode(t));
    b.seq = std::max(b.seq, int64_t(rows.back().size()));
  }
  b.ids.assign(size_t(b.batch * b.seq), pad_);
  b.mask.assign(size_t(b.batch * b.seq), 0);
  for (int64_t r = 0; r < b.batch; ++r) {
    std::copy(rows[r].begin(), rows[r].end(), b.ids.begin() + r * b.seq);
    std::fill_n(b.mask.begin() + r * b.seq, rows[r].size(), 1);
  }
  return b;
}

} // namespace tessel::minilm
