#include "denoiser/weights.h"

#include <string>

namespace sculpt {

namespace {

std::string Shape(const gguf::TensorInfo& t) {
  std::string s = "{";
  for (int d = 0; d < t.n_dims; ++d) s += (d ? ", " : "") + std::to_string(t.ne[d]);
  return s + "}";
}

// Finds a tensor and checks its shape (ggml order {cols, rows} for matrices, {n} for vectors).
StatusOr<const gguf::TensorInfo*> Find(const gguf::File& f, const std::string& name,
                                       std::initializer_list<int64_t> shape, bool required) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) {
    if (required) return NotFound("missing tensor '{}'", name);
    return static_cast<const gguf::TensorInfo*>(nullptr);
  }
  bool match = t->n_dims == static_cast<int>(shape.size());
  int d = 0;
  for (int64_t want : shape) match = match && t->ne[d++] == want;
  if (!match) {
    std::string want = "{";
    d = 0;
    for (int64_t x : shape) want += (d++ ? ", " : "") + std::to_string(x);
    return DataLoss("tensor '{}' has shape {}, expected {}", name, Shape(*t), want + "}");
  }
  return t;
}

StatusOr<kernels::WeightMatrix> Matrix(const gguf::File& f, const std::string& name, int64_t rows,
                                       int64_t cols, bool required = true) {
  SCULPT_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(f, name, {cols, rows}, required));
  if (!t) return kernels::WeightMatrix{};
  const auto traits = kernels::TraitsOf(t->type_id);
  if (!traits->matmul_supported) {
    return Unimplemented("tensor '{}' has type {}, which Sculpt cannot multiply yet (supported: "
                         "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, "
                         "Q6_K, IQ4_NL, IQ4_XS)", name, traits->name);
  }
  return kernels::WeightMatrix{t->type, t->data, rows, cols,
                               cols / traits->block_size * traits->type_size};
}

StatusOr<std::vector<float>> Vector(const gguf::File& f, const std::string& name, int64_t n,
                                    bool required = true) {
  SCULPT_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(f, name, {n}, required));
  std::vector<float> out;
  if (!t) return out;
  if (!kernels::TraitsOf(t->type_id)->matmul_supported) {
    return Unimplemented("tensor '{}' has type {}, expected a float type", name,
                         kernels::TypeName(t->type_id));
  }
  out.resize(static_cast<size_t>(n));
  kernels::Dequantize(t->type, t->data, n, out.data());
  return out;
}

}  // namespace

StatusOr<Weights> BindWeights(const gguf::File& f, const ModelConfig& c) {
  Weights w;
  const int64_t q_dim = c.n_head * c.head_dim, kv_dim = c.n_head_kv * c.head_dim;
  SCULPT_ASSIGN_OR_RETURN(w.token_embd, Matrix(f, "token_embd.weight", c.n_vocab, c.n_embd));
  w.layers.resize(static_cast<size_t>(c.n_layer));
  const TensorNeed bias = c.arch->qkv_bias;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string b = "blk." + std::to_string(i) + ".";
    SCULPT_ASSIGN_OR_RETURN(l.attn_norm, Vector(f, b + "attn_norm.weight", c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.wq, Matrix(f, b + "attn_q.weight", q_dim, c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.wk, Matrix(f, b + "attn_k.weight", kv_dim, c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.wv, Matrix(f, b + "attn_v.weight", kv_dim, c.n_embd));
    if (bias != TensorNeed::kAbsent) {
      const bool req = bias == TensorNeed::kRequired;
      SCULPT_ASSIGN_OR_RETURN(l.bq, Vector(f, b + "attn_q.bias", q_dim, req));
      SCULPT_ASSIGN_OR_RETURN(l.bk, Vector(f, b + "attn_k.bias", kv_dim, req));
      SCULPT_ASSIGN_OR_RETURN(l.bv, Vector(f, b + "attn_v.bias", kv_dim, req));
    }
    SCULPT_ASSIGN_OR_RETURN(l.wo, Matrix(f, b + "attn_output.weight", c.n_embd, q_dim));
    SCULPT_ASSIGN_OR_RETURN(l.ffn_norm, Vector(f, b + "ffn_norm.weight", c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.w_gate, Matrix(f, b + "ffn_gate.weight", c.n_ff, c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.w_up, Matrix(f, b + "ffn_up.weight", c.n_ff, c.n_embd));
    SCULPT_ASSIGN_OR_RETURN(l.w_down, Matrix(f, b + "ffn_down.weight", c.n_embd, c.n_ff));
  }
  SCULPT_ASSIGN_OR_RETURN(w.output_norm, Vector(f, "output_norm.weight", c.n_embd));
  SCULPT_ASSIGN_OR_RETURN(w.output, Matrix(f, "output.weight", c.n_vocab, c.n_embd,
                                           /*required=*/false));
  if (w.output.data == nullptr) {
    w.output = w.token_embd;
    w.tied_output = true;
  }
  if (c.arch->output_bias != TensorNeed::kAbsent) {
    SCULPT_ASSIGN_OR_RETURN(w.output_bias, Vector(f, "output.bias", c.n_vocab,
                                                  c.arch->output_bias == TensorNeed::kRequired));
  }
  return w;
}

PackedWeights PackWeights(const Weights& w, const ProgressFn& progress) {
  PackedWeights p;
  const uint64_t total = w.layers.size() * 7 + 1;
  uint64_t done = 0;
  auto pack = [&](const kernels::WeightMatrix& m) {
    kernels::PackedMatrix packed = kernels::Pack(m);
    p.bytes += packed.bytes();
    if (progress) progress("packing", ++done, total);
    return packed;
  };
  p.layers.resize(w.layers.size());
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    PackedLayer& q = p.layers[i];
    q.wq = pack(l.wq);
    q.wk = pack(l.wk);
    q.wv = pack(l.wv);
    q.wo = pack(l.wo);
    q.w_gate = pack(l.w_gate);
    q.w_up = pack(l.w_up);
    q.w_down = pack(l.w_down);
  }
  p.output = pack(w.output);
  return p;
}

}  // namespace sculpt
