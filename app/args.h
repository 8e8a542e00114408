// A small option parser shared by every subcommand: `--name value`, `--name=value` and boolean
// `--flag`; a registered single-dash name (bench's `-o md`) works the same. Unknown options,
// missing values and malformed numbers throw dsv32::Error (one line).
//
//   ArgParser p("run", "Run the forward pass on a checkpoint.");
//   std::string model;  p.add("--model", &model, "DIR", "checkpoint directory", /*required=*/true);
//   int threads = 2;    p.add("--threads", &threads, "T", "worker threads");
//   if (!p.parse(args)) return 0;   // --help was printed
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace dsv32::app {

class ArgParser {
 public:
  ArgParser(std::string command, std::string description);
  void add(const char* name, std::string* out, const char* metavar, const char* help,
           bool required = false);
  void add(const char* name, int* out, const char* metavar, const char* help, bool required = false);
  void add(const char* name, int64_t* out, const char* metavar, const char* help,
           bool required = false);
  void add(const char* name, double* out, const char* metavar, const char* help,
           bool required = false);
  void add_flag(const char* name, bool* out, const char* help);
  // Free-form text printed after the option list (examples, notes).
  void epilog(std::string text) { epilog_ = std::move(text); }
  // Positional arguments are collected here when allowed (else they are an error).
  void allow_positional(std::vector<std::string>* out, const char* metavar) {
    positional_ = out; positional_name_ = metavar;
  }
  // Returns false when --help was given (help printed to stdout); throws Error on bad input.
  bool parse(const std::vector<std::string>& args);
  // True when the option appeared on the command line.
  bool given(const char* name) const;
  void print_help() const;

 private:
  struct Opt {
    std::string name, metavar, help;
    std::variant<std::string*, int*, int64_t*, double*, bool*> out;
    bool required = false, seen = false;
    std::string default_text;
  };
  Opt* find(const std::string& name);
  std::string command_, description_, epilog_;
  std::vector<Opt> opts_;
  std::vector<std::string>* positional_ = nullptr;
  std::string positional_name_;
};

// Splits "1,2,3" into integers; throws Error naming `what` on malformed input.
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what);

}  // namespace dsv32::app
