// sculpt infill / edit: fill holes in text, regenerate a line range of a file in place.
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "cli/common.h"
#include "cli/sampling_flags.h"
#include "engine/engine.h"

namespace sculpt::cli {

namespace {

struct InfillFlags {
  std::string model, prefix, suffix, file, hole_marker, hole_tokens = "auto", lines;
  bool json = false, in_place = false;
  CLI::Option* prefix_opt = nullptr;
  CLI::Option* suffix_opt = nullptr;
  SamplingFlags sampling;
  CommonOptions common;
};

StatusOr<std::vector<int64_t>> ParseHoleTokens(const std::string& s) {
  if (s == "auto") return std::vector<int64_t>{0};
  SCULPT_ASSIGN_OR_RETURN(std::vector<int32_t> v, ParseIds(s));
  if (v.empty()) return InvalidArgument("--hole-tokens needs a number or auto");
  std::vector<int64_t> out;
  for (int32_t x : v) {
    if (x < 1) return InvalidArgument("--hole-tokens must be at least 1 (got {}) or auto", x);
    out.push_back(x);
  }
  return out;
}

StatusOr<std::unique_ptr<Engine>> LoadEngine(const InfillFlags& f) {
  EngineOptions eo;
  eo.threads = f.common.threads;
  eo.progress = TerminalProgress();
  SCULPT_ASSIGN_OR_RETURN(std::string path, ResolveModel(f.model));
  return Engine::Load(path, eo);
}

nlohmann::json ResponseJson(const InfillResponse& r) {
  const double ms = r.result.total_ms;
  return {{"infill", r.fills.empty() ? "" : r.fills[0]},
          {"infills", r.fills},
          {"text", r.text},
          {"hole_tokens", r.hole_tokens.size() == 1 ? nlohmann::json(r.hole_tokens[0]) : nlohmann::json(r.hole_tokens)},
          {"sizes_tried", r.sizes_tried},
          {"mean_log_confidence", r.mean_log_confidence},
          {"mode", r.diffusion ? "diffusion" : "autoregressive"},
          {"ids", r.result.ids},
          {"steps", r.result.steps},
          {"forward_passes", r.result.forward_passes},
          {"rows_computed", r.result.rows_computed},
          {"timings", {{"total_ms", ms}, {"ms_per_step", r.result.steps ? ms / r.result.steps : 0.0}}}};
}

Status RunInfill(const InfillFlags& f) {
  InfillRequest req;
  SCULPT_ASSIGN_OR_RETURN(req.options, f.sampling.ToOptions());
  SCULPT_ASSIGN_OR_RETURN(req.hole_tokens, ParseHoleTokens(f.hole_tokens));
  const bool text_mode = f.prefix_opt->count() > 0 || f.suffix_opt->count() > 0;
  if (text_mode == !f.file.empty()) {
    return InvalidArgument("give either --prefix/--suffix or --file with --hole-marker");
  }
  if (text_mode) {
    req.segments = {f.prefix, f.suffix};
  } else {
    if (f.hole_marker.empty()) return InvalidArgument("--file needs --hole-marker STR");
    SCULPT_ASSIGN_OR_RETURN(std::string content, ReadFile(f.file));
    size_t pos = 0;
    for (size_t m; (m = content.find(f.hole_marker, pos)) != std::string::npos; pos = m + f.hole_marker.size()) {
      req.segments.push_back(content.substr(pos, m - pos));
    }
    if (req.segments.empty()) {
      return InvalidArgument("hole marker '{}' not found in {}", Printable(f.hole_marker), f.file);
    }
    req.segments.push_back(content.substr(pos));
  }
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, LoadEngine(f));
  SCULPT_ASSIGN_OR_RETURN(InfillResponse r, engine->Infill(req));
  if (f.json) {
    std::printf("%s\n", ResponseJson(r).dump().c_str());
  } else {
    std::fwrite(r.text.data(), 1, r.text.size(), stdout);
    if (!r.text.empty() && r.text.back() != '\n') std::printf("\n");
  }
  return Status::Ok();
}

// Lines with their terminators ("\n" or "\r\n"; the last line may have none).
std::vector<std::string_view> SplitLines(std::string_view s) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t nl = s.find('\n', pos);
    const size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
    lines.push_back(s.substr(pos, end - pos));
    pos = end;
  }
  return lines;
}

Status RunEdit(const InfillFlags& f) {
  InfillRequest req;
  SCULPT_ASSIGN_OR_RETURN(req.options, f.sampling.ToOptions());
  long long a = 0, b = 0;
  char dash = 0, extra = 0;
  if (std::sscanf(f.lines.c_str(), "%lld%c%lld%c", &a, &dash, &b, &extra) != 3 || dash != '-') {
    if (std::sscanf(f.lines.c_str(), "%lld%c", &a, &extra) != 1) {
      return InvalidArgument("--lines '{}' is not A-B (1-based, inclusive)", Printable(f.lines));
    }
    b = a;
  }
  SCULPT_ASSIGN_OR_RETURN(std::string content, ReadFile(f.file));
  const auto lines = SplitLines(content);
  if (a < 1 || b < a || b > static_cast<long long>(lines.size())) {
    return InvalidArgument("--lines {}-{} is outside the file's {} lines", a, b, lines.size());
  }
  // prefix | region without its final line ending | that line ending + the rest.
  const size_t begin = static_cast<size_t>(lines[a - 1].data() - content.data());
  const size_t region_end = static_cast<size_t>(lines[b - 1].data() - content.data()) + lines[b - 1].size();
  std::string_view last = lines[b - 1];
  size_t eol = 0;
  if (!last.empty() && last.back() == '\n') eol = (last.size() >= 2 && last[last.size() - 2] == '\r') ? 2 : 1;
  const std::string prefix = content.substr(0, begin);
  const std::string region = content.substr(begin, region_end - eol - begin);
  const std::string suffix = content.substr(region_end - eol);
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, LoadEngine(f));
  if (f.hole_tokens == "auto") {
    req.hole_tokens = {0};
  } else if (!f.hole_tokens.empty() && f.hole_tokens != "same") {
    SCULPT_ASSIGN_OR_RETURN(req.hole_tokens, ParseHoleTokens(f.hole_tokens));
  } else {  // default: as many tokens as the lines being replaced
    if (!engine->tokenizer()) return InvalidArgument("the model file has no tokenizer");
    req.hole_tokens = {std::max<int64_t>(1, static_cast<int64_t>(engine->tokenizer()->Encode(region).size()))};
  }
  req.segments = {prefix, suffix};
  SCULPT_ASSIGN_OR_RETURN(InfillResponse r, engine->Infill(req));
  const std::string updated = prefix + r.fills[0] + suffix;
  if (f.in_place) {
    SCULPT_RETURN_IF_ERROR(WriteFilesAtomically({{f.file, std::span<const char>(updated.data(), updated.size())}}));
  } else {
    std::fwrite(updated.data(), 1, updated.size(), stdout);
  }
  if (f.json) std::fprintf(f.in_place ? stdout : stderr, "%s\n", ResponseJson(r).dump().c_str());
  return Status::Ok();
}

}  // namespace

void RegisterInfill(CLI::App& app) {
  auto* cmd = app.add_subcommand("infill", "Fill holes in text (code) by diffusion");
  auto f = std::make_shared<InfillFlags>();
  cmd->add_option("-m,--model", f->model, kDefaultModelHelp);
  f->prefix_opt = cmd->add_option("--prefix", f->prefix, "Text before the hole");
  f->suffix_opt = cmd->add_option("--suffix", f->suffix, "Text after the hole");
  cmd->add_option("--file", f->file, "A file whose hole markers are the holes");
  cmd->add_option("--hole-marker", f->hole_marker, "The marker string in --file (several = several holes)");
  cmd->add_option("--hole-tokens", f->hole_tokens,
                  "Tokens per hole: N, one N per hole, or auto (tries 4, 8, 16, 32, 64)")
      ->capture_default_str();
  cmd->add_flag("--json", f->json, "Print one JSON object: infill, text, hole_tokens, steps, ...");
  f->sampling.Register(cmd, /*with_n=*/false);
  AddCommonOptions(cmd, &f->common);
  cmd->callback(Runner([f] { return RunInfill(*f); }));

  auto* ed = app.add_subcommand("edit", "Regenerate lines A-B of a file; every other byte stays");
  auto e = std::make_shared<InfillFlags>();
  e->hole_tokens = "same";
  ed->add_option("-m,--model", e->model, kDefaultModelHelp);
  ed->add_option("--file", e->file, "The file to edit")->required();
  ed->add_option("--lines", e->lines, "Line range A-B (1-based, inclusive) or a single line A")->required();
  ed->add_flag("--in-place", e->in_place, "Write the file (atomically) instead of printing it");
  ed->add_option("--hole-tokens", e->hole_tokens,
                 "Tokens for the new lines: N, auto, or same (as many as the old lines)")
      ->capture_default_str();
  ed->add_flag("--json", e->json, "Also print the infill JSON (to stderr unless --in-place)");
  e->sampling.Register(ed, /*with_n=*/false);
  AddCommonOptions(ed, &e->common);
  ed->callback(Runner([e] { return RunEdit(*e); }));
}

}  // namespace sculpt::cli
