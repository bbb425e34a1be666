// LLaDA (GSAI-ML/LLaDA-8B): a LLaMA-shaped masked-diffusion model, bidirectional attention,
// interleaved-pair ("normal") RoPE in the GGUF layout, no q/k/v bias. llama.cpp's converter writes
// diffusion.shift_logits = false. The output tensor is optional (tied to token_embd when absent).
#include "denoiser/arch/arch.h"

namespace sculpt {
extern const ArchTraits kLladaArch = {
    .name = "llada",
    .causal = false,
    .diffusion = true,
    .rope = kernels::RopeStyle::kNorm,
    .qkv_bias = TensorNeed::kAbsent,
    .output_bias = TensorNeed::kAbsent,
    .default_shift_logits = true,
    .default_chat_template = "llama3",
    .default_schedule = "linear",
};
}  // namespace sculpt
