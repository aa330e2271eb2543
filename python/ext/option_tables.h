// The keywords of every ops Options struct and the Python names of their enums. C++ has no
// reflection, so this is the one list kept beside the headers by hand: a field left out here is
// a keyword Python cannot pass (tests/test_options.py passes every one listed).
#pragma once

#include "ext/op_options.h"

#include <array>

namespace tessel::python {

#define TESSEL_PY_ENUM(E, ...)                                                                     \
  template <> struct EnumNames<E> {                                                                \
    static constexpr std::pair<const char*, E> values[] = {__VA_ARGS__};                           \
  };

TESSEL_PY_ENUM(ops::GeluApproximation, {"none", ops::GeluApproximation::none},
               {"tanh", ops::GeluApproximation::tanh})
TESSEL_PY_ENUM(ops::GeluApprox, {"erf", ops::GeluApprox::erf}, {"tanh", ops::GeluApprox::tanh})
TESSEL_PY_ENUM(ops::Reduction, {"none", ops::Reduction::none}, {"mean", ops::Reduction::mean},
               {"sum", ops::Reduction::sum})
TESSEL_PY_ENUM(ops::RotaryStyle, {"half_split", ops::RotaryStyle::half_split},
               {"interleaved", ops::RotaryStyle::interleaved})
TESSEL_PY_ENUM(ops::AttentionLayout, {"bshd", ops::AttentionLayout::bshd},
               {"bhsd", ops::AttentionLayout::bhsd})
TESSEL_PY_ENUM(ops::AttentionDq, {"deterministic", ops::AttentionDq::deterministic},
               {"atomics", ops::AttentionDq::atomics})
TESSEL_PY_ENUM(ops::MatmulPrecision, {"ieee", ops::MatmulPrecision::ieee},
               {"tf32", ops::MatmulPrecision::tf32})
#undef TESSEL_PY_ENUM

#define TESSEL_PY_OPTIONS(O, ...)                                                                  \
  template <> inline std::span<const OptionField<O>> option_fields<O>() {                          \
    static const OptionField<O> fields[] = {__VA_ARGS__};                                          \
    return fields;                                                                                 \
  }
// An Options struct without fields.
#define TESSEL_PY_NO_OPTIONS(O)                                                                    \
  template <> inline std::span<const OptionField<O>> option_fields<O>() { return {}; }

using namespace ops;

TESSEL_PY_OPTIONS(SoftmaxOptions, field<&SoftmaxOptions::block_cols>("block_cols"))
TESSEL_PY_OPTIONS(RmsNormOptions, field<&RmsNormOptions::eps>("eps"),
                  field<&RmsNormOptions::block_cols>("block_cols"))
TESSEL_PY_OPTIONS(LayerNormOptions, field<&LayerNormOptions::eps>("eps"),
                  field<&LayerNormOptions::block_cols>("block_cols"))
TESSEL_PY_OPTIONS(GeluOptions, field<&GeluOptions::approximate>("approximate"))
TESSEL_PY_NO_OPTIONS(SiluOptions)
TESSEL_PY_OPTIONS(DropoutOptions, field<&DropoutOptions::p>("p"),
                  field<&DropoutOptions::seed>("seed"), field<&DropoutOptions::offset>("offset"))
TESSEL_PY_NO_OPTIONS(BinaryOptions)
TESSEL_PY_OPTIONS(CrossEntropyOptions, field<&CrossEntropyOptions::ignore_index>("ignore_index"),
                  field<&CrossEntropyOptions::label_smoothing>("label_smoothing"),
                  field<&CrossEntropyOptions::reduction>("reduction"),
                  field<&CrossEntropyOptions::block_cols>("block_cols"))
TESSEL_PY_OPTIONS(RotaryOptions, field<&RotaryOptions::style>("style"),
                  field<&RotaryOptions::rotary_dim>("rotary_dim"),
                  field<&RotaryOptions::base>("base"))
TESSEL_PY_OPTIONS(ArgmaxOptions, field<&ArgmaxOptions::block_cols>("block_cols"))
TESSEL_PY_NO_OPTIONS(MeanPoolOptions)
TESSEL_PY_OPTIONS(L2NormalizeOptions, field<&L2NormalizeOptions::eps>("eps"))
TESSEL_PY_OPTIONS(MatmulOptions, field<&MatmulOptions::epilogue>("epilogue"),
                  field<&MatmulOptions::split_k>("split_k"),
                  field<&MatmulOptions::workspace>("workspace"),
                  field<&MatmulOptions::precision>("precision"),
                  field<&MatmulOptions::a_scale>("a_scale"),
                  field<&MatmulOptions::b_scale>("b_scale"),
                  field<&MatmulOptions::config>("config"))
TESSEL_PY_OPTIONS(
    AttentionOptions, field<&AttentionOptions::causal>("causal"),
    field<&AttentionOptions::softmax_scale>("softmax_scale"),
    field<&AttentionOptions::window_left>("window_left"),
    field<&AttentionOptions::window_right>("window_right"),
    field<&AttentionOptions::layout>("layout"), field<&AttentionOptions::kv_lens>("kv_lens"),
    field<&AttentionOptions::key_padding_mask>("key_padding_mask"),
    field<&AttentionOptions::lse>("lse"), field<&AttentionOptions::alibi_slopes>("alibi_slopes"),
    field<&AttentionOptions::softcap>("softcap"), field<&AttentionOptions::dq_mode>("dq_mode"),
    field<&AttentionOptions::block_m>("block_m"), field<&AttentionOptions::block_n>("block_n"))
#undef TESSEL_PY_OPTIONS
#undef TESSEL_PY_NO_OPTIONS

} // namespace tessel::python
