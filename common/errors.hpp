// Error types shared by every layer; the CLI maps each kind to its documented exit code.
#pragma once
#include <stdexcept>
#include <string>

namespace h5p {

enum class ExitCode : int {
  ok = 0,
  usage = 2,
  input = 3,
  data = 4,
  output = 5,
  registry = 6,
  device = 7,
  evaluation = 8,
};

// Base of every error h5prune reports; the message is the one line the user sees.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int exit_code() const { return static_cast<int>(code_); }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::usage, m) {}
};
struct InputError : Error {
  explicit InputError(const std::string& m) : Error(ExitCode::input, m) {}
};
struct DataError : Error {
  explicit DataError(const std::string& m) : Error(ExitCode::data, m) {}
};
struct OutputError : Error {
  explicit OutputError(const std::string& m) : Error(ExitCode::output, m) {}
};
// Registry: damaged blob or manifest, missing version or alias, bad model name (exit 6).
struct RegistryError : Error {
  explicit RegistryError(const std::string& m) : Error(ExitCode::registry, m) {}
};
// Device: a CUDA call failed during the run (out of device memory, device lost) (exit 7).
struct DeviceError : Error {
  explicit DeviceError(const std::string& m) : Error(ExitCode::device, m) {}
};

// Evaluation: the user's --eval command failed (non-zero exit, timeout, no metrics line) (exit 8).
// The pruned output and its registry version stay: they are valid.
struct EvalError : Error {
  explicit EvalError(const std::string& m) : Error(ExitCode::evaluation, m) {}
};

// Raised at the next checkpoint after SIGINT/SIGTERM/SIGUSR1; exit code is 128 + signal.
class Interrupted : public std::runtime_error {
 public:
  explicit Interrupted(int signal_number);
  int signal_number() const { return signal_; }
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

// Precondition check that throws instead of asserting (library code never aborts).
#define H5P_EXPECTS(cond, ErrorType, message) \
  do {                                        \
    if (!(cond)) throw ErrorType(message);    \
  } while (0)

}  // namespace h5p
