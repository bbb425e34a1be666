// sculpt-race: the diffusion model and its autoregressive twin on the same prompt, side by side in
// the terminal. Left, the diffusion canvas (masks as ░) fills in everywhere at once; right, the
// autoregressive text grows token by token; under each, live steps and tokens/s. Both run at the
// same time, one thread each, on the same kernels.
//
//   build/sculpt-race [-p PROMPT] [-n 96] [--diffusion-model M] [--ar-model M] [sampling flags]
//
// Without a terminal it prints the two results and their figures.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "base/timer.h"
#include "engine/engine.h"

namespace sculpt {
namespace {

struct Pane {
  std::string title;
  std::mutex mu;
  std::vector<int32_t> canvas;  // generated area only
  int64_t steps = 0, committed = 0;
  double ms = 0.0;
  bool done = false;
  std::string error;
};

// Splits text into lines of at most `width` characters (UTF-8 code points).
std::vector<std::string> Wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines(1);
  size_t cols = 0;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (text[i] == '\n') {
      lines.emplace_back();
      cols = 0;
      ++i;
      continue;
    }
    if (cols == width) {
      lines.emplace_back();
      cols = 0;
    }
    lines.back() += text[i] == '\t' ? std::string(" ") : text.substr(i, len);
    ++cols;
    i += len;
  }
  return lines;
}

// Display columns: code points, not counting ANSI escape sequences.
size_t Columns(const std::string& s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    n += (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
  }
  return n;
}

std::string Render(const Engine& e, const std::string& prompt, const std::vector<int32_t>& canvas) {
  std::string out = prompt;
  for (int32_t t : canvas) {
    if (t == e.config().mask_id && !e.config().causal) {
      out += "░";
    } else if (e.config().IsEog(t)) {
      break;
    } else {
      out += e.tokenizer()->Piece(t);
    }
  }
  return out;
}

std::string Stats(Pane& p) {
  char buf[160];
  const double tps = p.ms > 0 ? 1000.0 * static_cast<double>(p.committed) / p.ms : 0.0;
  std::snprintf(buf, sizeof(buf), "%s  steps %lld  tokens %lld  %.0f ms  %.1f tok/s", p.done ? "done" : "....",
                static_cast<long long>(p.steps), static_cast<long long>(p.committed), p.ms, tps);
  return buf;
}

void Draw(Engine& de, Engine& ae, const std::string& prompt, Pane& d, Pane& a, size_t width, size_t height) {
  const size_t pane = (width - 3) / 2;
  std::vector<std::string> left, right;
  std::string ls, rs;
  {
    std::lock_guard<std::mutex> l(d.mu);
    left = Wrap(Render(de, prompt, d.canvas), pane);
    ls = Stats(d);
  }
  {
    std::lock_guard<std::mutex> l(a.mu);
    right = Wrap(Render(ae, prompt, a.canvas), pane);
    rs = Stats(a);
  }
  std::string out = "\033[H";
  auto row = [&](const std::string& l, const std::string& r) {
    out += l + std::string(pane > Columns(l) ? pane - Columns(l) : 0, ' ') + " │ " + r + "\033[K\n";
  };
  row("\033[1m" + d.title + "\033[0m", "\033[1m" + a.title + "\033[0m");
  row(std::string(pane, '-'), std::string(pane, '-'));
  const size_t body = height > 6 ? height - 6 : 10;
  for (size_t i = 0; i < body; ++i) row(i < left.size() ? left[i] : "", i < right.size() ? right[i] : "");
  row(std::string(pane, '-'), std::string(pane, '-'));
  row(ls, rs);
  std::fputs(out.c_str(), stdout);
  std::fflush(stdout);
}

int Run(int argc, char** argv) {
  CLI::App app{"Diffusion vs autoregressive decoding, side by side"};
  std::string prompt = "def quicksort(items):\n", dm, am;
  int64_t n = 96, block = 32;
  double threshold = 0.0;
  std::string cache = "none";
  app.add_option("-p,--prompt", prompt, "Prompt")->capture_default_str();
  app.add_option("-n,--n-predict", n, "Tokens to generate")->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{1024}));
  app.add_option("--diffusion-model", dm, "Diffusion GGUF (default: models/sculpt-code-diffusion.gguf)");
  app.add_option("--ar-model", am, "Autoregressive GGUF (default: models/sculpt-code-ar.gguf)");
  app.add_option("--diffusion-block-length", block, "Block length (0 = whole canvas)")->capture_default_str();
  app.add_option("--diffusion-threshold", threshold, "Fast-dLLM threshold (0 = one token per step)");
  app.add_option("--cache", cache, "none, prefix or dual")->check(CLI::IsMember({"none", "prefix", "dual"}))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const std::filesystem::path models = std::filesystem::path(SCULPT_MODELS_DIR);
  if (dm.empty()) dm = (models / "sculpt-code-diffusion.gguf").string();
  if (am.empty()) am = (models / "sculpt-code-ar.gguf").string();
  auto fail = [](const std::string& m) {
    std::fprintf(stderr, "sculpt-race: error: %s\n", m.c_str());
    return 1;
  };
  auto de = Engine::Load(dm, {.threads = 1});
  if (!de.ok()) return fail(de.status().message());
  auto ae = Engine::Load(am, {.threads = 1});
  if (!ae.ok()) return fail(ae.status().message());
  if ((*de)->config().causal) return fail(dm + " is not a diffusion model");
  if (!(*ae)->config().causal) return fail(am + " is not an autoregressive model");
  if (!(*de)->tokenizer() || !(*ae)->tokenizer()) return fail("both models need a tokenizer");

  GenerateRequest req;
  req.prompt = prompt;
  req.options.n_generate = n;
  req.options.block_length = block > 0 && block < n ? block : 0;
  req.options.threshold = threshold;
  auto mode = CacheModeByName(cache);
  req.options.cache = *mode;
  if (Status st = req.options.Validate(); !st.ok()) return fail(st.message());

  Pane d, a;
  d.title = "diffusion: " + std::filesystem::path(dm).filename().string();
  a.title = "autoregressive: " + std::filesystem::path(am).filename().string();
  d.canvas.assign(static_cast<size_t>(n), (*de)->config().mask_id);
  auto runner = [&req](Engine& e, Pane& p) {
    Timer t;
    auto r = e.Generate(req, [&](const StepEvent& ev) {
      std::lock_guard<std::mutex> l(p.mu);
      if (e.config().causal) {
        p.canvas.push_back(ev.canvas->back());
      } else {  // the generation area is the end of the canvas
        p.canvas.assign(ev.canvas->end() - static_cast<int64_t>(p.canvas.size()), ev.canvas->end());
      }
      p.steps = ev.step + 1;
      p.committed += static_cast<int64_t>(ev.committed.size());
      p.ms = t.Millis();
      return true;
    });
    std::lock_guard<std::mutex> l(p.mu);
    if (!r.ok()) p.error = r.status().message();
    p.ms = t.Millis();
    p.done = true;
  };
  const bool tty = isatty(STDOUT_FILENO);
  size_t width = 160, height = 30;
  if (const char* c = std::getenv("COLUMNS")) width = std::max<size_t>(60, std::strtoul(c, nullptr, 10));
  if (const char* l = std::getenv("LINES")) height = std::max<size_t>(12, std::strtoul(l, nullptr, 10));
  if (tty) std::fputs("\033[2J", stdout);
  std::thread td(runner, std::ref(**de), std::ref(d)), ta(runner, std::ref(**ae), std::ref(a));
  while (tty) {
    Draw(**de, **ae, prompt, d, a, width, height);
    {
      std::lock_guard<std::mutex> l1(d.mu), l2(a.mu);
      if (d.done && a.done) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
  }
  td.join();
  ta.join();
  if (tty) Draw(**de, **ae, prompt, d, a, width, height);
  if (!d.error.empty()) return fail("diffusion: " + d.error);
  if (!a.error.empty()) return fail("autoregressive: " + a.error);
  if (!tty) {
    std::printf("== %s\n%s\n== %s\n\n== %s\n%s\n== %s\n", d.title.c_str(), Render(**de, prompt, d.canvas).c_str(),
                Stats(d).c_str(), a.title.c_str(), Render(**ae, prompt, a.canvas).c_str(), Stats(a).c_str());
  }
  return 0;
}

}  // namespace
}  // namespace sculpt

int main(int argc, char** argv) { return sculpt::Run(argc, argv); }
