// Test helper: run another executable as a separate process with extra environment variables,
// its stdout and stderr captured in files; temporary directories removed at scope exit.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tessel::testing {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct ProcessResult {
  int exit_code = -1; // -1 when killed by a signal
  int signal = 0;
  std::string out, err;
};

// A running child; its output goes to files in `dir`.
struct Child {
  pid_t pid = -1;
  std::string out_path, err_path;
};

Child spawn_process(const std::vector<std::string>& argv, const EnvVars& env,
                    const std::string& dir);
ProcessResult wait_process(const Child& child);
// The child's result when it has ended, else nullopt (does not wait).
std::optional<ProcessResult> poll_process(const Child& child);
ProcessResult run_process(const std::vector<std::string>& argv, const EnvVars& env,
                          const std::string& dir);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at destruction.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

// A tool the tests run: `relative` to the directory of this test executable when it is there (a
// relocated build, such as the GPU-machine bundle), else `absolute` (where CMake built it).
std::string find_tool(const std::string& relative, const std::string& absolute);

std::string read_text_file(const std::string& path);
void write_text_file(const std::string& path, const std::string& text);

} // namespace tessel::testing
