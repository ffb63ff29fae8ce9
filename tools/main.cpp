// h5prune: prune neural-network weights in HDF5 files by magnitude. Dispatches to subcommands
// and turns every error into one line on stderr and its documented exit code.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include <boost/program_options/errors.hpp>

#include "common/errors.hpp"
#include "common/interrupt.hpp"
#include "common/openmp_wait.hpp"
#include "formats/hdf5/file.hpp"
#include "formats/json_names.hpp"
#include "host/input_check.hpp"
#include "tools/commands.hpp"

namespace {

const char* kUsage =
    "usage: h5prune COMMAND [options]\n"
    "\n"
    "Prune neural-network weights stored in HDF5 files by magnitude, exactly and reproducibly.\n"
    "\n"
    "commands:\n"
    "  prune MODEL.h5 -o OUT.h5 (--sparsity S | --threshold T | --nm N:M)   write a pruned copy\n"
    "  stats MODEL.h5                                              per-tensor counts and magnitudes\n"
    "  densify SPARSE.h5 -o OUT.h5                                 sparse layouts back to the dense file\n"
    "  sweep MODEL.h5 (--sparsity LIST | --threshold LIST)         many levels from one analysis; CSV, JSON, report\n"
    "  slurm sweep MODEL.h5 --sparsity LIST --registry DIR --model NAME [sbatch options]\n"
    "                                                              print an sbatch job-array script (task i runs point i)\n"
    "  slurm status|collect SCRIPT.sbatch                          recorded / failed / missing points and the rerun line;\n"
    "                                                              collect also retires the recorded tasks' metrics files\n"
    "  eval (MODEL.h5 | NAME@REF) --eval CMD                       run an evaluation command, record its metrics\n"
    "  search MODEL.h5 --eval CMD --metric M --max-drop D          highest sparsity within D of the baseline\n"
    "\n"
    "registry (--registry DIR or H5PRUNE_REGISTRY; prune --registry DIR --model NAME records a version):\n"
    "  log [NAME]                  models, or a model's versions (--sort, --rule FIELD=VALUE)\n"
    "  show NAME@REF               one version's manifest (REF: number, alias, latest, sha256 prefix)\n"
    "  diff NAME@A NAME@B          rule and per-tensor differences\n"
    "  get NAME@REF -o FILE        the version's file, verified on the way out\n"
    "  alias NAME@REF ALIAS        point ALIAS at a version (--delete removes it, --history lists moves)\n"
    "  rm NAME@REF                 retire a version (--force: even when an alias points at it)\n"
    "  verify [NAME]               re-hash blobs, check manifests; exit 6 on damage\n"
    "  gc [--keep-last N] [--older-than D] [--dry-run] [--grace D]\n"
    "                              retire versions outside a retention policy, remove unreferenced blobs\n"
    "\n"
    "options:\n"
    "  -h, --help      this help; 'h5prune COMMAND --help' for a command's options\n"
    "  --version       version and build (git revision, CUDA support)\n"
    "\n"
    "exit codes: 0 ok, 2 usage, 3 input, 4 data (NaN), 5 output, 6 registry, 7 CUDA device,\n"
    "            8 evaluation failed, 128+N interrupted by signal N\n";

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args.front();
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version" || command == "version") {
    std::printf("h5prune %s\n", h5p::cli::build_description().c_str());
    return 0;
  }
  if (command == "prune") return h5p::cli::cmd_prune(rest);
  if (command == "stats") return h5p::cli::cmd_stats(rest);
  if (h5p::cli::is_registry_command(command)) return h5p::cli::cmd_registry(command, rest);
  if (command == "densify") return h5p::cli::cmd_densify(rest);
  if (command == "sweep") return h5p::cli::cmd_sweep(rest);
  if (command == "slurm") return h5p::cli::cmd_slurm(rest);
  if (command == "eval") return h5p::cli::cmd_eval(rest);
  if (command == "search") return h5p::cli::cmd_search(rest);
  throw h5p::UsageError("unknown command '" + command +
                        "' (expected prune, stats, densify, sweep, slurm, eval, search, log, show, diff, get, alias, rm, verify or gc; "
                        "see h5prune --help)");
}

}  // namespace

// After a failure every temporary is already gone (destructors ran while unwinding). Leave
// without HDF5's exit handlers: after a failed write (disk full) HDF5 1.10 can crash while
// flushing the file it could not close.
[[noreturn]] void exit_after_failure(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

int main(int argc, char** argv) {
  // The isolated check of an input file (host/input_check.hpp), started by this program itself.
  if (argc > 1 && std::strcmp(argv[1], h5p::kInputCheckCommand) == 0) h5p::run_input_check(argc, argv);
  h5p::prefer_passive_openmp_wait(argv);  // it may re-execute the program
  h5p::install_interrupt_handlers();
  h5p::h5::silence_library_errors();
  h5p::enable_isolated_input_check();
  try {
    return run(argc, argv);
  } catch (const h5p::Interrupted& e) {
    std::fprintf(stderr, "h5prune: error: %s; temporaries removed, no output written\n", e.what());
    exit_after_failure(e.exit_code());
  } catch (const h5p::Error& e) {
    if (int sig = h5p::pending_signal()) {
      std::fprintf(stderr, "h5prune: error: interrupted by signal %d; temporaries removed, no output written\n", sig);
      exit_after_failure(128 + sig);
    }
    // Names from files may hold terminal escapes or bytes that are not UTF-8: printed as \xHH.
    std::fprintf(stderr, "h5prune: error: %s\n", h5p::printable(e.what()).c_str());
    exit_after_failure(e.exit_code());
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "h5prune: error: %s (see --help)\n", h5p::printable(e.what()).c_str());
    exit_after_failure(2);
  } catch (const std::bad_alloc&) {
    // Where the tensor is known the error names it (host/tensor_reader); here, at least the file.
    const std::string& in = h5p::last_opened_input();
    std::fprintf(stderr, "h5prune: error: out of memory%s; lower --memory-limit or give the job more memory\n",
                 in.empty() ? "" : (" while processing '" + h5p::printable(in) + "'").c_str());
    exit_after_failure(3);
  } catch (const std::system_error& e) {
    if (e.code() != std::errc::resource_unavailable_try_again) {
      std::fprintf(stderr, "h5prune: error: internal error: %s\n", h5p::printable(e.what()).c_str());
      exit_after_failure(1);
    }
    const std::string& in = h5p::last_opened_input();
    std::fprintf(stderr, "h5prune: error: cannot start a thread%s: %s; lower --threads or raise the process limit\n",
                 in.empty() ? "" : (" while processing '" + h5p::printable(in) + "'").c_str(), e.what());
    exit_after_failure(3);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "h5prune: error: internal error: %s\n", h5p::printable(e.what()).c_str());
    exit_after_failure(1);
  }
}
