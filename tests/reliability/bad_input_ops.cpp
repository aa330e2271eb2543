// Bad-input rows for every public tessel::ops function (include/tessel/ops/*.h): one or two
// mistakes each — shapes that do not match, wrong dtypes, devices that differ, options out of
// range, views that overlap. All on host memory: each row must fail in the argument checks,
// before a kernel is traced, and its message must name the op and the argument.
#include "bad_input.h"

#include "tessel/tessel.h"

#include <cstdint>
#include <deque>
#include <vector>

namespace tessel::testing {
namespace {

using namespace tessel::ops;

// Zeroed host storage that outlives the rows (a row runs after the table is built).
void* storage(size_t bytes) {
  static std::deque<std::vector<uint64_t>> blocks;
  blocks.emplace_back((bytes + 7) / 8 + 2, 0);
  return blocks.back().data();
}

TensorView view(DType t, std::initializer_list<int64_t> shape) {
  size_t n = 1;
  for (int64_t d : shape)
    n *= size_t(d);
  return TensorView(storage(n * dtype_bytes(t)), t, shape);
}
TensorView f32(std::initializer_list<int64_t> shape) { return view(DType::f32, shape); }
TensorView on_cuda(TensorView v) {
  v.device = DeviceKind::cuda;
  return v;
}
// A view of `v`'s memory whose rows all start at the same element.
TensorView zero_row_stride(TensorView v) {
  v.strides[0] = 0;
  return v;
}

std::vector<BadInput> softmax_and_norm_rows() {
  return {
      {"ops::softmax",
       "OutputShape",
       [] {
         softmax(f32({4, 32}), f32({4, 16}));
       },
       {"softmax", "y", "[4, 16]", "[4, 32]"}},
      {"ops::softmax",
       "IntegerInput",
       [] {
         softmax(view(DType::i32, {4, 32}), f32({4, 32}));
       },
       {"softmax", "x", "i32"}},
      {"ops::softmax",
       "OutputRowsOverlap",
       [] {
         softmax(f32({4, 32}), zero_row_stride(f32({4, 32})));
       },
       {"softmax", "y", "overlap"}},
      {"ops::log_softmax",
       "OutputDtype",
       [] {
         log_softmax(f32({4, 32}), view(DType::i32, {4, 32}));
       },
       {"log_softmax", "y", "i32"}},
      {"ops::softmax_backward",
       "GradientShape",
       [] {
         softmax_backward(f32({4, 32}), f32({4, 31}), f32({4, 32}));
       },
       {"softmax_backward", "dy"}},
      {"ops::log_softmax_backward",
       "GradientOnAnotherDevice",
       [] {
         log_softmax_backward(f32({4, 32}), f32({4, 32}), on_cuda(f32({4, 32})));
       },
       {"log_softmax_backward", "dx", "device"}},
      {"ops::rms_norm",
       "WeightLength",
       [] {
         rms_norm(f32({4, 32}), f32({16}), f32({4, 32}), f32({4}));
       },
       {"rms_norm", "weight", "32"}},
      {"ops::rms_norm",
       "RstdRows",
       [] {
         rms_norm(f32({4, 32}), f32({32}), f32({4, 32}), f32({3}));
       },
       {"rms_norm", "rstd"}},
      {"ops::add_rms_norm",
       "ResidualShape",
       [] {
         add_rms_norm(f32({4, 32}), f32({4, 16}), f32({32}), f32({4, 32}), f32({4, 32}), f32({4}));
       },
       {"add_rms_norm", "residual"}},
      {"ops::rms_norm_backward",
       "WeightGradientLength",
       [] {
         rms_norm_backward(f32({4, 32}), f32({4, 32}), f32({32}), f32({4}), f32({4, 32}),
                           f32({31}));
       },
       {"rms_norm_backward", "dweight"}},
      {"ops::layer_norm",
       "BiasLength",
       [] {
         layer_norm(f32({4, 32}), f32({32}), f32({8}), f32({4, 32}), f32({4}), f32({4}));
       },
       {"layer_norm", "bias"}},
      {"ops::layer_norm",
       "NegativeEps",
       [] {
         layer_norm(f32({4, 32}), f32({32}), f32({32}), f32({4, 32}), f32({4}), f32({4}),
                    {.eps = -1.0f});
       },
       {"layer_norm", "eps"}},
      {"ops::add_layer_norm",
       "ResidualOutShape",
       [] {
         add_layer_norm(f32({4, 32}), f32({4, 32}), f32({32}), f32({32}), f32({4, 32}),
                        f32({2, 32}), f32({4}), f32({4}));
       },
       {"add_layer_norm", "residual_out"}},
      {"ops::layer_norm_backward",
       "BiasGradientLength",
       [] {
         layer_norm_backward(f32({4, 32}), f32({4, 32}), f32({32}), f32({4}), f32({4}),
                             f32({4, 32}), f32({32}), f32({30}));
       },
       {"layer_norm_backward", "dbias"}},
  };
}

std::vector<BadInput> activation_rows() {
  return {
      {"ops::gelu", "OutputShape", [] { gelu(f32({64}), f32({32})); }, {"gelu", "y"}},
      {"ops::gelu_backward",
       "GradientDtype",
       [] { gelu_backward(f32({64}), f32({64}), view(DType::i8, {64})); },
       {"gelu_backward", "dx", "i8"}},
      {"ops::silu",
       "NullInput",
       [] { silu(TensorView(nullptr, DType::f32, {64}), f32({64})); },
       {"silu", "x", "null"}},
      {"ops::silu_backward",
       "GradientShape",
       [] { silu_backward(f32({64}), f32({63}), f32({64})); },
       {"silu_backward", "dy"}},
      {"ops::swiglu",
       "UpShape",
       [] {
         swiglu(f32({8, 16}), f32({8, 8}), f32({8, 16}));
       },
       {"swiglu", "up"}},
      {"ops::swiglu_backward",
       "UpGradientShape",
       [] {
         swiglu_backward(f32({8, 16}), f32({8, 16}), f32({8, 16}), f32({8, 16}), f32({16}));
       },
       {"swiglu_backward", "dup"}},
      {"ops::geglu",
       "OutputOnAnotherDevice",
       [] {
         geglu(f32({8, 16}), f32({8, 16}), on_cuda(f32({8, 16})));
       },
       {"geglu", "y", "device"}},
      {"ops::geglu_backward",
       "GateGradientShape",
       [] {
         geglu_backward(f32({8, 16}), f32({8, 16}), f32({8, 16}), f32({4, 16}), f32({8, 16}));
       },
       {"geglu_backward", "dgate"}},
      {"ops::dropout",
       "ProbabilityAboveOne",
       [] { dropout(f32({64}), f32({64}), {.p = 1.5f}); },
       {"dropout", "p", "1.5"}},
      {"ops::dropout_backward",
       "NegativeProbability",
       [] { dropout_backward(f32({64}), f32({64}), {.p = -0.25f}); },
       {"dropout_backward", "p", "-0.25"}},
      {"ops::add",
       "NotBroadcastable",
       [] {
         add(f32({4, 8}), f32({3}), f32({4, 8}));
       },
       {"add", "b", "[3]"}},
      {"ops::mul",
       "OutputDtype",
       [] {
         mul(f32({4, 8}), f32({4, 8}), view(DType::i32, {4, 8}));
       },
       {"mul", "y"}},
  };
}

std::vector<BadInput> loss_rotary_pool_rows() {
  return {
      {"ops::cross_entropy",
       "FloatLabels",
       [] {
         cross_entropy(f32({4, 10}), f32({4}), f32({4}), f32({}));
       },
       {"cross_entropy", "labels"}},
      {"ops::cross_entropy",
       "LabelSmoothingAboveOne",
       [] {
         cross_entropy(f32({4, 10}), view(DType::i64, {4}), f32({4}), f32({}),
                       {.label_smoothing = 2.0f});
       },
       {"cross_entropy", "label_smoothing", "2"}},
      {"ops::cross_entropy_backward",
       "GradientShape",
       [] {
         cross_entropy_backward(f32({4, 10}), view(DType::i64, {4}), f32({}), f32({4, 9}));
       },
       {"cross_entropy_backward", "dlogits"}},
      {"ops::rotary_embedding",
       "CosShape",
       [] {
         rotary_embedding(f32({2, 8, 4, 32}), f32({8, 7}), f32({8, 16}), f32({2, 8, 4, 32}));
       },
       {"rotary_embedding", "cos"}},
      {"ops::rotary_embedding_backward",
       "OddRotaryDim",
       [] {
         rotary_embedding_backward(f32({2, 8, 4, 32}), f32({8, 16}), f32({8, 16}),
                                   f32({2, 8, 4, 32}), {.rotary_dim = 7});
       },
       {"rotary_embedding_backward", "rotary_dim", "7"}},
      {"ops::rotary_embedding_from_positions",
       "FloatPositions",
       [] {
         rotary_embedding_from_positions(f32({2, 8, 4, 32}), f32({2, 8}), f32({2, 8, 4, 32}));
       },
       {"rotary_embedding_from_positions", "positions"}},
      {"ops::argmax",
       "FloatIndices",
       [] {
         argmax(f32({4, 32}), f32({4}));
       },
       {"argmax", "indices"}},
      {"ops::topk",
       "KAboveTheRow",
       [] {
         topk(f32({4, 32}), f32({4, 40}), view(DType::i64, {4, 40}), 40);
       },
       {"topk", "k", "40"}},
      {"ops::topk",
       "KNegative",
       [] {
         topk(f32({4, 32}), f32({4, 1}), view(DType::i64, {4, 1}), -1);
       },
       {"topk", "k", "-1"}},
      {"ops::mean_pool",
       "MaskShape",
       [] {
         mean_pool(f32({2, 8, 16}), view(DType::i64, {2, 7}), f32({2, 16}));
       },
       {"mean_pool", "mask"}},
      {"ops::l2_normalize",
       "OutputShape",
       [] {
         l2_normalize(f32({4, 16}), f32({4, 8}));
       },
       {"l2_normalize", "y"}},
      {"ops::quantize",
       "FloatOutput",
       [] {
         quantize(f32({4, 16}), f32({4, 16}), f32({4}));
       },
       {"quantize", "q"}},
      {"ops::dequantize",
       "ScalesLength",
       [] {
         dequantize(view(DType::i8, {4, 16}), f32({3}), f32({4, 16}));
       },
       {"dequantize", "scales"}},
  };
}

std::vector<BadInput> matmul_rows() {
  return {
      {"ops::matmul",
       "InnerDimensions",
       [] {
         matmul(f32({8, 16}), f32({12, 8}), f32({8, 8}));
       },
       {"matmul", "16", "12"}},
      {"ops::matmul",
       "OutputDtype",
       [] {
         matmul(f32({8, 16}), f32({16, 8}), view(DType::i32, {8, 8}));
       },
       {"matmul", "c"}},
      {"ops::matmul",
       "SplitKZero",
       [] {
         matmul(f32({8, 16}), f32({16, 8}), f32({8, 8}), {.split_k = 0});
       },
       {"matmul", "split_k", "0"}},
      {"ops::matmul",
       "OutputOverlapsAnInput",
       [] {
         TensorView a = f32({16, 16});
         matmul(a, f32({16, 16}), a);
       },
       {"matmul", "c", "a"}},
      {"ops::matmul",
       "BiasLength",
       [] {
         matmul(f32({8, 16}), f32({16, 8}), f32({8, 8}), {.epilogue = {bias(f32({3}))}});
       },
       {"matmul", "bias", "3"}},
      {"ops::matmul",
       "ConfigBlockNotAPowerOfTwo",
       [] {
         matmul(f32({8, 16}), f32({16, 8}), f32({8, 8}), {.config = MatmulConfig{.block_m = 48}});
       },
       {"matmul", "block_m", "48"}},
      {"ops::matmul_workspace_elements",
       "SplitKZero",
       [] {
         (void)matmul_workspace_elements(f32({8, 8}), 0);
       },
       {"split_k", "0"}},
  };
}

std::vector<BadInput> attention_rows() {
  return {
      {"ops::attention",
       "HeadDimMismatch",
       [] {
         attention(f32({1, 8, 2, 32}), f32({1, 8, 2, 64}), f32({1, 8, 2, 64}), f32({1, 8, 2, 32}));
       },
       {"attention", "k"}},
      {"ops::attention",
       "DropoutProbabilityOne",
       [] {
         attention(f32({1, 8, 2, 32}), f32({1, 8, 2, 32}), f32({1, 8, 2, 32}), f32({1, 8, 2, 32}),
                   {.dropout_p = 1.0f});
       },
       {"attention", "dropout_p"}},
      {"ops::attention_backward",
       "QueryGradientShape",
       [] {
         TensorView q = f32({1, 8, 2, 32});
         attention_backward(q, f32({1, 8, 2, 32}), f32({1, 8, 2, 32}), f32({1, 8, 2, 32}),
                            f32({1, 8, 2, 32}), f32({1, 2, 8}), f32({1, 8, 2, 16}),
                            f32({1, 8, 2, 32}), f32({1, 8, 2, 32}));
       },
       {"attention_backward", "dq"}},
      {"ops::attention_decode",
       "FloatBlockTable",
       [] {
         attention_decode(f32({2, 4, 32}), f32({4, 16, 4, 32}), f32({4, 16, 4, 32}), f32({2, 2}),
                          view(DType::i32, {2}), f32({2, 4, 32}));
       },
       {"attention_decode", "block_table"}},
      {"ops::attention_decode_workspace",
       "NegativeSplits",
       [] { (void)attention_decode_workspace(2, 4, 16, -1); },
       {"num_splits", "-1"}},
  };
}

std::vector<BadInput> quant_rows() {
  return {
      {"ops::quantize_per_token_int8",
       "FloatOutput",
       [] {
         quantize_per_token_int8(f32({4, 32}), f32({4, 32}), f32({4}));
       },
       {"quantize_per_token_int8", "q"}},
      {"ops::rms_norm_quantize_int8",
       "WeightLength",
       [] {
         rms_norm_quantize_int8(f32({4, 32}), f32({8}), view(DType::i8, {4, 32}), f32({4}));
       },
       {"rms_norm_quantize_int8", "weight"}},
      {"ops::matmul_w8a8",
       "FloatWeights",
       [] {
         matmul_w8a8(view(DType::i8, {8, 32}), f32({8}), f32({32, 16}), f32({16}), f32({8, 16}));
       },
       {"matmul_w8a8", "wq"}},
      {"ops::quantize_weights_int4",
       "GroupSize",
       [] {
         quantize_weights_int4(f32({96, 16}), 48, Int4Mode::symmetric, view(DType::i8, {48, 16}),
                               f32({2, 16}));
       },
       {"quantize_weights_int4", "group_size", "48"}},
      {"ops::pack_int4",
       "PackedShape",
       [] {
         pack_int4(view(DType::i8, {64, 16}), view(DType::i8, {64, 16}));
       },
       {"pack_int4", "packed"}},
      {"ops::unpack_int4",
       "UnpackedShape",
       [] {
         unpack_int4(view(DType::i8, {32, 16}), view(DType::i8, {32, 16}));
       },
       {"unpack_int4", "packed", "[16, 16]"}},
      {"ops::matmul_w4a16",
       "ScalesShape",
       [] {
         matmul_w4a16(view(DType::f16, {8, 64}), view(DType::i8, {32, 16}),
                      view(DType::f16, {5, 16}), {}, view(DType::f16, {8, 16}));
       },
       {"matmul_w4a16", "scales"}},
      {"ops::matmul_lora",
       "RankAboveTheLimit",
       [] {
         matmul_lora(view(DType::f16, {8, 64}), view(DType::f16, {64, 16}),
                     view(DType::f16, {64, 256}), view(DType::f16, {256, 16}), 1.0f,
                     view(DType::f16, {8, 16}));
       },
       {"matmul_lora", "256", "128"}},
      {"ops::matmul_multi_lora",
       "FloatIndices",
       [] {
         matmul_multi_lora(view(DType::f16, {8, 64}), view(DType::f16, {64, 16}),
                           view(DType::f16, {2, 64, 8}), view(DType::f16, {2, 8, 16}), f32({8}),
                           1.0f, view(DType::f16, {8, 16}));
       },
       {"matmul_multi_lora", "indices"}},
      {"ops::prune_2_4",
       "KNotAMultipleOf16",
       [] {
         prune_2_4(view(DType::f16, {20, 8}), view(DType::f16, {8, 10}), view(DType::i16, {8, 1}));
       },
       {"prune_2_4", "w", "K = 20", "16"}},
      {"ops::decompress_2_4",
       "MetadataShape",
       [] {
         decompress_2_4(view(DType::f16, {8, 16}), view(DType::i16, {8, 1}),
                        view(DType::f16, {32, 8}));
       },
       {"decompress_2_4", "metadata", "[8, 1]", "[8, 2]"}},
      {"ops::matmul_sparse_2_4",
       "ValuesDtype",
       [] {
         matmul_sparse_2_4(view(DType::f16, {4, 32}), view(DType::bf16, {8, 16}),
                           view(DType::i16, {8, 2}), f32({4, 8}));
       },
       {"matmul_sparse_2_4", "values", "bf16", "f16"}},
      {"ops::quantize_weights_int4_act_order",
       "NotAPermutation",
       [] {
         quantize_weights_int4_act_order(f32({64, 8}), 32, Int4Mode::symmetric,
                                         view(DType::i32, {64}), view(DType::i8, {32, 8}),
                                         f32({2, 8}));
       },
       {"quantize_weights_int4_act_order", "perm[1] is 0, as perm[0] is"}},
      {"ops::quantize_fp8_blockwise",
       "ScalesShape",
       [] {
         quantize_fp8_blockwise(f32({4, 200}), view(DType::f8e4m3, {4, 200}), f32({4, 1}),
                                Fp8Blocks::token_1x128);
       },
       {"quantize_fp8_blockwise", "scales", "[4, 2]"}},
      {"ops::matmul_fp8_blockwise",
       "WeightScalesShape",
       [] {
         matmul_fp8_blockwise(view(DType::f8e4m3, {8, 256}), f32({8, 2}),
                              view(DType::f8e4m3, {256, 16}), f32({1, 1}), f32({8, 16}));
       },
       {"matmul_fp8_blockwise", "b_scales", "[2, 1]"}},
  };
}

std::vector<BadInput> view_shape_rows() {
  return {
      {"TensorView (ops)",
       "NegativeExtent",
       [] {
         TensorView x = f32({4, 32});
         x.shape[1] = -32;
         softmax(x, f32({4, 32}));
       },
       {"softmax", "x", "extent -32 in dimension 1"}},
      {"TensorView (ops)",
       "RankAboveEight",
       [] {
         TensorView x = f32({64});
         x.rank = 12;
         gelu(x, f32({64}));
       },
       {"gelu", "x", "rank 12"}},
  };
}

} // namespace

std::vector<BadInput> ops_rows() {
  std::vector<BadInput> rows;
  for (auto group : {softmax_and_norm_rows, activation_rows, loss_rotary_pool_rows, matmul_rows,
                     attention_rows, quant_rows, view_shape_rows})
    for (BadInput& r : group())
      rows.push_back(std::move(r));
  return rows;
}

} // namespace tessel::testing
