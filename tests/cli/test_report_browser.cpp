// The report page in a real browser (Debian's headless Chromium): it loads without a single console
// message (no JS error, no blocked fetch under its Content-Security-Policy) and every plot renders:
// the page's inline script marks data-rendered="K/N" where K counts plots whose every datum has a
// non-empty layout box. Skipped when /usr/bin/chromium is not installed.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace {

const std::string kFix = DSV32_SOURCE_DIR "/tests/cli/fixtures/report/";
const char* kChromium = "/usr/bin/chromium";

int sh(const std::string& cmd, std::string* out = nullptr) {
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  std::string o;
  while (size_t n = fread(buf, 1, sizeof buf, p)) o.append(buf, n);
  int st = pclose(p);
  if (out) *out = o;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string chromium(const std::string& dir, const std::string& what, const std::string& page) {
  return std::string(kChromium) +
         " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
         " --disable-component-update --disable-sync --user-data-dir=" + dir + "/profile"
         " --enable-logging=stderr --v=0 --window-size=1100,3000 " + what + " file://" + page;
}

TEST(ReportBrowser, LoadsWithoutConsoleMessagesAndEveryPlotRenders) {
  if (access(kChromium, X_OK) != 0) GTEST_SKIP() << kChromium << " not installed (apt-get install chromium)";
  char tmpl[] = "/tmp/dsv32_browser_XXXXXX";
  const std::string d = mkdtemp(tmpl), db = d + "/h.sqlite";
  // A page with every section, trends included (two recorded runs).
  ASSERT_EQ(sh(std::string(DSV32_BIN) + " report " + kFix + "bench_base.json --record --history " + db + " --dir " + d + " 2>&1"), 0);
  std::string out;
  ASSERT_EQ(sh(std::string(DSV32_BIN) + " report " + kFix + "verify_dense_naive.json " + kFix + "verify_sparse_raw.json " +
                   kFix + "ppl.json " + kFix + "bench_slow.json " + kFix + "ops_base.json --record --history " + db +
                   " --dir " + d + " 2>&1", &out), 0) << out;
  const std::string page = d + "/index.html";
  const std::string html = slurp(page);
  size_t plots = 0;
  for (size_t p = html.find("<svg class=\"plot\""); p != std::string::npos; p = html.find("<svg class=\"plot\"", p + 1)) ++plots;
  ASSERT_GE(plots, 8u);

  // stdout = the DOM after scripts ran; stderr = Chromium's log, where console messages appear as
  // "INFO:CONSOLE(line)" / ":CONSOLE:" lines.
  std::string dom;
  int rc = sh(chromium(d, "--dump-dom", page) + " 2>" + d + "/stderr.log", &dom);
  const std::string log = slurp(d + "/stderr.log");
  ASSERT_EQ(rc, 0) << log;
  EXPECT_EQ(log.find("CONSOLE"), std::string::npos) << log;
  EXPECT_EQ(log.find("Uncaught"), std::string::npos) << log;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-rendered=\"(\\d+)/(\\d+)\""))) << dom.substr(0, 400);
  EXPECT_EQ(std::stoul(m[2]), plots);
  EXPECT_EQ(m[1], m[2]) << "plots with undrawn data: see data-drawn in the DOM";
  // Every plot reports a positive number of drawn elements.
  size_t drawn = 0;
  const std::regex drawn_re("data-drawn=\"(\\d+)\"");
  for (std::sregex_iterator it(dom.begin(), dom.end(), drawn_re), end; it != end; ++it) {
    EXPECT_GT(std::stoul((*it)[1]), 0u);
    ++drawn;
  }
  EXPECT_EQ(drawn, plots);

  // A screenshot too: it must be produced (a human looks at it; the path is printed).
  rc = sh(chromium(d, "--screenshot=" + d + "/page.png", page) + " 2>/dev/null");
  EXPECT_EQ(rc, 0);
  EXPECT_GT(slurp(d + "/page.png").size(), 10000u);
  // Kept for a human to look at with DSV32_KEEP_REPORT=1; removed otherwise.
  if (std::getenv("DSV32_KEEP_REPORT")) std::printf("report page: %s, screenshot: %s/page.png\n", page.c_str(), d.c_str());
  else if (!HasFailure()) std::filesystem::remove_all(d);
}

}  // namespace
