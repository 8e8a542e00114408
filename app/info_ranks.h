// dsv32 info --ranks: the per-rank weight, KV-cache and activation table (info_ranks.cpp).
#pragma once
#include <cstdint>

#include "model/config.h"

namespace dsv32::app {
// ep 0 = every rank. Throws Error when T or E does not divide N or exceeds the heads / experts.
void print_ranks(const ModelConfig& c, int ranks, int tp, int ep, int64_t ctx);
}  // namespace dsv32::app
