// CUDA C++ kernels for the runtime's GPU tests, compiled by nvcc into a fatbin (sm_80, sm_86,
// sm_89, sm_90 and PTX for later GPUs) and embedded in runtime_tests; they stand in for the cubins
// the GPU code generator will produce.
extern "C" __global__ void vec_add(float* out, const float* a, const float* b, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = a[i] + b[i];
}

// Uses `n` floats of dynamic shared memory (more than 48 KiB in the test): each thread fills a
// strided part, then thread 0 sums all of it.
extern "C" __global__ void big_smem(float* out, int n) {
  extern __shared__ float buf[];
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    buf[i] = float(i % 7);
  __syncthreads();
  if (threadIdx.x == 0) {
    float s = 0;
    for (int i = 0; i < n; ++i)
      s += buf[i];
    out[blockIdx.x] = s;
  }
}
