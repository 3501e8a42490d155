"""Start-up hook of the fault tests' child processes: see `tests/support.py`."""

import os

if os.environ.get("SUITE_TEST_NAN_LEARNING_RATE"):
    from suite.tf_quiet import import_tensorflow
    from tests.support import ENV_RATE, poison

    import_tensorflow()
    poison(float(os.environ[ENV_RATE]))
