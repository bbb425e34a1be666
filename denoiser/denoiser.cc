#include "denoiser/denoiser.h"

#include "kernels/simd.h"

#include <algorithm>
#include <cstring>
#include <thread>

namespace sculpt {

Status SetSimd(std::string_view name) { return kernels::SetSimdTarget(name); }
Status SetKernels(std::string_view name) { return kernels::SetBackend(name); }
std::string_view CurrentSimd() { return kernels::SimdTargetName(kernels::CurrentSimdTarget()); }

void SetThreads(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  kernels::SetThreads(threads);
}

// Every matrix product goes through the packed panels.
inline void MatMul(const float* x, int64_t m, const kernels::PackedMatrix& w, float* y) {
  kernels::MatMulPacked(x, m, w, y);
}

StatusOr<std::unique_ptr<Denoiser>> Denoiser::Load(const std::string& path,
                                                   const LoadOptions& options) {
  SCULPT_ASSIGN_OR_RETURN(gguf::File file, gguf::File::Open(path));
  auto d = FromFile(std::move(file), options);
  if (!d.ok()) return Status(d.status().code(), path + ": " + d.status().message());
  return d;
}

StatusOr<std::unique_ptr<Denoiser>> Denoiser::FromFile(gguf::File file,
                                                       const LoadOptions& options) {
  SCULPT_ASSIGN_OR_RETURN(ModelConfig config, ReadModelConfig(file));
  SCULPT_ASSIGN_OR_RETURN(Weights weights, BindWeights(file, config));
  PackedWeights packed = PackWeights(weights, options.progress);
  return std::unique_ptr<Denoiser>(new Denoiser(std::move(file), std::move(config),
                                                std::move(weights), std::move(packed)));
}

Denoiser::Denoiser(gguf::File file, ModelConfig config, Weights weights, PackedWeights packed)
    : file_(std::move(file)), config_(std::move(config)), weights_(std::move(weights)),
      packed_(std::move(packed)) {}

KVCache Denoiser::NewCache(int64_t capacity) const {
  return KVCache(config_.n_layer, capacity, config_.n_head_kv, config_.head_dim);
}

Status Denoiser::Validate(std::span<const SequenceInput> batch) const {
  if (batch.empty()) return InvalidArgument("empty batch: no sequence to run");
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& in = batch[s];
    const auto n = static_cast<int64_t>(in.tokens.size());
    if (n == 0) return InvalidArgument("sequence {} has no tokens", s);
    for (int32_t t : in.tokens) {
      if (t < 0 || t >= config_.n_vocab) {
        return OutOfRange("token id {} in sequence {} is outside the vocabulary [0, {})", t, s,
                          config_.n_vocab);
      }
    }
    if (!in.positions.empty() && static_cast<int64_t>(in.positions.size()) != n) {
      return InvalidArgument("sequence {}: {} positions for {} tokens", s, in.positions.size(), n);
    }
    for (int32_t p : in.positions) {
      if (p < 0) return InvalidArgument("sequence {}: negative position {}", s, p);
    }
    for (int32_t r : in.logit_rows) {
      if (r < 0 || r >= n) {
        return OutOfRange("sequence {}: logits row {} is outside [0, {})", s, r, n);
      }
    }
    if (in.attention == AttentionMode::kBlockCausal && in.block_size <= 0) {
      return InvalidArgument("sequence {}: block-causal attention needs a block size > 0", s);
    }
    if (in.cache) {
      if (in.cache->kv_dim() != config_.n_head_kv * config_.head_dim) {
        return InvalidArgument("sequence {}: KV cache was made for another model", s);
      }
      if (in.cache_overwrite >= 0 && in.cache_overwrite + n > in.cache->size()) {
        return OutOfRange("sequence {}: overwriting cached rows [{}, {}) of {}", s, in.cache_overwrite,
                          in.cache_overwrite + n, in.cache->size());
      }
      if (in.cache_overwrite < 0 && in.cache->size() + n > in.cache->capacity()) {
        return OutOfRange("sequence {}: {} cached + {} new tokens exceed the cache capacity {}", s,
                          in.cache->size(), n, in.cache->capacity());
      }
    }
  }
  return Status::Ok();
}

Status Denoiser::Forward(std::span<const SequenceInput> batch, Logits* out) {
  SCULPT_RETURN_IF_ERROR(Validate(batch));
  const ModelConfig& c = config_;
  Activations& a = act_;

  // Concatenate the sequences into one [T, *] batch.
  a.tokens.clear();
  a.positions.clear();
  a.seq_begin.clear();
  int64_t n_rows = 0;
  for (const SequenceInput& in : batch) {
    a.seq_begin.push_back(static_cast<int64_t>(a.tokens.size()));
    const int64_t base = !in.cache ? 0 : in.cache_overwrite >= 0 ? in.cache_overwrite : in.cache->size();
    for (size_t i = 0; i < in.tokens.size(); ++i) {
      a.tokens.push_back(in.tokens[i]);
      a.positions.push_back(in.positions.empty() ? static_cast<int32_t>(base + i)
                                                 : in.positions[i]);
    }
    n_rows += static_cast<int64_t>(in.logit_rows.size());
  }
  const int64_t T = a.n_tokens = static_cast<int64_t>(a.tokens.size());
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  for (auto [buf, cols] : std::initializer_list<std::pair<AlignedBuffer<float>*, int64_t>>{
           {&a.x, c.n_embd}, {&a.h, c.n_embd}, {&a.q, q_dim}, {&a.k, kv_dim}, {&a.v, kv_dim},
           {&a.attn, q_dim}, {&a.gate, c.n_ff}, {&a.up, c.n_ff}, {&a.proj, c.n_embd},
           {&a.rope, c.rope_dim}}) {
    buf->Reserve(static_cast<size_t>(T * cols));
  }

  kernels::EmbeddingLookup(weights_.token_embd, a.tokens.data(), T, a.x.data());
  kernels::RopeTable(a.positions.data(), T, c.rope_dim, c.rope_base, a.rope.data());
  for (int64_t il = 0; il < c.n_layer; ++il) Layer(il, batch);
  for (const SequenceInput& in : batch) {
    if (in.cache && in.cache_overwrite < 0) in.cache->Commit(static_cast<int64_t>(in.tokens.size()));
  }

  // Final norm and vocabulary projection, only for the rows asked for.
  a.out_rows.Reserve(static_cast<size_t>(std::max<int64_t>(n_rows, 1) * c.n_embd));
  int64_t r = 0;
  for (size_t s = 0; s < batch.size(); ++s) {
    for (int32_t row : batch[s].logit_rows) {
      std::memcpy(a.out_rows.data() + r++ * c.n_embd, a.x.data() + (a.seq_begin[s] + row) * c.n_embd,
                  sizeof(float) * c.n_embd);
    }
  }
  kernels::RmsNorm(a.out_rows.data(), weights_.output_norm.data(), n_rows, c.n_embd, c.rms_eps,
                   a.out_rows.data());
  out->rows = n_rows;
  out->n_vocab = c.n_vocab;
  out->data.resize(static_cast<size_t>(n_rows * c.n_vocab));
  MatMul(a.out_rows.data(), n_rows, packed_.output, out->data.data());
  if (!weights_.output_bias.empty()) {
    kernels::AddBias(out->data.data(), n_rows, c.n_vocab, weights_.output_bias.data());
  }
  return Status::Ok();
}

// One transformer block over the whole batch: pre-norm attention and SwiGLU FFN, each with a
// residual connection (the same for every registered architecture).
void Denoiser::Layer(int64_t il, std::span<const SequenceInput> batch) {
  const ModelConfig& c = config_;
  const LayerWeights& w = weights_.layers[il];  // norms and biases
  const PackedLayer& p = packed_.layers[il];    // matrices
  Activations& a = act_;
  const int64_t T = a.n_tokens;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;

  kernels::RmsNorm(a.x.data(), w.attn_norm.data(), T, c.n_embd, c.rms_eps, a.h.data());
  MatMul(a.h.data(), T, p.wq, a.q.data());
  MatMul(a.h.data(), T, p.wk, a.k.data());
  MatMul(a.h.data(), T, p.wv, a.v.data());
  if (!w.bq.empty()) kernels::AddBias(a.q.data(), T, q_dim, w.bq.data());
  if (!w.bk.empty()) kernels::AddBias(a.k.data(), T, kv_dim, w.bk.data());
  if (!w.bv.empty()) kernels::AddBias(a.v.data(), T, kv_dim, w.bv.data());
  kernels::ApplyRope(a.q.data(), T, q_dim, c.n_head, c.head_dim, c.rope_dim, c.arch->rope,
                     a.rope.data());
  kernels::ApplyRope(a.k.data(), T, kv_dim, c.n_head_kv, c.head_dim, c.rope_dim, c.arch->rope,
                     a.rope.data());
  AttentionForBatch(il, batch);
  MatMul(a.attn.data(), T, p.wo, a.proj.data());
  kernels::AddInPlace(a.x.data(), a.proj.data(), T * c.n_embd);

  kernels::RmsNorm(a.x.data(), w.ffn_norm.data(), T, c.n_embd, c.rms_eps, a.h.data());
  MatMul(a.h.data(), T, p.w_gate, a.gate.data());
  MatMul(a.h.data(), T, p.w_up, a.up.data());
  kernels::SwiGlu(a.gate.data(), a.up.data(), T * c.n_ff, a.gate.data());
  MatMul(a.gate.data(), T, p.w_down, a.proj.data());
  kernels::AddInPlace(a.x.data(), a.proj.data(), T * c.n_embd);
}

// Attention of each sequence over its own keys: the cached rows (if any) followed by its new rows.
void Denoiser::AttentionForBatch(int64_t il, std::span<const SequenceInput> batch) {
  const ModelConfig& c = config_;
  Activations& a = act_;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceInput& in = batch[s];
    const int64_t b = a.seq_begin[s], n = static_cast<int64_t>(in.tokens.size());
    kernels::AttentionArgs args;
    args.q = a.q.data() + b * q_dim;
    args.n_q = n;
    args.q_stride = q_dim;
    args.q_pos = a.positions.data() + b;
    if (in.cache) {
      KVCache& cache = *in.cache;
      const int64_t base = in.cache_overwrite >= 0 ? in.cache_overwrite : cache.size();
      cache.Store(il, base, a.k.data() + b * kv_dim, a.v.data() + b * kv_dim, n);
      std::memcpy(cache.positions() + base, a.positions.data() + b, sizeof(int32_t) * n);
      args.k_panels = cache.key_panels(il);
      args.k_panel_keys = cache.panel_keys();
      args.v = cache.v(il, 0);
      args.n_kv = in.cache_overwrite >= 0 ? cache.size() : base + n;
      args.k_pos = cache.positions();
    } else {
      args.k = a.k.data() + b * kv_dim;
      args.v = a.v.data() + b * kv_dim;
      args.n_kv = n;
      args.k_pos = a.positions.data() + b;
    }
    args.kv_stride = kv_dim;
    args.n_head = c.n_head;
    args.n_head_kv = c.n_head_kv;
    args.head_dim = c.head_dim;
    args.mode = in.attention;
    args.block_size = in.block_size;
    args.block_origin = in.block_origin;
    args.out = a.attn.data() + b * q_dim;
    args.out_stride = q_dim;
    kernels::Attention(args);
  }
}

}  // namespace sculpt
