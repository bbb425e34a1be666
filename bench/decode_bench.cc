#include "bench/decode_bench.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <regex>
#include <set>

#include "base/file_util.h"
#include "base/timer.h"
#include "bench/machine.h"
#include "denoiser/denoiser.h"
#include "engine/engine.h"
#include "kernels/simd.h"

namespace sculpt::bench {

namespace {

using nlohmann::json;

DecodeConfig Diffusion(std::string name, int64_t steps, int64_t block, CacheMode cache, double threshold) {
  DecodeConfig c;
  c.name = std::move(name);
  c.options.steps = steps;
  c.options.block_length = block;
  c.options.cache = cache;
  c.options.threshold = threshold;
  return c;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  }
  return out;
}

std::string Normalized(const std::string& s) {
  std::string out;
  bool space = false;
  for (char ch : s) {
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += ch;
  }
  return out;
}

// Levenshtein distance over bytes (two rows; task strings are one line of code).
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

struct TaskResult {
  double exact = 0.0;      // fraction of fills equal to the true middle (whitespace-normalised)
  double edit_sim = 0.0;   // mean of 1 - distance / max length over the normalised strings
};

StatusOr<TaskResult> TaskScore(Engine& e, const DecodeConfig& c, const std::vector<InfillTask>& tasks) {
  TaskResult out;
  for (const InfillTask& t : tasks) {
    InfillRequest req;
    req.segments = {t.prefix, t.suffix};
    req.hole_tokens = {t.hole_tokens};
    req.options = c.options;
    const bool adaptive = c.options.Adaptive();
    if (!adaptive) req.options.block_length = 0;  // scheduled steps: the hole is one block
    if (!c.autoregressive && c.options.steps > 0 && !adaptive) {
      req.options.steps = std::max<int64_t>(
          1, (t.hole_tokens * c.options.steps + c.options.n_generate - 1) / c.options.n_generate);
    } else {
      req.options.steps = 0;
    }
    SCULPT_ASSIGN_OR_RETURN(InfillResponse r, e.Infill(req));
    const std::string got = Normalized(r.fills.at(0)), want = Normalized(t.middle);
    out.exact += got == want;
    const size_t longest = std::max(got.size(), want.size());
    out.edit_sim += longest == 0 ? 1.0 : 1.0 - static_cast<double>(EditDistance(got, want)) / static_cast<double>(longest);
  }
  const double n = static_cast<double>(std::max<size_t>(tasks.size(), 1));
  out.exact /= n;
  out.edit_sim /= n;
  return out;
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

StatusOr<std::vector<InfillTask>> LoadInfillTasks(const std::string& path, size_t max_tasks) {
  SCULPT_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::vector<InfillTask> out;
  size_t line_no = 0, pos = 0;
  while (pos < text.size() && (max_tasks == 0 || out.size() < max_tasks)) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
    InfillTask t;
    try {
      if (j.is_discarded()) throw json::other_error::create(0, "", nullptr);
      t.prefix = j.at("prefix").get<std::string>();
      t.middle = j.at("middle").get<std::string>();
      t.suffix = j.at("suffix").get<std::string>();
      t.hole_tokens = j.at("hole_tokens").get<int64_t>();
    } catch (const json::exception&) {
      return InvalidArgument("{}:{}: expected {{prefix, middle, suffix, hole_tokens}}", path, line_no);
    }
    if (t.hole_tokens < 1) return InvalidArgument("{}:{}: hole_tokens must be >= 1", path, line_no);
    out.push_back(std::move(t));
  }
  if (out.empty()) return InvalidArgument("{}: no tasks", path);
  return out;
}

const std::vector<std::string>& DefaultDecodePrompts() {
  static const std::vector<std::string> prompts = {
      "def fibonacci(n):\n",
      "import os\nimport sys\n\n\ndef main():\n",
      "class Stack:\n    def __init__(self):\n",
      "# Read a CSV file and print the sum of each column\n",
  };
  return prompts;
}

std::vector<DecodeConfig> DefaultDecodeConfigs(int64_t n, bool with_ar) {
  // Blocks of 32 (16) where they divide n, else one block; scheduled steps split evenly over them.
  const int64_t b = n % 32 == 0 ? 32 : n, b16 = n % 16 == 0 ? 16 : n;
  auto steps_over = [&](int64_t block, int64_t per_token) {  // about n / per_token, whole per block
    const int64_t blocks = n / block;
    return blocks * std::max<int64_t>(1, n / per_token / blocks);
  };
  std::vector<DecodeConfig> c = {
      Diffusion("baseline", n, 0, CacheMode::kNone, 0.0),
      Diffusion("blocks", n, b, CacheMode::kNone, 0.0),
      Diffusion("blocks+prefix", n, b, CacheMode::kPrefix, 0.0),
      Diffusion("blocks+dual", n, b, CacheMode::kDual, 0.0),
      Diffusion("blocks+dual, half steps", steps_over(b, 2), b, CacheMode::kDual, 0.0),
      Diffusion("threshold 0.9", 0, b, CacheMode::kNone, 0.9),
      Diffusion("threshold 0.9+dual", 0, b, CacheMode::kDual, 0.9),
      Diffusion("threshold 0.5+dual, block 16", 0, std::min<int64_t>(16, n), CacheMode::kDual, 0.5),
      Diffusion("dual, 1/8 steps, block 16", steps_over(b16, 8), b16, CacheMode::kDual, 0.0),
      Diffusion("dual, 1/16 steps", steps_over(b, 16), b, CacheMode::kDual, 0.0),
  };
  c[0].baseline = true;
  if (with_ar) {
    DecodeConfig ar;
    ar.name = "autoregressive";
    ar.autoregressive = true;
    c.push_back(ar);
  }
  for (DecodeConfig& x : c) {
    x.options.n_generate = n;
    x.options.early_stop = false;  // fixed lengths: tokens/s compares like with like
  }
  return c;
}

StatusOr<std::vector<DecodeConfig>> ParseDecodeConfigs(const json& j, int64_t n, bool with_ar) {
  if (!j.is_array() || j.empty()) return InvalidArgument("--configs: expected a non-empty JSON array");
  static const std::set<std::string> keys = {"name", "kind", "baseline", "cache", "steps",
                                             "block_length", "algorithm", "threshold", "factor"};
  std::vector<DecodeConfig> out;
  std::set<std::string> names;
  int baselines = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    if (!e.is_object()) return InvalidArgument("--configs: entry {} is not an object", i);
    for (const auto& [k, v] : e.items()) {
      if (!keys.count(k)) return InvalidArgument("--configs: entry {}: unknown key '{}'", i, Printable(k));
    }
    DecodeConfig c;
    try {
      c.name = e.value("name", "config " + std::to_string(i));
      const std::string kind = e.value("kind", std::string("diffusion"));
      if (kind != "diffusion" && kind != "autoregressive") {
        return InvalidArgument("--configs: '{}': kind must be diffusion or autoregressive", Printable(c.name));
      }
      c.autoregressive = kind == "autoregressive";
      c.baseline = e.value("baseline", false);
      c.options.n_generate = n;
      c.options.early_stop = false;
      c.options.steps = e.value("steps", int64_t{0});
      c.options.block_length = e.value("block_length", int64_t{0});
      c.options.algorithm = e.value("algorithm", std::string("confidence"));
      c.options.threshold = e.value("threshold", 0.0);
      c.options.factor = e.value("factor", 0.0);
      SCULPT_ASSIGN_OR_RETURN(c.options.cache, CacheModeByName(e.value("cache", std::string("none"))));
    } catch (const json::exception&) {
      return InvalidArgument("--configs: entry {}: a value has the wrong type", i);
    }
    if (!names.insert(c.name).second) return InvalidArgument("--configs: two configurations named '{}'", Printable(c.name));
    if (c.options.steps < 0 || c.options.block_length < 0) {
      return InvalidArgument("--configs: '{}': steps and block_length must be >= 0", Printable(c.name));
    }
    if (c.autoregressive) {
      if (!with_ar) return InvalidArgument("--configs: '{}' is autoregressive but no --ar-model is given", Printable(c.name));
      if (c.baseline || c.options.cache != CacheMode::kNone || c.options.steps || c.options.block_length ||
          c.options.threshold > 0 || c.options.factor > 0) {
        return InvalidArgument("--configs: '{}': an autoregressive configuration takes no diffusion options",
                               Printable(c.name));
      }
    }
    if (c.options.block_length > n) {
      return InvalidArgument("--configs: '{}': block_length {} exceeds the {} generated tokens", Printable(c.name),
                             c.options.block_length, n);
    }
    if (!c.options.Adaptive() && c.options.block_length > 0 && n % c.options.block_length != 0) {
      return InvalidArgument("--configs: '{}': {} generated tokens are not a whole number of blocks of {}",
                             Printable(c.name), n, c.options.block_length);
    }
    if (c.baseline) {
      ++baselines;
      if (c.options.cache != CacheMode::kNone || (c.options.steps != 0 && c.options.steps != n) ||
          c.options.threshold > 0 || c.options.factor > 0) {
        return InvalidArgument("--configs: the baseline '{}' must run without a cache, one step per token",
                               Printable(c.name));
      }
    }
    const Status st = c.options.Validate();
    if (!st.ok()) return InvalidArgument("--configs: '{}': {}", Printable(c.name), st.message());
    out.push_back(std::move(c));
  }
  if (baselines != 1) return InvalidArgument("--configs: exactly one diffusion configuration must be the baseline (found {})", baselines);
  return out;
}

// Runs argv[0] with the arguments (no shell), returning its exit status and its stdout+stderr.
StatusOr<std::pair<int, std::string>> RunProgram(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return Internal("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return Internal("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : 128, out);
}

// llama-diffusion-cli on one prompt with the configuration's steps and blocks: its "time per step".
StatusOr<double> LlamaCppMsPerStep(const DecodeBenchOptions& o, const DecodeConfig& c, Engine& e,
                                   const std::string& prompt) {
  const int64_t canvas = static_cast<int64_t>(e.tokenizer()->Encode(prompt, /*add_special=*/true).size()) + o.n_generate;
  std::vector<std::string> argv = {o.llamacpp, "-m", o.diffusion_model, "-p", prompt,
                                   "-ub", std::to_string(canvas), "-b", std::to_string(canvas),
                                   "-c", std::to_string(canvas), "--diffusion-steps", std::to_string(c.options.EffectiveSteps()),
                                   "-t", std::to_string(o.threads), "--temp", "0", "--seed", "0"};
  if (c.options.block_length > 0) {
    argv.insert(argv.end(), {"--diffusion-block-length", std::to_string(c.options.block_length)});
  }
  SCULPT_ASSIGN_OR_RETURN(auto run, RunProgram(argv));
  static const std::regex kLine(R"(time per step:\s*([0-9.]+)\s*ms)");
  std::smatch m;
  if (run.first != 0 || !std::regex_search(run.second, m, kLine)) {
    std::string last = run.second;  // its last line says what went wrong
    while (!last.empty() && (last.back() == '\n' || last.back() == '\r')) last.pop_back();
    if (const size_t nl = last.find_last_of('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    return Internal("--compare-llamacpp {}: exit {}, no \"time per step\" line ({})", o.llamacpp, run.first,
                    run.first == 127 ? "could not run it" : last);
  }
  return std::stod(m[1].str());
}

StatusOr<json> RunDecodeBench(const DecodeBenchOptions& o) {
  EngineOptions eo;
  eo.threads = o.threads;
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> diffusion, Engine::Load(o.diffusion_model, eo));
  if (diffusion->config().causal) return InvalidArgument("{} is not a diffusion model", o.diffusion_model);
  std::unique_ptr<Engine> ar;
  if (!o.ar_model.empty()) {
    SCULPT_ASSIGN_OR_RETURN(ar, Engine::Load(o.ar_model, eo));
    if (!ar->config().causal) return InvalidArgument("{} is not an autoregressive model", o.ar_model);
  }
  const std::vector<std::string>& prompts = o.prompts.empty() ? DefaultDecodePrompts() : o.prompts;
  std::vector<DecodeConfig> configs = o.configs.empty() ? DefaultDecodeConfigs(o.n_generate, ar != nullptr) : o.configs;
  // The baseline first: agreement is measured against its tokens.
  std::stable_partition(configs.begin(), configs.end(), [](const DecodeConfig& c) { return c.baseline; });

  json machine = {{"cpu", CpuName()},
                  {"threads", o.threads},
                  {"simd", std::string(kernels::SimdTargetName(kernels::CurrentSimdTarget()))},
                  {"diffusion_model", o.diffusion_model},
                  {"ar_model", o.ar_model.empty() ? json(nullptr) : json(o.ar_model)},
                  {"n_generate", o.n_generate},
                  {"llamacpp", o.llamacpp.empty() ? json(nullptr) : json(o.llamacpp)},
                  {"prompts", prompts.size()},
                  {"reps", o.reps}};
  std::vector<std::vector<int32_t>> baseline_ids(prompts.size());
  json rows = json::array();
  for (const DecodeConfig& c : configs) {
    Engine& e = c.autoregressive ? *ar : *diffusion;
    double time_ms = 0.0, ttft_ms = 0.0, agree = 0.0, tokens = 0.0;
    int64_t steps = 0, passes = 0;
    for (size_t p = 0; p < prompts.size(); ++p) {
      GenerateRequest req;
      req.prompt = prompts[p];
      req.options = c.options;
      std::vector<double> times, ttfts;
      GenerateResponse last;
      for (int rep = -1; rep < o.reps; ++rep) {  // rep -1: warm-up
        Timer t;
        double first = -1.0;
        auto r = e.Generate(req, [&](const StepEvent& ev) {
          if (first < 0 && !ev.committed.empty()) first = t.Millis();
          return true;
        });
        if (!r.ok()) return Status(r.status().code(), "configuration '" + c.name + "': " + r.status().message());
        const double ms = t.Millis();
        if (rep >= 0) {
          times.push_back(ms);
          ttfts.push_back(first);
        }
        last = std::move(r).value();
      }
      if (c.baseline) baseline_ids[p] = last.result.ids;
      const std::vector<int32_t>& want = baseline_ids[p];
      int64_t same = 0;
      for (size_t i = 0; i < last.result.ids.size() && i < want.size(); ++i) same += last.result.ids[i] == want[i];
      agree += want.empty() ? 0.0 : static_cast<double>(same) / static_cast<double>(want.size());
      time_ms += Median(times);
      ttft_ms += Median(ttfts);
      tokens += static_cast<double>(last.result.ids.size());
      steps += last.result.steps;
      passes += last.result.forward_passes;
    }
    const double np = static_cast<double>(prompts.size());
    json llamacpp = nullptr, vs_llamacpp = nullptr;
    const double ms_per_step = time_ms / static_cast<double>(std::max<int64_t>(steps, 1));
    if (!o.llamacpp.empty() && !c.autoregressive && c.options.cache == CacheMode::kNone &&
        c.options.algorithm == "confidence" && c.options.threshold <= 0 && c.options.factor <= 0) {
      double sum = 0.0;
      for (const std::string& prompt : prompts) {
        SCULPT_ASSIGN_OR_RETURN(double ms, LlamaCppMsPerStep(o, c, e, prompt));
        sum += ms;
      }
      llamacpp = sum / np;
      vs_llamacpp = sum / np / ms_per_step;
    }
    json task_score = nullptr, task_edit_sim = nullptr;
    if (!o.tasks.empty()) {
      SCULPT_ASSIGN_OR_RETURN(TaskResult score, TaskScore(e, c, o.tasks));
      task_score = score.exact;
      task_edit_sim = score.edit_sim;
    }
    rows.push_back({{"name", c.name},
                    {"kind", c.autoregressive ? "autoregressive" : "diffusion"},
                    {"baseline", c.baseline},
                    {"cache", std::string(CacheModeName(c.options.cache))},
                    {"exact", c.options.cache == CacheMode::kNone},
                    {"steps", c.autoregressive ? json(nullptr) : json(c.options.EffectiveSteps())},
                    {"block_length", c.options.block_length > 0 ? c.options.block_length : c.options.n_generate},
                    {"algorithm", c.options.algorithm},
                    {"threshold", c.options.threshold > 0 ? json(c.options.threshold) : json(nullptr)},
                    {"tokens_per_s", tokens / (time_ms / 1000.0)},
                    {"ms_per_step", ms_per_step},
                    {"llamacpp_ms_per_step", llamacpp},
                    {"vs_llamacpp", vs_llamacpp},
                    {"steps_taken", static_cast<double>(steps) / np},
                    {"forward_passes", static_cast<double>(passes) / np},
                    {"ttft_ms", ttft_ms / np},
                    {"agreement", agree / np},
                    {"task_score", task_score},
                    {"task_edit_similarity", task_edit_sim}});
  }
  machine["peak_rss_mb"] = PeakRssMb();
  return json{{"machine", machine}, {"configs", rows}};
}

std::string FormatDecodeBench(const json& r) {
  std::string out;
  char line[512];
  const json& m = r["machine"];
  std::snprintf(line, sizeof(line), "cpu: %s, threads %d, simd %s, peak RSS %.0f MB\n%lld tokens per prompt, %zu prompts, median of %d runs after a warm-up\n\n",
                m["cpu"].get<std::string>().c_str(), m["threads"].get<int>(), m["simd"].get<std::string>().c_str(),
                m["peak_rss_mb"].get<double>(), static_cast<long long>(m["n_generate"].get<int64_t>()),
                m["prompts"].get<size_t>(), m["reps"].get<int>());
  out += line;
  std::snprintf(line, sizeof(line), "%-29s %-7s %6s %6s %9s %10s %8s %7s %9s %9s %6s %6s\n", "config", "cache", "block",
                "steps", "tokens/s", "ms/step", "passes", "ttft", "agreement", "vs base", "task", "edit");
  out += line;
  double base_tps = 0.0;
  for (const json& c : r["configs"])
    if (c["baseline"].get<bool>()) base_tps = c["tokens_per_s"].get<double>();
  for (const json& c : r["configs"]) {
    const bool ar = c["kind"] == "autoregressive";
    char task[16] = "-", edit[16] = "-";
    if (!c["task_score"].is_null()) std::snprintf(task, sizeof(task), "%.1f%%", 100.0 * c["task_score"].get<double>());
    if (!c["task_edit_similarity"].is_null()) {
      std::snprintf(edit, sizeof(edit), "%.1f%%", 100.0 * c["task_edit_similarity"].get<double>());
    }
    std::snprintf(line, sizeof(line), "%-29s %-7s %6s %6.1f %9.1f %10.2f %8.1f %6.0fms %8.1f%% %8.2fx %6s %6s\n",
                  c["name"].get<std::string>().c_str(),
                  ar ? "kv" : (c["cache"].get<std::string>() + (c["exact"].get<bool>() ? "" : "~")).c_str(),
                  ar ? "-" : std::to_string(c["block_length"].get<int64_t>()).c_str(),
                  c["steps_taken"].get<double>(), c["tokens_per_s"].get<double>(), c["ms_per_step"].get<double>(),
                  c["forward_passes"].get<double>(), c["ttft_ms"].get<double>(),
                  100.0 * c["agreement"].get<double>(),
                  base_tps > 0 ? c["tokens_per_s"].get<double>() / base_tps : 0.0, task, edit);
    out += line;
  }
  for (const json& c : r["configs"]) {
    if (!c.contains("llamacpp_ms_per_step") || c["llamacpp_ms_per_step"].is_null()) continue;
    std::snprintf(line, sizeof(line), "llama.cpp, %-15s %10.2f ms/step (Sculpt %.2f): Sculpt %.2fx as fast\n",
                  c["name"].get<std::string>().c_str(), c["llamacpp_ms_per_step"].get<double>(),
                  c["ms_per_step"].get<double>(), c["vs_llamacpp"].get<double>());
    out += line;
  }
  out += "\n~ = approximate (cached keys/values under bidirectional attention); agreement = tokens equal "
         "to the baseline's;\ntask = exact match on the --tasks infill set, edit = its mean edit similarity\n";
  return out;
}

std::string DecodeBenchSvg(const json& r) {
  const double W = 720, H = 420, L = 70, R = 200, T = 30, B = 50;
  // Quality: the task score when every configuration has one, else agreement with the baseline.
  bool tasks = true;
  for (const json& c : r["configs"]) tasks = tasks && c.contains("task_score") && !c["task_score"].is_null();
  const char* metric = tasks ? "task_score" : "agreement";
  double lo = 1e30, hi = 0, ar_tps = -1, qmax = 0;
  for (const json& c : r["configs"]) {
    const double v = c["tokens_per_s"].get<double>();
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    qmax = std::max(qmax, c[metric].get<double>());
    if (c["kind"] == "autoregressive") ar_tps = v;
  }
  // y from 0 to 1 (agreement) or to the next 5 % above the best task score
  const double ytop = tasks ? std::max(0.05, std::ceil(qmax * 1.1 / 0.05) * 0.05) : 1.0;
  const double x0 = std::floor(std::log10(std::max(lo, 1e-3))), x1 = std::ceil(std::log10(std::max(hi, 1e-3)) + 1e-9);
  auto sx = [&](double v) { return L + (W - L - R) * (std::log10(v) - x0) / std::max(x1 - x0, 1.0); };
  auto sy = [&](double a) { return T + (H - T - B) * (1.0 - a / ytop); };
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>"
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#888\"/>",
                W, H, L, T, W - L - R, H - T - B);
  s += buf;
  for (double e = x0; e <= x1 + 1e-9; e += 1) {
    std::snprintf(buf, sizeof(buf), "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%g</text>", sx(std::pow(10, e)), H - B + 16, std::pow(10, e));
    s += buf;
  }
  for (int k = 0; k <= 4; ++k) {
    std::snprintf(buf, sizeof(buf), "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>", L - 6,
                  sy(ytop * k / 4.0) + 4, 100.0 * ytop * k / 4.0);
    s += buf;
  }
  std::snprintf(buf, sizeof(buf), "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">tokens/s (log scale)</text>"
                "<text x=\"16\" y=\"%.0f\" transform=\"rotate(-90 16 %.0f)\" text-anchor=\"middle\">%s</text>",
                L + (W - L - R) / 2, H - 12, T + (H - T - B) / 2, T + (H - T - B) / 2,
                tasks ? "task score (infill exact match)" : "agreement with the baseline");
  s += buf;
  if (ar_tps > 0) {
    std::snprintf(buf, sizeof(buf), "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#d62728\" stroke-dasharray=\"5,4\"/>"
                  "<text x=\"%.1f\" y=\"%.0f\" fill=\"#d62728\">autoregressive</text>",
                  sx(ar_tps), T, sx(ar_tps), H - B, sx(ar_tps) + 4, T + 14);
    s += buf;
  }
  int i = 0;
  for (const json& c : r["configs"]) {
    const bool ar = c["kind"] == "autoregressive";
    if (ar && !tasks) continue;  // no agreement to plot: the line marks it
    const double x = sx(c["tokens_per_s"].get<double>()), y = sy(c[metric].get<double>());
    const char* color = ar ? "#d62728" : c["baseline"].get<bool>() ? "#000" : c["exact"].get<bool>() ? "#1f77b4" : "#ff7f0e";
    std::snprintf(buf, sizeof(buf), "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\" fill=\"%s\">%d</text>"
                  "<text x=\"%.0f\" y=\"%.0f\">%d %s</text>",
                  x, y, color, x + 5, y - 5, color, i + 1, W - R + 10, T + 16.0 * i + 10, i + 1, XmlEscape(c["name"].get<std::string>()).c_str());
    s += buf;
    ++i;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace sculpt::bench
