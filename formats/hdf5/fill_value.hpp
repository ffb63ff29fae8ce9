// Datasets that hold only a zero fill value (never written, no storage allocated): every
// pruning rule leaves zeros as +0.0, so their pruned copy is left unwritten too and reads back
// the same; a declared (2^16, 2^16) float32 tensor of fill values no longer becomes 16 GiB.
#pragma once
#include <hdf5.h>

namespace h5p::h5 {

// True when `dataset` has no storage allocated and reads as +0.0 everywhere, and a copy created
// with its creation properties reads the same while unwritten: a defined fill value (HDF5's
// default or the user's) whose bytes are all zero, a fill time other than never, and an
// allocation time other than early.
bool unwritten_zeros(hid_t dataset);

}  // namespace h5p::h5
