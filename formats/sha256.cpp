// SHA-256 via OpenSSL (hardware SHA extensions when the CPU has them).
#include "formats/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"

namespace h5p {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

std::string hex(const unsigned char* d, unsigned n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (unsigned i = 0; i < n; ++i) {
    s[2 * i] = digits[d[i] >> 4];
    s[2 * i + 1] = digits[d[i] & 15];
  }
  return s;
}

MdCtx new_sha256() {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("OpenSSL SHA-256 init failed");
  return ctx;
}

std::string finish(EVP_MD_CTX* ctx) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  return hex(md, len);
}

}  // namespace

std::string sha256_file(const std::string& path, std::uint64_t* bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw OutputError("cannot read '" + path + "' to hash it: " + std::strerror(errno));
  MdCtx ctx = new_sha256();
  std::vector<unsigned char> buf(1 << 20);
  std::uint64_t total = 0;
  while (true) {
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw OutputError("cannot read '" + path + "' to hash it: " + std::strerror(err));
    }
    if (got == 0) break;
    if (pending_signal()) {  // stop promptly at a Slurm time limit
      ::close(fd);
      check_interrupt();
    }
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(got));
    total += static_cast<std::uint64_t>(got);
  }
  ::close(fd);
  if (bytes) *bytes = total;
  return finish(ctx.get());
}

std::string sha256_bytes(const void* data, std::size_t size) {
  MdCtx ctx = new_sha256();
  EVP_DigestUpdate(ctx.get(), data, size);
  return finish(ctx.get());
}

}  // namespace h5p
