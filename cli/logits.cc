// sculpt logits: raw float32 logits of every position, for checking the forward pass from outside.
// Format: little-endian float32, row-major [n_tokens, n_vocab], unshifted, in the model's native
// attention mode. One --tokens writes --out FILE; several run as one batch and write
// PREFIX.<i>.f32 each.
#include <cstdio>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "cli/common.h"
#include "engine/engine.h"

namespace sculpt::cli {

namespace {

struct LogitsOptions {
  std::string model;
  std::vector<std::string> tokens;
  std::string out;
  CommonOptions common;
};

Status RunLogits(const LogitsOptions& o) {
  std::vector<std::vector<int32_t>> seqs;
  for (const std::string& t : o.tokens) {
    SCULPT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIds(t));
    if (ids.empty()) return InvalidArgument("--tokens \"{}\" holds no token id", t);
    seqs.push_back(std::move(ids));
  }
  EngineOptions eo;
  eo.threads = o.common.threads;
  eo.progress = TerminalProgress();
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(o.model, eo));
  SCULPT_ASSIGN_OR_RETURN(auto logits, engine->AllLogits(seqs));
  std::vector<std::pair<std::string, std::span<const char>>> files;
  for (size_t s = 0; s < logits.size(); ++s) {
    std::string path = seqs.size() == 1 ? o.out : o.out + "." + std::to_string(s) + ".f32";
    files.emplace_back(path, std::span<const char>(reinterpret_cast<const char*>(logits[s].data()),
                                                   logits[s].size() * sizeof(float)));
  }
  return WriteFilesAtomically(files);
}

}  // namespace

void RegisterLogits(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "logits", "Write raw float32 logits [n_tokens, n_vocab] of every position (unshifted)");
  auto o = std::make_shared<LogitsOptions>();
  cmd->add_option("-m,--model", o->model, "GGUF file")->required();
  cmd->add_option("--tokens", o->tokens,
                  "Token ids \"ID ID ...\"; give it several times to run a batch")
      ->required()
      ->expected(1)
      ->take_all();
  cmd->add_option("--out", o->out,
                  "Output file (one --tokens) or prefix: PREFIX.<i>.f32 (several)")
      ->required();
  AddCommonOptions(cmd, &o->common);
  cmd->callback(Runner([o] { return RunLogits(*o); }));
}

}  // namespace sculpt::cli
