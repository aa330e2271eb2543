// The WordPiece tokenizer against the reference tokenizer's ids for the 243 sentences of
// samples/minilm/sentences.py (data/token_ids.tsv, written by make_reference.py from
// sentence-transformers), with the model's vocab.txt kept in data/; and its own diagnostics.
#include "samples/minilm/tokenizer.h"

#include "minilm/minilm_test_util.h"
#include "support/expect_error.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace tessel::minilm {
namespace {

using testing::data_path;

Tokenizer vocab() { return Tokenizer::load(data_path("vocab.txt")); }

std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 80))
    out += c >= 0x20 && c < 0x7F ? std::string(1, char(c)) : fmt::format("\\x{:02x}", c);
  return out;
}

TEST(Tokenizer, MatchesReferenceIdsOnEverySentence) {
  Tokenizer tok = vocab();
  auto rows = testing::read_rows<int32_t>("token_ids.tsv");
  ASSERT_GE(rows.size(), 200u);
  int mismatches = 0;
  for (const auto& r : rows) {
    std::vector<int32_t> got = tok.encode(r.text);
    if (got != r.values && ++mismatches <= 10)
      ADD_FAILURE() << "ids differ for \"" << printable(r.text) << "\": got " << got.size()
                    << " ids, the reference " << r.values.size();
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Tokenizer, BatchPadsWithZerosAndMasksPadding) {
  Tokenizer tok = vocab();
  TokenBatch b = tok.encode_batch({"hello world", "x", ""});
  ASSERT_EQ(b.batch, 3);
  ASSERT_EQ(b.seq, 4); // [CLS] hello world [SEP]
  EXPECT_EQ(b.ids, (std::vector<int32_t>{101, 7592, 2088, 102, 101, 1060, 102, 0, 101, 102, 0, 0}));
  EXPECT_EQ(b.mask, (std::vector<int32_t>{1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0}));
  EXPECT_EQ(b.tokens(), 9);
}

TEST(Tokenizer, TruncatesToMaxLengthKeepingSep) {
  Tokenizer tok = Tokenizer::load(data_path("vocab.txt"), /*max_length=*/8);
  std::vector<int32_t> ids = tok.encode("one two three four five six seven eight nine");
  ASSERT_EQ(ids.size(), 8u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
}

TEST(Tokenizer, InvalidUtf8BytesVanishLikeReplacementCharacters) {
  Tokenizer tok = vocab();
  // U+FFFD (what Python's "replace" decoding gives) is dropped by clean_text, so "ab\xffcd"
  // reads as "abcd", and a lone byte between spaces leaves nothing.
  EXPECT_EQ(tok.pieces("ab\xff"
                       "cd"),
            tok.pieces("abcd"));
  EXPECT_EQ(tok.pieces("a \xc0\xaf b"), tok.pieces("a b"));
  EXPECT_EQ(tok.pieces("caf\xc3"), tok.pieces("caf"));
}

TEST(Tokenizer, LongWordIsUnknown) {
  Tokenizer tok = vocab();
  EXPECT_EQ(tok.pieces(std::string(101, 'a')), (std::vector<int32_t>{100}));
  EXPECT_NE(tok.pieces(std::string(100, 'a')), (std::vector<int32_t>{100}));
}

TEST(TokenizerErrors, MissingVocabFile) {
  tessel::testing::expect_error(
      [] { Tokenizer::load("/nonexistent/vocab.txt"); },
      {"/nonexistent/vocab.txt", "cannot open the vocabulary file", "--model DIR"});
}

TEST(TokenizerErrors, EmptyVocabFile) {
  auto path = std::filesystem::temp_directory_path() / "tessel_minilm_empty_vocab.txt";
  std::ofstream(path).close();
  tessel::testing::expect_error([&] { Tokenizer::load(path); },
                                {path.string(), "the vocabulary file is empty"});
}

TEST(TokenizerErrors, VocabWithoutSpecialTokens) {
  auto path = std::filesystem::temp_directory_path() / "tessel_minilm_bad_vocab.txt";
  std::ofstream(path) << "[PAD]\nhello\nworld\n";
  tessel::testing::expect_error([&] { Tokenizer::load(path); },
                                {path.string(), "the vocabulary has no [UNK] token"});
}

} // namespace
} // namespace tessel::minilm
