from suite.env import prefer_onednn

prefer_onednn()  # before TensorFlow loads: faster on AVX2-only CPUs, already on with AVX-512

from tasks.task4 import task  # noqa: E402

raise SystemExit(task.main())
