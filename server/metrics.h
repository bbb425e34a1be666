// Counters, gauges and a latency histogram for GET /metrics (Prometheus text format 0.0.4).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace sculpt::server {

class Metrics {
 public:
  // One finished HTTP request.
  void Request(const std::string& route, int status, double seconds);
  // One finished generation.
  void Generation(int64_t prompt_tokens, int64_t generated_tokens, int64_t steps, bool cancelled);

  std::atomic<int64_t> in_flight{0};  // requests being denoised
  std::atomic<int64_t> queued{0};     // requests waiting for a slot
  std::atomic<int64_t> rejected{0};   // turned away with 503 (over capacity)

  // The exposition text; `extra` is appended as is (the batcher's counters).
  std::string Render(const std::string& extra) const;

  static constexpr std::array<double, 11> kBuckets = {0.01, 0.05, 0.1, 0.25, 0.5, 1.0,
                                                      2.5,  5.0,  10.0, 30.0, 60.0};

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::array<int64_t, kBuckets.size() + 1> latency_{};  // per bucket (last: +Inf), not cumulative
  double latency_sum_ = 0.0;
  int64_t latency_count_ = 0;
  int64_t prompt_tokens_ = 0, generated_tokens_ = 0, steps_ = 0, generations_ = 0, cancelled_ = 0;
};

}  // namespace sculpt::server
