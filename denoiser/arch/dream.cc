// Dream (Dream-org/Dream-v0-7B): a Qwen2-shaped masked-diffusion model, bidirectional attention,
// NEOX RoPE, q/k/v biases. Real Dream GGUFs carry no diffusion.shift_logits key, so logits are
// shifted by the sampler (position p is predicted from row p-1). llama.cpp loads an optional
// output.bias for dream but never adds it; Sculpt does the same.
#include "denoiser/arch/arch.h"

namespace sculpt {
extern const ArchTraits kDreamArch = {
    .name = "dream",
    .causal = false,
    .diffusion = true,
    .rope = kernels::RopeStyle::kNeox,
    .qkv_bias = TensorNeed::kRequired,
    .output_bias = TensorNeed::kAbsent,
    .default_shift_logits = true,
    .default_chat_template = "chatml",
    .default_schedule = "timestep",
};
}  // namespace sculpt
