// ModelConfig: the hyperparameters and special ids of a model, read once from GGUF metadata and
// validated; immutable afterwards (STYLE.md rule 3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "denoiser/arch/arch.h"
#include "denoiser/gguf/gguf.h"

namespace sculpt {

struct ModelConfig {
  const ArchTraits* arch = nullptr;
  std::string name;  // general.name, or the architecture

  int64_t n_vocab = 0;      // rows of token_embd
  int64_t n_ctx_train = 0;  // <arch>.context_length
  int64_t n_embd = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // <arch>.attention.key_length, default n_embd / n_head
  int64_t n_ff = 0;
  int64_t rope_dim = 0;  // <arch>.rope.dimension_count, default head_dim
  double rope_base = 10000.0;
  float rms_eps = 1e-5f;

  bool causal = false;        // native attention mode (see ArchTraits::causal)
  bool diffusion = false;     // masked-diffusion denoiser
  // diffusion.shift_logits: when true, position p is predicted by logits row p-1 (row 0 for
  // p = 0). Forward() never shifts; use LogitsRowFor().
  bool shift_logits = false;

  // Special token ids, -1 when absent.
  int32_t bos_id = -1;
  int32_t eos_id = -1;
  int32_t eot_id = -1;
  int32_t mask_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  // End-of-generation ids as llama.cpp computes them: eos, eot, and every token whose text is one
  // of the known end-of-turn markers. Sorted.
  std::vector<int32_t> eog_ids;

  kernels::AttentionMode NativeAttention() const {
    return causal ? kernels::AttentionMode::kCausal : kernels::AttentionMode::kBidirectional;
  }
  // The logits row that predicts the token at `position` under the shift_logits convention.
  int64_t LogitsRowFor(int64_t position) const {
    return shift_logits ? (position == 0 ? 0 : position - 1) : position;
  }
  bool IsEog(int32_t id) const;
};

// Reads and validates the configuration. `n_vocab` comes from token_embd; the tensors themselves
// are checked against it by the weight loader.
StatusOr<ModelConfig> ReadModelConfig(const gguf::File& file);

}  // namespace sculpt
