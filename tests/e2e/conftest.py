import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import h5util  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def h5prune_bin():
    path = h5util.binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("h5prune binary not found or not executable: %s (set H5PRUNE_BIN)" % path)
    return path


@pytest.fixture(scope="session")
def fixtures_dir():
    if not os.path.isdir(h5util.FIXTURES):
        pytest.skip("real HDF5 fixtures not found at %s" % h5util.FIXTURES)
    return h5util.FIXTURES


@pytest.fixture(params=h5util.FIXTURE_NAMES, ids=lambda n: n.split("__")[1])
def fixture_file(request, fixtures_dir):
    """Each real fixture file in turn; skipped when it is missing."""
    path = os.path.join(fixtures_dir, request.param)
    if not os.path.isfile(path):
        pytest.skip("fixture missing: %s" % path)
    return path


@pytest.fixture
def dirs(tmp_path):
    """An input directory and a separate, empty output directory."""
    d_in = tmp_path / "in"
    d_out = tmp_path / "out"
    d_in.mkdir()
    d_out.mkdir()
    return d_in, d_out


# One loopback Slurm cluster (munged, slurmctld, slurmd) for the whole session, started on
# first use and stopped at the end whatever the tests do (slurm_cluster.py).
from slurm_cluster import slurm_cluster_fixture  # noqa: E402

slurm_cluster = slurm_cluster_fixture()
