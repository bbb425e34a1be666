// sculpt generate: diffusion sampling (or autoregressive decoding for causal models).
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "base/file_util.h"
#include "cli/common.h"
#include "cli/sampling_flags.h"
#include "engine/engine.h"

namespace sculpt::cli {

namespace {

struct GenerateFlags {
  std::string model, prompt, prompt_file, prompt_tokens, chat_template, trace;
  bool chat = false, json = false, visual = false;
  SamplingFlags sampling;
  CommonOptions common;
};

// The canvas as text: masks as a visible placeholder, this step's commits highlighted.
std::string RenderCanvas(const Engine& engine, const std::vector<int32_t>& canvas, size_t begin,
                         const std::vector<bool>& fresh, bool color) {
  std::string out;
  const int32_t mask = engine.config().mask_id;
  for (size_t p = begin; p < canvas.size(); ++p) {
    if (canvas[p] == mask) {
      out += color ? "\033[2m░\033[0m" : "░";
      continue;
    }
    const std::string piece = engine.tokenizer()->Piece(canvas[p], /*special=*/true);
    if (color && fresh[p]) {
      out += "\033[1;32m" + piece + "\033[0m";
    } else {
      out += piece;
    }
  }
  return out;
}

nlohmann::json ResultJson(const GenerateResponse& r) {
  nlohmann::json j;
  j["ids"] = r.result.ids;
  j["text"] = r.text;
  j["prompt_ids"] = r.prompt_ids;
  j["mode"] = r.diffusion ? "diffusion" : "autoregressive";
  j["steps"] = r.result.steps;
  j["forward_passes"] = r.result.forward_passes;
  j["rows_computed"] = r.result.rows_computed;
  j["commits_per_step"] = r.result.commits_per_step;
  j["commit_step"] = r.result.commit_step;
  j["stopped_early"] = r.result.stopped_early;
  const double ms = r.result.total_ms;
  j["timings"] = {{"total_ms", ms},
                  {"ms_per_step", r.result.steps ? ms / r.result.steps : 0.0},
                  {"tokens_per_s", ms > 0 ? r.result.ids.size() * 1e3 / ms : 0.0}};
  return j;
}

Status RunGenerate(const GenerateFlags& f) {
  GenerateRequest req;
  SCULPT_ASSIGN_OR_RETURN(req.options, f.sampling.ToOptions());
  const int sources = !f.prompt.empty() + !f.prompt_file.empty() + !f.prompt_tokens.empty();
  if (sources == 0) return InvalidArgument("the prompt is empty; give -p, -f or --prompt-tokens");
  if (sources > 1) return InvalidArgument("give only one of -p, -f, --prompt-tokens");
  req.prompt = f.prompt;
  if (!f.prompt_file.empty()) {
    SCULPT_ASSIGN_OR_RETURN(req.prompt, ReadFile(f.prompt_file));
  }
  if (!f.prompt_tokens.empty()) {
    SCULPT_ASSIGN_OR_RETURN(req.prompt_tokens, ParseIds(f.prompt_tokens));
    if (req.prompt_tokens.empty()) return InvalidArgument("--prompt-tokens holds no id");
  }
  req.chat = f.chat;
  req.chat_template = f.chat_template;

  EngineOptions eo;
  eo.threads = f.common.threads;
  eo.progress = TerminalProgress();
  SCULPT_ASSIGN_OR_RETURN(std::string path, ResolveModel(f.model));
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(path, eo));
  if ((f.visual) && !engine->tokenizer()) return InvalidArgument("--visual needs a tokenizer in the model file");

  nlohmann::json trace = nlohmann::json::array();
  std::vector<bool> fresh;
  size_t prompt_len = 0;
  const bool color = isatty(STDOUT_FILENO);
  StepCallback cb = [&](const StepEvent& e) {
    if (!f.trace.empty()) {
      trace.push_back({{"step", e.step}, {"block", e.block}, {"committed", e.committed},
                       {"remasked", e.remasked}, {"n_masked", e.n_masked},
                       {"canvas", *e.canvas}, {"ms", e.step_ms}});
    }
    if (f.visual) {
      fresh.assign(e.canvas->size(), false);
      const size_t base = e.canvas->size() - (engine->config().causal ? e.canvas->size() - prompt_len
                                                                      : f.sampling.n_generate);
      for (const auto& [idx, tok] : e.committed) {
        if (base + idx < fresh.size()) fresh[base + idx] = true;
      }
      std::printf("%s\033[1mstep %lld\033[0m  masked %lld\n%s\n", color ? "\033[H\033[J" : "",
                  static_cast<long long>(e.step + 1), static_cast<long long>(e.n_masked),
                  RenderCanvas(*engine, *e.canvas, base, fresh, color).c_str());
      std::fflush(stdout);
    }
    return true;
  };
  prompt_len = req.prompt_tokens.size();
  SCULPT_ASSIGN_OR_RETURN(GenerateResponse r,
                          engine->Generate(req, (f.visual || !f.trace.empty()) ? cb : StepCallback()));
  if (!f.trace.empty()) {
    nlohmann::json doc = ResultJson(r);
    doc["trace"] = trace;
    const std::string text = doc.dump(1);
    SCULPT_RETURN_IF_ERROR(WriteFilesAtomically({{f.trace, std::span<const char>(text.data(), text.size())}}));
  }
  if (f.json) {
    std::printf("%s\n", ResultJson(r).dump().c_str());
  } else if (!f.visual) {
    std::printf("%s\n", r.text.c_str());
  }
  if (isatty(STDERR_FILENO)) {
    std::fprintf(stderr, "%s: %zu tokens, %lld steps, %lld forward passes, %.1f ms (%.1f tokens/s)\n",
                 r.diffusion ? "diffusion" : "autoregressive", r.result.ids.size(),
                 static_cast<long long>(r.result.steps), static_cast<long long>(r.result.forward_passes),
                 r.result.total_ms, r.result.total_ms > 0 ? r.result.ids.size() * 1e3 / r.result.total_ms : 0.0);
  }
  return Status::Ok();
}

}  // namespace

void RegisterGenerate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate text by diffusion sampling (or "
                                             "autoregressively with a causal model)");
  auto f = std::make_shared<GenerateFlags>();
  cmd->add_option("-m,--model", f->model, kDefaultModelHelp);
  cmd->add_option("-p,--prompt", f->prompt, "Prompt text");
  cmd->add_option("-f,--file", f->prompt_file, "Read the prompt from a file");
  cmd->add_option("--prompt-tokens", f->prompt_tokens, "Prompt as ids \"ID ID ...\" (no BOS added)");
  cmd->add_flag("--chat", f->chat, "Apply the model's chat template to the prompt");
  cmd->add_option("--chat-template", f->chat_template, "llama3 | chatml | plain (with --chat)");
  cmd->add_flag("--json", f->json, "Print one JSON object: ids, text, steps, timings, ...");
  cmd->add_flag("--visual", f->visual, "Redraw the canvas in the terminal at every step");
  cmd->add_option("--trace", f->trace, "Write every step's canvas and commits as JSON");
  f->sampling.Register(cmd, /*with_n=*/true);
  AddCommonOptions(cmd, &f->common);
  cmd->callback(Runner([f] { return RunGenerate(*f); }));
}

}  // namespace sculpt::cli
