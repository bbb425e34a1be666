// sculpt serve: the HTTP server (server/server.h) on one model.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "cli/common.h"
#include "engine/engine.h"
#include "server/server.h"

namespace sculpt::cli {

namespace {

std::atomic<int> g_signal{0};
extern "C" void OnSignal(int sig) { g_signal.store(sig); }

struct ServeFlags {
  std::string model;
  server::ServerOptions opt;
  CommonOptions common;
};

Status RunServe(const ServeFlags& f) {
  EngineOptions eo;
  eo.threads = f.common.threads;
  eo.progress = TerminalProgress();
  SCULPT_ASSIGN_OR_RETURN(std::string path, ResolveModel(f.model));
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Load(path, eo));
  SCULPT_ASSIGN_OR_RETURN(std::unique_ptr<server::Server> srv, server::Server::Create(engine.get(), path, f.opt));
  SCULPT_RETURN_IF_ERROR(srv->Bind());
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is noticed by the write, not by a signal
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::fprintf(stderr, "sculpt serve: %s on http://%s:%d (parallel %d, queue %d)\n", path.c_str(),
               f.opt.host.c_str(), srv->port(), f.opt.parallel, f.opt.max_queue);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (g_signal.load() != 0) {
        std::fprintf(stderr, "sculpt serve: signal %d, finishing in-flight requests\n", g_signal.load());
        srv->Stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  const Status s = srv->Serve();
  done.store(true);
  watcher.join();
  SCULPT_RETURN_IF_ERROR(s);
  std::fprintf(stderr, "sculpt serve: stopped\n");
  return Status::Ok();
}

}  // namespace

void RegisterServe(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve a model over HTTP: OpenAI-compatible completions and chat, "
                                          "/infill, streaming of denoising steps");
  auto f = std::make_shared<ServeFlags>();
  cmd->add_option("-m,--model", f->model, kDefaultModelHelp);
  cmd->add_option("--host", f->opt.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", f->opt.port, "Port (0: any free port, printed at start)")->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--parallel", f->opt.parallel, "Requests denoised together (their steps share batches)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--max-queue", f->opt.max_queue, "Requests that may wait for a slot before 503")
      ->capture_default_str()->check(CLI::Range(0, 4096));
  cmd->add_option("--max-canvas", f->opt.max_canvas, "Prompt + generated tokens per request (default: the model's context)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--max-steps", f->opt.max_steps, "Denoising steps per request")->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_option("--max-body", f->opt.max_body_bytes, "Largest request body in bytes")->capture_default_str()
      ->check(CLI::Range(size_t{64}, size_t{1} << 30));
  cmd->add_option("--api-key", f->opt.api_key, "Require \"Authorization: Bearer KEY\" (all routes but /health)");
  cmd->add_option("--model-id", f->opt.model_id, "Model name clients use (default: the file name)");
  cmd->add_option("--shutdown-grace", f->opt.shutdown_grace_s,
                  "Seconds in-flight requests get to finish on SIGINT/SIGTERM before they are cancelled")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  AddCommonOptions(cmd, &f->common);
  cmd->callback(Runner([f] { return RunServe(*f); }));
}

}  // namespace sculpt::cli
