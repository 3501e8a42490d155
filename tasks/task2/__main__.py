from tasks.task2 import task

raise SystemExit(task.main())
