// Quoting one word for /bin/sh and bash: the sbatch scripts' words and --eval's {output}.
#pragma once
#include <string>

namespace h5p {

// Single-quoted, every ' written as '\'': safe for any bytes but NUL.
std::string shell_word(const std::string& value);

}  // namespace h5p
