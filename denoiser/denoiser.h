// The denoiser: one transformer implementation for every registered architecture, run over a
// batch of sequences in one call. It knows nothing of schedules, samplers or text.
//
// Logits convention: Forward() returns the model's raw per-position logits, row i being the
// LM-head output at token i, never shifted. Dream-style models (shift_logits) predict the token
// at position p from row p-1; ModelConfig::LogitsRowFor() maps a position to the row to request.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/aligned.h"
#include "base/progress.h"
#include "base/status.h"
#include "denoiser/gguf/gguf.h"
#include "denoiser/kv_cache.h"
#include "denoiser/model_config.h"
#include "denoiser/weights.h"
#include "kernels/kernels.h"

namespace sculpt {

using kernels::AttentionMode;

// Threads used by the forward pass (0 = all hardware threads). Results do not depend on it.
void SetThreads(int threads);
// SIMD target of the kernels: "best", "avx512", "avx2" or "scalar". Results do not depend on it.
Status SetSimd(std::string_view name);
std::string_view CurrentSimd();
// Matrix-product backend for models loaded afterwards: "int8" (default; quantized weights times
// int8-quantized activations), "float" (quantized weights expanded to float) — both deterministic —
// or "blas" (OpenBLAS on f32 copies; for speed comparisons, not batch- or thread-invariant).
Status SetKernels(std::string_view name);

struct SequenceInput {
  std::span<const int32_t> tokens;     // [n], ids in [0, n_vocab)
  std::span<const int32_t> positions;  // [n]; empty => cache size + i
  AttentionMode attention = AttentionMode::kBidirectional;
  int64_t block_size = 0;              // kBlockCausal only
  int64_t block_origin = 0;            // kBlockCausal: where block 0 starts (earlier positions: one block)
  std::span<const int32_t> logit_rows; // indices into tokens whose logits are wanted, any order
  // When set, the sequence's keys/values are appended to this cache and its queries also attend
  // to the cached rows (prefill, then incremental decoding).
  KVCache* cache = nullptr;
  // With a cache: >= 0 writes the new rows over cached rows [cache_overwrite, + n) instead of
  // appending them, and the queries attend to every cached row in order (the dual cache of the
  // refinement loop recomputes a block in the middle of a cached canvas).
  int64_t cache_overwrite = -1;
};

// Logits of the requested rows, in batch order then in logit_rows order. [rows, n_vocab]
struct Logits {
  int64_t rows = 0;
  int64_t n_vocab = 0;
  std::vector<float> data;
  const float* row(int64_t i) const { return data.data() + i * n_vocab; }
};

struct LoadOptions {
  ProgressFn progress;  // optional: ("packing", matrices done, total)
};

// What runs a batch through the model for the refinement and decoding loops: the denoiser itself,
// or a batcher that merges the calls of concurrent requests into one batch (engine/batcher.h).
class ForwardRunner {
 public:
  virtual ~ForwardRunner() = default;
  virtual Status Forward(std::span<const SequenceInput> batch, Logits* out) = 0;
};

class Denoiser : public ForwardRunner {
 public:
  static StatusOr<std::unique_ptr<Denoiser>> Load(const std::string& path,
                                                  const LoadOptions& options = {});
  // Builds a denoiser over an already parsed file (which it keeps alive).
  static StatusOr<std::unique_ptr<Denoiser>> FromFile(gguf::File file,
                                                      const LoadOptions& options = {});

  const ModelConfig& config() const { return config_; }
  const gguf::File& file() const { return file_; }
  const Weights& weights() const { return weights_; }
  size_t packed_bytes() const { return packed_.bytes; }

  // A cache able to hold `capacity` tokens of one sequence.
  KVCache NewCache(int64_t capacity) const;

  // Runs every sequence as one batch. Not thread-safe: one caller at a time.
  Status Forward(std::span<const SequenceInput> batch, Logits* out) override;

 private:
  Denoiser(gguf::File file, ModelConfig config, Weights weights, PackedWeights packed);
  Status Validate(std::span<const SequenceInput> batch) const;
  void Layer(int64_t il, std::span<const SequenceInput> batch);
  void AttentionForBatch(int64_t il, std::span<const SequenceInput> batch);

  gguf::File file_;
  ModelConfig config_;
  Weights weights_;        // validated views into the file (embedding lookup reads them)
  PackedWeights packed_;   // what the matrix products read

  // Activations, grown to the largest batch seen and reused (STYLE.md rule 7). T = total tokens.
  struct Activations {
    int64_t n_tokens = 0;
    std::vector<int32_t> tokens;     // [T]
    std::vector<int32_t> positions;  // [T]
    std::vector<int64_t> seq_begin;  // [n_seq] first row of each sequence
    AlignedBuffer<float> x;          // [T, n_embd] residual stream
    AlignedBuffer<float> h;          // [T, n_embd] normed input of a block
    AlignedBuffer<float> q;          // [T, n_head * head_dim]
    AlignedBuffer<float> k;          // [T, n_head_kv * head_dim]
    AlignedBuffer<float> v;          // [T, n_head_kv * head_dim]
    AlignedBuffer<float> attn;       // [T, n_head * head_dim]
    AlignedBuffer<float> gate;       // [T, n_ff]
    AlignedBuffer<float> up;         // [T, n_ff]
    AlignedBuffer<float> proj;       // [T, n_embd] output of attn_output / ffn_down
    AlignedBuffer<float> rope;       // [T, rope_dim / 2, 2] cos/sin
    AlignedBuffer<float> out_rows;   // [R, n_embd] final hidden rows whose logits are wanted
  } act_;
};

}  // namespace sculpt
