#include "core/smoothed.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

namespace triggerd {
namespace {

using namespace std::chrono_literals;

TEST(Smoothed, FirstSampleIsTakenAsIs) {
  Smoothed rate(30s);
  EXPECT_TRUE(rate.empty());
  rate.add(120, 1s);
  EXPECT_DOUBLE_EQ(rate.value(), 120);
  EXPECT_FALSE(rate.empty());
}

TEST(Smoothed, BeforeTheWindowIsFullItIsTheMeanOfWhatWasSeen) {
  Smoothed rate(30s);
  rate.add(100, 1s);
  rate.add(200, 1s);
  rate.add(300, 2s);
  EXPECT_DOUBLE_EQ(rate.value(), (100 + 200 + 2 * 300) / 4.0);
}

TEST(Smoothed, ASteadyFigureStaysPut) {
  Smoothed rate(30s);
  for (int i = 0; i < 100; ++i) rate.add(50, 1s);
  EXPECT_NEAR(rate.value(), 50, 1e-9);
}

TEST(Smoothed, AfterAStepItMovesMostOfTheWayWithinAWindow) {
  Smoothed rate(30s);
  for (int i = 0; i < 60; ++i) rate.add(0, 1s);
  for (int i = 0; i < 30; ++i) rate.add(100, 1s);
  EXPECT_GT(rate.value(), 60);  // 1 - e^-1 of the step
  EXPECT_LT(rate.value(), 70);
}

TEST(Smoothed, IgnoresEmptyIntervalsAndNonsense) {
  Smoothed rate(30s);
  rate.add(10, 1s);
  rate.add(1e9, 0s);
  rate.add(std::nan(""), 1s);
  EXPECT_DOUBLE_EQ(rate.value(), 10);
}

}  // namespace
}  // namespace triggerd
