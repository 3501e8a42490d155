from tasks.task1 import task

raise SystemExit(task.main())
