// sculpt info -m FILE: what a GGUF file holds and whether Sculpt can run it.
#include <cstdio>
#include <string>

#include "cli/common.h"
#include "engine/engine.h"

namespace sculpt::cli {

namespace {

std::string Id(int32_t id) { return id < 0 ? "none" : std::to_string(id); }

void PrintInfo(const ModelInfo& m) {
  std::printf("file:            %s\n", m.path.c_str());
  std::printf("size:            %.1f MB, GGUF v%u, %zu metadata keys, %zu tensors\n",
              m.file_size / 1e6, m.gguf_version, m.n_metadata, m.n_tensors);
  std::string types;
  for (const auto& [name, count] : m.tensor_types) {
    types += (types.empty() ? "" : ", ") + std::to_string(count) + " x " + name;
  }
  std::printf("tensor types:    %s\n", types.empty() ? "(none)" : types.c_str());
  std::printf("architecture:    %s\n", m.architecture.empty() ? "(none)" : m.architecture.c_str());
  std::printf("tokenizer:       %s, %lld tokens\n",
              m.tokenizer_model.empty() ? "(none)" : m.tokenizer_model.c_str(),
              static_cast<long long>(m.tokenizer_vocab));
  if (!m.has_model) {
    std::printf("model:           vocabulary only (no weights)\n");
    return;
  }
  const ModelConfig& c = m.config;
  std::printf("name:            %s\n", c.name.c_str());
  std::printf("parameters:      %.2f M\n", m.n_parameters / 1e6);
  std::printf("diffusion model: %s\n", c.diffusion ? "yes (masked diffusion, bidirectional)"
                                                   : "no (autoregressive, causal)");
  if (c.diffusion) {
    std::printf("shift logits:    %s\n", c.shift_logits ? "yes (position p uses row p-1)" : "no");
  }
  std::printf("vocab size:      %lld\n", static_cast<long long>(c.n_vocab));
  std::printf("context length:  %lld\n", static_cast<long long>(c.n_ctx_train));
  std::printf("n_embd:          %lld\n", static_cast<long long>(c.n_embd));
  std::printf("n_layer:         %lld\n", static_cast<long long>(c.n_layer));
  std::printf("n_head:          %lld (kv %lld, head dim %lld)\n", static_cast<long long>(c.n_head),
              static_cast<long long>(c.n_head_kv), static_cast<long long>(c.head_dim));
  std::printf("n_ff:            %lld\n", static_cast<long long>(c.n_ff));
  std::printf("rope:            %s, dim %lld, base %g\n",
              c.arch->rope == kernels::RopeStyle::kNorm ? "normal" : "neox",
              static_cast<long long>(c.rope_dim), c.rope_base);
  std::printf("rms eps:         %g\n", static_cast<double>(c.rms_eps));
  std::printf("output:          %s\n", m.tied_output ? "tied to token_embd" : "separate");
  std::string eog;
  for (int32_t id : c.eog_ids) eog += (eog.empty() ? "" : " ") + std::to_string(id);
  std::printf("special ids:     bos %s, eos %s, eot %s, mask %s, pad %s, eog {%s}\n",
              Id(c.bos_id).c_str(), Id(c.eos_id).c_str(), Id(c.eot_id).c_str(),
              Id(c.mask_id).c_str(), Id(c.pad_id).c_str(), eog.c_str());
  std::printf("add bos:         %s\n", c.add_bos ? "yes" : "no");
}

}  // namespace

void RegisterInfo(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Show a GGUF model's architecture, hyperparameters and "
                                         "special tokens");
  auto path = std::make_shared<std::string>();
  auto common = std::make_shared<CommonOptions>();
  cmd->add_option("-m,--model", *path, "GGUF file")->required();
  AddCommonOptions(cmd, common.get());
  cmd->callback(Runner([path]() -> Status {
    SCULPT_ASSIGN_OR_RETURN(ModelInfo info, InspectModel(*path));
    PrintInfo(info);
    return Status::Ok();
  }));
}

}  // namespace sculpt::cli
