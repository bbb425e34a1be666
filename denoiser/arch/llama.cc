// LLaMA: causal, interleaved-pair RoPE in the GGUF layout, optional q/k/v biases.
#include "denoiser/arch/arch.h"

namespace sculpt {
extern const ArchTraits kLlamaArch = {
    .name = "llama",
    .causal = true,
    .diffusion = false,
    .rope = kernels::RopeStyle::kNorm,
    .qkv_bias = TensorNeed::kOptional,
    .output_bias = TensorNeed::kAbsent,
    .default_shift_logits = true,
    .default_chat_template = "llama3",
    .default_schedule = "",
};
}  // namespace sculpt
