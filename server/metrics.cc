#include "server/metrics.h"

#include <fmt/format.h>

namespace sculpt::server {

void Metrics::Request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lk(mu_);
  ++requests_[{route, status}];
  size_t b = 0;
  while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
  ++latency_[b];
  latency_sum_ += seconds;
  ++latency_count_;
}

void Metrics::Generation(int64_t prompt_tokens, int64_t generated_tokens, int64_t steps, bool cancelled) {
  std::lock_guard<std::mutex> lk(mu_);
  prompt_tokens_ += prompt_tokens;
  generated_tokens_ += generated_tokens;
  steps_ += steps;
  ++generations_;
  cancelled_ += cancelled;
}

std::string Metrics::Render(const std::string& extra) const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  out += "# HELP sculpt_requests_total HTTP requests by route and status.\n"
         "# TYPE sculpt_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += fmt::format("sculpt_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  const auto counter = [&out](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, v);
  };
  const auto gauge = [&out](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} gauge\n{0} {2}\n", name, help, v);
  };
  counter("sculpt_generations_total", "Generations run (completions, chat, infill).", generations_);
  counter("sculpt_generations_cancelled_total", "Generations cancelled (client gone, shutdown).", cancelled_);
  counter("sculpt_prompt_tokens_total", "Prompt tokens processed.", prompt_tokens_);
  counter("sculpt_generated_tokens_total", "Tokens generated.", generated_tokens_);
  counter("sculpt_steps_total", "Denoising (or decoding) steps.", steps_);
  counter("sculpt_rejected_total", "Requests turned away because the server was full.", rejected.load());
  gauge("sculpt_requests_in_flight", "Requests being denoised now.", in_flight.load());
  gauge("sculpt_queue_depth", "Requests waiting for a slot.", queued.load());
  out += "# HELP sculpt_request_duration_seconds Time from request to the last byte of the answer.\n"
         "# TYPE sculpt_request_duration_seconds histogram\n";
  int64_t cumulative = 0;
  for (size_t b = 0; b < kBuckets.size(); ++b) {
    cumulative += latency_[b];
    out += fmt::format("sculpt_request_duration_seconds_bucket{{le=\"{}\"}} {}\n", kBuckets[b], cumulative);
  }
  cumulative += latency_[kBuckets.size()];
  out += fmt::format("sculpt_request_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
  out += fmt::format("sculpt_request_duration_seconds_sum {}\n", latency_sum_);
  out += fmt::format("sculpt_request_duration_seconds_count {}\n", latency_count_);
  return out + extra;
}

}  // namespace sculpt::server
