// The shadow state of a CTA's shared memory, one ShadowByte per byte, stored
// word by word: an aligned 4-byte word whose four bytes have the same state (the usual case:
// they were written and read together) keeps that state once, in `words_`; only a word whose
// bytes differ (a byte or half-word store, a misaligned access) is "split" and keeps four
// states in `bytes_`. The logical state of byte b is `split_[b/4] ? bytes_[b] : words_[b/4]`;
// every rule in memory_access.cpp is stated on those logical bytes, so the representation
// changes how much memory a check touches (a 16-byte access: 4 states, not 16), not what it
// decides.
#pragma once

#include <cstdint>
#include <vector>

namespace tessel::sim {

// Per-byte shadow state of shared memory, for racecheck, initcheck and cp.async tracking.
// Up to two unordered readers are remembered since the last write (a third replaces the
// second: a write racing only with a forgotten reader is missed, never invented).
struct ShadowByte {
  uint32_t write_clock = 0;    // the writer warp's own clock at the write; 0: never written
  uint32_t read_clock[2] = {}; // 0: slot empty
  uint16_t writer = 0;         // linear thread id of the last writer
  uint16_t reader[2] = {};     // linear thread ids of the remembered readers
  uint8_t initialized = 0;
  uint8_t pending = 0; // written by a cp.async not yet waited for
  bool operator==(const ShadowByte&) const = default;
};

class SharedShadow {
public:
  void reset(uint32_t bytes) {
    uint32_t words = (bytes + 3) / 4;
    words_.assign(words, ShadowByte{});
    split_.assign(words, 0);
    bytes_.clear(); // allocated at the first split
  }

  // The state of byte `off` for a byte-wise rule: splits its word first.
  ShadowByte& byte(uint32_t off) {
    uint32_t w = off / 4;
    if (!split_[w]) {
      if (bytes_.empty())
        bytes_.assign(words_.size() * 4, ShadowByte{});
      for (uint32_t i = 0; i < 4; ++i)
        bytes_[w * 4 + i] = words_[w];
      split_[w] = 1;
    }
    return bytes_[off];
  }

  // The one state of word `w` when its four bytes agree (a split word whose bytes have come to
  // agree is merged back); null when they differ.
  ShadowByte* word(uint32_t w) {
    if (!split_[w])
      return &words_[w];
    const ShadowByte* b = &bytes_[w * 4];
    if (!(b[1] == b[0] && b[2] == b[0] && b[3] == b[0]))
      return nullptr;
    words_[w] = b[0];
    split_[w] = 0;
    return &words_[w];
  }

  // The first word state of [off, off+size) when the range is whole aligned words that all
  // have one and the same state (the fast paths' precondition); null otherwise.
  ShadowByte* uniform_words(uint32_t off, uint32_t size) {
    if (off % 4 || size % 4 || size == 0)
      return nullptr;
    ShadowByte* first = word(off / 4);
    if (!first)
      return nullptr;
    for (uint32_t w = off / 4 + 1; w < (off + size) / 4; ++w) {
      const ShadowByte* s = word(w);
      if (!s || !(*s == *first))
        return nullptr;
    }
    return first;
  }

  // Gives every word of the range uniform_words found the state of its first word.
  void fill_words(uint32_t off, uint32_t size) {
    for (uint32_t w = off / 4 + 1; w < (off + size) / 4; ++w)
      words_[w] = words_[off / 4];
  }

  // Clears the cp.async pending bit of every byte of the range.
  void clear_pending(uint32_t off, uint32_t size) {
    for (uint32_t b = off; b < off + size;) {
      ShadowByte* s = b % 4 == 0 && b + 4 <= off + size ? word(b / 4) : nullptr;
      if (s) {
        s->pending = 0;
        b += 4;
      } else {
        byte(b++).pending = 0;
      }
    }
  }

private:
  std::vector<ShadowByte> words_;
  std::vector<uint8_t> split_;
  std::vector<ShadowByte> bytes_;
};

} // namespace tessel::sim
