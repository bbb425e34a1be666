// Per-architecture traits: everything that differs between the transformers Sculpt runs is a
// row of data here (STYLE.md rule 4). Adding an architecture = one arch/<name>.cc + one table row.
#pragma once

#include <span>
#include <string_view>

#include "kernels/kernels.h"

namespace sculpt {

enum class TensorNeed { kAbsent, kOptional, kRequired };

struct ArchTraits {
  std::string_view name;  // general.architecture, and the prefix of its hyperparameter keys
  // Native attention. llama.cpp forces non-causal attention for llada and dream whatever
  // <arch>.attention.causal says; so does Sculpt.
  bool causal;
  bool diffusion;                  // a masked-diffusion denoiser (has a mask token)
  kernels::RopeStyle rope;
  TensorNeed qkv_bias;             // blk.N.attn_{q,k,v}.bias
  TensorNeed output_bias;          // output.bias, added to the logits when present
  // Value of diffusion.shift_logits when the key is absent (llama.cpp's rule: true).
  bool default_shift_logits;
  // Chat template used when the file has no tokenizer.chat_template ("llama3", "chatml", "plain").
  std::string_view default_chat_template;
  // Transfer schedule of the model's reference sampler: "linear" (LLaDA generate) or "timestep"
  // (Dream diffusion_generate); empty for autoregressive models.
  std::string_view default_schedule;
};

// The registered architectures, and lookup by general.architecture.
std::span<const ArchTraits* const> Architectures();
const ArchTraits* FindArch(std::string_view name);

}  // namespace sculpt
