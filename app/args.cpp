#include "app/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "kernels/error.h"

namespace dsv32::app {

ArgParser::ArgParser(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

template <class T>
static std::string show(T* p) {
  if constexpr (std::is_same_v<T, std::string>) return p->empty() ? "" : *p;
  else if constexpr (std::is_same_v<T, bool>) return "";
  else if constexpr (std::is_same_v<T, double>) { char b[64]; std::snprintf(b, 64, "%g", *p); return b; }
  else return std::to_string(*p);
}

void ArgParser::add(const char* n, std::string* o, const char* m, const char* h, bool r) {
  opts_.push_back({n, m, h, o, r, false, show(o)});
}
void ArgParser::add(const char* n, int* o, const char* m, const char* h, bool r) {
  opts_.push_back({n, m, h, o, r, false, show(o)});
}
void ArgParser::add(const char* n, int64_t* o, const char* m, const char* h, bool r) {
  opts_.push_back({n, m, h, o, r, false, show(o)});
}
void ArgParser::add(const char* n, double* o, const char* m, const char* h, bool r) {
  opts_.push_back({n, m, h, o, r, false, show(o)});
}
void ArgParser::add_flag(const char* n, bool* o, const char* h) {
  opts_.push_back({n, "", h, o, false, false, ""});
}

ArgParser::Opt* ArgParser::find(const std::string& name) {
  for (auto& o : opts_)
    if (o.name == name) return &o;
  return nullptr;
}

bool ArgParser::given(const char* name) const {
  for (auto& o : opts_)
    if (o.name == name) return o.seen;
  return false;
}

static int64_t to_int(const std::string& opt, const std::string& v) {
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || errno) fail("option " + opt + ": '" + v + "' is not an integer");
  return x;
}

bool ArgParser::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h") { print_help(); return false; }
    // A registered short option (bench's -o) is an option; any other argument without "--" is positional.
    if (a.rfind("--", 0) != 0 && !find(a.substr(0, a.find('=')))) {
      if (!positional_) fail("unexpected argument '" + a + "' (see dsv32 " + command_ + " --help)");
      positional_->push_back(a);
      continue;
    }
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1); a = a.substr(0, eq); has_value = true;
    }
    Opt* o = find(a);
    if (!o) fail("unknown option '" + a + "' (see dsv32 " + command_ + " --help)");
    o->seen = true;
    if (auto* b = std::get_if<bool*>(&o->out)) {
      if (has_value) fail("option " + a + " takes no value");
      **b = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) fail("option " + a + " needs a value (" + o->metavar + ")");
      value = args[++i];
    }
    if (auto* s = std::get_if<std::string*>(&o->out)) **s = value;
    else if (auto* n = std::get_if<int*>(&o->out)) **n = int(to_int(a, value));
    else if (auto* l = std::get_if<int64_t*>(&o->out)) **l = to_int(a, value);
    else if (auto* d = std::get_if<double*>(&o->out)) {
      char* end = nullptr;
      double x = std::strtod(value.c_str(), &end);
      if (value.empty() || *end) fail("option " + a + ": '" + value + "' is not a number");
      **d = x;
    }
  }
  for (auto& o : opts_)
    if (o.required && !o.seen) fail("missing required option " + o.name + " (see dsv32 " + command_ + " --help)");
  return true;
}

void ArgParser::print_help() const {
  std::printf("usage: dsv32 %s [options]%s%s\n\n%s\n\noptions:\n", command_.c_str(),
              positional_ ? " " : "", positional_ ? positional_name_.c_str() : "", description_.c_str());
  for (auto& o : opts_) {
    std::string left = o.name + (o.metavar.empty() ? "" : " " + o.metavar);
    std::string tail = o.required ? " (required)" : o.default_text.empty() ? "" : " (default " + o.default_text + ")";
    std::printf("  %-26s %s%s\n", left.c_str(), o.help.c_str(), tail.c_str());
  }
  std::printf("  %-26s %s\n", "--help", "show this help");
  if (!epilog_.empty()) std::printf("\n%s\n", epilog_.c_str());
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what) {
  std::vector<int64_t> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(",", i);
    if (j == std::string::npos) j = text.size();
    std::string tok = text.substr(i, j - i);
    while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\n' || tok.back() == '\r' || tok.back() == '\t')) tok.pop_back();
    size_t s = tok.find_first_not_of(" \t\r\n");
    tok = s == std::string::npos ? "" : tok.substr(s);
    if (!tok.empty()) {
      char* end = nullptr;
      errno = 0;
      long long v = std::strtoll(tok.c_str(), &end, 10);
      if (*end || errno) fail(what + ": '" + tok + "' is not an integer");
      out.push_back(v);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace dsv32::app
