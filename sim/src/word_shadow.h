// Shadow state per byte of a memory (shared memory's racecheck/initcheck/cp.async state, global
// memory's racecheck state), stored word by word: an aligned 4-byte word whose four bytes have
// the same state (the usual case: they were written and read together) keeps that state once,
// in `words_`; only a word whose bytes differ (a byte or half-word store, a misaligned access)
// is "split" and keeps four states in `bytes_`. The logical state of byte b is
// `split_[b/4] ? bytes_[b] : words_[b/4]`; every rule in memory_access.cpp is stated on those
// logical bytes, so the representation changes how much memory a check touches (a 16-byte
// access: 4 states, not 16), not what it decides.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <type_traits>

namespace tessel::sim {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

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

// `State{}` must be all zero bits: the storage comes from calloc (large blocks as zero pages
// the kernel provides when first touched, not written up front).
template <typename State> class WordShadow {
  static_assert(std::is_trivially_copyable_v<State>, "shadow states are copied as bytes");

public:
  // Sizes the shadow for `bytes` bytes, every one in the state State{}.
  void reset(size_t bytes) {
    words_count_ = (bytes + 3) / 4;
    words_.reset(zeroed<State>(words_count_));
    split_.reset(zeroed<uint8_t>(words_count_));
    bytes_.reset();
  }

  // The state of byte `off` for a byte-wise rule: splits its word first.
  State& byte(size_t off) {
    size_t w = off / 4;
    if (!split_[w]) {
      if (!bytes_)
        bytes_.reset(zeroed<State>(words_count_ * 4));
      for (size_t i = 0; i < 4; ++i)
        bytes_[w * 4 + i] = words_[w];
      split_[w] = 1;
    }
    return bytes_[off];
  }

  // The one state of word `w` when its four bytes agree (a split word whose bytes have come to
  // agree is merged back); null when they differ.
  State* word(size_t w) {
    if (!split_[w])
      return &words_[w];
    const State* b = &bytes_[w * 4];
    if (!(b[1] == b[0] && b[2] == b[0] && b[3] == b[0]))
      return nullptr;
    words_[w] = b[0];
    split_[w] = 0;
    return &words_[w];
  }

  // The first word state of [off, off+size) when the range is whole aligned words that all
  // have one and the same state (the fast paths' precondition); null otherwise.
  State* uniform_words(size_t off, size_t size) {
    if (off % 4 || size % 4 || size == 0)
      return nullptr;
    State* first = word(off / 4);
    if (!first)
      return nullptr;
    for (size_t w = off / 4 + 1; w < (off + size) / 4; ++w) {
      const State* s = word(w);
      if (!s || !(*s == *first))
        return nullptr;
    }
    return first;
  }

  // Gives every word of the range uniform_words found the state of its first word.
  void fill_words(size_t off, size_t size) {
    for (size_t w = off / 4 + 1; w < (off + size) / 4; ++w)
      words_[w] = words_[off / 4];
  }

private:
  template <typename T> static T* zeroed(size_t n) {
    void* p = std::calloc(n ? n : 1, sizeof(T));
    if (!p)
      throw std::bad_alloc();
    return static_cast<T*>(p);
  }

  size_t words_count_ = 0;
  std::unique_ptr<State[], FreeDeleter> words_;
  std::unique_ptr<uint8_t[], FreeDeleter> split_;
  std::unique_ptr<State[], FreeDeleter> bytes_;
};

// A CTA's shared-memory shadow, with the cp.async bookkeeping on top.
class SharedShadow : public WordShadow<ShadowByte> {
public:
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
};

} // namespace tessel::sim
