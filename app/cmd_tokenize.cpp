// `dsv32 tokenize`: prints the token ids of a UTF-8 file on one line, comma-separated.
//
//   dsv32 tokenize --file prompt.txt            # ids, no BOS
//   dsv32 tokenize --file - --bos < prompt.txt  # stdin, BOS first
//   dsv32 tokenize --tokenizer other/tokenizer.json --file prompt.txt
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>

#include "app/args.h"
#include "app/command.h"
#include "kernels/error.h"
#include "model/tokenizer/tokenizer.h"

namespace {

std::string read_all(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) dsv32::fail(path + ": cannot open (--file)");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int run(const std::vector<std::string>& args) {
  dsv32::app::ArgParser p("tokenize", "Print the token ids of a text file (comma-separated).");
  std::string tokenizer = dsv32::default_tokenizer_path(DSV32_SOURCE_DIR);
  std::string file;
  bool bos = false;
  p.add("--tokenizer", &tokenizer, "PATH",
        "tokenizer.json (tokenizer_config.json beside it gives the BOS token)");
  p.add("--file", &file, "F", "UTF-8 text to encode; '-' reads stdin", /*required=*/true);
  p.add_flag("--bos", &bos, "prepend the BOS token");
  p.epilog(
      "The default tokenizer is $DSV32_CACHE_DIR/tokenizer/tokenizer.json, else\n"
      "<source>/.cache/tokenizer/tokenizer.json; scripts/fetch_tokenizer.sh puts it there.");
  if (!p.parse(args)) return 0;

  const std::string text = read_all(file);
  const dsv32::Tokenizer tok = dsv32::Tokenizer::load(tokenizer);
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, bos);
  } catch (const dsv32::Error& e) {
    throw dsv32::Error(file + ": " + e.what());  // name the input, not just the offset
  }
  std::string line;
  line.reserve(ids.size() * 7);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ',';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

const dsv32::app::Command kCmd{"tokenize", "print the token ids of a text file", &run};

}  // namespace
