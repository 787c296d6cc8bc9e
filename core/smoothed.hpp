#pragma once
// A figure smoothed over a time window: an exponentially weighted mean whose weight follows the
// time between samples, and a plain mean of every sample while the window is not yet full (so
// the first seconds after start say what was seen, not a figure dragged toward zero).
#include <chrono>

namespace triggerd {

class Smoothed {
 public:
  explicit Smoothed(std::chrono::duration<double> window) : window_(window.count()) {}

  // `sample` seen over the last `elapsed` (seconds > 0; others are ignored).
  void add(double sample, std::chrono::duration<double> elapsed);
  double value() const { return value_; }
  bool empty() const { return seen_ == 0; }

 private:
  double window_;     // seconds
  double seen_ = 0;   // seconds of samples so far, up to the window
  double value_ = 0;
};

}  // namespace triggerd
