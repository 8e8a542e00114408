// dsv32: entry point. Dispatches to the self-registered subcommands (app/cmd_*.cpp).
#include <cstdio>
#include <cstring>
#include <exception>

#include "app/command.h"
#include "kernels/error.h"
#include "model/parallel.h"

namespace dsv32::app {
static std::vector<const Command*>& registry() {
  static std::vector<const Command*> r;
  return r;
}
Command::Command(const char* n, const char* s, CommandFn f) : name(n), summary(s), fn(f) {
  registry().push_back(this);
}
const std::vector<const Command*>& commands() { return registry(); }
}  // namespace dsv32::app

static void print_usage() {
  std::printf(
      "dsv32 — DeepSeek V3.2 forward-pass research harness\n\n"
      "usage: dsv32 <command> [options]    (dsv32 <command> --help for details)\n\ncommands:\n");
  for (auto* c : dsv32::app::commands()) std::printf("  %-10s %s\n", c->name, c->summary);
}

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  for (auto* c : dsv32::app::commands()) {
    if (std::strcmp(c->name, argv[1]) != 0) continue;
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
      return c->fn(args);
    } catch (const dsv32::Error& e) {
      // Under --parallel ep the other ranks wait in the next exchange: end them all.
      if (const dsv32::World w = dsv32::current_world(); w.size > 1) {
        std::fprintf(stderr, "dsv32 %s: error (rank %d of %d): %s\n", c->name, w.rank, w.size, e.what());
        dsv32::abort_ranks(2);
      }
      std::fprintf(stderr, "dsv32 %s: error: %s\n", c->name, e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "dsv32 %s: internal error: %s\n", c->name, e.what());
      if (dsv32::current_world().size > 1) dsv32::abort_ranks(3);
      return 3;
    }
  }
  std::fprintf(stderr, "dsv32: unknown command '%s' (see dsv32 --help)\n", argv[1]);
  return 2;
}
