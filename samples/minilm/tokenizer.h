// BERT's WordPiece tokenizer as all-MiniLM-L6-v2's reference (HF tokenizers' BertNormalizer,
// BertPreTokenizer, WordPiece and the [CLS] .. [SEP] template) computes it, from the model's
// vocab.txt:
//
//   1. the special tokens [PAD] [UNK] [CLS] [SEP] [MASK] written in the text are kept as they are;
//   2. the rest is decoded as UTF-8 (invalid bytes become U+FFFD, as Python's
//      bytes.decode("utf-8", "replace"), and U+FFFD is then dropped like control characters);
//   3. each code point is normalised (unicode_table.h): controls dropped, whitespace to ' ',
//      CJK ideographs spaced, NFD with nonspacing marks removed, lower case;
//   4. words split at spaces, punctuation split off as words of its own;
//   5. each word becomes its greedy longest-match WordPiece pieces ("##" continues a word), or
//      [UNK] when some part has no piece or the word is longer than 100 code points;
//   6. [CLS] pieces [SEP], the pieces truncated to max_length - 2.
//
//   auto tok = tessel::minilm::Tokenizer::load(dir / "vocab.txt");
//   tessel::minilm::TokenBatch b = tok.encode_batch({"A sentence.", "Another one"});
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tessel::minilm {

// Token ids and attention mask of a batch, [batch, seq] row-major; rows shorter than seq (the
// longest row) are padded with [PAD] (id 0) and mask 0.
struct TokenBatch {
  int64_t batch = 0, seq = 0;
  std::vector<int32_t> ids, mask;
  int64_t tokens() const; // real (unpadded) tokens of the whole batch
};

class Tokenizer {
public:
  // Reads one token per line (the line number is the id). Throws tessel::Error naming the file
  // when it is missing, unreadable, empty, or lacks [PAD] [UNK] [CLS] [SEP] or [MASK].
  static Tokenizer load(const std::filesystem::path& vocab_file, int max_length = 256);

  // [CLS] pieces [SEP] of one text, truncated to max_length tokens.
  std::vector<int32_t> encode(std::string_view utf8) const;
  TokenBatch encode_batch(const std::vector<std::string>& texts) const;
  // The pieces of the text without [CLS]/[SEP] and without truncation.
  std::vector<int32_t> pieces(std::string_view utf8) const;

  int max_length() const { return max_length_; }
  size_t vocab_size() const { return vocab_.size(); }

private:
  void word_pieces(const std::u32string& word, std::vector<int32_t>& out) const;
  int32_t id_of(std::string_view token, const std::filesystem::path& file) const;

  std::unordered_map<std::string, int32_t> vocab_;
  int32_t pad_ = 0, unk_ = 0, cls_ = 0, sep_ = 0, mask_ = 0;
  int max_length_ = 256;
};

} // namespace tessel::minilm
