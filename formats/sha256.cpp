// SHA-256 via OpenSSL (hardware SHA extensions when the CPU has them).
#include "formats/sha256.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/errors.hpp"
#include "common/interrupt.hpp"

namespace h5p {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL SHA-256 init failed");
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, std::size_t size) { EVP_DigestUpdate(ctx_->md, data, size); }

std::string Sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx_->md, md, &len);
  static const char* digits = "0123456789abcdef";
  std::string s(2 * len, '0');
  for (unsigned i = 0; i < len; ++i) {
    s[2 * i] = digits[md[i] >> 4];
    s[2 * i + 1] = digits[md[i] & 15];
  }
  return s;
}

std::string sha256_file(const std::string& path, std::uint64_t* bytes, std::atomic<std::uint64_t>* hashed) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw OutputError("cannot read '" + path + "' to hash it: " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return sha256_descriptor(fd, path, bytes, hashed);
}

std::string sha256_descriptor(int fd, const std::string& name, std::uint64_t* bytes,
                              std::atomic<std::uint64_t>* hashed) {
  Sha256 hash;
  std::vector<unsigned char> buf(1 << 20);
  std::uint64_t total = 0;
  while (true) {
    const ssize_t got = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(total));
    if (got < 0) {
      if (errno == EINTR) continue;
      throw OutputError("cannot read '" + name + "' to hash it: " + std::strerror(errno));
    }
    if (got == 0) break;
    if (pending_signal()) check_interrupt();  // stop promptly at a Slurm time limit
    hash.update(buf.data(), static_cast<size_t>(got));
    total += static_cast<std::uint64_t>(got);
    if (hashed) hashed->fetch_add(static_cast<std::uint64_t>(got), std::memory_order_relaxed);
  }
  if (bytes) *bytes = total;
  return hash.hex_digest();
}

std::string sha256_bytes(const void* data, std::size_t size) {
  Sha256 hash;
  hash.update(data, size);
  return hash.hex_digest();
}

}  // namespace h5p
