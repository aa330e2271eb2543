// The Unicode facts the WordPiece tokenizer needs, one table per fact, generated offline from the
// reference tokenizer by make_unicode_table.py (no ICU, no Python at run time). Ranges are sorted
// and disjoint; every code point not listed in kDropped, kSpaced, kBlank or kRewrites normalises
// to itself (Hangul syllables excepted: tokenizer.cpp decomposes them by the Unicode algorithm).
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessel::minilm::unicode {

struct CodeRange {
  char32_t first, last; // inclusive
};
struct Rewrite {
  char32_t code;
  const char* utf8; // what the code point normalises to: NFD without nonspacing marks, lower case
};

extern const CodeRange kDropped[]; // control, format, unassigned, U+FFFD: removed by clean_text
extern const size_t kDroppedCount;
extern const CodeRange kSpaced[]; // CJK ideographs: a word of their own (a space on each side)
extern const size_t kSpacedCount;
extern const CodeRange kBlank[]; // whitespace other than ' ': becomes ' '
extern const size_t kBlankCount;
extern const CodeRange kPunct[]; // punctuation: split off as a word of its own
extern const size_t kPunctCount;
extern const Rewrite kRewrites[]; // sorted by code
extern const size_t kRewritesCount;

} // namespace tessel::minilm::unicode
