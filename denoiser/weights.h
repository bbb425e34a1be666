// Named weight tensors of a model, bound to the mapped GGUF file and validated against the
// ModelConfig. Matrices stay in their file layout (the kernels read ggml blocks); 1-D tensors
// (norms, biases) are converted to float once at load.
#pragma once

#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "denoiser/gguf/gguf.h"
#include "denoiser/model_config.h"
#include "kernels/kernels.h"
#include "kernels/packed.h"

namespace sculpt {

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  kernels::WeightMatrix wq;      // [n_head * head_dim, n_embd]
  kernels::WeightMatrix wk;      // [n_head_kv * head_dim, n_embd]
  kernels::WeightMatrix wv;      // [n_head_kv * head_dim, n_embd]
  std::vector<float> bq, bk, bv;  // [rows of wq / wk / wv], empty when the model has none
  kernels::WeightMatrix wo;      // [n_embd, n_head * head_dim]
  std::vector<float> ffn_norm;   // [n_embd]
  kernels::WeightMatrix w_gate;  // [n_ff, n_embd]
  kernels::WeightMatrix w_up;    // [n_ff, n_embd]
  kernels::WeightMatrix w_down;  // [n_embd, n_ff]
};

struct Weights {
  kernels::WeightMatrix token_embd;  // [n_vocab, n_embd]
  std::vector<LayerWeights> layers;  // [n_layer]
  std::vector<float> output_norm;    // [n_embd]
  kernels::WeightMatrix output;      // [n_vocab, n_embd]; token_embd when tied
  std::vector<float> output_bias;    // [n_vocab] or empty
  bool tied_output = false;
};

StatusOr<Weights> BindWeights(const gguf::File& file, const ModelConfig& config);

// The matrices packed into kernel panels (kernels/packed.h), done once at load.
struct PackedLayer {
  kernels::PackedMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};
struct PackedWeights {
  std::vector<PackedLayer> layers;  // [n_layer]
  kernels::PackedMatrix output;     // [n_vocab, n_embd]
  size_t bytes = 0;
};
// `progress` gets (matrices done, matrices total).
PackedWeights PackWeights(const Weights& w, const ProgressFn& progress);

}  // namespace sculpt
