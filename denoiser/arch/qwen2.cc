// Qwen2: causal, NEOX RoPE, q/k/v biases, optional output bias.
#include "denoiser/arch/arch.h"

namespace sculpt {
extern const ArchTraits kQwen2Arch = {
    .name = "qwen2",
    .causal = true,
    .diffusion = false,
    .rope = kernels::RopeStyle::kNeox,
    .qkv_bias = TensorNeed::kRequired,
    .output_bias = TensorNeed::kOptional,
    .default_shift_logits = true,
    .default_chat_template = "chatml",
    .default_schedule = "",
};
}  // namespace sculpt
