// sculpt serve: an OpenAI-compatible HTTP server over one Engine (cpp-httplib + nlohmann-json).
//
//   GET  /health, /v1/models, /metrics
//   POST /v1/completions        prompt [+ suffix: insertion], stream
//   POST /v1/chat/completions   messages through the model's chat template, stream
//   POST /infill                llama.cpp's shape: input_prefix, input_suffix, input_extra, prompt
//   POST /tokenize, /detokenize
//
// Diffusion options ride along as extra request fields named as on the command line (steps,
// block_length, algorithm, threshold, cache, ...). Streams are server-sent events: OpenAI chunks
// whose delta carries newly final text in order, plus a "sculpt" field with the step, the masks
// left, the step's commits and a snapshot of the canvas.
//
// Concurrency: up to `parallel` requests are denoised together; their steps are merged into
// shared batches (engine/batcher.h), and every request's output is bitwise what it is alone.
// Up to `max_queue` more wait for a slot; beyond that a request gets 503 with Retry-After.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "engine/engine.h"

namespace sculpt::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port (see Server::port())
  int parallel = 4;              // requests denoised together
  int max_queue = 16;            // requests waiting for a slot before 503
  int64_t max_canvas = 0;        // prompt + generated tokens; 0 = the model's context length
  int64_t max_steps = 4096;      // per request
  size_t max_body_bytes = 1 << 20;
  std::string api_key;           // non-empty: every route but /health needs "Authorization: Bearer KEY"
  std::string model_id;          // the name clients use; default: the file name without .gguf
  double shutdown_grace_s = 5.0; // Stop(): in-flight requests get this long, then are cancelled
};

class Server {
 public:
  // The engine must outlive the server; the server enables concurrent requests on it.
  static StatusOr<std::unique_ptr<Server>> Create(Engine* engine, const std::string& model_path,
                                                  const ServerOptions& options);
  ~Server();

  // Binds the port (so port() is known), then serves until Stop(). Returns an error when the
  // address cannot be bound.
  Status Bind();
  Status Serve();
  int port() const;

  // Stops accepting connections, lets in-flight requests finish for shutdown_grace_s, cancels
  // the rest, and makes Serve() return. Safe from any thread (not from a signal handler).
  void Stop();

 private:
  Server() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sculpt::server
