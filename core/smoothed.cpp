#include "core/smoothed.hpp"

#include <algorithm>
#include <cmath>

namespace triggerd {

void Smoothed::add(double sample, std::chrono::duration<double> elapsed) {
  const double dt = elapsed.count();
  if (!(dt > 0) || !std::isfinite(sample)) return;
  double weight = 1 - std::exp(-dt / window_);
  // While less than a window was seen, weigh by time seen: the mean of the samples so far.
  if (seen_ < window_) weight = std::max(weight, dt / (seen_ + dt));
  value_ += weight * (sample - value_);
  seen_ = std::min(seen_ + dt, window_);
}

}  // namespace triggerd
