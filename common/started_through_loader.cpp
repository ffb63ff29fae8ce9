#include "common/started_through_loader.hpp"

#include <sys/auxv.h>

namespace h5p {

bool started_through_loader() { return getauxval(AT_BASE) == 0; }

}  // namespace h5p
