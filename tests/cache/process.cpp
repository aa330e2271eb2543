// Test helper: processes and temporary directories (see process.h).
#include "cache/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tessel::testing {

Child spawn_process(const std::vector<std::string>& argv, const EnvVars& env,
                    const std::string& dir) {
  static std::atomic<int> counter{0};
  int n = counter++;
  Child child;
  child.out_path = dir + "/child" + std::to_string(n) + ".out";
  child.err_path = dir + "/child" + std::to_string(n) + ".err";
  // Everything the child needs is prepared before fork: it may only call exec-safe functions.
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment: ours, with `env` replacing (or, when empty, removing) variables.
  std::vector<std::string> vars;
  for (char** e = environ; *e; ++e) {
    std::string var = *e;
    bool overridden = false;
    for (const auto& [name, value] : env)
      overridden |= var.compare(0, name.size() + 1, name + "=") == 0;
    if (!overridden)
      vars.push_back(std::move(var));
  }
  for (const auto& [name, value] : env)
    if (!value.empty())
      vars.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& v : vars)
    envp.push_back(v.data());
  envp.push_back(nullptr);
  int out = ::open(child.out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(child.err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0)
    throw std::runtime_error("cannot create output files in " + dir);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out);
  ::close(err);
  if (pid < 0)
    throw std::runtime_error("fork failed");
  child.pid = pid;
  return child;
}

namespace {

ProcessResult result_of(const Child& child, int status) {
  ProcessResult r;
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    r.signal = WTERMSIG(status);
  r.out = read_text_file(child.out_path);
  r.err = read_text_file(child.err_path);
  return r;
}

} // namespace

ProcessResult wait_process(const Child& child) {
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw std::runtime_error("waitpid failed");
  }
  return result_of(child, status);
}

std::optional<ProcessResult> poll_process(const Child& child) {
  int status = 0;
  pid_t got;
  while ((got = ::waitpid(child.pid, &status, WNOHANG)) < 0) {
    if (errno != EINTR)
      throw std::runtime_error("waitpid failed");
  }
  if (got == 0)
    return std::nullopt;
  return result_of(child, status);
}

ProcessResult run_process(const std::vector<std::string>& argv, const EnvVars& env,
                          const std::string& dir) {
  return wait_process(spawn_process(argv, env, dir));
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/tessel-test-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  // Restore permissions a test may have taken away, so that everything can be removed.
  for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

std::string find_tool(const std::string& relative, const std::string& absolute) {
  std::error_code ec;
  std::filesystem::path self = std::filesystem::canonical("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path candidate = self.parent_path() / relative;
    if (std::filesystem::exists(candidate, ec))
      return candidate.lexically_normal().string();
  }
  return absolute;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

} // namespace tessel::testing
