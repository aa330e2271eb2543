#include "samples/minilm/linear.h"

#include "tessel/ops/matmul.h"

namespace tessel::minilm {

void linear(const TensorView& x, const TensorView& w, const TensorView& bias, const TensorView& y,
            Activation activation) {
  ops::MatmulOptions options{.epilogue = {ops::bias(bias)}};
  if (activation == Activation::gelu)
    options.epilogue.push_back(ops::gelu(ops::GeluApprox::erf));
  ops::matmul(x, w, y, options);
}

} // namespace tessel::minilm
