// The determinism contract: a row's result never depends on its batch mates, the thread count or
// the SIMD target. Kernel level (random shapes and weight types) and model level (logits in
// batches, whole generations across threads and targets).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>

#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "denoiser/denoiser.h"
#include "engine/engine.h"
#include "kernels/int8_matmul.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"
#include "kernels/parallel.h"
#include "kernels/simd.h"
#include "tests/test_util.h"

namespace sculpt {
namespace {

using kernels::GgmlType;
using kernels::SimdTarget;

std::vector<SimdTarget> Targets() {
  std::vector<SimdTarget> t;
  for (SimdTarget x : {SimdTarget::kScalar, SimdTarget::kAvx2, SimdTarget::kAvx512})
    if (kernels::SimdTargetSupported(x)) t.push_back(x);
  return t;
}

// The targets, with AVX2 twice where the CPU has AVX-VNNI: its int8 kernel, then the plain one.
struct Variant {
  SimdTarget target;
  bool avx_vnni;
  std::string Name() const {
    return std::string(kernels::SimdTargetName(target)) + (avx_vnni ? "" : " (no AVX-VNNI)");
  }
};
std::vector<Variant> Variants() {
  std::vector<Variant> v;
  for (SimdTarget t : Targets()) {
    v.push_back({t, true});
    if (t == SimdTarget::kAvx2 && kernels::CpuHasAvxVnni()) v.push_back({t, false});
  }
  return v;
}
void Select(const Variant& v) {
  ASSERT_TRUE(kernels::SetSimdTarget(kernels::SimdTargetName(v.target)).ok());
  kernels::AllowAvxVnni(v.avx_vnni);
}

struct Restore {  // puts threads, target and backend back after a test
  ~Restore() {
    kernels::AllowAvxVnni(true);
    kernels::SetThreads(1);
    (void)kernels::SetSimdTarget("best");
    (void)kernels::SetBackend("int8");
  }
};

// Random weights of the given type, [n, k], as raw ggml blocks.
std::vector<uint8_t> RandomWeights(GgmlType type, int64_t n, int64_t k, std::mt19937& rng) {
  const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(type));
  std::vector<uint8_t> w(static_cast<size_t>(n * k / traits.block_size * traits.type_size));
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  auto half_at = [&](size_t off) {  // finite, small scales
    const uint16_t h = kernels::FloatToHalf(val(rng) * 0.05f);
    std::memcpy(w.data() + off, &h, 2);
  };
  const size_t blocks = w.size() / static_cast<size_t>(traits.type_size);
  for (size_t b = 0; b < blocks; ++b) {
    const size_t base = b * static_cast<size_t>(traits.type_size);
    switch (type) {
      case GgmlType::kF32:
        for (size_t i = 0; i < 1; ++i) {
          const float f = val(rng);
          std::memcpy(w.data() + base, &f, 4);
        }
        break;
      case GgmlType::kF16: {
        const uint16_t h = kernels::FloatToHalf(val(rng));
        std::memcpy(w.data() + base, &h, 2);
        break;
      }
      case GgmlType::kQ8_0: case GgmlType::kQ4_0: case GgmlType::kQ5_0: case GgmlType::kIQ4_NL:
      case GgmlType::kIQ4_XS:
        half_at(base);
        break;
      case GgmlType::kQ4_1: case GgmlType::kQ5_1: case GgmlType::kQ4_K: case GgmlType::kQ5_K:
        half_at(base);
        half_at(base + 2);
        break;
      case GgmlType::kQ6_K: half_at(base + 208); break;
      case GgmlType::kQ2_K: half_at(base + 80); half_at(base + 82); break;
      case GgmlType::kQ3_K: half_at(base + 108); break;
      case GgmlType::kBF16: {
        const float f = val(rng);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        const uint16_t h = static_cast<uint16_t>(bits >> 16);
        std::memcpy(w.data() + base, &h, 2);
        break;
      }
      default: break;
    }
  }
  return w;
}

// Packed panels (formed in registers from f16/bf16/int8) give the bits of the dequantize-then-

// Random weights [n, k] of a type, packed for the current backend, and `rows` rows of x in
// [-1, 1] (drawn in that order from rng).
struct RandomProduct {
  std::vector<uint8_t> bytes;
  kernels::WeightMatrix w;
  kernels::PackedMatrix packed;
  std::vector<float> x;
};
RandomProduct MakeProduct(GgmlType type, int64_t n, int64_t k, int64_t rows, std::mt19937& rng) {
  RandomProduct p;
  p.bytes = RandomWeights(type, n, k, rng);
  const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(type));
  p.w = {type, p.bytes.data(), n, k, k / traits.block_size * traits.type_size};
  p.packed = kernels::Pack(p.w);
  p.x.resize(static_cast<size_t>(rows * k));
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  for (float& v : p.x) v = val(rng);
  return p;
}

// Rows [0, rows) of p's product, each computed alone (m = 1).
std::vector<float> RowsAlone(const RandomProduct& p, int64_t rows) {
  std::vector<float> y(static_cast<size_t>(rows * p.w.rows));
  for (int64_t i = 0; i < rows; ++i) {
    kernels::MatMulPacked(p.x.data() + i * p.w.cols, 1, p.packed, y.data() + i * p.w.rows);
  }
  return y;
}

// multiply reference, for every type, target, thread count and batch size.
TEST(Determinism, PackedMatMulEqualsReference) {
  Restore restore;
  ASSERT_TRUE(kernels::SetBackend("float").ok());  // the float path is MatMul's contract exactly
  std::mt19937 rng(5);
  const struct { GgmlType type; int64_t n, k; } shapes[] = {
      {GgmlType::kF32, 37, 29}, {GgmlType::kF16, 45, 64}, {GgmlType::kBF16, 20, 48},
      {GgmlType::kQ8_0, 33, 96}, {GgmlType::kQ4_0, 17, 64}, {GgmlType::kQ4_K, 21, 512},
      {GgmlType::kQ6_K, 19, 256}, {GgmlType::kQ4_0, 100, 64}, {GgmlType::kQ8_0, 130, 64},
      {GgmlType::kQ4_1, 23, 96}, {GgmlType::kQ5_0, 18, 64}, {GgmlType::kQ5_1, 35, 128},
      {GgmlType::kQ5_K, 20, 512}, {GgmlType::kQ2_K, 22, 256}, {GgmlType::kQ3_K, 17, 512},
      {GgmlType::kIQ4_NL, 19, 96}, {GgmlType::kIQ4_XS, 24, 512},
      {GgmlType::kF32, 72, 40}};  // several tiles: the multi-tile path for small batches
  for (const auto& s : shapes) {
    SCOPED_TRACE(kernels::TypeName(static_cast<uint32_t>(s.type)) + " n=" + std::to_string(s.n));
    const int64_t m = 37;
    const RandomProduct p = MakeProduct(s.type, s.n, s.k, m, rng);
    ASSERT_TRUE(kernels::SetSimdTarget("scalar").ok());
    kernels::SetThreads(1);
    std::vector<float> want(static_cast<size_t>(m * s.n));
    kernels::MatMul(p.x.data(), m, p.w, want.data());
    for (SimdTarget t : Targets()) {
      ASSERT_TRUE(kernels::SetSimdTarget(kernels::SimdTargetName(t)).ok());
      for (int threads : {1, 2}) {
        kernels::SetThreads(threads);
        for (int64_t rows : {int64_t{1}, int64_t{3}, m}) {
          std::vector<float> got(static_cast<size_t>(rows * s.n));
          kernels::MatMulPacked(p.x.data(), rows, p.packed, got.data());
          EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0)
              << kernels::SimdTargetName(t) << " threads=" << threads << " m=" << rows;
        }
      }
    }
  }
}

// The worker pool behind every kernel: each item runs exactly once, on the threads asked for,
// whether the caller is alone, nested inside a job, or one of several threads calling at once.
TEST(Parallel, EveryItemRunsOnceWhateverTheCallers) {
  Restore restore;
  constexpr int64_t kItems = 1000;
  auto run = [](int64_t chunk, std::vector<std::atomic<int>>& seen, std::set<std::thread::id>* ids) {
    std::mutex mu;
    kernels::ParallelChunks(kItems, chunk, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
      if (ids != nullptr) {
        {
          const std::lock_guard<std::mutex> lock(mu);
          ids->insert(std::this_thread::get_id());
        }
        // chunks are claimed from a shared counter: slow ones let every worker wake and claim
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  };
  for (int threads : {2, 3, 2, 1}) {  // the pool grows, then serves fewer threads
    kernels::SetThreads(threads);
    std::vector<std::atomic<int>> seen(kItems);
    std::set<std::thread::id> ids;
    run(7, seen, &ids);
    for (int64_t i = 0; i < kItems; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)].load(), 1) << "item " << i;
    EXPECT_EQ(ids.size(), static_cast<size_t>(threads)) << "threads=" << threads;
  }
  // nested: a job's chunks call ParallelChunks again (run on the calling worker)
  kernels::SetThreads(2);
  std::vector<std::atomic<int>> inner(kItems * 4);
  kernels::ParallelChunks(4, 1, 1e9, [&](int64_t b, int64_t e) {
    for (int64_t o = b; o < e; ++o) {
      kernels::ParallelChunks(kItems, 10, 1e6, [&](int64_t ib, int64_t ie) {
        for (int64_t i = ib; i < ie; ++i) inner[static_cast<size_t>(o * kItems + i)].fetch_add(1);
      });
    }
  });
  for (const auto& v : inner) ASSERT_EQ(v.load(), 1);
  // concurrent callers: one holds the pool, the others run their items themselves
  std::vector<std::vector<std::atomic<int>>> per(4);
  for (auto& v : per) v = std::vector<std::atomic<int>>(kItems);
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&, c] {
      for (int rep = 0; rep < 200; ++rep) run(3, per[static_cast<size_t>(c)], nullptr);
    });
  }
  for (auto& t : callers) t.join();
  for (const auto& v : per)
    for (const auto& n : v) ASSERT_EQ(n.load(), 200);
}

// A child process after fork() inherits the pool but none of its workers: its jobs must still
// finish (on a fresh pool) rather than wait forever for threads that do not exist.
TEST(Parallel, ForkedChildRunsJobs) {
  Restore restore;
  kernels::SetThreads(2);
  constexpr int64_t kItems = 500;
  const auto count_once = [] {
    std::vector<std::atomic<int>> seen(kItems);
    std::mutex mu;
    std::set<std::thread::id> ids;
    kernels::ParallelChunks(kItems, 5, 1e6, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) seen[static_cast<size_t>(i)].fetch_add(1);
      { const std::lock_guard<std::mutex> lock(mu); ids.insert(std::this_thread::get_id()); }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    });
    for (const auto& v : seen) if (v.load() != 1) return 1;
    return ids.size() == 2 ? 0 : 2;
  };
  ASSERT_EQ(count_once(), 0);  // the parent's pool has its worker
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(count_once());
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 400 && (done = waitpid(child, &status, WNOHANG)) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (done == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    FAIL() << "the child's job did not finish in 20 s";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: an item ran other than once; 2: not on two threads";
  EXPECT_EQ(count_once(), 0);  // the parent's pool is untouched
}

struct ProductShape {
  GgmlType type;
  int64_t n, k;
};

// For each backend and shape (random weights and x from `seed`): every batch of the first m rows
// of x, m in `batches`, on every target and 1 or 2 threads, gives each row the bits it has alone on
// the scalar target, one thread.
void ExpectRowsKeepTheirBits(std::span<const ProductShape> shapes,
                             std::initializer_list<const char*> backends,
                             const std::vector<int64_t>& batches, uint32_t seed) {
  Restore restore;
  std::mt19937 rng(seed);
  const int64_t max_m = *std::max_element(batches.begin(), batches.end());
  for (const char* backend : backends)
  for (const auto& s : shapes) {
    ASSERT_TRUE(kernels::SetBackend(backend).ok());
    SCOPED_TRACE(std::string(backend) + " " + kernels::TypeName(static_cast<uint32_t>(s.type)) +
                 " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k));
    const RandomProduct p = MakeProduct(s.type, s.n, s.k, max_m, rng);
    ASSERT_TRUE(kernels::SetSimdTarget("scalar").ok());
    kernels::SetThreads(1);
    const std::vector<float> alone = RowsAlone(p, max_m);
    for (const Variant& t : Variants()) {
      Select(t);
      for (int threads : {1, 2}) {
        kernels::SetThreads(threads);
        for (int64_t m : batches) {
          std::vector<float> y(static_cast<size_t>(m * s.n));
          kernels::MatMulPacked(p.x.data(), m, p.packed, y.data());
          EXPECT_EQ(std::memcmp(y.data(), alone.data(), y.size() * 4), 0)
              << t.Name() << " threads=" << threads << " m=" << m;
        }
      }
    }
  }
}

TEST(Determinism, MatMulRowsIgnoreBatchThreadsAndTarget) {
  const ProductShape shapes[] = {
      {GgmlType::kF32, 37, 29}, {GgmlType::kF32, 16, 1}, {GgmlType::kF16, 45, 64},
      {GgmlType::kQ8_0, 33, 96}, {GgmlType::kQ4_0, 17, 64}, {GgmlType::kQ4_K, 21, 256},
      {GgmlType::kF32, 130, 300},
      // several column blocks (more tiles than fit 2 MiB of weights at this K)
      {GgmlType::kF32, 530, 1100}, {GgmlType::kQ4_K, 70, 1280}, {GgmlType::kQ6_K, 40, 512},
      {GgmlType::kQ8_0, 600, 128}, {GgmlType::kQ4_1, 37, 160}, {GgmlType::kQ5_0, 45, 96},
      {GgmlType::kQ5_1, 21, 64}, {GgmlType::kQ5_K, 50, 768}, {GgmlType::kQ2_K, 33, 512},
      {GgmlType::kQ3_K, 40, 256}, {GgmlType::kIQ4_NL, 35, 160}, {GgmlType::kIQ4_XS, 45, 768},
      // K > 4096 is walked in blocks with partial sums parked in y (a short last block), here
      // over two column blocks (f32) and in whole quantization blocks (Q8_0)
      {GgmlType::kF32, 140, 4200}, {GgmlType::kQ8_0, 40, 4224}};
  // 257 rows: the float kernels run more than 256 in even chunks (128 + 129), one after the other
  ExpectRowsKeepTheirBits(shapes, {"int8", "float"}, {1, 2, 7, 20, 64, 257}, 7);
}

// The float kernels and the VNNI int8 kernels split the rows of x into groups of as even a height
// as they go, with a micro-kernel per height (float: up to 14 rows on AVX-512, 6 on AVX2; int8:
// 14 / 12 for bytes / nibbles, AVX-VNNI 6 / 4): every batch size up to 30 takes every height, alone
// (m <= 14) or beside a taller group, and each row keeps its bits. 72 columns are 5 tiles, the
// last one short: every tile count per call, and the 2-tile tail of the shorter float groups;
// 530 x 1100 has several column blocks, where all float groups but the last fetch the next block
// ahead. The quantized types run on both backends (--kernels float: tallest-first).
TEST(Determinism, MatMulRowsIgnoreBatchAtEveryRowGroupHeight) {
  const ProductShape shapes[] = {
      {GgmlType::kF32, 72, 40}, {GgmlType::kF16, 72, 40}, {GgmlType::kBF16, 72, 40},
      {GgmlType::kQ8_0, 72, 64}, {GgmlType::kQ4_0, 72, 64}, {GgmlType::kQ4_K, 72, 256},
      {GgmlType::kQ5_K, 72, 256}, {GgmlType::kQ2_K, 72, 256},  // bytes with mins
      {GgmlType::kIQ4_XS, 72, 256},
      {GgmlType::kF32, 530, 1100}};
  std::vector<int64_t> batches;
  for (int64_t m = 2; m <= 30; ++m) batches.push_back(m);
  ExpectRowsKeepTheirBits(shapes, {"float", "int8"}, batches, 13);
}

// The weight blocks are sized by the L2 cache (kernels::L2CacheBytes): the f32 blocks of every
// batch of several row groups (m > 14), the int8 column blocks and whether two threads split
// rows. Whatever size a CPU reports, every row keeps the bits it has alone.
TEST(Determinism, MatMulRowsIgnoreTheCacheSizeBlocksAreSizedBy) {
  Restore restore;
  struct ResetL2 {
    ~ResetL2() { kernels::SetL2CacheBytesForTest(0); }
  } reset_l2;
  std::mt19937 rng(11);
  // f32 with 34 tiles of 64 KiB per k block: 2, 8 or 32 tiles per block at m = 330 (of 70 KiB
  // at m = 20: 2, 7 or 29); f32 of 512 KiB: rows split between threads unless the L2 is smaller;
  // Q8_0 and Q4_K: int8 blocks of 4, 7 or 13 tiles (of 13) and 4 or 7 (of 7).
  const struct { GgmlType type; int64_t n, k; } shapes[] = {
      {GgmlType::kF32, 530, 1100}, {GgmlType::kF32, 64, 2048}, {GgmlType::kQ8_0, 200, 4224},
      {GgmlType::kQ4_K, 100, 8192}};
  for (const auto& s : shapes) {
    SCOPED_TRACE(std::string(kernels::TypeName(static_cast<uint32_t>(s.type))) + " n=" +
                 std::to_string(s.n) + " k=" + std::to_string(s.k));
    const int64_t max_m = 330;
    const RandomProduct p = MakeProduct(s.type, s.n, s.k, max_m, rng);
    kernels::SetThreads(1);
    const std::vector<float> alone = RowsAlone(p, max_m);
    for (int64_t l2 : {int64_t{256} << 10, int64_t{1} << 20, int64_t{4} << 20}) {
      kernels::SetL2CacheBytesForTest(l2);
      for (int threads : {1, 2}) {
        kernels::SetThreads(threads);
        for (int64_t m : {1, 20, 330}) {
          std::vector<float> y(static_cast<size_t>(m * s.n));
          kernels::MatMulPacked(p.x.data(), m, p.packed, y.data());
          EXPECT_EQ(std::memcmp(y.data(), alone.data(), y.size() * 4), 0)
              << "l2=" << l2 << " threads=" << threads << " m=" << m;
        }
      }
    }
  }
}

// OpenBLAS (--kernels blas) is opened when asked for, never loaded with the program: a loaded
// OpenBLAS starts worker threads that spin for about 0.1 s of CPU whether or not it is used.
TEST(Blas, OpenedOnlyWhenAsked) {
  Restore restore;
  EXPECT_EQ(dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD), nullptr);
  ASSERT_TRUE(kernels::SetBackend("blas").ok());
  void* handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr);
  if (handle != nullptr) dlclose(handle);
}

// The int8 path (quantized activations) stays close to the exact float contract: its error is
// the activation rounding, well under 1% of the output's scale; a wrong offset, scale, min or
// nibble order would be far off.
TEST(Determinism, Int8MatMulIsCloseToTheFloatContract) {
  Restore restore;
  std::mt19937 rng(11);
  std::normal_distribution<float> val(0.0f, 1.0f);
  const struct { GgmlType type; int64_t n, k; } shapes[] = {
      {GgmlType::kQ8_0, 70, 256}, {GgmlType::kQ4_0, 50, 512}, {GgmlType::kQ4_K, 33, 512},
      {GgmlType::kQ6_K, 40, 256}, {GgmlType::kQ4_1, 30, 256}, {GgmlType::kQ5_0, 41, 256},
      {GgmlType::kQ5_1, 36, 256}, {GgmlType::kQ5_K, 29, 512}, {GgmlType::kQ2_K, 31, 512},
      {GgmlType::kQ3_K, 26, 256}, {GgmlType::kIQ4_NL, 27, 256}, {GgmlType::kIQ4_XS, 38, 512}};
  for (const auto& s : shapes) {
    SCOPED_TRACE(kernels::TypeName(static_cast<uint32_t>(s.type)));
    const auto bytes = RandomWeights(s.type, s.n, s.k, rng);
    const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(s.type));
    const kernels::WeightMatrix w{s.type, bytes.data(), s.n, s.k, s.k / traits.block_size * traits.type_size};
    const int64_t m = 9;
    std::vector<float> x(static_cast<size_t>(m * s.k));
    for (float& v : x) v = val(rng);
    std::vector<float> want(static_cast<size_t>(m * s.n));
    kernels::MatMul(x.data(), m, w, want.data());
    ASSERT_TRUE(kernels::SetBackend("int8").ok());
    const kernels::PackedMatrix packed = kernels::Pack(w);
    const bool vnni =
        kernels::CurrentSimdTarget() == SimdTarget::kAvx512 && kernels::CpuHasVnni();
    const bool crumbs = s.type == GgmlType::kQ2_K && vnni;  // 2 bits
    const bool nibbles = !crumbs && (s.type == GgmlType::kQ4_0 || s.type == GgmlType::kQ4_1 ||
                                     s.type == GgmlType::kQ4_K || s.type == GgmlType::kQ2_K ||
                                     s.type == GgmlType::kQ3_K);  // every other type of <= 4 bits
    const bool levels = s.type == GgmlType::kIQ4_NL || s.type == GgmlType::kIQ4_XS;
    const int planes = s.type == GgmlType::kQ6_K ? (vnni ? 2 : 0)
                       : s.type == GgmlType::kQ5_0 || s.type == GgmlType::kQ5_1 ||
                               s.type == GgmlType::kQ5_K
                           ? 1
                           : 0;  // nibbles and the bits above them
    ASSERT_EQ(packed.format, crumbs                            ? kernels::PanelFormat::kU2Quads
                             : nibbles || levels || planes > 0 ? kernels::PanelFormat::kU4Quads
                                                               : kernels::PanelFormat::kU8Quads);
    ASSERT_EQ(packed.levels, levels);
    ASSERT_EQ(packed.planes, planes);
    for (const Variant& t : Variants()) {
      Select(t);
      std::vector<float> got(want.size());
      kernels::MatMulPacked(x.data(), m, packed, got.data());
      double err = 0, norm = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        err += (got[i] - want[i]) * double(got[i] - want[i]);
        norm += want[i] * double(want[i]);
      }
      EXPECT_LT(std::sqrt(err / norm), 0.01) << t.Name();
      EXPECT_GT(std::sqrt(err / norm), 0.0) << "activations were not quantized";
    }
  }
}

uint64_t Hash(const std::vector<float>& v) {  // FNV-1a over the bits
  uint64_t h = 1469598103934665603ull;
  for (float f : v) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    for (int i = 0; i < 4; ++i) h = (h ^ ((b >> (8 * i)) & 0xFF)) * 1099511628211ull;
  }
  return h;
}

// One request's logits equal, bit for bit, its logits inside batches of 1-15 other requests of
// different lengths.
// Attention: for every mode, grouped-query layout and awkward length, each query's output has the
// same bits on every target and thread count, alone as inside the whole batch of queries, and with
// the keys read from a KV cache's panels as from rows, and stays within float rounding of a
// float64 evaluation.
// The packed int8 weights keep each block's scale as ggml forms it, a half-precision sub-scale
// under a float super-scale, not a float per block: bits per weight in memory, file's in comments.
TEST(Packed, QuantizedWeightsTakeFewBitsPerWeight) {
  Restore restore;
  std::mt19937 rng(5);
  const struct { GgmlType type; double bits; } want[] = {
      {GgmlType::kQ4_0, 4.5},   // 4.5
      {GgmlType::kQ4_1, 5.0},   // 5
      {GgmlType::kQ8_0, 8.5},   // 8.5
      {GgmlType::kQ5_0, 5.5},   // 5.5: 5-bit values as nibbles and a bit plane
      {GgmlType::kQ5_1, 6.0},   // 6
      {GgmlType::kQ2_K, 3.25},  // 2.625: 2-bit values as crumbs (AVX-512 VNNI; else nibbles, 5.25)
      {GgmlType::kQ3_K, 4.625}, // 3.4375
      {GgmlType::kQ4_K, 4.75},  // 4.5
      {GgmlType::kQ5_K, 5.75},  // 5.5
      {GgmlType::kQ6_K, 6.625}, // 6.5625: two bit planes (AVX-512 VNNI; else bytes, 8.625)
      {GgmlType::kIQ4_NL, 4.5}, // 4.5: nibbles of level indices
      {GgmlType::kIQ4_XS, 4.375}, // 4.25
  };
  const int64_t n = 64, k = 4096;
  ASSERT_TRUE(kernels::SetBackend("int8").ok());
  for (const auto& c : want) {
    SCOPED_TRACE(kernels::TypeName(static_cast<uint32_t>(c.type)));
    const auto bytes = RandomWeights(c.type, n, k, rng);
    const auto traits = *kernels::TraitsOf(static_cast<uint32_t>(c.type));
    const int64_t row_bytes = k / traits.block_size * traits.type_size;
    const kernels::PackedMatrix packed = kernels::Pack({c.type, bytes.data(), n, k, row_bytes});
    // one super-scale (and one super-min) per column for the legacy types: 32 (64) bits over 4096;
    // the K types' sub-scales (and sub-mins) 8 bits per block, their supers 32 per 256 values
    const bool vnni =
        kernels::CurrentSimdTarget() == SimdTarget::kAvx512 && kernels::CpuHasVnni();
    const double bits = vnni ? c.bits
                        : c.type == GgmlType::kQ6_K ? 8.625  // bytes without VNNI
                        : c.type == GgmlType::kQ2_K ? 5.25   // nibbles
                                                    : c.bits;
    EXPECT_NEAR(static_cast<double>(packed.bytes()) * 8 / (n * k), bits, 0.02);
  }
}

TEST(Determinism, AttentionRowsIgnoreBatchThreadsAndTarget) {
  Restore restore;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> val(-2.0f, 2.0f);
  struct Shape { int64_t n_q, n_kv, n_head, n_head_kv, head_dim; kernels::AttentionMode mode; int64_t block; };
  const Shape shapes[] = {
      {1, 1, 2, 2, 16, kernels::AttentionMode::kBidirectional, 0},
      {7, 37, 4, 2, 32, kernels::AttentionMode::kBidirectional, 0},
      {33, 33, 2, 1, 64, kernels::AttentionMode::kCausal, 0},
      {5, 70, 4, 4, 64, kernels::AttentionMode::kCausal, 0},     // KV cache: 65 cached + 5 new
      {40, 40, 3, 3, 48, kernels::AttentionMode::kBlockCausal, 8},
      {9, 100, 2, 2, 24, kernels::AttentionMode::kBidirectional, 0},  // not whole vectors: scalar body
      {3, 131, 4, 1, 128, kernels::AttentionMode::kCausal, 0},  // 9 key panels, the last one short
  };
  for (const Shape& sh : shapes) {
    SCOPED_TRACE(::testing::Message() << "n_q " << sh.n_q << " n_kv " << sh.n_kv << " hd " << sh.head_dim);
    const int64_t qs = sh.n_head * sh.head_dim, ks = sh.n_head_kv * sh.head_dim;
    std::vector<float> q(sh.n_q * qs), k(sh.n_kv * ks), v(sh.n_kv * ks);
    for (auto* x : {&q, &k, &v})
      for (float& f : *x) f = val(rng);
    std::vector<int32_t> qpos(sh.n_q), kpos(sh.n_kv);
    for (int64_t j = 0; j < sh.n_kv; ++j) kpos[j] = static_cast<int32_t>(j);
    for (int64_t i = 0; i < sh.n_q; ++i) qpos[i] = static_cast<int32_t>(sh.n_kv - sh.n_q + i);
    // The keys as a KV cache keeps them: panels with room for more keys than n_kv, stored a few
    // rows at a time; the unused keys are NaN (never read unmasked).
    const int64_t panel = kernels::kKeyPanel;
    const int64_t panel_keys = (sh.n_kv + 20 + panel - 1) / panel * panel;
    std::vector<float> panels(static_cast<size_t>(panel_keys * ks), std::nanf(""));
    for (int64_t j = 0; j < sh.n_kv; j += 5) {
      kernels::StoreKeyPanels(k.data() + j * ks, std::min<int64_t>(5, sh.n_kv - j), ks, j,
                              sh.n_head_kv, sh.head_dim, panel_keys, panels.data());
    }
    auto run = [&](int64_t first, int64_t count, bool from_panels = false) {
      kernels::AttentionArgs a;
      a.q = q.data() + first * qs;
      a.n_q = count;
      a.q_stride = qs;
      a.q_pos = qpos.data() + first;
      if (from_panels) {
        a.k_panels = panels.data();
        a.k_panel_keys = panel_keys;
      } else {
        a.k = k.data();
      }
      a.v = v.data();
      a.n_kv = sh.n_kv;
      a.kv_stride = ks;
      a.k_pos = kpos.data();
      a.n_head = sh.n_head;
      a.n_head_kv = sh.n_head_kv;
      a.head_dim = sh.head_dim;
      a.mode = sh.mode;
      a.block_size = sh.block;
      std::vector<float> out(count * qs, -1.0f);
      a.out = out.data();
      a.out_stride = qs;
      kernels::Attention(a);
      return out;
    };
    ASSERT_TRUE(kernels::SetSimdTarget("scalar").ok());
    kernels::SetThreads(1);
    const std::vector<float> want = run(0, sh.n_q);
    // float64 evaluation of the definition
    for (int64_t i = 0; i < sh.n_q; ++i)
      for (int64_t h = 0; h < sh.n_head; ++h) {
        const int64_t g = h / (sh.n_head / sh.n_head_kv);
        std::vector<double> s(sh.n_kv, -1e300);
        double mx = -1e300;
        for (int64_t j = 0; j < sh.n_kv; ++j) {
          const bool vis = sh.mode == kernels::AttentionMode::kBidirectional ||
                           (sh.mode == kernels::AttentionMode::kCausal ? kpos[j] <= qpos[i]
                                                                        : kpos[j] / sh.block <= qpos[i] / sh.block);
          if (!vis) continue;
          double dot = 0;
          for (int64_t d = 0; d < sh.head_dim; ++d)
            dot += double(q[i * qs + h * sh.head_dim + d]) * k[j * ks + g * sh.head_dim + d];
          s[j] = dot / std::sqrt(double(sh.head_dim));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < sh.n_kv; ++j) sum += s[j] > -1e299 ? std::exp(s[j] - mx) : 0.0;
        for (int64_t d = 0; d < sh.head_dim; ++d) {
          double o = 0;
          for (int64_t j = 0; j < sh.n_kv; ++j)
            if (s[j] > -1e299) o += std::exp(s[j] - mx) / sum * v[j * ks + g * sh.head_dim + d];
          ASSERT_NEAR(want[i * qs + h * sh.head_dim + d], o, 1e-5) << "query " << i << " head " << h;
        }
      }
    for (SimdTarget t : Targets()) {
      ASSERT_TRUE(kernels::SetSimdTarget(kernels::SimdTargetName(t)).ok());
      for (int threads : {1, 2}) {
        kernels::SetThreads(threads);
        EXPECT_EQ(run(0, sh.n_q), want) << kernels::SimdTargetName(t) << ", threads " << threads;
        EXPECT_EQ(run(0, sh.n_q, true), want) << kernels::SimdTargetName(t) << ": keys from panels";
        const int64_t i = sh.n_q / 2;  // one query alone
        const std::vector<float> alone = run(i, 1);
        EXPECT_TRUE(std::equal(alone.begin(), alone.end(), want.begin() + i * qs))
            << kernels::SimdTargetName(t) << ": query alone differs from the batch";
      }
    }
  }
}

TEST(Determinism, LogitsIgnoreBatchMates) {
  SCULPT_REQUIRE_REFERENCE(ref);
  Restore restore;
  std::mt19937 rng(11);
  for (const char* model : {"llada-tiny.gguf", "llada-tiny.q8_0.gguf", "dream-tiny.gguf",
                            "llama-tiny.q4_k.gguf", "qwen2-tiny.gguf"}) {
    SCOPED_TRACE(model);
    auto engine = Engine::Load((ref / "models" / model).string(), {.threads = 2});
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::uniform_int_distribution<int> tok(0, 505), len(1, 40);
    std::vector<int32_t> request(23);
    for (auto& t : request) t = tok(rng);
    const auto alone = (*(*engine)->AllLogits({request}))[0];
    for (int mates : {1, 3, 8, 15}) {
      std::vector<std::vector<int32_t>> batch;
      for (int i = 0; i < mates; ++i) {
        std::vector<int32_t> other(static_cast<size_t>(len(rng)));
        for (auto& t : other) t = tok(rng);
        batch.push_back(std::move(other));
      }
      const size_t where = static_cast<size_t>(mates / 2);
      batch.insert(batch.begin() + static_cast<long>(where), request);
      const auto all = *(*engine)->AllLogits(batch);
      EXPECT_EQ(Hash(all[where]), Hash(alone)) << mates << " batch mates";
    }
  }
}

// Whole generations (diffusion and autoregressive): identical ids and logits across thread counts
// and SIMD targets.
TEST(Determinism, GenerationsIgnoreThreadsAndTarget) {
  SCULPT_REQUIRE_REFERENCE(ref);
  Restore restore;
  for (const char* model : {"llada-tiny.gguf", "dream-tiny.gguf", "llama-tiny.gguf"}) {
    SCOPED_TRACE(model);
    auto engine = Engine::Load((ref / "models" / model).string(), {.threads = 1});
    ASSERT_TRUE(engine.ok());
    GenerateRequest req;
    req.prompt_tokens = {100, 200, 300, 400, 50};
    req.options.n_generate = 16;
    req.options.steps = 8;
    req.options.sampler.temperature = 0.7;
    req.options.seed = 3;
    req.options.early_stop = false;
    std::vector<int32_t> first_ids;
    uint64_t first_hash = 0;
    for (SimdTarget t : Targets()) {
      ASSERT_TRUE(SetSimd(kernels::SimdTargetName(t)).ok());
      for (int threads : {1, 2}) {
        SetThreads(threads);
        auto r = (*engine)->Generate(req);
        ASSERT_TRUE(r.ok()) << r.status().message();
        std::vector<int32_t> seq = r->prompt_ids;
        seq.insert(seq.end(), r->result.ids.begin(), r->result.ids.end());
        const uint64_t h = Hash((*(*engine)->AllLogits({seq}))[0]);
        if (first_ids.empty()) {
          first_ids = r->result.ids;
          first_hash = h;
        }
        EXPECT_EQ(r->result.ids, first_ids) << kernels::SimdTargetName(t) << " threads=" << threads;
        EXPECT_EQ(h, first_hash) << kernels::SimdTargetName(t) << " threads=" << threads;
      }
    }
  }
}

}  // namespace
}  // namespace sculpt
