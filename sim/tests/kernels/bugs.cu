// Kernels with planted bugs that the simulator must report: an out-of-bounds global write
// (the bound check is off by one), and a shared-memory race (a neighbour's element is read
// with no barrier between the write and the read).
extern "C" __global__ void oob_write(float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.0f;  // BUG: i == n writes one past the end
}

extern "C" __global__ void shared_race(const float* in, float* out) {
  __shared__ float buf[256];
  int t = threadIdx.x;
  buf[t] = in[blockIdx.x * blockDim.x + t];
  // BUG: missing __syncthreads(); thread t reads what thread t+32 (another warp) wrote.
  out[blockIdx.x * blockDim.x + t] = buf[(t + 32) % blockDim.x];
}
