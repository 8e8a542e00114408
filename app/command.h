// Subcommand registry for the `dsv32` executable. Each app/cmd_<name>.cpp defines one
//   static const dsv32::app::Command kCmd{"name", "one-line summary", &run_fn};
// and main.cpp dispatches `dsv32 <name> args...` to it.
#pragma once
#include <string>
#include <vector>

namespace dsv32::app {

using CommandFn = int (*)(const std::vector<std::string>& args);  // args exclude "dsv32 <name>"

struct Command {
  Command(const char* name, const char* summary, CommandFn fn);
  const char* name;
  const char* summary;
  CommandFn fn;
};

const std::vector<const Command*>& commands();

}  // namespace dsv32::app
